import Foundation
import SluicePluginABI
import SluiceRecords

/// Runs one plugin outside any pipeline — `host test-plugin` — and collects what came out
/// on each of its ports, rendered as the JSON a run would carry: records, error records
/// (with their `_error` code and message), alert payloads, a publisher's outcome for each
/// alert, and the plugin's counters. The plugin is built by the same StageFactory, called
/// through the same ABI code and retried under the same RetryPolicy as in a run (crash
/// guard, secrets redacted, retries within the pipeline defaults' bound); what differs is
/// only where the input comes from:
///   - a transform or a sink gets the records of a JSON Lines file, `batchSize` at a time,
///     parsed as a run's source would (RecordParsing): lazily for a plugin that reads by
///     accessor, else eagerly (SLUICE_RECORDS overrides; lazy records reach a plugin that
///     does not read by accessor materialised, as in a run);
///   - a source reads what its properties point it at, until it ends, has nothing more to
///     give (a following source), or `maxBatches`;
///   - an alert publisher gets one alert per line of the file, each line the alert's
///     payload (a JSON object), or an envelope-like object that also says the payload's
///     key fields and the notification of an alert's life it is (`HarnessAlert`), in
///     envelopes like a run's.
public final class PluginHarness {
    public struct Options {
        public var batchSize = 1000
        /// Sources: the most batches read.
        public var maxBatches = 1000
        /// How long a source's read may wait for input.
        public var maxWaitMs: UInt32 = 200
        /// The extra output ports taken, as connections would take them (the others' records
        /// are dropped, as in a pipeline that does not connect them).
        public var ports: Set<String> = []
        public var retry = RetrySettings()
        public var sleep: (Int) -> Void = RetryPolicy.sleep
        /// How the input's records are parsed (RecordsSetting); nil: as SLUICE_RECORDS says.
        public var records: RecordsSetting?
        public init() {}
    }

    /// What came out, port by port, as JSON text (one value per element).
    public struct Result {
        public var records: [String] = []
        /// Records sent to each extra output port taken (Options.ports), in the widgets file's order.
        public var ports: [(port: String, records: [String])] = []
        public var errors: [String] = []
        public var alerts: [String] = []
        /// Publishers: per input alert, {"line":N,"outcome":"published"|"failed"|"retry",…}.
        public var outcomes: [String] = []
        public var counters: [String: Int64] = [:]
        public var batches = 0
        public var retries = 0
        /// Alerts the host did not keep: the plugin does not declare emitsAlerts, or past
        /// the per-batch bound.
        public var rejectedAlerts = 0
        public var overflowedAlerts = 0
        /// Sources: the last position saved.
        public var position: String?
        /// Why the run stopped early: the call that failed and the plugin's message.
        public var failure: String?
        /// Publishers: alerts not delivered (failed, or still to be retried), which a run
        /// would count as failed or spool (and exit 3).
        public var undelivered = 0
    }

    /// A problem with the harness's own input: the file, its line, what is wrong.
    public struct InputError: Error, CustomStringConvertible {
        public let problems: [String]
        public var description: String { problems.joined(separator: "\n") }
    }

    public let entry: CatalogEntry
    let properties: [(String, String)]
    let secrets: [String]
    let catalog: Catalog
    let options: Options

    /// `properties`: already checked (PropertyCheck) and substituted.
    public init(entry: CatalogEntry, properties: [(String, String)], catalog: Catalog, options: Options = Options()) {
        self.entry = entry
        self.properties = properties
        self.catalog = catalog
        self.options = options
        let secretNames = Set(entry.widgets.properties.filter(\.secret).map(\.name))
        secrets = properties.filter { secretNames.contains($0.0) && !$0.1.isEmpty }.map(\.1)
    }

    /// Runs the plugin over `input` (the lines of a JSON Lines file; nil for a source).
    public func run(input: InputLines?) throws -> Result {
        if entry.type == .functions {
            throw InputError(problems: ["\(entry.name) is a library of functions, not a stage: call them from a Filter, Derive or AlertRule stage"])
        }
        if entry.type != .source && input == nil {
            let what = entry.type == .alertpublisher ? "an alert publisher needs --input FILE.jsonl of alert payloads"
                : "a \(entry.type.rawValue) needs --input FILE.jsonl"
            throw InputError(problems: [what])
        }
        let arena = RecordArena()
        var blueprint = StageBlueprint(entry: entry, identity: StageIdentity(pipeline: "test-plugin", stage: entry.name),
                                       properties: properties)
        blueprint.secrets = secrets
        blueprint.connectedPorts = options.ports
        let stage = try StageFactory(functions: ExpressionFunctions(catalog: catalog)).make(blueprint, arena: arena)
        let live = stage.live
        defer { live.destroy() }
        var result = Result()
        result.ports = entry.extraPorts.map { ($0, []) }
        switch (stage, input) {
        case (.source(let source), _):
            readSource(source, arena, &result)
        case (.transform(let transform), let input?):
            try feedRecords(input, live, arena, &result) { id, records, result in
                let out = call("process", &result) { transform.process(batch: id, records: records) }
                collect(out, live, arena, &result)
                return out.status == .ok
            }
        case (.sink(let sink), let input?):
            try feedRecords(input, live, arena, &result) { id, records, result in
                let written = call("write", &result) { sink.write(batch: id, records: records) }
                collect(written, live, arena, &result)
                guard written.status == .ok else { return false }
                let flushed = call("flush", &result) { sink.flush() }
                collect(flushed, live, arena, &result)
                return flushed.status == .ok
            }
        case (.publisher(let publisher), let input?):
            try feedAlerts(input, publisher, arena, &result)
        default:
            break
        }
        result.ports = result.ports.filter { options.ports.contains($0.port) }
        result.counters = live.counters
        result.rejectedAlerts = live.rejectedAlerts
        result.overflowedAlerts = live.overflowedAlerts
        return result
    }

    // MARK: the plugin types

    /// Transforms and sinks: the file's records, `batchSize` at a time, each batch handed
    /// to `batch` (false: stop).
    private func feedRecords(_ input: InputLines, _ stage: any LiveStage, _ arena: RecordArena, _ result: inout Result,
                             _ batch: (UInt64, UnsafeBufferPointer<sluice_record>, inout Result) -> Bool) throws {
        let parser = RecordParser()
        // The plugin alone is the pipeline: its records are lazy when it reads by accessor.
        let setting = options.records ?? RecordsSetting.from(environment: ProcessInfo.processInfo.environment).0
        let parsing: RecordParsing = setting == .lazy || (setting == .auto && stage.readsRecordsByAccessor) ? .lazy : .eager
        let lineParser = parsing == .lazy ? LineParser() : nil
        let materialised = RecordList(capacity: 16)
        var problems: [String] = []
        var records: [sluice_record] = []
        var text: [UInt8] = []  // lazy: the batch's lines, parsed at once when it is full
        var batchId: UInt64 = 0
        func flushBatch() throws -> Bool {
            defer { records.removeAll(keepingCapacity: true); text.removeAll(keepingCapacity: true); arena.reset() }
            guard !records.isEmpty else { return true }
            batchId += 1
            result.batches += 1
            stage.beginBatch()
            guard let lineParser else { return records.withUnsafeBufferPointer { batch(batchId, $0, &result) } }
            let lazy = try text.withUnsafeBytes { try lineParser.parse($0, .lazy, into: arena) }
            guard lazy.refused == 0, lazy.records.count == records.count else {
                throw InputError(problems: ["\(input.path): the line parser refused \(lazy.refused) line(s) of batch \(batchId) that simdjson took"])
            }
            let given = stage.readsRecordsByAccessor ? lazy.records : try materialised.materialised(lazy.records, in: arena)
            return batch(batchId, given, &result)
        }
        for line in input.lines {
            do {
                let record = try line.bytes.withUnsafeBytes { try parser.parse($0, into: arena) }
                if problems.isEmpty {
                    records.append(record)
                    if lineParser != nil {
                        text.append(contentsOf: line.bytes)
                        text.append(UInt8(ascii: "\n"))
                    }
                }
            } catch {
                problems.append("\(input.path):\(line.number): not a JSON object: \(error)")
                if problems.count == 20 { problems.append("(stopped after 20 problems)"); break }
            }
            if records.count == options.batchSize, try !flushBatch() { return }
        }
        guard problems.isEmpty else { throw InputError(problems: problems) }
        _ = try flushBatch()
    }

    private func readSource(_ stage: any SourceStage, _ arena: RecordArena, _ result: inout Result) {
        for batchId in 1...UInt64(max(1, options.maxBatches)) {
            arena.reset()
            stage.beginBatch()
            let out = call("read", &result) {
                stage.read(batch: batchId, maxRecords: options.batchSize, maxWaitMs: options.maxWaitMs)
            }
            result.batches += 1
            collect(out, stage, arena, &result)
            if let p = stage.batchPosition { result.position = String(decoding: p, as: UTF8.self) }
            if out.status != .ok && out.status != .end { return }
            let committed = call("commit", &result) { stage.commit(batch: batchId) }
            if committed.status != .ok { return }
            // A source that ended, or has nothing more to give right now (it follows its input).
            if out.status == .end || (out.records.isEmpty && out.ports.allSatisfy(\.isEmpty) && out.errors.isEmpty && out.alertRefs.isEmpty) {
                return
            }
        }
    }

    private func feedAlerts(_ input: InputLines, _ stage: any PublisherStage, _ arena: RecordArena, _ result: inout Result) throws {
        var payloads: [HarnessAlert] = []
        var problems: [String] = []
        let nowMs = Timestamp.nowMilliseconds()
        for line in input.lines {
            switch HarnessAlert.parse(line.bytes, line: line.number, nowMs: nowMs) {
            case .success(let alert): payloads.append(alert)
            case .failure(let problem):
                problems.append("\(input.path):\(line.number): \(problem.text)")
                if problems.count == 20 { problems.append("(stopped after 20 problems)"); break }
            }
            if problems.count > 20 { break }
        }
        guard problems.isEmpty else { throw InputError(problems: problems) }
        let run = PipelineRunner.newRunID()
        var batchId: UInt64 = 0
        var start = 0
        while start < payloads.count {
            let group = payloads[start..<min(payloads.count, start + options.batchSize)]
            start += group.count
            batchId += 1
            result.batches += 1
            arena.reset()
            stage.beginBatch()
            // One writer per set of key fields, as a run has one per stage.
            var writers: [[String]?: EnvelopeWriter] = [:]
            let timestampMs = Timestamp.nowMilliseconds()
            let alerts = group.enumerated().map { ordinal, alert in
                let writer = writers[alert.keyFields] ?? EnvelopeWriter(
                    arena: arena, namespace: "default", pipeline: "test-plugin", stage: "input", run: run,
                    batch: batchId, timestampMs: timestampMs, keyFields: alert.keyFields)
                writers[alert.keyFields] = writer
                return writer.write(payload: arena.payload(alert.payload), count: 1, ordinal: ordinal, life: alert.life)
            }
            // Delivered as a run delivers: the alerts answered "retry" again, within the
            // bound, not past a Retry-After longer than the longest backoff.
            let delivery = AlertDelivery(settings: options.retry, sleep: options.sleep)
                .deliver(alerts.map { UnsafePointer($0) }, to: stage)
            result.retries += delivery.retries
            for (alert, fate) in zip(group, delivery.fates) {
                var fields: [(String, JSONValue)] = [("line", .number(Double(alert.line)))]
                switch fate {
                case .delivered:
                    fields.append(("outcome", .string("published")))
                case .failed(let why):
                    fields.append(("outcome", .string("failed")))
                    if !why.isEmpty { fields.append(("message", .string(why))) }
                case .deferred(let why, _):
                    // A run would spool it.
                    fields.append(("outcome", .string("retry")))
                    fields.append(("message", .string(why)))
                }
                if fate != .delivered { result.undelivered += 1 }
                result.outcomes.append(JSONValue.object(fields).jsonText)
            }
        }
    }

    // MARK: helpers

    /// A call, retried under the run's retry policy while it answers "retry"; a failure is
    /// recorded.
    private func call(_ name: String, _ result: inout Result, _ body: () -> StageOutput) -> StageOutput {
        var last: StageOutput?
        let (outcome, status) = RetryPolicy(options.retry, sleep: options.sleep).call {
            let out = body()
            last = out
            return out.status
        }
        result.retries += outcome.attempts - 1
        switch (outcome, status) {
        case (.gaveUp(let why, let attempts, _), _), (.stopped(let why, let attempts), _):
            result.failure = "\(name) still asked to be retried after \(attempts) attempts: \(why)"
        case (_, .error(let why)): result.failure = "\(name) failed: \(why)"
        default: break
        }
        return last ?? StageOutput(status: status, records: .init(start: nil, count: 0), errors: [], alertRefs: [], outcomes: [:])
    }

    private func collect(_ out: StageOutput, _ stage: any LiveStage, _ arena: RecordArena, _ result: inout Result) {
        for r in out.records { result.records.append(RecordJSON.render(r)) }
        for (i, records) in out.ports.enumerated() where i < result.ports.count {
            result.ports[i].records += records.map(RecordJSON.render)
        }
        let wrap = ErrorRecords()
        for e in out.errors {
            if let r = wrap.wrap(e, stage: stage.identity.stage, arena: arena) { result.errors.append(RecordJSON.render(r)) }
        }
        for a in out.alerts {
            result.alerts.append(JSONValue.object(a.payload.map { ($0.key, .string($0.value)) }).jsonText)
        }
    }
}

/// The non-blank lines of a JSON Lines file, numbered from 1.
public struct InputLines {
    public struct Line {
        public let number: Int
        public let bytes: Data
    }
    public let path: String
    public let lines: [Line]

    public init(path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw PluginHarness.InputError(problems: ["\(path): cannot read: \(error.localizedDescription)"])
        }
        var lines: [Line] = []
        var number = 0
        var start = data.startIndex
        while start < data.endIndex {
            let end = data[start...].firstIndex(of: UInt8(ascii: "\n")) ?? data.endIndex
            number += 1
            let line = data[start..<end]
            if line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) { lines.append(Line(number: number, bytes: Data(line))) }
            start = end < data.endIndex ? data.index(after: end) : end
        }
        self.path = path
        self.lines = lines
    }
}

extension RecordArena {
    /// An alert payload's pairs as the ABI's key/value array, in the arena.
    func payload(_ pairs: [(String, String)]) -> UnsafeBufferPointer<sluice_kv> {
        guard !pairs.isEmpty else { return UnsafeBufferPointer(start: nil, count: 0) }
        let kvs = allocate(sluice_kv.self, count: pairs.count, for: "an alert payload of \(pairs.count) entries")
        for (i, p) in pairs.enumerated() { kvs[i] = sluice_kv(key: string(p.0), value: string(p.1)) }
        return UnsafeBufferPointer(start: kvs, count: pairs.count)
    }
}
