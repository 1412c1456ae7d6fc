#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SluiceGuard
import SluicePluginABI
import SluiceRecords

/// A stage whose plugin runs in a worker process (isolation: process). Each call's input
/// goes into shared memory, the worker runs the plugin on it with the same ABI, and the
/// host copies the output back into the batch's arena, checking every offset and length
/// as it does (what a worker wrote is never trusted). A worker that crashes, aborts, calls
/// exit(), hangs past the stage's timeout or talks nonsense is killed; the call answers
/// "retry" with the reason, so the runtime retries it within the pipeline's retry bound on
/// a fresh worker, and then fails the stage with that reason.
public final class IsolatedStage {
    public let identity: StageIdentity
    public var arena: RecordArena
    public private(set) var counters: [String: Int64] = [:]
    public private(set) var rejectedAlerts = 0
    public private(set) var overflowedAlerts = 0
    public var alertLimit = AlertSettings.defaultMaxPerBatch
    public private(set) var batchErrors: [EmittedError] = []
    public private(set) var batchAlerts: [RawAlertRef] = []
    public private(set) var hasCommit = false
    public private(set) var batchPosition: [UInt8]?
    public private(set) var inputsChanged = false
    private var lag = LagReports()
    public var batchLag: [SourceLag] { lag.entries }
    /// How many workers were started (1 + restarts).
    public private(set) var workersStarted = 0
    public var workerRestarts: Int? { max(0, workersStarted - 1) }

    private let executable: String
    private let setup: WorkerSetup
    private let plugin: String
    private let timeoutMs: Int
    private let logger: Logger
    private let redactor: Redactor
    private var worker: WorkerProcess?
    private var newBatch = true
    /// What a replacement worker resumes from: the last position a read saved.
    private var position: [UInt8]
    /// Sinks: this batch's write, replayed to a replacement worker before its flush.
    private var written: (id: UInt64, records: UnsafeBufferPointer<sluice_record>, worker: Int)?
    private var destroyed = false
    /// Bytes of names this stage's workers had the host intern.
    private var internedBytes = 0
    static let maxInternedBytes = 16 << 20
    /// The most records, errors or alerts one answer may carry.
    static let maxPerCall: UInt64 = 1 << 26
    private var errorBuffer = [CChar](repeating: 0, count: 512)

    /// Starts the worker and creates the plugin instance in it; throws StageCreateError with
    /// the plugin's reason (or how the worker died).
    public init(library: String, plugin: String, version: String, type: PluginType, identity: StageIdentity,
                properties: [(String, String)], allowsAlerts: Bool, arena: RecordArena, logger: Logger,
                secrets: [String], position: [UInt8], ports: OutputPorts, timeoutMs: Int, executable: String) throws {
        self.identity = identity
        self.arena = arena
        self.executable = executable
        self.plugin = "\(plugin) \(version)"
        self.timeoutMs = timeoutMs
        var logger = logger
        logger[metadataKey: "stage"] = "\(identity.stage)"
        self.logger = logger
        redactor = Redactor(secrets: secrets)
        self.position = position
        setup = WorkerSetup(library: library, plugin: plugin, type: type, namespace: identity.namespace,
                            pipeline: identity.pipeline, stage: identity.stage, properties: properties.map { [$0.0, $0.1] },
                            allowsAlerts: allowsAlerts, secrets: secrets, position: Data(), logLevel: logger.logLevel.rawValue,
                            ports: ports)
        if case .failure(let why) = start() {
            throw StageCreateError(stage: identity.stage, plugin: self.plugin, message: why.description)
        }
    }

    deinit { destroy() }

    public func destroy() {
        guard !destroyed else { return }
        destroyed = true
        guard let w = worker else { return }
        worker = nil
        sg_output_begin()
        defer { sg_output_end() }
        if w.channel.send(WireMessage(op: .destroy)) {
            let ended = w.finish(withinMs: timeoutMs)
            if ended != "the worker exited with status 0" {
                logger.warning("the worker of stage '\(identity.stage)' (\(plugin)) ended badly at destroy: \(ended)")
            }
        } else {
            w.stop()
        }
    }

    /// A new worker with a new plugin instance.
    private func start() -> Result<WorkerProcess, WorkerError> {
        let w: WorkerProcess
        do {
            w = try WorkerProcess(executable: executable, stage: identity.stage)
        } catch {
            return .failure(.failed("\(error)"))
        }
        workersStarted += 1
        var s = setup
        s.position = Data(position)
        guard let json = try? JSONEncoder().encode(s) else { return .failure(.failed("cannot encode the worker's setup")) }
        w.request.begin()
        let offset = w.request.put(bytes: Array(json))
        guard !w.request.failed else { w.stop(); return .failure(.failed("cannot lay out the worker's setup in shared memory")) }
        guard w.channel.send(WireMessage(op: .setup, a: offset, b: UInt64(json.count), c: UInt64(w.request.size))) else {
            return .failure(.failed("the worker went away at once: \(w.stop())"))
        }
        switch waitFor(w, timeoutMs: timeoutMs, until: [WireMessage.Op.ready, .failed]) {
        case .success(let m) where m.op == .ready:
            hasCommit = m.flags & 1 != 0
            worker = w
            newBatch = true
            return .success(w)
        case .success(let m):
            let why = String(decoding: m.payload, as: UTF8.self)
            _ = w.finish(withinMs: 1000)
            return .failure(.failed(redactor.redact(why)))
        case .failure(let why):
            return .failure(why)
        }
    }

    /// Answers the worker's questions and logs its lines until a message of `kinds` comes;
    /// a worker that dies, hangs past `timeoutMs` or breaks the protocol is killed, and the
    /// failure says why.
    private func waitFor(_ w: WorkerProcess, timeoutMs: Int, until kinds: Set<WireMessage.Op>) -> Result<WireMessage, WorkerError> {
        let deadline = ResourceUsage.nowNanoseconds() + UInt64(timeoutMs) * 1_000_000
        while true {
            let now = ResourceUsage.nowNanoseconds()
            let left = now >= deadline ? 0 : Int((deadline - now) / 1_000_000) + 1
            switch w.channel.receive(timeoutMs: left) {
            case .timedOut:
                let how = w.stop()
                worker = nil
                return .failure(.failed("the worker did not answer within \(timeoutMs) ms (timeoutMs) and was killed (\(how))"))
            case .closed(let why):
                // A dying process closes its socket: its exit status says what happened.
                let how = w.finish(withinMs: 1000)
                worker = nil
                return .failure(.failed(how == "gone" || how.hasSuffix("status 0") ? "the worker's channel closed (\(why)): \(how)" : how))
            case .message(let m):
                if kinds.contains(m.op) { return .success(m) }
                switch m.op {
                case .intern:
                    // Names go into the host's table for good: a worker gets a bounded share.
                    var key = sluice_key(SLUICE_NO_KEY)
                    if internedBytes + m.payload.count <= IsolatedStage.maxInternedBytes {
                        internedBytes += m.payload.count
                        key = m.payload.withUnsafeBytes { b in
                            CallContext.isUTF8(sluice_str(ptr: b.baseAddress?.assumingMemoryBound(to: CChar.self), len: b.count))
                                ? sr_intern(b.baseAddress?.assumingMemoryBound(to: CChar.self), b.count) : sluice_key(SLUICE_NO_KEY)
                        }
                    }
                    guard w.channel.send(WireMessage(op: .key, a: UInt64(key))) else {
                        let how = w.stop()
                        worker = nil
                        return .failure(.failed("the worker does not read its socket and was stopped (\(how))"))
                    }
                case .log:
                    let levels: [Logger.Level] = [.trace, .debug, .info, .warning, .error]
                    let text = m.payload.withUnsafeBufferPointer { b in
                        PluginText.read(UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), b.count)
                    }
                    logger.log(level: levels[Int(min(4, m.flags))], "\(redactor.redact(text))")
                default:
                    let how = w.stop()
                    worker = nil
                    return .failure(.failed("the worker sent an unexpected message (\(m.op)) and was stopped (\(how))"))
                }
            }
        }
    }

    // MARK: calls

    public func beginBatch() {
        batchErrors.removeAll(keepingCapacity: true)
        batchAlerts.removeAll(keepingCapacity: true)
        batchPosition = nil
        inputsChanged = false
        lag.removeAll()
        written = nil
        newBatch = true
    }

    public func read(batch id: UInt64, maxRecords: Int, maxWaitMs: UInt32) -> StageOutput {
        var args = CallArgs(call: UInt64(StageInstance.Call.read.rawValue), batch: id)
        args.maxRecords = UInt64(max(0, maxRecords))
        args.maxWaitMs = UInt64(maxWaitMs)
        return perform(.read, args, extraMs: Int(maxWaitMs))
    }

    public func commit(batch id: UInt64) -> StageOutput {
        guard hasCommit else { return StageOutput(status: .ok, records: .init(start: nil, count: 0), errors: [], alertRefs: [], outcomes: [:]) }
        return perform(.commit, CallArgs(call: UInt64(StageInstance.Call.commit.rawValue), batch: id))
    }

    public func process(batch id: UInt64, records: UnsafeBufferPointer<sluice_record>) -> StageOutput {
        perform(.process, CallArgs(call: UInt64(StageInstance.Call.process.rawValue), batch: id), records: records)
    }

    public func write(batch id: UInt64, records: UnsafeBufferPointer<sluice_record>) -> StageOutput {
        let out = perform(.write, CallArgs(call: UInt64(StageInstance.Call.write.rawValue), batch: id), records: records)
        if out.status == .ok { written = (id, records, workersStarted) }
        return out
    }

    public func flush() -> StageOutput {
        // A worker that replaced the one the batch was written to has not seen it: write it
        // again first, so a crash between write and flush loses nothing.
        if let w = written, w.worker != workersStarted || worker == nil {
            // What the first write raised and counted is already counted: keep it once.
            let before = (batchErrors.count, batchAlerts.count, counters, rejectedAlerts, overflowedAlerts)
            let again = write(batch: w.id, records: w.records)
            batchErrors.removeSubrange(min(before.0, batchErrors.count)...)
            batchAlerts.removeSubrange(min(before.1, batchAlerts.count)...)
            (counters, rejectedAlerts, overflowedAlerts) = (before.2, before.3, before.4)
            guard again.status == .ok else { return again }
        }
        return perform(.flush, CallArgs(call: UInt64(StageInstance.Call.flush.rawValue)))
    }

    public func publish(_ alerts: [UnsafePointer<sluice_alert>]) -> StageOutput {
        perform(.publish, CallArgs(call: UInt64(StageInstance.Call.publish.rawValue)), alerts: alerts)
    }

    private func perform(_ call: StageInstance.Call, _ arguments: CallArgs, extraMs: Int = 0,
                         records: UnsafeBufferPointer<sluice_record> = .init(start: nil, count: 0),
                         alerts: [UnsafePointer<sluice_alert>] = []) -> StageOutput {
        precondition(!destroyed, "\(call) called on a destroyed stage")
        let writesOutput = call == .write || call == .flush || call == .publish
        if writesOutput { sg_output_begin() }
        defer { if writesOutput { sg_output_end() } }
        let w: WorkerProcess
        if let running = worker {
            w = running
        } else {
            switch start() {
            case .success(let started): w = started
            case .failure(let why): return output(.retry("a new worker for the stage could not start: \(why)"))
            }
        }
        var args = arguments
        args.newBatch = newBatch ? 1 : 0
        args.alertLimit = UInt64(max(0, alertLimit))
        w.request.begin()
        if let base = records.baseAddress, !records.isEmpty {
            args.records = sr_flat_put_records(w.request.writer, base, UInt64(records.count))
            args.count = UInt64(records.count)
        }
        if !alerts.isEmpty {
            args.alerts = alerts.map { Optional($0) }.withUnsafeBufferPointer { sr_flat_put_alerts(w.request.writer, $0.baseAddress, UInt64($0.count)) }
            args.alertCount = UInt64(alerts.count)
        }
        if w.request.failed {
            let how = w.stop()
            worker = nil
            return output(.retry("the batch could not be laid out in shared memory (\(w.request.size) bytes could be had); the worker was stopped (\(how))"))
        }
        args.regionSize = UInt64(w.request.size)
        guard w.channel.send(WireMessage(.call, raw: args)) else {
            let how = w.stop()
            worker = nil
            return output(.retry("the worker of stage '\(identity.stage)' (\(plugin)) went away: \(how)"))
        }
        switch waitFor(w, timeoutMs: timeoutMs + extraMs, until: [WireMessage.Op.done]) {
        case .failure(let why):
            logger.warning("the worker of stage '\(identity.stage)' (\(plugin)) failed in \(call): \(why); the call is retried on a new worker")
            return output(.retry("its worker process failed: \(why)"))
        case .success(let m):
            newBatch = false
            guard let result = m.raw(CallResult.self) else {
                w.stop()
                worker = nil
                return output(.retry("the worker of stage '\(identity.stage)' (\(plugin)) sent a malformed answer"))
            }
            switch take(result, from: w, call: call, input: records, alertCountOfCall: alerts.count) {
            case .success(let out): return out
            case .failure(let why):
                let how = w.stop()
                worker = nil
                return output(.retry("the answer of the worker of stage '\(identity.stage)' (\(plugin)) was unusable (\(why)); it was stopped (\(how))"))
            }
        }
    }

    /// Copies a call's answer out of the reply region, checking everything.
    private func take(_ r: CallResult, from w: WorkerProcess, call: StageInstance.Call,
                      input: UnsafeBufferPointer<sluice_record>, alertCountOfCall: Int) -> Result<StageOutput, WorkerError> {
        guard r.regionSize <= UInt64(Int.max), w.reply.follow(Int(r.regionSize)) else {
            return .failure(.protocolError("the reply region is shorter than the worker said"))
        }
        var notes = CallNotes()
        if r.notesLength > 0 {
            guard r.notesLength <= UInt64(64 << 20), let bytes = w.reply.bytes(at: r.notes, count: Int(r.notesLength)),
                  let decoded = try? JSONDecoder().decode(CallNotes.self, from: Data(bytes)) else {
                return .failure(.protocolError("its notes are not readable"))
            }
            notes = decoded
        }
        let base = UnsafePointer(w.reply.base.assumingMemoryBound(to: CChar.self))
        let size = UInt64(w.reply.size)
        func records(_ offset: UInt64, _ count: UInt64) -> Result<UnsafeBufferPointer<sluice_record>, WorkerError> {
            guard count > 0 else { return .success(.init(start: nil, count: 0)) }
            guard count <= size / UInt64(MemoryLayout<sluice_record>.size) else { return .failure(.protocolError("\(count) records cannot fit")) }
            var out: UnsafePointer<sluice_record>?
            let status = errorBuffer.withUnsafeMutableBufferPointer { e in
                sr_flat_import_records(base, size, offset, count, arena.raw, &out, e.baseAddress, e.count)
            }
            guard status == 0 else { return .failure(.protocolError(errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })) }
            return .success(UnsafeBufferPointer(start: out, count: Int(count)))
        }
        guard r.count <= IsolatedStage.maxPerCall, r.errorRecordCount <= IsolatedStage.maxPerCall,
              r.alertCount <= UInt64(Limits.maxAlertsPerBatch) else {
            return .failure(.protocolError("it claims \(r.count) records, \(r.errorRecordCount) error records and \(r.alertCount) alerts"))
        }
        var emitted = UnsafeBufferPointer<sluice_record>(start: nil, count: 0)
        if r.count > 0 {
            // Records passed on are the host's own; only what the plugin added is copied.
            guard r.count <= size / UInt64(MemoryLayout<sr_flat_output>.size) else { return .failure(.protocolError("\(r.count) records cannot fit")) }
            var out: UnsafePointer<sluice_record>?
            let status = errorBuffer.withUnsafeMutableBufferPointer { e in
                sr_flat_import_output(base, size, r.records, r.count, input.baseAddress, UInt64(input.count), arena.raw, &out,
                                      e.baseAddress, e.count)
            }
            guard status == 0 else { return .failure(.protocolError(errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })) }
            emitted = UnsafeBufferPointer(start: out, count: Int(r.count))
        }
        // Records sent to extra output ports: only to ports the stage has and a connection takes.
        var ports: [UnsafeBufferPointer<sluice_record>] = []
        if r.portRecordCount > 0 {
            let counts = notes.portCounts
            guard r.portRecordCount <= size / UInt64(MemoryLayout<sr_flat_output>.size),
                  Self.portCountsAreSound(counts, total: r.portRecordCount, ports: setup.ports) else {
                return .failure(.protocolError("its records for output ports do not add up (\(notes.portCounts) of \(r.portRecordCount))"))
            }
            var out: UnsafePointer<sluice_record>?
            let status = errorBuffer.withUnsafeMutableBufferPointer { e in
                sr_flat_import_output(base, size, r.portRecords, r.portRecordCount, input.baseAddress, UInt64(input.count), arena.raw, &out,
                                      e.baseAddress, e.count)
            }
            guard status == 0, let out else { return .failure(.protocolError(errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })) }
            var first = 0
            for n in counts {
                ports.append(UnsafeBufferPointer(start: out + first, count: n))
                first += n
            }
        }
        let errorRecords: UnsafeBufferPointer<sluice_record>
        switch records(r.errorRecords, r.errorRecordCount) {
        case .success(let rs): errorRecords = rs
        case .failure(let e): return .failure(e)
        }
        var errors: [EmittedError] = []
        for e in notes.errors.prefix(10_000_000) {
            var record: sluice_record?
            if let i = e.record {
                guard i >= 0, i < errorRecords.count else { return .failure(.protocolError("an error names record \(i) of \(errorRecords.count)")) }
                record = errorRecords[i]
            }
            errors.append(EmittedError(record: record, code: e.code, message: clean(e.message)))
        }
        var alerts: [RawAlertRef] = []
        if r.alertCount > 0 {
            guard r.alertCount <= size / UInt64(MemoryLayout<AlertSpan>.size),
                  let spans = w.reply.read(AlertSpan.self, at: r.alerts, count: Int(r.alertCount)) else {
                return .failure(.protocolError("its alerts lie outside the shared memory"))
            }
            for span in spans {
                guard span.count <= UInt64(CallContext.maxAlertEntries) else { return .failure(.protocolError("an alert has \(span.count) entries")) }
                if batchAlerts.count + alerts.count >= alertLimit { overflowedAlerts += 1; continue }
                var kvs: UnsafePointer<sluice_kv>?
                let status = errorBuffer.withUnsafeMutableBufferPointer { e in
                    sr_flat_import_kvs(base, size, span.payload, UInt32(span.count), UInt64(CallContext.maxAlertBytes), arena.raw, &kvs, e.baseAddress, e.count)
                }
                guard status == 0, let kvs else { return .failure(.protocolError(errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })) }
                alerts.append(RawAlertRef(payload: kvs, count: Int(span.count)))
            }
        }
        guard notes.errors.count <= Int(IsolatedStage.maxPerCall), notes.outcomes.count <= Int(IsolatedStage.maxPerCall) else {
            return .failure(.protocolError("its notes are too long"))
        }
        for (name, delta) in notes.counters.prefix(10_000) {
            let metric = clean(name, limit: 256)
            let (sum, overflow) = counters[metric, default: 0].addingReportingOverflow(delta)
            counters[metric] = overflow ? (delta > 0 ? Int64.max : Int64.min) : sum
        }
        func add(_ total: inout Int, _ delta: Int) {
            let (sum, overflow) = total.addingReportingOverflow(min(max(0, delta), Int(Int32.max)))
            total = overflow ? Int.max : sum
        }
        add(&rejectedAlerts, notes.rejectedAlerts)
        add(&overflowedAlerts, notes.overflowedAlerts)
        if notes.inputsChanged == true { inputsChanged = true }
        // Checked again, with the bounds a plugin in this process has (and a bound on the work).
        if let reported = notes.lag { lag.merge(Array(reported.prefix(4 * LagReports.maxPartitions))) }
        if let p = notes.position, p.count <= SourcePositions.maxBytes {
            batchPosition = Array(p)
            position = Array(p)
        }
        let status: CallStatus
        let failure = notes.failure.map { clean($0) }
        switch Int32(truncatingIfNeeded: r.status) {
        case SLUICE_OK: status = .ok
        case SLUICE_END: status = .end
        case SLUICE_RETRY: status = .retry(failure ?? "\(plugin).\(call) asked to be retried")
        default: status = .error(failure ?? "\(plugin).\(call) failed without saying why")
        }
        if case .retry = status {} else {
            batchErrors += errors
            batchAlerts += alerts
        }
        var outcomes: [Int: (status: sluice_status, message: String)] = [:]
        for o in notes.outcomes where o.index >= 0 && o.index < alertCountOfCall {
            outcomes[o.index] = (o.status, clean(o.message))
        }
        // As CallContext.alertRetryAfter bounds them: a day at most, for this call's alerts.
        var retryAfter: [Int: Int] = [:]
        for (index, ms) in notes.retryAfter where index == -1 || (index >= 0 && index < alertCountOfCall) {
            retryAfter[index] = min(max(0, ms), 86_400_000)
        }
        return .success(StageOutput(status: status, records: emitted, errors: errors, alertRefs: alerts,
                                    outcomes: outcomes, retryAfterMs: retryAfter, ports: ports))
    }

    /// Whether a worker's count of records per extra output port can be trusted: one count
    /// per port, each within the call's total (so that their sum cannot wrap around), adding
    /// up to it, records only on ports a connection takes, and no more than one call may carry.
    static func portCountsAreSound(_ counts: [Int], total: UInt64, ports: OutputPorts) -> Bool {
        total <= maxPerCall && counts.count == ports.names.count
            && counts.allSatisfy({ $0 >= 0 && UInt64($0) <= total })
            && counts.reduce(0, +) == Int(total)
            && zip(counts, ports.connected).allSatisfy({ $0.0 == 0 || $0.1 })
    }

    /// A message from the worker, bounded and cleaned as a plugin's own would be.
    private func clean(_ text: String, limit: Int = PluginText.maxBytes) -> String {
        var t = text
        return redactor.redact(t.withUTF8 { b in
            PluginText.read(UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), b.count, limit: limit)
        })
    }

    private func output(_ status: CallStatus) -> StageOutput {
        StageOutput(status: status, records: .init(start: nil, count: 0), errors: [], alertRefs: [], outcomes: [:])
    }
}
