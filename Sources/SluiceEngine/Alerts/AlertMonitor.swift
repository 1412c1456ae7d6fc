#if canImport(Glibc)
import Glibc
#endif
import SluicePluginABI
import SluiceRecords

/// A stage's alerts as a monitor (issue 22; docs/alerts.md, "Alerts with a life"): the raw
/// alerts of each batch go into a window per key (the `groupBy` fields, else the `key`
/// fields, else the whole payload), the `condition` and `recover` expressions judge each
/// key on its window's aggregates, and each key's life (AlertLifecycle) answers what to
/// notify. Time is processing time (the flow's clock) or, with a window's `timeField`,
/// event time: the newest event time seen (the watermark) — then an hour of old data
/// replayed in a second has the incidents it had when it happened.
///
/// Per batch the raw alerts are first summed up per key and slide (no Swift string per
/// alert), then merged into the windows: a key costs one merge per batch, not per alert.
final class AlertMonitor {
    /// How often an open incident is sent again as a `refresh`, in processing time: for
    /// services that forget an alert that is not sent again (Alertmanager's endsAt). The
    /// publishers that need no refresh skip it.
    static let refreshMs: Int64 = 60_000
    /// An event time further ahead of the host's clock than this is not believed: it would
    /// make every later alert late (counted as without an event time; docs/alerts.md).
    static let futureToleranceMs: Int64 = 86_400_000

    let stage: String
    let settings: LifecycleSettings
    private(set) var table: AlertKeyTable
    private(set) var watermark: Int64 = .min
    /// Alerts without a readable event time (counted, not added).
    private(set) var untimedAlerts = 0
    var lateAlerts: Int { table.lateAlerts }
    var overflowKeys: Int { table.overflowKeys }

    /// The key fields (none: the stage is one key), as bytes and names.
    private let keyFields: [[UInt8]]
    let keyFieldNames: [String]
    private let aggregates: [AggregateSpec]
    private let aggregateFields: [[UInt8]?]
    private let functions: [AlertWindow.Function]
    private let timeField: [UInt8]?
    private let timeKey: sluice_key?
    private let condition: (program: ExpressionProgram, root: UInt32)
    private let recover: (program: ExpressionProgram, root: UInt32)?
    private let scratch = RecordArena(chunkBytes: 16 << 10)

    var isEventTime: Bool { timeField != nil }

    init(stage: String, alerts: AlertSettings, life: LifecycleSettings, functions: ExpressionFunctions) throws {
        self.stage = stage
        settings = life
        keyFieldNames = alerts.keyFields ?? []
        keyFields = keyFieldNames.map { Array($0.utf8) }
        aggregates = alerts.aggregates
        aggregateFields = alerts.aggregates.map { $0.field.map { Array($0.utf8) } }
        self.functions = alerts.aggregates.map { AlertWindow.Function($0.function) }
        timeField = life.window?.timeField.map { Array($0.utf8) }
        timeKey = life.window?.timeField.map { FieldKeys.intern($0) }
        func compile(_ source: String, _ name: String) throws -> (ExpressionProgram, UInt32) {
            var compiler = ExpressionCompiler(functions: functions, allowsState: false, bind: FunctionBinder.bind)
            switch compiler.compile(source, as: .condition) {
            case .success(let root): return (compiler.program, root)
            case .failure(let p): throw AlertMonitorError(message: "stage '\(stage)': alerts.\(name): \(p)")
            }
        }
        condition = try compile(life.condition, "condition")
        recover = try life.recover.map { try compile($0, "recover") }
        let lifeSettings = AlertLifecycle.Settings(forMs: Int64(life.forMs), keepFiringMs: Int64(life.keepFiringMs),
                                                   renotifyMs: Int64(life.renotifyMs))
        if let w = life.window {
            table = AlertKeyTable(shape: .init(sizeMs: Int64(w.sizeMs), slideMs: Int64(w.slideMs), allowedLatenessMs: Int64(w.allowedLatenessMs)),
                                  functions: self.functions, settings: lifeSettings, maxKeys: life.maxKeys)
        } else {
            // No window: each batch's alerts are judged on their own (one bucket, cleared).
            let batch: Int64 = 1 << 52
            table = AlertKeyTable(shape: .init(sizeMs: batch, slideMs: batch), functions: self.functions,
                                  settings: lifeSettings, maxKeys: life.maxKeys, perBatch: true)
        }
        makeJudgeFields()
    }

    /// The keys that exist from the start (and, without key fields, the stage's one key):
    /// followed from `now` (processing time; in event time from the first event time seen).
    func expect(_ keys: [[String]], now: Int64) {
        pendingExpected = keyFieldNames.isEmpty ? [[]] : keys
        seedExpected(now: now)
    }

    private var pendingExpected: [[String]] = []
    private var nextRefreshCheck: Int64 = .min

    private func seedExpected(now: Int64) {
        guard !pendingExpected.isEmpty, let t = time(now) else { return }
        var key: [UInt8] = []
        for labels in pendingExpected where labels.count == keyFields.count {
            key.removeAll(keepingCapacity: true)
            for v in labels {
                withUnsafeBytes(of: UInt32(v.utf8.count).littleEndian) { key.append(contentsOf: $0) }
                key.append(contentsOf: v.utf8)
            }
            table.expect(key, labels: labels, at: t)
        }
        pendingExpected = []
    }

    /// Its state, to be saved; and taken back after a restart (kept only when the stage's
    /// settings still make the same windows and lives: else it starts afresh).
    var state: AlertState.Stage { .init(table: table, watermark: watermark, untimed: untimedAlerts, signature: signature) }

    /// The key fields and aggregates, in words: a saved state under others is not taken back.
    var signature: String {
        "keys " + keyFieldNames.joined(separator: ",") + "; " + aggregates.map { "\($0.name)=\($0.function.rawValue)(\($0.field ?? ""))" }.joined(separator: ",")
    }

    func restore(_ saved: AlertState.Stage) -> Bool {
        guard saved.signature == signature, saved.table.shape == table.shape, saved.table.functions == table.functions,
              saved.table.settings == table.settings, saved.table.perBatch == table.perBatch else { return false }
        table = saved.table.resized(maxKeys: table.maxKeys)
        watermark = saved.watermark
        untimedAlerts = saved.untimed
        return true
    }

    /// The monitor's time: processing time `now`, or the watermark in event time (nil
    /// before any event time was seen).
    func time(_ now: Int64) -> Int64? {
        guard isEventTime else { return now }
        return watermark == .min ? nil : watermark
    }

    // MARK: alerts in

    /// Event time: the records the stage took in this batch move the watermark too (the
    /// newest `timeField` among them), so windows move on while a store that recovered
    /// raises nothing. Records without the field, or with a time that cannot be read, do not.
    func observe(_ records: UnsafeBufferPointer<sluice_record>, now: Int64) {
        guard let timeKey else { return }
        let horizon = now + Self.futureToleranceMs
        var newest = watermark
        var v = sluice_value()
        for r in records {
            // Through the reader: flat records and lazy ones alike (a lazy record parses only
            // this field).
            guard withUnsafePointer(to: r, { sr_get($0, timeKey, &v) }) == 1 else { continue }
            let t: Int64
            switch Int32(bitPattern: v.type) {
            case Int32(SLUICE_INT) where v.as.i.magnitude < 1_000_000_000_000_000: t = v.as.i
            case Int32(SLUICE_DOUBLE) where v.as.d.isFinite && v.as.d.magnitude < 1e15:
                t = Int64(v.as.d.rounded(.down))
            case Int32(SLUICE_STRING):
                let text = UnsafeBufferPointer(start: UnsafeRawPointer(v.as.s)?.assumingMemoryBound(to: UInt8.self),
                                               count: Int(v.len))
                guard let ms = Timestamp.milliseconds(eventTime: text) else { continue }
                t = ms
            default: continue
            }
            if t <= horizon { newest = max(newest, t) }
        }
        watermark = newest
    }

    /// A batch's raw alerts, raised at processing time `now`.
    func ingest(_ raw: [RawAlertRef], now: Int64) {
        // Late is judged against the watermark before this batch: the order of the alerts
        // within a batch does not matter.
        let before = watermark
        var groups = GroupTable()
        var first: [Int] = []
        var times: [Int64] = []
        var counts: [Int] = []
        var sums: [AlertWindow.Accumulator] = []
        let n = functions.count
        var key: [UInt8] = []
        var group: [UInt8] = []
        for (a, alert) in raw.enumerated() {
            let entries = alert.entries
            var t = now
            if let timeField {
                guard let text = AlertAggregator.find(timeField, in: entries), let ms = Timestamp.milliseconds(eventTime: text),
                      ms <= now + Self.futureToleranceMs else {
                    untimedAlerts += 1
                    continue
                }
                t = ms
                watermark = max(watermark, ms)
            }
            keyBytes(entries, into: &key)
            group.removeAll(keepingCapacity: true)
            group.append(contentsOf: key)
            if timeField != nil {
                withUnsafeBytes(of: table.shapeBucket(t).littleEndian) { group.append(contentsOf: $0) }
            }
            let (g, isNew) = group.withUnsafeBufferPointer { groups.number(of: $0) }
            if isNew {
                first.append(a)
                times.append(t)
                counts.append(0)
                sums.append(contentsOf: repeatElement(AlertWindow.Accumulator(), count: n))
            }
            counts[g] += 1
            for (f, field) in aggregateFields.enumerated() {
                guard let field, let text = AlertAggregator.find(field, in: entries) else { continue }
                let sample: AlertWindow.Sample
                if let x = AlertAggregator.number(text) {
                    sample = .number(x)
                } else if functions[f] == .distinct {
                    sample = .text(String(decoding: text, as: UTF8.self))
                } else {
                    continue
                }
                _ = sums[g * n + f].add(sample, functions[f], maxDistinct: Int.max)
            }
        }
        for g in counts.indices {
            let entries = raw[first[g]].entries
            keyBytes(entries, into: &key)
            table.merge(key: key, at: times[g], count: counts[g], accumulators: sums[(g * n)..<((g + 1) * n)],
                        watermark: before) {
                self.labels(of: entries)
            }
        }
    }

    /// The key of an alert: each key field's value with its length (a missing one: a
    /// length no value has).
    private func keyBytes(_ entries: UnsafeBufferPointer<sluice_kv>, into key: inout [UInt8]) {
        key.removeAll(keepingCapacity: true)
        for field in keyFields {
            if let v = AlertAggregator.find(field, in: entries) {
                withUnsafeBytes(of: UInt32(v.count).littleEndian) { key.append(contentsOf: $0) }
                key.append(contentsOf: v)
            } else {
                key.append(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF])
            }
        }
    }

    /// What a new key keeps of the alert that opened it: its key fields' values.
    private func labels(of entries: UnsafeBufferPointer<sluice_kv>) -> [String] {
        keyFields.map { f in AlertAggregator.find(f, in: entries).map { String(decoding: $0, as: UTF8.self) } ?? "" }
    }

    // MARK: judgement

    /// Every key judged at the monitor's time (after a batch, or while idle in processing
    /// time): what their lives notify.
    func evaluate(now: Int64) -> [AlertKeyTable.Notice] {
        seedExpected(now: now)
        guard let t = time(now) else { return [] }
        let notices = table.evaluate(at: t) { labels, count, values in self.judge(labels, count, values) }
        return settle(notices, now: now)
    }

    /// Time passing without a batch: in processing time the windows slide and the keys are
    /// judged again (without a window, the last batch's judgement holds and only `forMs`,
    /// `keepFiringMs` and `renotifyMs` run on); in event time nothing moves until new
    /// events come.
    func idle(now: Int64) -> [AlertKeyTable.Notice] {
        if isEventTime { return [] }
        if table.perBatch { return settle(table.tick(at: now), now: now) }
        return evaluate(now: now)
    }

    /// Fixes a firing incident's severity and notes when each key was notified.
    private func settle(_ notices: [AlertKeyTable.Notice], now: Int64) -> [AlertKeyTable.Notice] {
        notices.map { notice in
            var notice = notice
            if case .firing = notice.notification { notice.severity = severity(notice.labels, notice.values) }
            table.update(notice.key) { entry in
                entry.severity = notice.severity
                entry.notifiedAt = now
            }
            return notice
        }
    }

    /// The open incidents due for a refresh at processing time `now` (each as a notice
    /// that it is still firing); each is noted as notified.
    func refreshes(now: Int64) -> [AlertKeyTable.Notice] {
        // Looked for at most once a second: refreshes are a minute apart.
        guard now >= nextRefreshCheck || now < nextRefreshCheck - 1_000 else { return [] }
        nextRefreshCheck = now + 1_000
        var due: [AlertKeyTable.Notice] = []
        for key in table.openKeys {
            guard let entry = table.entries[key], now - entry.notifiedAt >= Self.refreshMs,
                  let notice = table.stillFiring(key) else { continue }
            due.append(notice)
            table.update(key) { $0.notifiedAt = now }
        }
        return due
    }

    /// The inputs moved (see AlertFlow.inputsChanged): every open incident is marked
    /// handed over until its key gets data here again.
    func handOver() {
        for key in table.openKeys { table.update(key) { $0.handedOver = true } }
    }

    /// Notes whether the open incident of `key` was announced (see Entry.announced).
    func announce(_ key: [UInt8], _ announced: Bool) { table.update(key) { $0.announced = announced } }

    /// Open incidents that no notification announced yet (a silence held them back): each
    /// as a notice that it is firing. Looked for only after a silence held one back (or
    /// after a restart), until none is left.
    var unannounced: [AlertKeyTable.Notice] {
        guard mayHoldUnannounced else { return [] }
        let held = table.openKeys.compactMap { key in table.entries[key]?.announced == false ? table.stillFiring(key) : nil }
        if held.isEmpty { mayHoldUnannounced = false }
        return held
    }

    /// Whether some open incident may not have been announced.
    var mayHoldUnannounced = true

    /// The condition and recover expressions over the key's fields and its window's
    /// aggregates (and `count`, the raw alerts in the window).
    private func judge(_ labels: [String], _ count: Int, _ values: [Double?]) -> (alerting: Bool, healthy: Bool) {
        // The record's fields were made once (judgeFields); only their values change.
        var n = 0
        if judgesLabels {
            scratch.reset()
            for value in labels where n < judgeFields.count {
                let s = scratch.string(value)
                judgeFields[n].value = sluice_string(s.ptr, s.len)
                n += 1
            }
        } else {
            n = 0
        }
        if judgesCount {
            judgeFields[n].value = sluice_int(Int64(count))
            n += 1
        }
        for value in values where n < judgeFields.count {
            judgeFields[n].value = value.map { sluice_double($0) } ?? sluice_null()
            n += 1
        }
        return judgeFields.withUnsafeBufferPointer { buffer in
            var record = sluice_record(fields: buffer.baseAddress, nfields: UInt32(n), flags: 0)
            let alerting = condition.program.isTrue(condition.root, &record)
            let healthy = recover.map { $0.program.isTrue($0.root, &record) } ?? !alerting
            return (alerting, healthy)
        }
    }

    /// The fields the expressions see: the key fields (only when an expression names one),
    /// `count` (unless an aggregate is named so), the aggregates; interned once.
    private var judgeFields: [sluice_field] = []
    private var judgesLabels = false
    private var judgesCount = false

    private func makeJudgeFields() {
        func field(_ name: String) -> sluice_field {
            let key = FieldKeys.intern(name)
            var len: UInt32 = 0
            return sluice_field(key: key, name_len: UInt32(name.utf8.count), name: sr_key_name(key, &len), value: sluice_null())
        }
        let sources = [settings.condition] + (settings.recover.map { [$0] } ?? [])
        judgesLabels = keyFieldNames.contains { name in sources.contains { $0.contains(name) } }
        judgesCount = !aggregates.contains { $0.name == "count" }
        judgeFields = (judgesLabels ? keyFieldNames : []).map(field) + (judgesCount ? [field("count")] : [])
            + aggregates.map { field($0.name) }
    }

    /// A key's fields by name.
    func named(_ labels: [String]) -> [(String, String)] { Array(zip(keyFieldNames, labels)) }

    /// The stage's severity: a word, or `${name}` of a key field or an aggregate.
    private func severity(_ labels: [String], _ values: [Double?]) -> String {
        guard let s = settings.severity else { return "" }
        guard s.hasPrefix("${"), s.hasSuffix("}"), s.count > 3 else { return s }
        let name = String(s.dropFirst(2).dropLast())
        if let label = named(labels).first(where: { $0.0 == name }) { return label.1 }
        if let i = aggregates.firstIndex(where: { $0.name == name }), i < values.count, let v = values[i] {
            return formatNumber(v)
        }
        return ""
    }

    /// An alert's payload for a notice: the key's fields, then each aggregate's value in
    /// the window (as aggregated alerts have them), in `arena`.
    func payload(_ notice: AlertKeyTable.Notice, in arena: RecordArena) -> UnsafeBufferPointer<sluice_kv> {
        let named = named(notice.labels)
        let kvs = arena.allocate(sluice_kv.self, count: max(1, named.count + aggregates.count), for: "an alert's payload")
        var n = 0
        for (name, value) in named {
            kvs[n] = sluice_kv(key: arena.string(name), value: arena.string(value))
            n += 1
        }
        for (spec, value) in zip(aggregates, notice.values) {
            kvs[n] = sluice_kv(key: arena.string(spec.name), value: arena.string(value.map(formatNumber) ?? "null"))
            n += 1
        }
        return UnsafeBufferPointer(start: kvs, count: n)
    }

    private func formatNumber(_ v: Double) -> String {
        var text = [CChar](repeating: 0, count: 32)
        let n = sr_format_number(&text, v)
        return String(decoding: text.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

struct AlertMonitorError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

extension AlertKeyTable {
    /// The start of the slide holding `t`.
    func shapeBucket(_ t: Int64) -> Int64 {
        let r = t % shape.slideMs
        return t - (r < 0 ? r + shape.slideMs : r)
    }
}

extension AlertWindow.Function {
    init(_ f: AggregateFunction) {
        switch f {
        case .count: self = .count
        case .sum: self = .sum
        case .avg: self = .avg
        case .min: self = .min
        case .max: self = .max
        case .distinct: self = .distinct
        }
    }
}
