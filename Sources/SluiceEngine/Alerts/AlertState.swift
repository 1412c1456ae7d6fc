/// What the alerts with a life carry from one batch to the next, as it is saved with the
/// source's position after each committed batch (State/SourcePositions.swift): per stage
/// with a condition, its keys (windows and lives), its watermark and counts. A restart
/// (even after `kill -9`) resumes from the position and this state together: no window
/// starts again from zero, no open incident is forgotten, so none fires twice and none
/// loses its resolve.
struct AlertState: Codable, Equatable, Sendable {
    /// The most a saved state may take in the position file (base64 of its binary form):
    /// room for maxKeys' default of 100,000 keys many times over (docs/benchmarks.md: about
    /// 1.4 KB a key).
    static let maxBytes = 1 << 30

    struct Stage: Codable, Equatable, Sendable {
        var table: AlertKeyTable
        var watermark: Int64
        var untimed: Int
        /// The stage's key fields and aggregates as they were: a state saved under other
        /// ones is not taken back (a resolve would go out under another key).
        var signature = ""
    }

    /// Stage name → its state.
    var stages: [String: Stage] = [:]
}

/// The state as it is saved with the source's position: a compact binary form (in base64
/// in the position file), written after every batch — JSON of a thousand keys' windows
/// would cost more than the batch. Read back with every length and count checked: a
/// damaged file is an error, never a crash.
extension AlertState {
    static let magic: [UInt8] = Array("SLAS2".utf8)

    func encoded() -> [UInt8] {
        Self.encode(stages.map { ($0.key, $0.value.signature, $0.value.table, $0.value.watermark, $0.value.untimed) })
    }

    /// The binary form of the stages' states, straight from their tables.
    static func encode(_ stages: [(name: String, signature: String, table: AlertKeyTable, watermark: Int64, untimed: Int)]) -> [UInt8] {
        var w = StateWriter()
        w.out.reserveCapacity(64 + stages.reduce(0) { $0 + $1.table.entries.count * 160 })
        w.out.append(contentsOf: Self.magic)
        w.u64(UInt64(stages.count))
        for stage in stages.sorted(by: { $0.name < $1.name }) {
            w.string(stage.name)
            w.string(stage.signature)
            w.i64(stage.watermark)
            w.i64(Int64(stage.untimed))
            w.table(stage.table)
        }
        return w.out
    }

    init(encoded bytes: [UInt8]) throws {
        var r = StateReader(bytes)
        guard try r.raw(Self.magic.count) == Self.magic else { throw StateReader.Damaged(what: "not an alert state") }
        self.init()
        for _ in 0..<(try r.count()) {
            let name = try r.string()
            let signature = try r.string()
            let watermark = try r.time()
            let untimed = try r.amount()
            stages[name] = Stage(table: try r.table(), watermark: watermark, untimed: untimed, signature: signature)
        }
        guard r.atEnd else { throw StateReader.Damaged(what: "bytes after the alert state") }
    }
}

private struct StateWriter {
    var out: [UInt8] = []
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func bool(_ v: Bool) { out.append(v ? 1 : 0) }
    mutating func bytes(_ b: [UInt8]) { u64(UInt64(b.count)); out.append(contentsOf: b) }
    mutating func string(_ s: String) { bytes(Array(s.utf8)) }

    mutating func table(_ t: AlertKeyTable) {
        i64(t.shape.sizeMs); i64(t.shape.slideMs); i64(t.shape.allowedLatenessMs)
        u64(UInt64(t.functions.count))
        for f in t.functions { out.append(Self.code(f)) }
        i64(t.settings.forMs); i64(t.settings.keepFiringMs); i64(t.settings.renotifyMs)
        i64(Int64(t.maxKeys)); bool(t.perBatch); i64(Int64(t.overflowKeys)); i64(Int64(t.lateAlerts)); u64(UInt64(t.nextIncident))
        u64(UInt64(t.entries.count))
        for (key, e) in t.entries {
            bytes(key)
            u64(UInt64(e.labels.count))
            for l in e.labels { string(l) }
            string(e.severity); i64(e.notifiedAt); i64(e.judgeFrom); bool(e.announced); bool(e.handedOver)
            switch e.life.phase {
            case .inactive: out.append(0)
            case let .pending(since): out.append(1); i64(since)
            case let .firing(startsAt, notified): out.append(2); i64(startsAt); i64(notified)
            case let .recovering(startsAt, notified, since): out.append(3); i64(startsAt); i64(notified); i64(since)
            }
            u64(UInt64(e.life.incident))
            i64(e.window.watermark); i64(Int64(e.window.overflow)); i64(Int64(e.window.maxDistinct))
            u64(UInt64(e.window.buckets.count))
            for b in e.window.buckets {
                i64(b.start); i64(Int64(b.count))
                // What each function reads of its accumulator, and nothing more.
                for (f, a) in zip(t.functions, b.accumulators) {
                    switch f {
                    case .count: break
                    case .sum, .avg: i64(Int64(a.numbers)); f64(a.sum)
                    case .min: i64(Int64(a.numbers)); f64(a.min)
                    case .max: i64(Int64(a.numbers)); f64(a.max)
                    case .distinct:
                        i64(Int64(a.numbers))
                        u64(UInt64(a.texts.count))
                        for s in a.texts.sorted() { string(s) }
                    }
                }
            }
        }
    }

    static func code(_ f: AlertWindow.Function) -> UInt8 {
        switch f { case .count: 0; case .sum: 1; case .avg: 2; case .min: 3; case .max: 4; case .distinct: 5 }
    }
}

private struct StateReader {
    struct Damaged: Error, CustomStringConvertible {
        let what: String
        var description: String { "damaged alert state: \(what)" }
    }
    let b: [UInt8]
    var at = 0
    init(_ b: [UInt8]) { self.b = b }
    var atEnd: Bool { at == b.count }

    mutating func raw(_ n: Int) throws -> [UInt8] {
        guard n >= 0, n <= b.count - at else { throw Damaged(what: "cut short at byte \(at)") }
        defer { at += n }
        return Array(b[at..<(at + n)])
    }
    mutating func u64() throws -> UInt64 {
        let r = try raw(8)
        return r.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }
    mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }
    mutating func f64() throws -> Double { Double(bitPattern: try u64()) }
    mutating func byte() throws -> UInt8 { try raw(1)[0] }
    mutating func bool() throws -> Bool { try byte() != 0 }
    /// A count no larger than the bytes left could hold (each item takes a byte at least).
    mutating func count() throws -> Int {
        let n = try u64()
        guard n <= UInt64(b.count - at) else { throw Damaged(what: "a count of \(n) at byte \(at)") }
        return Int(n)
    }
    mutating func bytes() throws -> [UInt8] { try raw(try count()) }
    mutating func string() throws -> String {
        let raw = try bytes()
        guard let s = String(validating: raw, as: UTF8.self) else { throw Damaged(what: "text that is not UTF-8 at byte \(at)") }
        return s
    }
    mutating func int() throws -> Int { Int(clamping: try i64()) }

    /// A time: milliseconds within ±10^15 (year 33658), or the "none yet" Int64.min; a
    /// damaged value would overflow the window's arithmetic.
    mutating func time() throws -> Int64 {
        let t = try i64()
        guard t == .min || t.magnitude <= 1_000_000_000_000_000 else { throw Damaged(what: "a time of \(t) at byte \(at)") }
        return t
    }

    /// A duration or a count: from 0 to 10^15.
    mutating func amount() throws -> Int {
        let n = try i64()
        guard n >= 0, n <= 1_000_000_000_000_000 else { throw Damaged(what: "an amount of \(n) at byte \(at)") }
        return Int(n)
    }

    mutating func table() throws -> AlertKeyTable {
        // A stage without a window judges each batch on its own in one bucket of 2^52 ms
        // (AlertMonitor): past `amount`'s bound, but a shape it writes.
        func span() throws -> Int64 {
            let n = try i64()
            guard n >= 0, n <= 1 << 52 else { throw Damaged(what: "a window's length of \(n) at byte \(at)") }
            return n
        }
        let shape = AlertWindow.Shape(sizeMs: try span(), slideMs: try span(), allowedLatenessMs: Int64(try amount()))
        guard shape.sizeMs > 0, shape.slideMs > 0 else { throw Damaged(what: "a window's shape") }
        var functions: [AlertWindow.Function] = []
        for _ in 0..<(try count()) {
            switch try byte() {
            case 0: functions.append(.count)
            case 1: functions.append(.sum)
            case 2: functions.append(.avg)
            case 3: functions.append(.min)
            case 4: functions.append(.max)
            case 5: functions.append(.distinct)
            default: throw Damaged(what: "an aggregate function")
            }
        }
        let settings = AlertLifecycle.Settings(forMs: Int64(try amount()), keepFiringMs: Int64(try amount()),
                                               renotifyMs: Int64(try amount()))
        var t = AlertKeyTable(shape: shape, functions: functions, settings: settings, maxKeys: max(1, try amount()), perBatch: try bool())
        let overflowKeys = try amount(), lateAlerts = try amount()
        let nextIncident = UInt32(truncatingIfNeeded: try u64())
        for _ in 0..<(try count()) {
            let key = try bytes()
            var labels: [String] = []
            for _ in 0..<(try count()) { labels.append(try string()) }
            let severity = try string(), notifiedAt = try time(), judgeFrom = try time(), announced = try bool(), handedOver = try bool()
            let phase: AlertLifecycle.Phase
            switch try byte() {
            case 0: phase = .inactive
            case 1: phase = .pending(since: try time())
            case 2: phase = .firing(startsAt: try time(), notified: try time())
            case 3: phase = .recovering(startsAt: try time(), notified: try time(), since: try time())
            default: throw Damaged(what: "a key's phase")
            }
            let incident = UInt32(truncatingIfNeeded: try u64())
            let watermark = try time(), overflow = try amount(), maxDistinct = max(1, try amount())
            var buckets: [AlertWindow.Bucket] = []
            for _ in 0..<(try count()) {
                let start = try time(), n = try amount()
                var accumulators: [AlertWindow.Accumulator] = []
                for f in functions {
                    var a = AlertWindow.Accumulator()
                    switch f {
                    case .count: break
                    case .sum, .avg: a.numbers = try amount(); a.sum = try f64()
                    case .min: a.numbers = try amount(); a.min = try f64()
                    case .max: a.numbers = try amount(); a.max = try f64()
                    case .distinct:
                        a.numbers = try amount()
                        for _ in 0..<(try count()) { a.texts.insert(try string()) }
                    }
                    accumulators.append(a)
                }
                buckets.append(AlertWindow.Bucket(start: start, count: n, accumulators: accumulators))
            }
            let window = AlertWindow(shape: shape, functions: functions, maxDistinct: maxDistinct, buckets: buckets,
                                     watermark: watermark, overflow: overflow)
            let life = AlertLifecycle(settings, phase: phase, incident: incident)
            t.restore(key, AlertKeyTable.Entry(window: window, life: life, labels: labels, severity: severity, notifiedAt: notifiedAt,
                                               judgeFrom: judgeFrom, handedOver: handedOver, announced: announced))
        }
        t.restoreCounts(overflowKeys: overflowKeys, lateAlerts: lateAlerts, nextIncident: nextIncident)
        return t
    }
}
