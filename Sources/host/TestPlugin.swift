import ArgumentParser
import Foundation
import SluiceEngine

struct TestPlugin: ParsableCommand, LogConfigurable {
    @OptionGroup var log: LogOptions

    static let configuration = CommandConfiguration(
        commandName: "test-plugin",
        abstract: "Run one plugin over a file, without a pipeline, and show what came out on each port.",
        discussion: """
            A transform or a sink gets the records of --input (JSON Lines), --batch at a time; an \
            alert publisher gets one alert per line of --input, each line the alert's payload \
            ({"store_id":"s1","bad_events":7}) or an envelope-like object: an object "payload" and \
            only "keyFields" (the payload fields its key is made of, as a stage's groupBy), "status" \
            (firing, resolved), "notification" (firing, renotify, refresh, resolved), "severity", \
            "incident" (a number), "startsAt", "endsAt" (times like 2026-11-21T06:00:00.000Z; a \
            resolved alert needs both) — a notification of an alert's life, e.g. \
            {"payload":{"store_id":"s1"},"keyFields":["store_id"],"status":"resolved","startsAt":"2026-11-21T06:00:00Z","endsAt":"2026-11-21T06:42:00Z"}; a \
            source reads what its properties point it at (--set path=FILE), until it ends. \
            Properties are checked as `validate` checks a pipeline's. With --output DIR the ports \
            are written as records.jsonl, errors.jsonl, alerts.jsonl (publishers: outcomes.jsonl), \
            counters.json, and NAME.jsonl for each extra output port taken with --port NAME; --expect DIR compares them with the files DIR holds (as JSON values, \
            in order) and exits 1 on a difference — golden tests for a plugin's own repository. \
            Exit status: \(ExitStatus.ok.rawValue) as expected, \(ExitStatus.failed.rawValue) the plugin failed \
            or the output differs, \(ExitStatus.invalid.rawValue) bad arguments or input, \
            \(ExitStatus.undelivered.rawValue) (without --expect) a publisher did not deliver every alert.
            """
    )

    @OptionGroup var catalogOptions: CatalogOptions

    @Argument(help: ArgumentHelp("The plugin, as NAME or NAME@VERSION.", valueName: "NAME[@VERSION]"))
    var plugin: String

    @Option(help: ArgumentHelp("The plugin's type, when several types share the name.", valueName: "TYPE"))
    var type: PluginType?

    @Option(help: ArgumentHelp("Records (JSON Lines) for a transform or a sink; alerts, one per line (a payload, or an envelope-like object with status, startsAt, endsAt…), for a publisher.", valueName: "FILE"))
    var input: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("A property, as NAME=VALUE (repeatable); `${env:…}` is substituted.", valueName: "NAME=VALUE"))
    var settings: [String] = []

    @Option(help: ArgumentHelp("Records or alerts per call (a source: the most it may read per call).", valueName: "N"))
    var batch: Int = 1000

    @Option(name: .customLong("max-batches"), help: ArgumentHelp("Sources: stop after this many batches.", valueName: "N"))
    var maxBatches: Int = 1000

    @Option(name: .customLong("port"), help: ArgumentHelp("An extra output port the widgets file declares, taken as a connection would take it: what the plugin sends there is shown (and written as NAME.jsonl). Repeatable; without it, such records are dropped as in a pipeline that does not connect the port.", valueName: "NAME"))
    var ports: [String] = []

    @Option(help: ArgumentHelp("Write each port's output into this folder.", valueName: "DIR"))
    var output: String?

    @Option(help: ArgumentHelp("Compare the output with the files in this folder; exit \(ExitStatus.failed.rawValue) on a difference.", valueName: "DIR"))
    var expect: String?

    @Flag(help: "Print only the summary and the differences, not every record.")
    var quiet = false

    func validate() throws {
        guard (1...1_000_000).contains(batch) else { throw ValidationError("--batch must be between 1 and 1000000") }
        guard (1...1_000_000).contains(maxBatches) else { throw ValidationError("--max-batches must be between 1 and 1000000") }
    }

    func run() throws {
        let catalog = catalogOptions.loadCatalog()
        let (name, version) = try pluginReference(plugin)
        let entry: CatalogEntry
        switch catalog.find(name: name, type: type, version: version) {
        case .success(let e): entry = e
        case .failure(let error):
            printError("error: \(error)\n")
            throw ExitCode(ExitStatus.invalid)
        }

        var given: [(String, String)] = []
        var problems: [String] = []
        for s in settings {
            guard let eq = s.firstIndex(of: "="), eq != s.startIndex else {
                problems.append("--set \(s): write NAME=VALUE")
                continue
            }
            given.append((String(s[..<eq]), String(s[s.index(after: eq)...])))
        }
        let template = PropertyTemplate(pipelineDirectory: FileManager.default.currentDirectoryPath)
        let checked = PropertyCheck.resolve(given, of: entry, path: "--set", template: template, inFile: false)
        for d in checked.diagnostics {
            let line = "\(d.severity.rawValue): --set \(d.path.dropFirst("--set.".count)): \(d.message)"
            if d.severity == .error { problems.append(line) } else { printError(line + "\n") }
        }
        for port in ports where !entry.extraPorts.contains(port) {
            let declared = entry.extraPorts.isEmpty ? "none" : entry.extraPorts.joined(separator: ", ")
            problems.append("--port \(port): \(entry.name) has no such output port (its widgets file declares \(declared))")
        }
        if entry.type == .source, input != nil {
            problems.append("--input: a source reads its own input: point its properties at it (e.g. --set path=FILE)")
        }
        guard problems.isEmpty else {
            printError(problems.map { ($0.hasPrefix("error: ") ? "" : "error: ") + $0 + "\n" }.joined())
            throw ExitCode(ExitStatus.invalid)
        }

        var options = PluginHarness.Options()
        options.batchSize = batch
        options.maxBatches = maxBatches
        options.ports = Set(ports)
        let harness = PluginHarness(entry: entry, properties: checked.values, catalog: catalog, options: options)
        let result: PluginHarness.Result
        do {
            let lines = try input.map { try InputLines(path: $0) }
            result = try harness.run(input: lines)
        } catch let e as PluginHarness.InputError {
            printError(e.problems.map { "error: \($0)\n" }.joined())
            throw ExitCode(ExitStatus.invalid)
        } catch {
            printError("error: \(error)\n")
            throw ExitCode(ExitStatus.failed)
        }

        print(HarnessReport.text(result, entry: entry, quiet: quiet), terminator: "")
        if let output {
            do {
                try HarnessFiles.write(result, type: entry.type, to: output)
            } catch {
                printError("error: --output \(output): \(error.localizedDescription)\n")
                throw ExitCode(ExitStatus.invalid)
            }
        }
        var failed = result.failure != nil
        if let expect {
            let differences: [String]
            do {
                differences = try HarnessFiles.compare(result, type: entry.type, with: expect)
            } catch let e as PluginHarness.InputError {
                printError(e.problems.map { "error: \($0)\n" }.joined())
                throw ExitCode(ExitStatus.invalid)
            }
            if differences.isEmpty {
                print("as expected: \(expect)")
            } else {
                printError("differences from \(expect):\n" + differences.map { "  \($0)\n" }.joined())
                failed = true
            }
        }
        if failed { throw ExitCode(ExitStatus.failed) }
        // As `host run`: alerts a publisher did not deliver. With --expect, the outcomes
        // file says whether that was meant.
        if expect == nil, result.undelivered > 0 { throw ExitCode(ExitStatus.undelivered) }
    }
}
