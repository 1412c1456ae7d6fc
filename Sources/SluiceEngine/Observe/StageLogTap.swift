import Foundation
import Logging

/// Keeps the warnings and errors logged for a stage (a plugin's log lines, already redacted
/// by the host: CallContext, IsolatedStage; the host's own lines about the stage) for the
/// observers that want them (`RunObserver.stageErrors`). The stages' logger is wrapped in
/// `handler(around:)`, which passes every line on unchanged and notes those at warning or
/// worse that carry a `stage` metadata value. Any thread may log (a source's reader, a
/// publisher's lane); the runner takes what was noted once per batch or idle tick.
final class StageLogTap: @unchecked Sendable {
    private let lock = NSLock()
    private var noted: [StageError] = []
    private var perStage: [String: Int] = [:]
    private var current: UInt64?

    /// The batch being run (its stages' lines belong to it); nil between batches.
    var batch: UInt64? {
        get { lock.lock(); defer { lock.unlock() }; return current }
        set { lock.lock(); current = newValue; lock.unlock() }
    }

    /// A logger like `logger` whose stage lines are also noted here.
    func wrap(_ logger: Logger) -> Logger {
        var l = logger
        l.handler = Handler(inner: logger.handler, tap: self)
        return l
    }

    func note(stage: String, message: String) {
        var line = StageError(stage: stage, kind: .log, atMs: Timestamp.nowMilliseconds(), batch: nil,
                              message: StageError.cut(message))
        lock.lock()
        defer { lock.unlock() }
        line.batch = current
        let n = perStage[stage, default: 0]
        if n >= StageError.logLinesKept, let oldest = noted.firstIndex(where: { $0.stage == stage }) {
            noted.remove(at: oldest)
        } else {
            perStage[stage] = n + 1
        }
        noted.append(line)
    }

    /// What was noted since the last call, oldest first.
    func take() -> [StageError] {
        lock.lock()
        defer { lock.unlock() }
        guard !noted.isEmpty else { return [] }
        let out = noted
        noted.removeAll(keepingCapacity: true)
        perStage.removeAll(keepingCapacity: true)
        return out
    }

    /// Passes everything on to `inner`; notes stage lines at warning or worse. Its level is
    /// at most warning, so those reach it even when the host logs only errors (they are then
    /// noted, not printed).
    struct Handler: LogHandler {
        var inner: any LogHandler
        let tap: StageLogTap

        var logLevel: Logger.Level {
            get { min(inner.logLevel, .warning) }
            set { inner.logLevel = newValue }
        }

        var metadata: Logger.Metadata {
            get { inner.metadata }
            set { inner.metadata = newValue }
        }

        var metadataProvider: Logger.MetadataProvider? {
            get { inner.metadataProvider }
            set { inner.metadataProvider = newValue }
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { inner[metadataKey: key] }
            set { inner[metadataKey: key] = newValue }
        }

        func log(event: LogEvent) {
            if event.level >= .warning, let stage = event.metadata?["stage"] ?? inner[metadataKey: "stage"] {
                tap.note(stage: "\(stage)", message: event.message.description)
            }
            if event.level >= inner.logLevel { inner.log(event: event) }
        }
    }
}
