import ArgumentParser
import Foundation
import SluiceEngine
import SluiceHistory

/// Where `host runs`, `host alerts` and `host incidents` read: a pipeline file's state
/// folder, `--state DIR`, or every `${SLUICE_OUT:-out}/*/state/history.sqlite`.
struct HistoryOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("A pipeline file: its state folder's history (default: every history under ${SLUICE_OUT:-out}/*/state/).", valueName: "PIPELINE"))
    var pipeline: String?

    @Option(help: ArgumentHelp("A state folder: the history in it (history.sqlite).", valueName: "DIR"))
    var state: String?

    @Flag(help: "JSON (every field) instead of a table.")
    var json = false

    func validate() throws {
        if pipeline != nil && state != nil { throw ValidationError("name a pipeline file or --state DIR, not both") }
    }

    /// Every history to read, opened, with killed runs marked; problems are printed and
    /// counted (`failures`). Exits 1 when none could be opened.
    func readers(failures: inout Int) throws -> [HistoryReader] {
        let paths: [String]
        do {
            paths = try HistoryLocation.databases(pipeline: pipeline, state: state)
        } catch {
            printError("error: \(error)\n")
            throw ExitCode(ExitStatus.failed)
        }
        var readers: [HistoryReader] = []
        for path in paths {
            do {
                let r = try HistoryReader(path: path)
                r.markKilledRuns()
                readers.append(r)
            } catch {
                printError("error: \(error)\n")
                failures += 1
            }
        }
        if readers.isEmpty { throw ExitCode(ExitStatus.failed) }
        return readers
    }

    /// Runs `body` on each history; a history that fails to read is said and counted.
    func each<T>(_ readers: [HistoryReader], failures: inout Int, _ body: (HistoryReader) throws -> [T]) -> [T] {
        var out: [T] = []
        for r in readers {
            do { out += try body(r) } catch {
                printError("error: \(error)\n")
                failures += 1
            }
        }
        return out
    }
}

/// A duration option (`--since 1h`), read as `host silence` reads durations.
struct HistoryDuration: ExpressibleByArgument {
    let milliseconds: Int64
    init?(argument: String) {
        guard case .success(let ms) = SilenceTime.milliseconds(duration: argument) else { return nil }
        milliseconds = ms
    }

    /// The reason a text is not a duration.
    static func problem(_ text: String) -> String {
        if case .failure(let e) = SilenceTime.milliseconds(duration: text) { return "\(e)" }
        return ""
    }
}
