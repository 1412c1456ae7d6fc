/// The run and alert history a pipeline keeps in `<state folder>/history.sqlite`, and how
/// much of it: the database never grows without bound. Documented in docs/history.md.
public struct HistorySettings: Sendable, Equatable {
    /// false: no history is written (`host run --no-history` says the same for one run).
    public var enabled = true
    /// The most batches, alerts sent and runs kept (the oldest go first), and how old a
    /// batch, alert or resolved incident may grow before it goes (days).
    public var keepBatches = 10_000
    public var keepAlerts = 100_000
    public var keepRuns = 1_000
    public var maxAgeDays = 30
    /// The most alerts sent recorded one by one each second (a notification of an alert's
    /// life always is); past it they are only counted. 0: none one by one.
    public var alertsPerSecond = 1_000
    public init() {}
}

extension ConfigReader {
    mutating func history(_ json: JSONValue?) -> HistorySettings {
        var h = HistorySettings()
        guard let fields = object(json, "history") else { return h }
        unknownKeys(fields, ["enabled", "keepBatches", "keepAlerts", "keepRuns", "maxAgeDays", "alertsPerSecond"], "history")
        h.enabled = bool(json?["enabled"], "history.enabled") ?? h.enabled
        h.keepBatches = integer(json?["keepBatches"], "history.keepBatches", minimum: 1, maximum: Limits.maxRecords) ?? h.keepBatches
        h.keepAlerts = integer(json?["keepAlerts"], "history.keepAlerts", minimum: 1, maximum: Limits.maxRecords) ?? h.keepAlerts
        h.keepRuns = integer(json?["keepRuns"], "history.keepRuns", minimum: 1, maximum: Limits.maxRecords) ?? h.keepRuns
        h.maxAgeDays = integer(json?["maxAgeDays"], "history.maxAgeDays", minimum: 1, maximum: 36_500) ?? h.maxAgeDays
        h.alertsPerSecond = integer(json?["alertsPerSecond"], "history.alertsPerSecond", minimum: 0, maximum: 1_000_000) ?? h.alertsPerSecond
        return h
    }
}
