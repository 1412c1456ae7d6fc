#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SluicePluginABI
import SluiceRecords

/// A record sent to a stage's error port.
public struct EmittedError {
    /// The record (in the batch arena), or nil when the plugin gave none.
    public let record: sluice_record?
    public let code: Int32
    public let message: String
}

/// An alert as a stage raised it, copied into the batch arena: its payload, in order,
/// with keys and values NUL-terminated. Valid until the batch's arena is reset.
public struct RawAlertRef: BitwiseCopyable {
    public let payload: UnsafePointer<sluice_kv>
    public let count: Int

    public var entries: UnsafeBufferPointer<sluice_kv> { UnsafeBufferPointer(start: payload, count: count) }

    /// The payload as Swift strings (for tests and messages; the alert path reads bytes).
    public var pairs: [(String, String)] { entries.map { (String($0.key), String($0.value)) } }
}

/// An alert payload as Swift strings, in order.
public struct RawAlert: Equatable, Sendable {
    public let payload: [Pair]

    public struct Pair: Equatable, Sendable {
        public let key: String
        public let value: String
    }

    public init(_ payload: [(String, String)]) {
        self.payload = payload.map { Pair(key: $0.0, value: $0.1) }
    }
}

/// The part of a call's state the per-record emitter functions touch, kept in plain
/// memory (no Swift arrays, no class properties) so passing a record on costs a few
/// instructions: the emitter's ctx points here.
struct HotState {
    var permissions: Int = 0
    var input: UnsafePointer<sluice_record>?
    var inputCount: Int = 0
    /// What the call emitted.
    var output: RecordBuffer
    /// The alerts raised during the batch, copied into `arena` — or, when the stage's
    /// alerts are aggregated (`aggregator`, CallContext.aggregator), folded into their
    /// groups as they are raised: `folded` of them this batch, none kept.
    var alerts = PlainBuffer<RawAlertRef>(capacity: 64)
    var aggregator: OpaquePointer?
    var folded = 0
    /// The current call may raise alerts and `aggregator` marked where it began (a call
    /// that is retried has its alerts taken back), with `folded` then.
    var marked = false
    var foldedAtMark = 0
    /// The batch's arena, the most alerts kept per batch, and whether the stage's plugin
    /// declares emitsAlerts: what emit_alert's fast path needs.
    var arena: OpaquePointer
    var alertLimit = Int.max
    var allowsAlerts = false
    /// Why a fast path's C call (emit_with's, emit_alert's) refused (256 bytes, NUL-terminated).
    let fastError: UnsafeMutablePointer<CChar> = .allocate(capacity: CallContext.fastErrorBytes)
    /// The CallContext this belongs to, for everything that is not hot.
    var owner: Unmanaged<CallContext>
    /// CallContext.tracksBases, read by emit_with's fast path.
    var tracksBases = false
    /// CallContext.discardsRecords, and how many records emit_with's fast path counted
    /// instead of building during the call.
    var discardsRecords = false
    var discarded = 0

    /// The alerts kept this batch: copied or folded.
    var keptAlerts: Int { alerts.count + folded }

    /// Keeps an alert the checks before allowed: folded into the stage's aggregation, or
    /// copied into the arena. 0, or -1 with the reason in `fastError`.
    @inline(__always) mutating func keep(_ payload: UnsafePointer<sluice_kv>?, _ n: UInt32) -> Int32 {
        if let aggregator {
            guard sr_aggregator_add(aggregator, arena, payload, n, UInt64(CallContext.maxAlertBytes), fastError,
                                    CallContext.fastErrorBytes) == 0 else { return -1 }
            folded += 1
            return 0
        }
        var kvs: UnsafePointer<sluice_kv>?
        guard sr_copy_kvs(arena, payload, n, UInt64(CallContext.maxAlertBytes), &kvs, fastError, CallContext.fastErrorBytes) == 0,
              let kvs else { return -1 }
        alerts.append(RawAlertRef(payload: kvs, count: Int(n)))
        return 0
    }

    @inline(__always) func isInput(_ r: UnsafePointer<sluice_record>) -> Bool {
        guard let base = input else { return false }
        return r >= base && r < base + inputCount
    }
}

/// The host side of the emitter: what one stage produced during one call.
/// It owns the sluice_emitter table the plugin receives (at a stable address).
final class CallContext {
    /// What the current call may do.
    struct Permissions: OptionSet {
        let rawValue: Int
        static let records = Permissions(rawValue: 1)
        static let json = Permissions(rawValue: 2)
        static let errors = Permissions(rawValue: 4)
        static let alerts = Permissions(rawValue: 8)
        static let outcomes = Permissions(rawValue: 16)
        static let position = Permissions(rawValue: 32)
    }

    let stage: String
    let allowsAlerts: Bool
    let logger: Logger
    /// The stage's extra output ports, and the records the current call sent to each.
    let ports: OutputPorts
    private let portNames: [[UInt8]]
    private var portOutput: [RecordBuffer]
    let parser = RecordParser()
    /// For emit_json_lines: parses on `parseThreads` threads; nil when it could not be made
    /// (memory ran out, a thread could not start).
    private lazy var lineParser: OpaquePointer? = sr_line_parser_new(UInt32(parseThreads))
    /// How many threads parse what emit_json_lines is given: the calling thread and
    /// parseThreads - 1 helpers (a text over 64 KiB is cut into one part per thread). Set
    /// before the first call.
    var parseThreads = CallContext.defaultParseThreads

    /// SLUICE_PARSE_THREADS, else every core but one (ParseThreads): the source's reader
    /// parses, helped by the others, while the runner's thread runs the other stages and the
    /// alerts on the core left. More threads than cores only take turns: on 2 cores, three
    /// parsing threads (the default until issue 25's eighth pass) took 5-11% longer than
    /// one with the sink or on spaced input, 2.5% on plain, and about the same with eager
    /// records or a window (docs/benchmarks.md).
    static let defaultParseThreads: Int =
        ParseThreads.from(environment: ProcessInfo.processInfo.environment).0 ?? ParseThreads.byCores
    private var usesLineParser = false
    /// How emit_json_lines parses: flat records, or lazy ones (handles) where the run says
    /// every reader of the source's records reads by accessor (RecordParsing).
    var recordParsing = RecordParsing.eager
    private let fileKey = FieldKeys.intern("file"), lineKey = FieldKeys.intern("line"), textKey = FieldKeys.intern("text")

    // Per call
    var arena: RecordArena { didSet { hot.pointee.arena = arena.raw } }
    var alertCount = 0
    var failure: String?
    var lastError: String?

    // What the batch produced so far (records are in `hot`, per call)
    var errors: [EmittedError] = []
    /// The alerts raised during the batch so far (in `hot`).
    var alerts: UnsafeBufferPointer<RawAlertRef> { hot.pointee.alerts.elements }
    var outcomes: [Int: (status: sluice_status, message: String)] = [:]
    /// Publishers: alert index → the service's "not before" in milliseconds; -1: every alert.
    var retryAfterMs: [Int: Int] = [:]
    /// Sources: the last position saved during the current batch (nil: none).
    var position: [UInt8]?
    /// Sources: the plugin said during the current batch that its inputs changed.
    var inputsChanged = false
    /// Sources: what the plugin reported of its lag during the current batch (report_lag),
    /// the last report per partition, in the order partitions were first reported.
    var lag = LagReports()
    /// Values of the stage's secret properties: never in a message the host shows.
    var redactor = Redactor(secrets: [])
    /// The most alerts kept per batch; more are counted as overflowed.
    var alertLimit: Int {
        get { hot.pointee.alertLimit }
        set { hot.pointee.alertLimit = newValue }
    }
    /// Where the stage's alerts go as they are raised when they are aggregated: folded into
    /// their groups (nothing kept of them, `alerts` stays empty). nil: copied into `alerts`.
    var aggregator: AlertAggregator? {
        didSet { hot.pointee.aggregator = aggregator?.table }
    }
    // Accumulated over the instance's life
    var counters: [String: Int64] = [:]
    var rejectedAlerts = 0
    var overflowedAlerts = 0
    private var warnedAboutAlerts = false
    private var warnedAboutOverflow = false
    private var json = sr_buf()
    /// What the reader's value_json wrote last (its own buffer: a render_json text stays
    /// valid while the plugin asks for a value's JSON).
    private var valueText = sr_buf()

    let hot: UnsafeMutablePointer<HotState>
    let emitter: UnsafeMutablePointer<sluice_emitter>
    private var errorBuffer = [CChar](repeating: 0, count: 512)

    /// In a worker: note, for each record emit_with builds on an input record, which one
    /// (`bases`, by output position; -1 or absent: none), so the output crosses back as
    /// "input i with these fields" rather than whole.
    var tracksBases: Bool {
        get { hot.pointee.tracksBases }
        set { hot.pointee.tracksBases = newValue }
    }
    /// Nobody reads the records this stage emits (StageInstance.discardsRecords): emit_with
    /// on an input record only counts them (`discarded`, per call).
    var discardsRecords: Bool {
        get { hot.pointee.discardsRecords }
        set { hot.pointee.discardsRecords = newValue }
    }
    var discarded: Int { hot.pointee.discarded }
    var bases: [Int32] = []

    init(stage: String, allowsAlerts: Bool, arena: RecordArena, logger: Logger, ports: OutputPorts = OutputPorts()) {
        self.stage = stage
        self.allowsAlerts = allowsAlerts
        self.arena = arena
        self.ports = ports
        portNames = ports.names.map { Array($0.utf8) }
        portOutput = ports.names.map { _ in RecordBuffer(capacity: 16) }
        var logger = logger
        logger[metadataKey: "stage"] = "\(stage)"
        self.logger = logger
        hot = .allocate(capacity: 1)
        emitter = .allocate(capacity: 1)
        emitter.initialize(to: CallContext.table)
        emitter.pointee.ctx = UnsafeMutableRawPointer(hot)
        hot.initialize(to: HotState(output: RecordBuffer(capacity: 256), arena: arena.raw, allowsAlerts: allowsAlerts,
                                    owner: Unmanaged.passUnretained(self)))
    }

    deinit {
        if usesLineParser, let lineParser { sr_line_parser_free(lineParser) }
        sr_buf_free(&json)
        sr_buf_free(&valueText)
        hot.pointee.output.deallocate()
        portOutput.forEach { $0.deallocate() }
        hot.pointee.alerts.deallocate()
        hot.pointee.fastError.deallocate()
        hot.deinitialize(count: 1)
        hot.deallocate()
        emitter.deinitialize(count: 1)
        emitter.deallocate()
    }

    var permissions: Permissions { Permissions(rawValue: hot.pointee.permissions) }

    /// The records emitted by the last call; valid until the next call.
    var records: UnsafeBufferPointer<sluice_record> { hot.pointee.output.records }
    /// The records the last call sent to each extra output port (by `ports`' order).
    var portRecords: [UnsafeBufferPointer<sluice_record>] { portOutput.map(\.records) }

    /// Starts a batch: forgets the errors and alerts of the last one.
    func beginBatch() {
        if !errors.isEmpty { errors.removeAll(keepingCapacity: true) }
        hot.pointee.alerts.removeAll()
        hot.pointee.folded = 0
        position = nil
        inputsChanged = false
        lag.removeAll()
    }

    /// Starts a call: what it may do and what its input is; forgets the last call's records.
    @inline(__always)
    func begin(_ permissions: Permissions, input: UnsafeBufferPointer<sluice_record> = .init(start: nil, count: 0), alertCount: Int = 0) {
        hot.pointee.permissions = permissions.rawValue
        hot.pointee.input = input.baseAddress
        hot.pointee.inputCount = input.count
        hot.pointee.output.removeAll()
        hot.pointee.discarded = 0
        // Only a call that may raise alerts marks them: a sink's flush runs on a thread of
        // its own while the runner's thread aggregates the batch.
        hot.pointee.marked = hot.pointee.aggregator != nil && permissions.contains(.alerts)
        if hot.pointee.marked, let aggregator = hot.pointee.aggregator {
            sr_aggregator_mark(aggregator)
            hot.pointee.foldedAtMark = hot.pointee.folded
        }
        for i in portOutput.indices where portOutput[i].count > 0 { portOutput[i].removeAll() }
        if !bases.isEmpty { bases.removeAll(keepingCapacity: true) }
        self.alertCount = alertCount
        if failure != nil { failure = nil }
        if lastError != nil { lastError = nil }
        if !outcomes.isEmpty { outcomes.removeAll(keepingCapacity: true) }
        if !retryAfterMs.isEmpty { retryAfterMs.removeAll(keepingCapacity: true) }
    }

    /// Forgets what a call that asked to be retried emitted.
    func discard(errorsFrom firstError: Int, alertsFrom firstAlert: Int) {
        if errors.count > firstError { errors.removeSubrange(firstError...) }
        hot.pointee.alerts.removeLast(from: firstAlert)
        if hot.pointee.marked, let aggregator = hot.pointee.aggregator {
            sr_aggregator_rollback(aggregator)
            hot.pointee.folded = hot.pointee.foldedAtMark
        }
        hot.pointee.output.removeAll()
        hot.pointee.discarded = 0
        for i in portOutput.indices { portOutput[i].removeAll() }
    }

    @inline(__always)
    func end() {
        hot.pointee.permissions = 0
        hot.pointee.input = nil
        hot.pointee.inputCount = 0
        alertCount = 0
    }

    // MARK: the emitter functions (slow paths; the hot ones are in `table`)

    func refuse(_ why: String) -> sluice_status {
        lastError = why
        return SLUICE_ERROR
    }

    func isInput(_ r: UnsafePointer<sluice_record>) -> Bool { hot.pointee.isInput(r) }

    /// emit() of a record that is not one of the call's input records: copy it.
    func emitCopy(_ r: UnsafePointer<sluice_record>?) -> sluice_status {
        guard permissions.contains(.records) else { return refuse("this call cannot emit records") }
        guard let r else { return refuse("emit: NULL record") }
        var copy = sluice_record()
        if !copyRecord(r, into: &copy) { return SLUICE_ERROR }
        hot.pointee.output.append(copy)
        return SLUICE_OK
    }

    /// emit_to: a record on one of the stage's extra output ports.
    func emitTo(_ port: sluice_str, _ r: UnsafePointer<sluice_record>?) -> sluice_status {
        guard permissions.contains(.records) else { return refuse("this call cannot emit records") }
        guard let r else { return refuse("emit_to: NULL record") }
        let name = UnsafeRawBufferPointer(start: port.ptr, count: port.ptr == nil ? 0 : port.len)
        guard let index = portNames.firstIndex(where: { $0.count == name.count && $0.elementsEqual(name) }) else {
            let declared = ports.names.isEmpty ? "none besides records" : ports.names.joined(separator: ", ")
            return refuse("emit_to: the stage has no output port '\(PluginText.read(port.ptr, port.len, limit: 64))' (its widgets file declares \(declared))")
        }
        guard ports.connected[index] else { return SLUICE_UNCONNECTED }
        if isInput(r) {
            portOutput[index].append(r.pointee)
            return SLUICE_OK
        }
        var copy = sluice_record()
        if !copyRecord(r, into: &copy) { return SLUICE_ERROR }
        portOutput[index].append(copy)
        return SLUICE_OK
    }

    func emitInputRefused(first: Int, count: Int) -> sluice_status {
        guard permissions.contains(.records) else { return refuse("this call cannot emit records") }
        return refuse("emit_input: records [\(first), \(first)+\(count)) are outside the input of \(hot.pointee.inputCount)")
    }

    func emitWith(_ base: UnsafePointer<sluice_record>?, _ set: UnsafePointer<sluice_field>?, _ n: UInt32) -> sluice_status {
        guard permissions.contains(.records) else { return refuse("this call cannot emit records") }
        guard let base else { return refuse("emit_with: NULL base record") }
        var owned = base.pointee
        if !isInput(base), !copyRecord(base, into: &owned) { return SLUICE_ERROR }
        var out = sluice_record()
        let status = errorBuffer.withUnsafeMutableBufferPointer { e in
            sr_record_with(arena.raw, &owned, set, n, &out, e.baseAddress, e.count)
        }
        if status != 0 { return refuse("emit_with: " + errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }) }
        if tracksBases, isInput(base), let first = hot.pointee.input {
            while bases.count < hot.pointee.output.count { bases.append(-1) }
            bases.append(Int32(clamping: base - first))
        }
        hot.pointee.output.append(out)
        return SLUICE_OK
    }

    /// The most bytes of JSON text one emit_json or emit_json_lines call may pass.
    static let maxJSONBytes = 1 << 30
    /// The longest field name intern() takes.
    static let maxNameBytes = 1 << 20

    func emitJSON(_ text: UnsafePointer<CChar>?, _ len: Int) -> sluice_status {
        guard permissions.contains(.json) else { return refuse("this call cannot emit records") }
        guard len <= CallContext.maxJSONBytes else { return refuse("emit_json: \(len) bytes; at most \(CallContext.maxJSONBytes)") }
        let bytes = UnsafeRawBufferPointer(start: text, count: text == nil ? 0 : len)
        do {
            hot.pointee.output.append(try parser.parse(bytes, into: arena))
            return SLUICE_OK
        } catch {
            return refuse("\(error)")
        }
    }

    func emitJSONLines(_ text: UnsafePointer<CChar>?, _ len: Int, origin: sluice_str, firstLine: UInt64) -> sluice_status {
        guard permissions.contains(.json) else { return refuse("this call cannot emit records") }
        guard len <= CallContext.maxJSONBytes else {
            return refuse("emit_json_lines: \(len) bytes; at most \(CallContext.maxJSONBytes) per call")
        }
        guard let text, len > 0 else { return SLUICE_OK }
        usesLineParser = true
        guard let lineParser else { return refuse("emit_json_lines: out of memory: cannot start the line parser") }
        var records: UnsafePointer<sluice_record>?
        var bad: UnsafePointer<sr_bad_line>?
        var nrecords = 0, nbad = 0
        guard let arenas = arena.arenas(forThreads: Int(sr_line_parser_threads(lineParser))) else {
            return refuse("emit_json_lines: out of memory: cannot make the parsing threads' arenas")
        }
        sr_line_parser_set_mode(lineParser, recordParsing == .lazy ? SR_PARSE_LAZY : SR_PARSE_EAGER)
        let parsed = arenas.withUnsafeBufferPointer { a in
            sr_parse_lines(lineParser, a.baseAddress, text, len, &records, &nrecords, &bad, &nbad)
        }
        guard parsed == 0 else { return refuse("emit_json_lines: out of memory parsing \(len) bytes") }
        if nrecords > 0 { hot.pointee.output.append(contentsOf: UnsafeBufferPointer(start: records, count: nrecords)) }
        guard nbad > 0, let bad else { return SLUICE_OK }
        let originText = String(origin)
        for b in UnsafeBufferPointer(start: bad, count: nbad) {
            let lineNumber = firstLine + b.line
            // The line as valid UTF-8 (bad bytes become U+FFFD), at most 4 KiB of it — cut
            // after the replacement, which can triple the bytes, and never inside a character
            // (3 bytes more are read so that the one across the bound is whole, then dropped).
            var text = PluginText.prefix(String(decoding: UnsafeRawBufferPointer(start: b.text, count: min(b.len, 4096 + 3)), as: UTF8.self),
                                         maxBytes: 4096)
            var copy = sluice_record()
            let ok = text.withUTF8 { t -> Bool in
                var fields = [
                    sluice_field(key: fileKey, name_len: 4, name: sr_key_name(fileKey, nil), value: sluice_string(origin.ptr, origin.len)),
                    sluice_field(key: lineKey, name_len: 4, name: sr_key_name(lineKey, nil), value: sluice_int(Int64(lineNumber))),
                    sluice_field(key: textKey, name_len: 4, name: sr_key_name(textKey, nil),
                                 value: sluice_string(UnsafeRawPointer(t.baseAddress)?.assumingMemoryBound(to: CChar.self), t.count)),
                ]
                return fields.withUnsafeMutableBufferPointer { f -> Bool in
                    var r = sluice_record(fields: f.baseAddress, nfields: 3, flags: 0)
                    return copyRecord(&r, into: &copy)
                }
            }
            var reason = b.reason
            let why = withUnsafePointer(to: &reason) { $0.withMemoryRebound(to: CChar.self, capacity: 160) { String(cString: $0) } }
            errors.append(EmittedError(record: ok ? copy : nil, code: 1, message: "\(originText):\(lineNumber): \(why)"))
        }
        return SLUICE_OK
    }

    func emitError(_ r: UnsafePointer<sluice_record>?, _ code: Int32, _ message: String) -> sluice_status {
        guard permissions.contains(.errors) else { return refuse("this call cannot emit errors") }
        var record: sluice_record?
        if let r {
            if isInput(r) {
                record = r.pointee
            } else {
                var copy = sluice_record()
                if !copyRecord(r, into: &copy) { return SLUICE_ERROR }
                record = copy
            }
        }
        errors.append(EmittedError(record: record, code: code, message: redactor.redact(message)))
        return SLUICE_OK
    }

    func emitAlert(_ payload: UnsafePointer<sluice_kv>?, _ n: UInt32) -> sluice_status {
        guard permissions.contains(.alerts) else { return refuse("this call cannot emit alerts") }
        guard allowsAlerts else {
            rejectedAlerts += 1
            if !warnedAboutAlerts {
                warnedAboutAlerts = true
                logger.warning("stage emitted an alert but its plugin's widgets file does not declare emitsAlerts; its alerts are rejected and counted")
            }
            return refuse("this stage's plugin does not declare emitsAlerts")
        }
        guard n == 0 || payload != nil else { return refuse("emit_alert: NULL payload") }
        guard hot.pointee.keptAlerts < alertLimit else {
            overflowedAlerts += 1
            if !warnedAboutOverflow {
                warnedAboutOverflow = true
                logger.warning("stage raised more than \(alertLimit) alerts in one batch; the rest are counted as overflowed")
            }
            return refuse("the stage's alert buffer for this batch is full (\(alertLimit)); the alert is counted as overflowed")
        }
        // Bounds first, before reading anything the plugin points at.
        guard n <= CallContext.maxAlertEntries else {
            return refuse("emit_alert: \(n) payload entries; at most \(CallContext.maxAlertEntries)")
        }
        // Copied into the batch's arena, or folded into its group, in one C call: NULL
        // pointers and oversized payloads refused, text that is not UTF-8 replaced (U+FFFD),
        // so every envelope stays valid JSON.
        guard hot.pointee.keep(payload, n) == 0 else {
            return refuse("emit_alert: " + String(cString: hot.pointee.fastError))
        }
        return SLUICE_OK
    }

    /// The most entries and bytes one alert payload may have.
    static let maxAlertEntries: UInt32 = 10_000
    static let maxAlertBytes = 16 << 20
    static let fastErrorBytes = 256

    static func isUTF8(_ s: sluice_str) -> Bool {
        guard let p = s.ptr, s.len > 0 else { return true }
        let bytes = UnsafeRawBufferPointer(start: p, count: s.len)
        if !bytes.contains(where: { $0 >= 0x80 }) { return true }
        return String(validating: bytes, as: UTF8.self) != nil
    }

    func renderJSON(_ r: UnsafePointer<sluice_record>?) -> sluice_str {
        guard let r else { return sluice_str(ptr: nil, len: 0) }
        sr_buf_clear(&json)
        if !isInput(r) {
            // A record the plugin built: copied first, so it is bounded and its text cleaned.
            var copy = sluice_record()
            guard copyRecord(r, into: &copy) else { return sluice_str(ptr: nil, len: 0) }
            sr_write_record_json(&json, &copy)
            return renderedText("render_json")
        }
        sr_render_record_json(&json, r)
        return renderedText("render_json")
    }

    /// render_json_lines: the records as JSON Lines in `json`; the call's own inputs in one
    /// go (copied from their source text where they have one), any other record copied first.
    func renderJSONLines(_ records: UnsafePointer<sluice_record>?, _ count: Int) -> sluice_str {
        sr_buf_clear(&json)
        guard count >= 0 else { return refusedText("render_json_lines: \(UInt(bitPattern: count)) records is more than any batch holds") }
        guard count > 0 else {
            if json.data == nil {  // a valid pointer for an empty text
                sr_buf_append(&json, " ", 1)
                sr_buf_clear(&json)
            }
            return sluice_str(ptr: json.data, len: 0)
        }
        guard let records else { return refusedText("render_json_lines: NULL records") }
        let inputs = hot.pointee.inputCount
        if let first = hot.pointee.input, records >= first, records < first + inputs {
            // A run of the inputs: it must end within them.
            guard count <= inputs - (records - first) else {
                return refusedText("render_json_lines: records [\(records - first), +\(count)) run past the \(inputs) input records")
            }
            sr_render_json_lines(&json, records, count)
            return renderedText("render_json_lines")
        }
        for i in 0..<count {
            let r = records + i
            if isInput(r) {
                sr_render_record_json(&json, r)
            } else {
                var copy = sluice_record()
                guard copyRecord(r, into: &copy) else { return sluice_str(ptr: nil, len: 0) }
                sr_render_record_json(&json, &copy)
            }
            sr_buf_append(&json, "\n", 1)
        }
        return renderedText("render_json_lines")
    }

    /// The text rendered into `json`, or a refusal when it could not grow (out of memory).
    private func renderedText(_ call: String) -> sluice_str {
        guard json.failed == 0 else { return refusedText("\(call): out of memory rendering the records' JSON") }
        return sluice_str(ptr: json.data, len: json.len)
    }

    private func refusedText(_ why: String) -> sluice_str {
        _ = refuse(why)
        return sluice_str(ptr: nil, len: 0)
    }

    func alertOutcome(_ index: Int, _ status: sluice_status, _ message: String) -> sluice_status {
        guard permissions.contains(.outcomes) else { return refuse("only alert publishers report outcomes") }
        guard index >= 0, index < alertCount else { return refuse("alert_outcome: index \(index) is outside the \(alertCount) alerts of this call") }
        guard status == SLUICE_OK || status == SLUICE_ERROR || status == SLUICE_RETRY else {
            return refuse("alert_outcome: status \(status) is not SLUICE_OK, SLUICE_ERROR or SLUICE_RETRY")
        }
        outcomes[index] = (status, redactor.redact(message))
        return SLUICE_OK
    }

    func alertRetryAfter(_ index: Int, _ ms: UInt64) -> sluice_status {
        guard permissions.contains(.outcomes) else { return refuse("only alert publishers say when to retry") }
        let all = index == Int.max || index == -1
        guard all || (index >= 0 && index < alertCount) else {
            return refuse("alert_retry_after: index \(index) is outside the \(alertCount) alerts of this call")
        }
        // A day at most: a service asking for longer is waited for by the spool, not by a call.
        let wait = Int(min(ms, 86_400_000))
        retryAfterMs[all ? -1 : index] = max(retryAfterMs[all ? -1 : index] ?? 0, wait)
        return SLUICE_OK
    }

    func noteInputsChanged() -> sluice_status {
        guard permissions.contains(.position) else { return refuse("only a source's read() says its inputs changed") }
        inputsChanged = true
        return SLUICE_OK
    }

    func reportLag(_ name: UnsafePointer<CChar>?, _ len: Int, records: Int64, bytes: Int64) -> sluice_status {
        guard permissions.contains(.position) else { return refuse("only a source's read() reports its lag") }
        switch lag.report(name, len, records: records, bytes: bytes) {
        case .success: return SLUICE_OK
        case .failure(let why): return refuse("report_lag: \(why.description)")
        }
    }

    func savePosition(_ bytes: UnsafePointer<CChar>?, _ len: Int) -> sluice_status {
        guard permissions.contains(.position) else { return refuse("only a source's read() saves a position") }
        guard len <= SourcePositions.maxBytes else {
            return refuse("save_position: \(len) bytes; a position has at most \(SourcePositions.maxBytes)")
        }
        guard len == 0 || bytes != nil else { return refuse("save_position: NULL position") }
        position = len == 0 ? [] : Array(UnsafeRawBufferPointer(start: bytes, count: len))
        return SLUICE_OK
    }

    private func copyRecord(_ r: UnsafePointer<sluice_record>, into out: inout sluice_record) -> Bool {
        let status = errorBuffer.withUnsafeMutableBufferPointer { e in
            sr_copy_record(arena.raw, r, &out, e.baseAddress, e.count)
        }
        if status != 0 {
            lastError = "cannot copy the record: " + errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            return false
        }
        return true
    }

    // MARK: the reader (ABI 1.7)

    /// A reader function's -1: the record or value could not be read; last_error says why.
    func unreadable(_ call: String) -> Int32 {
        lastError = "\(call): the record cannot be read (a record of a batch that ended, or memory ran out)"
        return -1
    }

    /// value_json: the value as compact JSON in `valueText`. A value with pointers (a
    /// string, a container) is copied into the batch arena first, as render_json copies a
    /// record the plugin built, so what is written is bounded and its text clean; the
    /// record core writes a host container read from text and unchanged as its source bytes.
    func valueJSON(_ v: UnsafePointer<sluice_value>?) -> sluice_str {
        guard let v else { return refusedText("value_json: NULL value") }
        sr_buf_clear(&valueText)
        switch Int32(bitPattern: v.pointee.type) {
        case SLUICE_NULL, SLUICE_BOOL, SLUICE_INT, SLUICE_DOUBLE:
            var value = v.pointee
            sr_write_value_json(&valueText, &value)
        default:
            var field = sluice_field(key: sluice_key(SLUICE_NO_KEY), name_len: 1, name: CallContext.valueName, value: v.pointee)
            var copy = sluice_record()
            let copied = withUnsafePointer(to: &field) { f -> Bool in
                var one = sluice_record(fields: f, nfields: 1, flags: 0)
                return copyRecord(&one, into: &copy)
            }
            var copiedField = sluice_field()
            guard copied, sr_field_at(&copy, 0, &copiedField) == 1 else {
                return refusedText("value_json: " + (lastError ?? "cannot copy the value"))
            }
            sr_write_value_json(&valueText, &copiedField.value)
        }
        guard valueText.failed == 0 else { return refusedText("value_json: out of memory rendering the value's JSON") }
        if valueText.data == nil {  // cannot happen (every value writes a byte); a valid pointer all the same
            sr_buf_append(&valueText, " ", 1)
            sr_buf_clear(&valueText)
        }
        return sluice_str(ptr: valueText.data, len: valueText.len)
    }

    nonisolated(unsafe) private static let valueName: UnsafePointer<CChar> = {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: 2)
        p[0] = 0x76  // "v"
        p[1] = 0
        return UnsafePointer(p)
    }()

    /// The reader every emitter carries (ABI 1.7): the record core's sr_get family, which
    /// reads flat records and host handles alike. Static: it has no state of its own.
    nonisolated(unsafe) static let reader: UnsafePointer<sluice_reader> = {
        var r = sluice_reader()
        r.size = UInt32(MemoryLayout<sluice_reader>.size)
        // The plugin calls the record core's functions with no Swift between; what cannot
        // be read comes back here to say why.
        sr_reader_fill(&r) { ctx, call in CallContext.of(ctx).unreadable(call.map { String(cString: $0) } ?? "read") }
        r.value_json = { ctx, v in CallContext.of(ctx).valueJSON(v) }
        let table = UnsafeMutablePointer<sluice_reader>.allocate(capacity: 1)
        table.initialize(to: r)
        return UnsafePointer(table)
    }()

    // MARK: the C table

    static func of(_ ctx: UnsafeMutableRawPointer?) -> CallContext {
        ctx!.assumingMemoryBound(to: HotState.self).pointee.owner.takeUnretainedValue()
    }

    nonisolated(unsafe) static let table: sluice_emitter = {
        var t = sluice_emitter()
        t.size = UInt32(MemoryLayout<sluice_emitter>.size)
        t.intern = { _, name, len in
            guard len <= CallContext.maxNameBytes, name != nil || len == 0,
                  CallContext.isUTF8(sluice_str(ptr: name, len: len)) else { return sluice_key(SLUICE_NO_KEY) }
            return sr_intern(name, len)
        }
        // The two ways to pass input records on are the hot path: plain memory only.
        t.emit = { ctx, r in
            let hot = ctx!.assumingMemoryBound(to: HotState.self)
            if let r, hot.pointee.permissions & Permissions.records.rawValue != 0, hot.pointee.isInput(r) {
                hot.pointee.output.append(r.pointee)
                return SLUICE_OK
            }
            return CallContext.of(ctx).emitCopy(r)
        }
        t.emit_input = { ctx, first, count in
            let hot = ctx!.assumingMemoryBound(to: HotState.self)
            let n = hot.pointee.inputCount
            if hot.pointee.permissions & Permissions.records.rawValue != 0, first <= n, count <= n - first {
                if count > 0 { hot.pointee.output.append(contentsOf: UnsafeBufferPointer(start: hot.pointee.input! + first, count: count)) }
                return SLUICE_OK
            }
            return CallContext.of(ctx).emitInputRefused(first: first, count: count)
        }
        // So is emit_with on an input record (a transform adding a field to each): one C
        // call, no reference counting; anything else (a copy first, bases to note, a
        // refusal and its message) takes the slow path.
        t.emit_with = { ctx, base, set, n in
            let hot = ctx!.assumingMemoryBound(to: HotState.self)
            if let base, hot.pointee.permissions & Permissions.records.rawValue != 0, !hot.pointee.tracksBases,
               hot.pointee.isInput(base) {
                if hot.pointee.discardsRecords {
                    // Checked as if built (the same refusals), then only counted.
                    if sr_record_with_check(hot.pointee.arena, base, set, n, hot.pointee.fastError, CallContext.fastErrorBytes) == 0 {
                        hot.pointee.discarded += 1
                        return SLUICE_OK
                    }
                    return CallContext.of(ctx).refuse("emit_with: " + String(cString: hot.pointee.fastError))
                }
                var out = sluice_record()
                if sr_record_with(hot.pointee.arena, base, set, n, &out, hot.pointee.fastError, CallContext.fastErrorBytes) == 0 {
                    hot.pointee.output.append(out)
                    return SLUICE_OK
                }
                return CallContext.of(ctx).refuse("emit_with: " + String(cString: hot.pointee.fastError))
            }
            return CallContext.of(ctx).emitWith(base, set, n)
        }
        t.emit_json = { ctx, text, len in CallContext.of(ctx).emitJSON(text, len) }
        t.emit_error = { ctx, r, code, msg, len in
            CallContext.of(ctx).emitError(r, code, PluginText.read(msg, len))
        }
        // Raising an alert is hot too (a rule may fire on a third of all records): copied in
        // one C call when everything is in order; refusals and their messages take the slow path.
        t.emit_alert = { ctx, payload, n in
            let hot = ctx!.assumingMemoryBound(to: HotState.self)
            if hot.pointee.permissions & Permissions.alerts.rawValue != 0, hot.pointee.allowsAlerts,
               hot.pointee.keptAlerts < hot.pointee.alertLimit, n <= CallContext.maxAlertEntries {
                if hot.pointee.keep(payload, n) == 0 { return SLUICE_OK }
                return CallContext.of(ctx).refuse("emit_alert: " + String(cString: hot.pointee.fastError))
            }
            return CallContext.of(ctx).emitAlert(payload, n)
        }
        t.log = { ctx, level, msg, len in
            let c = CallContext.of(ctx)
            let text = c.redactor.redact(PluginText.read(msg, len))
            let levels: [Logger.Level] = [.trace, .debug, .info, .warning, .error]
            c.logger.log(level: levels[Int(max(0, min(4, level)))], "\(text)")
        }
        t.count = { ctx, name, len, delta in
            let c = CallContext.of(ctx)
            let metric = PluginText.read(name, len, limit: 256)
            // Saturating: a plugin's absurd deltas never trap the host.
            let (sum, overflow) = c.counters[metric, default: 0].addingReportingOverflow(delta)
            c.counters[metric] = overflow ? (delta > 0 ? Int64.max : Int64.min) : sum
        }
        t.fail = { ctx, msg, len in
            let c = CallContext.of(ctx)
            c.failure = c.redactor.redact(PluginText.read(msg, len))
        }
        t.alert_outcome = { ctx, index, status, msg, len in
            CallContext.of(ctx).alertOutcome(index, status, PluginText.read(msg, len))
        }
        t.last_error = { ctx, buf, cap in
            let c = CallContext.of(ctx)
            guard let reason = c.lastError else {
                if let buf, cap > 0 { buf[0] = 0 }
                return 0
            }
            let bytes = Array(reason.utf8)
            if let buf, cap > 0 {
                let n = min(bytes.count, cap - 1)
                bytes.withUnsafeBufferPointer { b in
                    UnsafeMutableRawPointer(buf).copyMemory(from: b.baseAddress!, byteCount: n)
                }
                buf[n] = 0
            }
            return bytes.count
        }
        t.render_json = { ctx, r in CallContext.of(ctx).renderJSON(r) }
        t.render_json_lines = { ctx, records, count in
            CallContext.of(ctx).renderJSONLines(records, Int(clamping: count))
        }
        t.alert_retry_after = { ctx, index, ms in
            CallContext.of(ctx).alertRetryAfter(index == Int.max ? -1 : Int(clamping: index), ms)
        }
        t.save_position = { ctx, bytes, len in CallContext.of(ctx).savePosition(bytes, len) }
        t.emit_to = { ctx, port, r in CallContext.of(ctx).emitTo(port, r) }
        t.inputs_changed = { ctx in CallContext.of(ctx).noteInputsChanged() }
        t.report_lag = { ctx, name, len, records, bytes in
            CallContext.of(ctx).reportLag(name, Int(clamping: len), records: records, bytes: bytes)
        }
        t.emit_json_lines = { ctx, text, len, origin, first in
            CallContext.of(ctx).emitJSONLines(text, len, origin: origin, firstLine: first)
        }
        t.reader = CallContext.reader
        return t
    }()
}

extension String {
    init(_ s: sluice_str) {
        guard let p = s.ptr, s.len > 0 else { self = ""; return }
        self = String(decoding: UnsafeRawBufferPointer(start: p, count: s.len), as: UTF8.self)
    }
}
