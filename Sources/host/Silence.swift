import ArgumentParser
import Foundation
import SluiceEngine

struct SilenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "silence",
        abstract: "Add, list and expire a pipeline's silences: alerts they match are not sent while they last.",
        discussion: """
            Silences are kept in the pipeline's state folder (silences.json); a running host \
            picks changes up without a restart. Matchers are Alertmanager's: NAME=VALUE, \
            NAME!=VALUE, NAME=~REGEX, NAME!~REGEX (RE2, anchored at both ends). Exits \
            \(ExitStatus.ok.rawValue); \(ExitStatus.invalid.rawValue) when the command line asks for something \
            wrong (a matcher, a duration, a time, an unknown id) or the pipeline file cannot \
            be read; \(ExitStatus.failed.rawValue) when silences.json cannot be read or written.
            """,
        subcommands: [Add.self, List.self, Expire.self]
    )

    struct Add: ParsableCommand, LogConfigurable {
        @OptionGroup var log: LogOptions

        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add a silence; prints its id.",
            discussion: "Every problem of the command line is reported at once."
        )

        @OptionGroup var pipeline: SilencePipeline

        @Option(name: .customLong("match"), help: ArgumentHelp("NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX; repeatable, all must match.", valueName: "MATCHER"))
        var matches: [String] = []

        @Option(name: .customLong("for"), help: ArgumentHelp("How long it lasts from its start: 90s, 15m, 2h, 1d, 1h30m.", valueName: "DURATION"))
        var duration: String?

        @Option(help: ArgumentHelp("When it ends, as 2026-12-06T12:00:00Z (or with an offset, +02:00).", valueName: "TIME"))
        var until: String?

        @Option(help: ArgumentHelp("When it starts (default: now); until then it is pending.", valueName: "TIME"))
        var start: String?

        @Option(help: "Why (required).")
        var comment: String?

        @Option(help: "Who (default: $USER, or \"unknown\").")
        var author: String?

        func run() throws {
            let env = ProcessInfo.processInfo.environment["USER"] ?? ""
            let who = author ?? (env.isEmpty ? "unknown" : env)
            var problems: [String] = []
            let store = pipeline.store(&problems)
            var new: NewSilence?
            do {
                new = try NewSilence.check(matches: matches, duration: duration, until: until, start: start, comment: comment,
                                           author: who, now: Timestamp.nowMilliseconds())
            } catch {
                problems += error.messages
            }
            guard let store, let new, problems.isEmpty else { try fail(SilenceError(.invalid, problems)) }
            do {
                print(try store.add(new, now: Timestamp.nowMilliseconds()).id)
            } catch {
                try fail(error)
            }
        }
    }

    struct List: ParsableCommand, LogConfigurable {
        @OptionGroup var log: LogOptions

        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the active silences (with --all, pending and expired ones too).")

        @OptionGroup var pipeline: SilencePipeline

        @Flag(help: "Also the pending ones and those that ended (kept 7 days).")
        var all = false

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            var problems: [String] = []
            guard let store = pipeline.store(&problems) else { try fail(SilenceError(.invalid, problems)) }
            do {
                let report = SilenceReport(path: store.path, silences: try store.load(), now: Timestamp.nowMilliseconds(), all: all)
                print(json ? report.json() : report.table(), terminator: "")
            } catch {
                try fail(error)
            }
        }
    }

    struct Expire: ParsableCommand, LogConfigurable {
        @OptionGroup var log: LogOptions

        static let configuration = CommandConfiguration(
            commandName: "expire",
            abstract: "End silences now (they are kept, as expired, for 7 days).",
            discussion: "An id that is not there changes nothing and exits \(ExitStatus.invalid.rawValue)."
        )

        @OptionGroup var pipeline: SilencePipeline

        @Argument(help: ArgumentHelp("The silence's id, as `host silence add` printed it; several may be given.", valueName: "ID"))
        var ids: [String]

        func run() throws {
            var problems: [String] = []
            guard let store = pipeline.store(&problems) else { try fail(SilenceError(.invalid, problems)) }
            do {
                for (silence, before) in try store.expire(ids: ids, now: Timestamp.nowMilliseconds()) {
                    let at = SilenceTime.format(time: silence.endsAt)
                    print(before == .expired ? "\(silence.id): had already ended at \(at); unchanged" : "\(silence.id): expired at \(at)")
                }
            } catch {
                try fail(error)
            }
        }
    }
}

/// The `--pipeline` option of every `host silence` command.
struct SilencePipeline: ParsableArguments {
    @Option(help: ArgumentHelp("The pipeline file (JSON, or YAML by its .yaml/.yml extension): its state folder holds the silences.", valueName: "FILE"))
    var pipeline: String

    /// The store in the pipeline's state folder; nil, with the problem added, when the
    /// file or its state.path cannot be read.
    func store(_ problems: inout [String]) -> SilenceStore? {
        let spec: PipelineSpec
        do {
            (spec, _) = try PipelineSpec.load(path: pipeline)
        } catch {
            problems.append("\(pipeline): \(error)")
            return nil
        }
        switch spec.stateFolder(PropertyTemplate(pipelineDirectory: spec.directory)) {
        case .success(let folder): return SilenceStore(folder: folder)
        case .failure(let e):
            problems.append("\(pipeline): state.path: \(e.message)")
            return nil
        }
    }
}

/// Prints the problems, one `error:` line each, and exits with the status their kind has.
private func fail(_ error: SilenceError) throws -> Never {
    printError(error.messages.map { "error: \($0)\n" }.joined())
    throw ExitCode(error.kind == .invalid ? ExitStatus.invalid : ExitStatus.failed)
}
