import Logging
import SluiceGuard
import SluicePluginABI

/// Who a stage is, as its plugin's create() is told.
public struct StageIdentity: Sendable, Equatable {
    public var namespace: String
    public var pipeline: String
    public var stage: String

    public init(namespace: String = "default", pipeline: String, stage: String) {
        self.namespace = namespace
        self.pipeline = pipeline
        self.stage = stage
    }
}

/// What a plugin call came back with.
public enum CallStatus: Equatable, Sendable {
    case ok
    /// Sources: input is exhausted.
    case end
    /// Transient; the call may be retried.
    case retry(String)
    case error(String)

    @inline(__always)
    init(_ status: sluice_status, message: @autoclosure () -> String?, call: @autoclosure () -> String) {
        switch status {
        case SLUICE_OK: self = .ok
        case SLUICE_END: self = .end
        case SLUICE_RETRY: self = .retry(message() ?? "\(call()) asked to be retried")
        case SLUICE_ERROR: self = .error(message() ?? "\(call()) failed without saying why")
        case SLUICE_UNCONNECTED: self = .error("\(call()) returned SLUICE_UNCONNECTED, which is emit_to's answer, not a status")
        default: self = .error("\(call()) returned unknown status \(status)")
        }
    }
}

/// What one call produced: records out, errors, alerts, per-alert outcomes.
/// `records` points into the stage's output buffer: valid until the stage's next call;
/// errors and alerts live in the batch arena.
public struct StageOutput {
    public var status: CallStatus
    public var records: UnsafeBufferPointer<sluice_record>
    public var errors: [EmittedError]
    public var alertRefs: [RawAlertRef]
    /// Publishers: alert index → (status, message) where the plugin reported one.
    public var outcomes: [Int: (status: sluice_status, message: String)]
    /// Publishers: alert index → the service's Retry-After in milliseconds; -1: every alert.
    public var retryAfterMs: [Int: Int] = [:]
    /// The records sent to each of the stage's extra output ports (OutputPorts' order);
    /// like `records`, valid until the stage's next call.
    public var ports: [UnsafeBufferPointer<sluice_record>] = []
    /// Records emitted on the output and counted but not built: nobody reads it
    /// (TransformStage.discardsRecords). The call emitted `records.count + discarded`.
    public var discarded = 0

    /// The alerts as Swift strings.
    public var alerts: [RawAlert] { alertRefs.map { RawAlert($0.pairs) } }
}

/// Why a stage could not be created.
public struct StageCreateError: Error, CustomStringConvertible {
    public let stage: String
    public let plugin: String
    public let message: String
    public var description: String { "stage '\(stage)' (\(plugin)): \(message)" }
}

/// One live plugin instance for one stage: it owns the instance, calls it through the
/// ABI and collects what it emits. Call it from one thread at a time.
public final class StageInstance {
    public let identity: StageIdentity
    public let descriptor: PluginDescriptor
    private let call: CallContext
    /// Sources: how emit_json_lines parses (RecordParsing; eager unless the run says lazy).
    public var recordParsing: RecordParsing {
        get { call.recordParsing }
        set { call.recordParsing = newValue }
    }
    /// Sources: how many threads parse what emit_json_lines is given.
    public var parseThreads: Int {
        get { call.parseThreads }
        set { call.parseThreads = max(1, min(newValue, ParseThreads.most)) }
    }
    private var instance: UnsafeMutableRawPointer?
    private var destroyed = false
    /// The plugin calls, by name: what the crash and exit() guard marks a thread with.
    enum Call: Int, CaseIterable {
        case create, read, commit, process, write, flush, publish, destroy

        /// Its name. (Spelled out: interpolating the case itself goes through the runtime's
        /// reflection, a measurable part of a short run's start.)
        var name: String {
            switch self {
            case .create: "create"
            case .read: "read"
            case .commit: "commit"
            case .process: "process"
            case .write: "write"
            case .flush: "flush"
            case .publish: "publish"
            case .destroy: "destroy"
            }
        }
    }
    /// "stage 'x' (Plugin 1.0.0) in <call>", by `Call`: C strings that live as long as the
    /// process (a signal handler may read them).
    private let marks: [UnsafePointer<CChar>?]
    /// Sinks and publishers write output: an immediate stop waits for their calls.
    private let writesOutput: Bool

    /// Creates the plugin instance with the stage's properties (already resolved to text).
    /// `secrets`: values of properties marked secret; the host removes them from every
    /// message of the plugin it shows (logs, failures, outcomes, error records).
    public init(descriptor: PluginDescriptor, identity: StageIdentity, properties: [(String, String)],
                allowsAlerts: Bool, arena: RecordArena, logger: Logger = Logger(label: "sluice.stage"),
                secrets: [String] = [], position: [UInt8] = [], ports: OutputPorts = OutputPorts(),
                made: UnsafeMutableRawPointer? = nil) throws {
        self.identity = identity
        self.descriptor = descriptor
        self.call = CallContext(stage: identity.stage, allowsAlerts: allowsAlerts, arena: arena, logger: logger, ports: ports)
        call.redactor = Redactor(secrets: secrets)
        let who = "stage '" + identity.stage + "' (" + descriptor.name + " " + descriptor.version.description + ") in "
        marks = Call.allCases.map { UnsafePointer(strdup(who + $0.name)) }
        writesOutput = descriptor.type == .sink || descriptor.type == .alertpublisher
        if let made {
            // A built-in stage the engine made from its checked properties: no create().
            instance = made
            return
        }

        // Lay out every string create() sees in one buffer that outlives the call.
        var pool: [UInt8] = []
        func add(_ s: String) -> (Int, Int) {
            let start = pool.count
            pool.append(contentsOf: s.utf8)
            return (start, pool.count - start)
        }
        let ns = add(identity.namespace), pl = add(identity.pipeline), st = add(identity.stage)
        let props = properties.map { (add($0.0), add($0.1)) }
        let pos = pool.count
        pool.append(contentsOf: position)
        pool.append(0)

        var created: UnsafeMutableRawPointer?
        call.begin([])
        let previousMark = sg_enter(marks[Call.create.rawValue])
        let status: sluice_status = pool.withUnsafeBufferPointer { raw in
            let base = UnsafeRawPointer(raw.baseAddress!).assumingMemoryBound(to: CChar.self)
            func str(_ span: (Int, Int)) -> sluice_str { sluice_str(ptr: base + span.0, len: span.1) }
            let kvs = props.map { sluice_kv(key: str($0.0), value: str($0.1)) }
            return kvs.withUnsafeBufferPointer { kv in
                var ctx = sluice_context()
                ctx.size = UInt32(MemoryLayout<sluice_context>.size)
                ctx.nproperties = UInt32(kv.count)
                ctx.abi_major = UInt32(SLUICE_ABI_MAJOR)
                ctx.abi_minor = UInt32(SLUICE_ABI_MINOR)
                ctx.namespace_name = str(ns)
                ctx.pipeline = str(pl)
                ctx.stage = str(st)
                ctx.properties = kv.baseAddress
                ctx.plugin = descriptor.raw
                ctx.position = position.isEmpty ? sluice_str(ptr: nil, len: 0) : sluice_str(ptr: base + pos, len: position.count)
                return descriptor.raw.pointee.create(&ctx, call.emitter, &created)
            }
        }
        call.end()
        sg_leave(previousMark)
        if status != SLUICE_OK {
            destroyed = true
            if created != nil { guarded(.destroy) { descriptor.raw.pointee.destroy(created) } }
            let why = call.failure ?? "create failed (status \(status)) without saying why"
            throw StageCreateError(stage: identity.stage, plugin: "\(descriptor.name) \(descriptor.version)", message: why)
        }
        instance = created
    }

    deinit { destroy() }

    /// Releases the plugin instance; later calls fail.
    public func destroy() {
        guard !destroyed else { return }
        destroyed = true
        guarded(.destroy) { descriptor.raw.pointee.destroy(instance) }
    }

    /// Runs a plugin call marked for the crash and exit() guard.
    @inline(__always)
    private func guarded<T>(_ call: Call, _ body: () -> T) -> T {
        let previous = sg_enter(marks[call.rawValue])
        if writesOutput { sg_output_begin() }
        defer {
            if writesOutput { sg_output_end() }
            sg_leave(previous)
        }
        return body()
    }

    /// The arena where this stage's copies and emitted records go.
    public var arena: RecordArena {
        get { call.arena }
        set { call.arena = newValue }
    }

    /// Counters the plugin added to with out->count(), their names redacted (a plugin may
    /// name one after a secret; they go to /metrics, the summary and the history). Kept by
    /// their raw names, so count() stays a dictionary update; redacted here, once a batch.
    public var counters: [String: Int64] { call.redactor.redactKeys(call.counters) }
    /// Alerts refused because the plugin does not declare emitsAlerts.
    public var rejectedAlerts: Int { call.rejectedAlerts }
    /// Alerts beyond the per-batch bound, not kept.
    public var overflowedAlerts: Int { call.overflowedAlerts }

    /// The most alerts kept per batch (default: no bound).
    public var alertLimit: Int {
        get { call.alertLimit }
        set { call.alertLimit = max(0, newValue) }
    }

    /// Starts a batch: the stage's errors and alerts collect afresh.
    public func beginBatch() { call.beginBatch() }

    /// Error records emitted during the current batch, by every call.
    public var batchErrors: [EmittedError] { call.errors }
    /// Alerts raised during the current batch, by every call.
    public var batchAlerts: [RawAlertRef] { Array(call.alerts) }

    public func foldAlerts(into aggregator: AlertAggregator) -> Bool {
        call.aggregator = aggregator
        return true
    }
    /// Sources: whether the plugin commits positions of its own (a commit function).
    public var hasCommit: Bool { descriptor.raw.pointee.commit != nil }
    /// Sources: the last position the plugin saved during the current batch.
    public var batchPosition: [UInt8]? { call.position }
    /// Sources: whether the plugin said during the current batch that its inputs changed.
    public var inputsChanged: Bool { call.inputsChanged }
    /// Sources: what the plugin reported of its lag during the current batch (report_lag).
    public var batchLag: [SourceLag] { call.lag.entries }
    /// In a worker: which input record each output record of the last call was built on
    /// with emit_with (by output position; -1 or absent: none).
    var tracksBases: Bool {
        get { call.tracksBases }
        set { call.tracksBases = newValue }
    }
    var outputBases: [Int32] { call.bases }
    /// TransformStage.discardsRecords: emit_with on an input record is counted, not built.
    public var discardsRecords: Bool {
        get { call.discardsRecords }
        set { call.discardsRecords = newValue }
    }

    // MARK: per-batch calls

    /// Sources: read up to `maxRecords` records.
    public func read(batch id: UInt64, maxRecords: Int, maxWaitMs: UInt32) -> StageOutput {
        var b = sluice_batch()
        b.size = UInt32(MemoryLayout<sluice_batch>.size)
        b.id = id
        b.max_records = UInt64(maxRecords)
        b.max_wait_ms = maxWaitMs
        return perform(.read, [.records, .json, .errors, .alerts, .position]) { [descriptor, instance, call] in
            descriptor.raw.pointee.read!(instance, &b, call.emitter)
        }
    }

    /// Sources: the batch `id` is done everywhere; commit positions.
    public func commit(batch id: UInt64) -> StageOutput {
        guard let commit = descriptor.raw.pointee.commit else { return output(.ok) }
        return perform(.commit, []) { [instance, call] in commit(instance, id, call.emitter) }
    }

    /// Transforms: process the batch's records.
    public func process(batch id: UInt64, records: UnsafeBufferPointer<sluice_record>) -> StageOutput {
        var b = inputBatch(id, records)
        return perform(.process, [.records, .errors, .alerts], input: records) { [descriptor, instance, call] in
            descriptor.raw.pointee.process!(instance, &b, call.emitter)
        }
    }

    /// Sinks: write the batch's records.
    public func write(batch id: UInt64, records: UnsafeBufferPointer<sluice_record>) -> StageOutput {
        var b = inputBatch(id, records)
        return perform(.write, [.errors, .alerts], input: records) { [descriptor, instance, call] in
            descriptor.raw.pointee.write!(instance, &b, call.emitter)
        }
    }

    /// Sinks: make written records durable.
    public func flush() -> StageOutput {
        guard let flush = descriptor.raw.pointee.flush else { return output(.ok) }
        return perform(.flush, []) { [instance, call] in flush(instance, call.emitter) }
    }

    /// Alert publishers: deliver the alerts.
    public func publish(_ alerts: [UnsafePointer<sluice_alert>]) -> StageOutput {
        perform(.publish, [.outcomes], alertCount: alerts.count) { [descriptor, instance, call] in
            alerts.withUnsafeBufferPointer { a in
                // A non-optional pointer has the layout of an optional one.
                a.withMemoryRebound(to: Optional<UnsafePointer<sluice_alert>>.self) { p in
                    descriptor.raw.pointee.publish!(instance, p.baseAddress, p.count, call.emitter)
                }
            }
        }
    }

    private func inputBatch(_ id: UInt64, _ records: UnsafeBufferPointer<sluice_record>) -> sluice_batch {
        var b = sluice_batch()
        b.size = UInt32(MemoryLayout<sluice_batch>.size)
        b.id = id
        b.records = records.baseAddress
        b.count = records.count
        return b
    }

    @inline(__always)
    private func perform(_ kind: Call, _ permissions: CallContext.Permissions,
                         input: UnsafeBufferPointer<sluice_record> = .init(start: nil, count: 0),
                         alertCount: Int = 0, _ body: () -> sluice_status) -> StageOutput {
        precondition(!destroyed, "\(kind) called on a destroyed stage instance")
        let firstError = call.errors.count, firstAlert = call.alerts.count
        call.begin(permissions, input: input, alertCount: alertCount)
        let status = guarded(kind, body)
        call.end()
        if status == SLUICE_RETRY {
            // The call will be made again: what it emitted before giving up must not count twice.
            call.discard(errorsFrom: firstError, alertsFrom: firstAlert)
        }
        return StageOutput(status: CallStatus(status, message: call.failure, call: "\(descriptor.name).\(kind)"),
                           records: call.records,
                           errors: call.errors.count > firstError ? Array(call.errors[firstError...]) : [],
                           alertRefs: call.alerts.count > firstAlert ? Array(call.alerts[firstAlert...]) : [],
                           outcomes: call.outcomes, retryAfterMs: call.retryAfterMs,
                           ports: call.ports.isEmpty ? [] : call.portRecords, discarded: call.discarded)
    }

    private func output(_ status: CallStatus) -> StageOutput {
        StageOutput(status: status, records: .init(start: nil, count: 0), errors: [], alertRefs: [], outcomes: [:])
    }
}
