/// One stage's alert keys across batches (issue 22): for each key its window and its
/// life. Alerts go in as they are raised; `evaluate` then judges every key on its window
/// and answers the notifications its life gives. Bounded: at most `maxKeys` keys; a key
/// that is quiet (inactive, its window empty) is forgotten, and when the table is full a new
/// key evicts a quiet one or, when none is quiet, is counted in `overflowKeys` and not
/// kept — a firing key is never forgotten. Pure: the time is passed in.
struct AlertKeyTable: Codable, Equatable, Sendable {
    struct Entry: Codable, Equatable, Sendable {
        var window: AlertWindow
        var life: AlertLifecycle
        /// The values of the stage's key fields, in their order.
        var labels: [String]
        /// The severity of the open incident (fixed when it fired).
        var severity = ""
        /// When the key's last notification was made, in processing time (for refreshes).
        var notifiedAt: Int64 = 0
        /// Not judged before this time: a key expected from the start is judged once a
        /// whole window has passed without it.
        var judgeFrom: Int64 = .min
        /// The source's inputs moved while the incident was open and no data of the key came
        /// since: it may be read by another host, which fires and resolves it there; this
        /// host sends nothing more of it.
        var handedOver = false
        /// Whether a notification of the open incident went out (not held back by a
        /// silence): only then is its resolve sent, and a firing held back is sent once
        /// its silence ends.
        var announced = false
        /// Nothing to keep: inactive, its window empty, and judged at least once (a key
        /// expected from the start is kept until it was).
        var isQuiet: Bool { life.phase == .inactive && window.buckets.isEmpty && judgeFrom == .min }
    }

    /// A key's judgement on its window: alerting (its condition holds), healthy (its
    /// recover expression holds).
    typealias Judge = (_ labels: [String], _ count: Int, _ values: [Double?]) -> (alerting: Bool, healthy: Bool)

    struct Notice: Sendable {
        let key: [UInt8]
        let notification: AlertLifecycle.Notification
        /// The window's count and values when it was given.
        let count: Int
        let values: [Double?]
        /// The key's labels, the severity of its incident, and whether the incident was
        /// announced (as the key was when the notice was made: a resolved key may be gone).
        let labels: [String]
        var severity: String
        var announced: Bool
        var handedOver = false
    }

    let shape: AlertWindow.Shape
    let functions: [AlertWindow.Function]
    let settings: AlertLifecycle.Settings
    let maxKeys: Int
    /// No window: each evaluation judges the alerts added since the one before.
    let perBatch: Bool
    private(set) var entries: [[UInt8]: Entry] = [:]
    private(set) var overflowKeys = 0
    private(set) var lateAlerts = 0
    /// The number the stage's next incident gets (AlertLifecycle.incident): the same
    /// after a restart, never given twice, so an incident's id is stable and unique.
    private(set) var nextIncident: UInt32 = 0

    init(shape: AlertWindow.Shape, functions: [AlertWindow.Function], settings: AlertLifecycle.Settings, maxKeys: Int,
         perBatch: Bool = false) {
        self.shape = shape
        self.functions = functions
        self.settings = settings
        self.maxKeys = maxKeys
        self.perBatch = perBatch
    }

    /// One raised alert of `key` at time `t`.
    mutating func add(key: [UInt8], at t: Int64, samples: [AlertWindow.Sample], labels: @autoclosure () -> [String] = []) {
        guard open(key, labels) else { return }
        if entries[key]?.window.add(at: t, samples: samples) == .late { lateAlerts += 1 }
    }

    /// `count` alerts of `key` at time `t`, summed up per function.
    mutating func merge(key: [UInt8], at t: Int64, count: Int, accumulators: ArraySlice<AlertWindow.Accumulator>,
                        watermark: Int64 = .min, labels: () -> [String]) {
        // Late against the stage's watermark (a key seen for the first time too).
        if watermark != .min, shape.isPast(shapeBucket(t), watermark: watermark) {
            lateAlerts += count
            return
        }
        // One lookup: the entry is changed in place.
        var index = entries.index(forKey: key)
        if index == nil {
            guard open(key, labels) else { return }
            index = entries.index(forKey: key)
        }
        guard let i = index else { return }
        entries.values[i].handedOver = false
        if entries.values[i].window.merge(at: t, count: count, accumulators: accumulators, judgedLate: watermark != .min) == .late {
            lateAlerts += count
        }
    }

    /// Whether `key` has an entry (made now when there is room).
    private mutating func open(_ key: [UInt8], _ labels: () -> [String]) -> Bool {
        if entries[key] != nil { return true }
        guard entries.count < maxKeys || evictQuietKey() else {
            overflowKeys += 1
            return false
        }
        entries[key] = Entry(window: AlertWindow(shape: shape, functions: functions), life: AlertLifecycle(settings), labels: labels())
        return true
    }

    private mutating func evictQuietKey() -> Bool {
        guard let quiet = entries.first(where: { $0.value.isQuiet })?.key else { return false }
        entries[quiet] = nil
        return true
    }

    /// Judges every key at `now` on its window (the one holding `now`), and answers what
    /// their lives notify, in key order; then lets the windows move on to `now` and forgets
    /// the keys that went quiet.
    mutating func evaluate(at now: Int64, judge: Judge) -> [Notice] {
        var notices: [Notice] = []
        var quiet: [[UInt8]] = []
        let end = perBatch ? Int64.max : shapeBucket(now) + shape.slideMs
        // Each entry changed in place (no copy out and back), in the table's own order; the
        // notices are put in key order after.
        var i = entries.values.startIndex
        while i != entries.values.endIndex {
            defer { i = entries.values.index(after: i) }
            if now < entries.values[i].judgeFrom { continue }
            let (count, values) = perBatch ? entries.values[i].window.values(endingAt: end, all: true)
                                           : entries.values[i].window.values(endingAt: end)
            let (alerting, healthy) = judge(entries.values[i].labels, count, values)
            entries.values[i].judgeFrom = .min  // judged once: an ordinary key from now on
            for n in entries.values[i].life.evaluate(alerting: alerting, healthy: healthy, at: now) {
                let e = entries.values[i]
                notices.append(Notice(key: entries.keys[i], notification: n, count: count, values: values, labels: e.labels,
                                      severity: e.severity, announced: e.announced, handedOver: e.handedOver))
            }
            if perBatch { entries.values[i].window.clear() } else { entries.values[i].window.advance(to: now) }
            if entries.values[i].isQuiet { quiet.append(entries.keys[i]) }
        }
        for key in quiet { entries[key] = nil }
        return numbered(notices.sorted { $0.key.lexicographicallyPrecedes($1.key) })
    }

    /// Gives each incident that opens its number, in key order (the same numbers when the
    /// same batches are judged again after a restart: the table's order is not).
    private mutating func numbered(_ notices: [Notice]) -> [Notice] {
        notices.map { notice in
            guard case let .firing(_, startsAt) = notice.notification else { return notice }
            let number = nextIncident
            nextIncident &+= 1
            entries[notice.key]?.life.incident = number
            return Notice(key: notice.key, notification: .firing(incident: number, startsAt: startsAt), count: notice.count,
                          values: notice.values, labels: notice.labels, severity: notice.severity, announced: notice.announced,
                          handedOver: notice.handedOver)
        }
    }

    /// What time alone does by `now` (no new judgement: `forMs`, `keepFiringMs` and
    /// `renotifyMs` run on), in key order.
    mutating func tick(at now: Int64) -> [Notice] {
        var notices: [Notice] = []
        for key in entries.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            guard var entry = entries[key], entry.life.phase != .inactive else { continue }
            let last = entry.window.values(endingAt: .max, all: true)
            for n in entry.life.tick(at: now) {
                notices.append(Notice(key: key, notification: n, count: last.count, values: last.values, labels: entry.labels,
                                      severity: entry.severity, announced: entry.announced, handedOver: entry.handedOver))
            }
            entries[key] = entry.isQuiet ? nil : entry
        }
        return numbered(notices)
    }

    /// The same keys under another bound (a changed `maxKeys`): keys past it are dropped,
    /// quiet ones first, open incidents never.
    func resized(maxKeys: Int) -> AlertKeyTable {
        var t = AlertKeyTable(shape: shape, functions: functions, settings: settings, maxKeys: maxKeys, perBatch: perBatch)
        let ordered = entries.sorted { a, b in a.value.isQuiet != b.value.isQuiet ? !a.value.isQuiet : a.key.lexicographicallyPrecedes(b.key) }
        for (key, entry) in ordered where t.entries.count < maxKeys || entry.life.isOpen { t.entries[key] = entry }
        t.overflowKeys = overflowKeys
        t.lateAlerts = lateAlerts
        t.nextIncident = nextIncident
        return t
    }

    /// Follows `key` from time `t` though nothing was seen of it yet: judged from `t` plus
    /// a window. A key already followed is left as it is.
    mutating func expect(_ key: [UInt8], labels: [String], at t: Int64) {
        guard entries[key] == nil, open(key, { labels }) else { return }
        entries[key]?.judgeFrom = t + (perBatch ? 0 : shape.sizeMs)
    }

    /// A key as it was saved (AlertState).
    mutating func restore(_ key: [UInt8], _ entry: Entry) { entries[key] = entry }

    mutating func restoreCounts(overflowKeys: Int, lateAlerts: Int, nextIncident: UInt32) {
        self.overflowKeys = overflowKeys
        self.lateAlerts = lateAlerts
        self.nextIncident = nextIncident
    }

    /// Sets what the table keeps beside a key's life.
    mutating func update(_ key: [UInt8], _ change: (inout Entry) -> Void) {
        guard var entry = entries[key] else { return }
        change(&entry)
        entries[key] = entry
    }

    /// A notice that `key`'s open incident is still firing (nil when it has none).
    func stillFiring(_ key: [UInt8]) -> Notice? {
        guard let entry = entries[key] else { return nil }
        let startsAt: Int64
        switch entry.life.phase {
        case let .firing(s, _), let .recovering(s, _, _): startsAt = s
        case .inactive, .pending: return nil
        }
        let last = entry.window.values(endingAt: .max, all: true)
        return Notice(key: key, notification: .firing(incident: entry.life.incident, startsAt: startsAt), count: last.count,
                      values: last.values, labels: entry.labels, severity: entry.severity, announced: entry.announced,
                      handedOver: entry.handedOver)
    }

    /// The keys whose incident is open (firing or recovering).
    var openKeys: [[UInt8]] {
        entries.filter { $0.value.life.isOpen }.keys.sorted { $0.lexicographicallyPrecedes($1) }
    }
}
