import ArgumentParser
import Foundation
import Logging
import SluiceEngine

/// `--log-level` and `--log-format`, on every command that logs: how the host's log lines
/// (on standard error) look. Set up once, before the command runs (Host.main).
struct LogOptions: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Option(name: .customLong("log-level"),
            help: ArgumentHelp("The least severe log lines shown: trace, debug, info, notice, warning, error or critical.", valueName: "LEVEL"))
    var level: Logger.Level = .info

    @Option(name: .customLong("log-format"), help: "text (one line each, for people) or json (one JSON object a line, for log collectors).")
    var format: Format = .text

    /// Makes every logger of this process log as asked.
    func bootstrap() { Self.bootstrap(level: level, format: format) }

    static func bootstrap(level: Logger.Level = .info, format: Format = .text) {
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                return JSONLogHandler(label: label, logLevel: level)
            }
        }
    }
}

/// A command whose log lines its `--log-level` and `--log-format` shape.
protocol LogConfigurable {
    var log: LogOptions { get }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// One JSON object a log line, on standard error:
///
///     {"time":"2026-12-06T12:00:41.123Z","level":"warning","label":"sluice","source":"SluiceEngine",
///      "message":"…","metadata":{"stage":"events"}}
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, logLevel: Logger.Level) {
        self.label = label
        self.logLevel = logLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let own = event.metadata { all.merge(own) { $1 } }
        var object: [String: Any] = [
            "time": Timestamp.iso8601(milliseconds: Timestamp.nowMilliseconds()),
            "level": event.level.rawValue,
            "label": label,
            "source": event.source,
            "message": event.message.description,
        ]
        if !all.isEmpty { object["metadata"] = all.mapValues(Self.plain) }
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        line.append(UInt8(ascii: "\n"))
        FileHandleWriter.write(String(decoding: line, as: UTF8.self), fd: 2)  // one write a line
    }

    /// A metadata value as JSON can hold it.
    static func plain(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let s): return s
        case .stringConvertible(let c): return c.description
        case .array(let items): return items.map(plain)
        case .dictionary(let d): return d.mapValues(plain)
        }
    }
}
