#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SluiceGuard
import SluicePluginABI
import SluiceRecords

/// The worker process of an isolated stage (`host worker`, started by the host only): it
/// loads the plugin's library, creates the instance, and runs each call the host sends on
/// the batch in the request region, answering with what the call emitted in the reply
/// region. Descriptors 3, 4 and 5 are the socket, the request and the reply region.
public enum Worker {
    /// Runs until the host says destroy or goes away; returns the exit status.
    public static func main(parent: Int32) -> Int32 {
        // The handlers first, then sg_worker_init leaves the stop signals to the host.
        sg_install(ProcessInfo.processInfo.environment["SWIFT_BACKTRACE"] == nil ? 1 : 0)
        sg_set_worker(1)
        let started = sg_worker_init(parent)
        guard started != -1 else { return 1 }  // the host is gone
        let link = WorkerLink(channel: WorkerChannel(fd: 3))
        WorkerLink.current = link
        guard started == 0 else {
            let why = "worker: cannot confine the worker process (seccomp filter): \(String(cString: strerror(errno)))"
            link.channel.send(WireMessage(op: .failed, payload: Array(why.utf8)))
            return 1
        }
        let request: SharedRegion, reply: SharedRegion
        do {
            request = try SharedRegion(inherited: 4)
            reply = try SharedRegion(inherited: 5)
        } catch {
            link.channel.send(WireMessage(op: .failed, payload: Array("worker: \(error)".utf8)))
            return 1
        }
        // The host's key table is the one truth: names are numbered by the host.
        sr_intern_set_resolver { name, len in WorkerLink.current?.intern(name, len) ?? sluice_key(SLUICE_NO_KEY) }
        var session: WorkerSession?
        while true {
            // The host went away: so do the worker and the processes its plugin started.
            guard case .message(let m) = link.receive() else { sg_worker_abandoned() }
            switch m.op {
            case .setup:
                guard session == nil else { return 1 }
                switch WorkerSession.create(m, request: request, reply: reply, link: link) {
                case .success(let s):
                    session = s
                    link.channel.send(WireMessage(op: .ready, flags: s.stage.hasCommit ? 1 : 0))
                case .failure(let why):
                    link.channel.send(WireMessage(op: .failed, payload: Array(why.description.utf8.prefix(WireMessage.maxPayload))))
                    return 0
                }
            case .call:
                guard let s = session, let args = m.raw(CallArgs.self) else { return 1 }
                sg_run_begin()
                let result = s.perform(args)
                sg_run_end()
                link.channel.send(WireMessage(.done, raw: result))
            case .destroy:
                sg_run_begin()
                session?.stage.destroy()
                sg_run_end()
                return 0
            default:
                return 1
            }
        }
    }
}

/// The worker's end of the socket: calls from the host, and the questions and log lines
/// the worker sends while a call runs.
final class WorkerLink: @unchecked Sendable {
    nonisolated(unsafe) static var current: WorkerLink?
    let channel: WorkerChannel
    private let lock = NSLock()

    init(channel: WorkerChannel) { self.channel = channel }

    func receive() -> WorkerChannel.Received { channel.receive() }

    /// The host's key for a name (called under the key table's lock).
    func intern(_ name: UnsafePointer<CChar>?, _ len: Int) -> sluice_key {
        guard len <= WireMessage.maxPayload else { return sluice_key(SLUICE_NO_KEY) }
        lock.lock()
        defer { lock.unlock() }
        let bytes = len == 0 ? [] : Array(UnsafeRawBufferPointer(start: name, count: len))
        guard channel.send(WireMessage(op: .intern, payload: bytes)),
              case .message(let m) = channel.receive(), m.op == .key, m.a <= UInt64(UInt32.max) else {
            _exit(1)  // the host is gone or confused: nothing sensible is left to do
        }
        return sluice_key(m.a)
    }

    func log(_ level: Logger.Level, _ text: String) {
        lock.lock()
        defer { lock.unlock() }
        let levels: [Logger.Level] = [.trace, .debug, .info, .warning, .error]
        let code = UInt32(levels.firstIndex(of: level) ?? (level == .critical ? 4 : 2))
        channel.send(WireMessage(op: .log, flags: code, payload: Array(text.utf8.prefix(8192))))
    }
}

/// Log lines of the worker's stage go to the host, which prints them as its own.
struct ForwardingLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        WorkerLink.current?.log(event.level, event.message.description)
    }
}

/// The stage instance in a worker, and how one call runs.
final class WorkerSession {
    let stage: StageInstance
    private let request: SharedRegion
    private let reply: SharedRegion
    private let arena = RecordArena()
    private var sentCounters: [String: Int64] = [:]
    private var sentRejected = 0, sentOverflowed = 0

    private init(stage: StageInstance, request: SharedRegion, reply: SharedRegion) {
        self.stage = stage
        self.request = request
        self.reply = reply
    }

    static func create(_ m: WireMessage, request: SharedRegion, reply: SharedRegion, link: WorkerLink) -> Result<WorkerSession, WorkerError> {
        guard m.c <= UInt64(Int.max), request.follow(Int(m.c)), m.b <= UInt64(Int.max),
              let bytes = request.bytes(at: m.a, count: Int(m.b)),
              let setup = try? JSONDecoder().decode(WorkerSetup.self, from: Data(bytes)) else {
            return .failure(.protocolError("the worker could not read its setup"))
        }
        var logger = Logger(label: "sluice.worker") { _ in
            ForwardingLogHandler(logLevel: Logger.Level(rawValue: setup.logLevel) ?? .info)
        }
        logger.logLevel = Logger.Level(rawValue: setup.logLevel) ?? .info
        let descriptor: PluginDescriptor
        do {
            let what = strdup("loading the library \(setup.library) in a worker")
            let previous = sg_enter(what)
            defer { sg_leave(previous) }
            let library = try NativeLibrary(path: setup.library)
            let all = try PluginDescriptor.all(in: library)
            guard let found = all.compactMap({ try? $0.get() }).first(where: { $0.name == setup.plugin && $0.type == setup.type }) else {
                return .failure(.protocolError("the library \(setup.library) has no \(setup.type.rawValue) named \(setup.plugin) any more"))
            }
            descriptor = found
        } catch {
            return .failure(.protocolError("cannot load \(setup.library): \(error)"))
        }
        do {
            sg_run_begin()
            defer { sg_run_end() }
            let stage = try StageInstance(descriptor: descriptor,
                                          identity: StageIdentity(namespace: setup.namespace, pipeline: setup.pipeline, stage: setup.stage),
                                          properties: setup.properties.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil },
                                          allowsAlerts: setup.allowsAlerts, arena: RecordArena(chunkBytes: 4096),
                                          logger: logger, secrets: setup.secrets, position: Array(setup.position),
                                          ports: setup.ports)
            stage.tracksBases = true
            return .success(WorkerSession(stage: stage, request: request, reply: reply))
        } catch let error as StageCreateError {
            return .failure(.protocolError(error.message))
        } catch {
            return .failure(.protocolError("\(error)"))
        }
    }

    /// Runs one call and lays its output out in the reply region.
    func perform(_ args: CallArgs) -> CallResult {
        if args.newBatch != 0 {
            arena.reset()
            stage.beginBatch()
        }
        stage.arena = arena
        stage.alertLimit = Int(clamping: args.alertLimit)
        let out: StageOutput
        var input = UnsafeBufferPointer<sluice_record>(start: nil, count: 0)
        switch StageInstance.Call(rawValue: Int(clamping: args.call)) {
        case .read:
            out = stage.read(batch: args.batch, maxRecords: Int(clamping: args.maxRecords), maxWaitMs: UInt32(clamping: args.maxWaitMs))
        case .commit:
            out = stage.commit(batch: args.batch)
        case .process, .write:
            switch importInput(args) {
            case .failure(let why): return failed(why)
            case .success(let records):
                input = records
                out = args.call == UInt64(StageInstance.Call.process.rawValue)
                    ? stage.process(batch: args.batch, records: records)
                    : stage.write(batch: args.batch, records: records)
            }
        case .flush:
            out = stage.flush()
        case .publish:
            var pointers: [UnsafePointer<sluice_alert>] = []
            if args.alertCount > 0 {
                guard args.alertCount <= UInt64(Int32.max), request.follow(Int(clamping: args.regionSize)),
                      let alerts = sr_flat_fix_alerts(request.base.assumingMemoryBound(to: CChar.self), UInt64(request.size),
                                                      args.alerts, args.alertCount) else {
                    return failed("the worker could not read the alerts the host sent")
                }
                pointers = (0..<Int(args.alertCount)).map { UnsafePointer(alerts + $0) }
            }
            out = stage.publish(pointers)
        default:
            return failed("unknown call \(args.call)")
        }
        return answer(out, input: input, isRead: args.call == UInt64(StageInstance.Call.read.rawValue))
    }

    /// The host's records, used where they lie in the request region.
    private func importInput(_ args: CallArgs) -> Result<UnsafeBufferPointer<sluice_record>, WorkerError> {
        guard request.follow(Int(clamping: args.regionSize)) else { return .failure(.protocolError("the request region is shorter than the host said")) }
        guard args.count > 0 else { return .success(.init(start: nil, count: 0)) }
        guard args.count <= UInt64(Int32.max),
              let records = sr_flat_fix_records(request.base.assumingMemoryBound(to: CChar.self), UInt64(request.size), args.records, args.count,
                                                arena.raw) else {
            return .failure(.protocolError("the worker could not read its input"))
        }
        return .success(UnsafeBufferPointer(start: records, count: Int(args.count)))
    }

    private func failed(_ why: String) -> CallResult {
        answer(StageOutput(status: .error(why), records: .init(start: nil, count: 0), errors: [], alertRefs: [], outcomes: [:]),
               input: .init(start: nil, count: 0), isRead: false)
    }

    private func failed(_ error: WorkerError) -> CallResult { failed(error.description) }

    private func answer(_ out: StageOutput, input: UnsafeBufferPointer<sluice_record>, isRead: Bool) -> CallResult {
        var result = CallResult()
        var notes = CallNotes()
        switch out.status {
        case .ok: result.status = Int64(SLUICE_OK)
        case .end: result.status = Int64(SLUICE_END)
        case .retry(let why): result.status = Int64(SLUICE_RETRY); notes.failure = why
        case .error(let why): result.status = Int64(SLUICE_ERROR); notes.failure = why
        }
        reply.begin()
        if let base = out.records.baseAddress, !out.records.isEmpty {
            let bases = stage.outputBases
            result.records = bases.withUnsafeBufferPointer { b in
                sr_flat_put_output(reply.writer, input.baseAddress, UInt64(input.count), base, UInt64(out.records.count),
                                   b.baseAddress, UInt64(b.count))
            }
            result.count = UInt64(out.records.count)
        }
        if out.ports.contains(where: { !$0.isEmpty }) {
            let sent = out.ports.flatMap { Array($0) }
            result.portRecords = sent.withUnsafeBufferPointer {
                sr_flat_put_output(reply.writer, input.baseAddress, UInt64(input.count), $0.baseAddress, UInt64($0.count), nil, 0)
            }
            result.portRecordCount = UInt64(sent.count)
            notes.portCounts = out.ports.map(\.count)
        }
        let withRecords = out.errors.compactMap(\.record)
        if !withRecords.isEmpty {
            result.errorRecords = withRecords.withUnsafeBufferPointer { sr_flat_put_records(reply.writer, $0.baseAddress, UInt64($0.count)) }
            result.errorRecordCount = UInt64(withRecords.count)
        }
        var index = 0
        for e in out.errors {
            notes.errors.append(.init(code: e.code, message: e.message, record: e.record == nil ? nil : index))
            if e.record != nil { index += 1 }
        }
        if !out.alertRefs.isEmpty {
            let spans = out.alertRefs.map { AlertSpan(payload: sr_flat_put_kvs(reply.writer, $0.payload, UInt32($0.count)), count: UInt64($0.count)) }
            result.alerts = spans.withUnsafeBytes { sr_flat_put_bytes(reply.writer, $0.baseAddress, UInt64($0.count), 8) }
            result.alertCount = UInt64(spans.count)
        }
        notes.outcomes = out.outcomes.map { .init(index: $0.key, status: $0.value.status, message: $0.value.message) }
        notes.retryAfter = out.retryAfterMs
        for (name, value) in stage.counters where sentCounters[name] != value {
            notes.counters[name] = value &- (sentCounters[name] ?? 0)
            sentCounters[name] = value
        }
        notes.rejectedAlerts = stage.rejectedAlerts - sentRejected
        notes.overflowedAlerts = stage.overflowedAlerts - sentOverflowed
        sentRejected = stage.rejectedAlerts
        sentOverflowed = stage.overflowedAlerts
        if isRead, let position = stage.batchPosition { notes.position = Data(position) }
        if isRead, stage.inputsChanged { notes.inputsChanged = true }
        if isRead, !stage.batchLag.isEmpty { notes.lag = stage.batchLag }
        if !notes.isEmpty, let json = try? JSONEncoder().encode(notes) {
            result.notes = reply.put(bytes: Array(json))
            result.notesLength = UInt64(json.count)
        }
        if reply.failed {
            // The output did not fit in memory: say so rather than send half of it.
            reply.begin()
            let why = Array("the worker could not lay out the call's output in shared memory (\(reply.size) bytes)".utf8)
            var small = CallResult(status: Int64(SLUICE_ERROR))
            let json = (try? JSONEncoder().encode(CallNotes(failure: String(decoding: why, as: UTF8.self)))) ?? Data()
            small.notes = reply.put(bytes: Array(json))
            small.notesLength = UInt64(json.count)
            small.regionSize = UInt64(reply.size)
            return small
        }
        result.regionSize = UInt64(reply.size)
        return result
    }
}
