/// One stage's alert keys across batches (issue 22): for each key its window and its
/// life. Alerts go in as they are raised; `evaluate` then judges every key on its window
/// and answers the notifications its life gives. Bounded: at most `maxKeys` keys; a key
/// that is quiet (inactive, its window empty) is forgotten, and when the table is full a new
/// key evicts a quiet one or, when none is quiet, is counted in `overflowKeys` and not
/// kept — a firing key is never forgotten. Pure: the time is passed in.
struct AlertKeyTable: Sendable {
    struct Entry: Sendable {
        var window: AlertWindow
        var life: AlertLifecycle
        var isQuiet: Bool { life.phase == .inactive && window.buckets.isEmpty }
    }

    /// A key's judgement on its window: alerting (its condition holds), healthy (its
    /// recover expression holds).
    typealias Judge = (_ count: Int, _ values: [Double?]) -> (alerting: Bool, healthy: Bool)

    struct Notice: Equatable, Sendable {
        let key: [UInt8]
        let notification: AlertLifecycle.Notification
        /// The window's count and values when it was given.
        let count: Int
        let values: [Double?]
    }

    let shape: AlertWindow.Shape
    let functions: [AlertWindow.Function]
    let settings: AlertLifecycle.Settings
    let maxKeys: Int
    private(set) var entries: [[UInt8]: Entry] = [:]
    private(set) var overflowKeys = 0
    private(set) var lateAlerts = 0

    init(shape: AlertWindow.Shape, functions: [AlertWindow.Function], settings: AlertLifecycle.Settings, maxKeys: Int) {
        self.shape = shape
        self.functions = functions
        self.settings = settings
        self.maxKeys = maxKeys
    }

    /// One raised alert of `key` at time `t`.
    mutating func add(key: [UInt8], at t: Int64, samples: [AlertWindow.Sample]) {
        if entries[key] == nil {
            guard entries.count < maxKeys || evictQuietKey() else {
                overflowKeys += 1
                return
            }
            entries[key] = Entry(window: AlertWindow(shape: shape, functions: functions), life: AlertLifecycle(settings))
        }
        if entries[key]?.window.add(at: t, samples: samples) == .late { lateAlerts += 1 }
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
        let end = AlertWindow(shape: shape, functions: []).bucketStart(now) + shape.slideMs
        for key in entries.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            guard var entry = entries[key] else { continue }
            let (count, values) = entry.window.values(endingAt: end)
            let (alerting, healthy) = judge(count, values)
            for n in entry.life.evaluate(alerting: alerting, healthy: healthy, at: now) {
                notices.append(Notice(key: key, notification: n, count: count, values: values))
            }
            entry.window.advance(to: now)
            entries[key] = entry.isQuiet ? nil : entry
        }
        return notices
    }
}
