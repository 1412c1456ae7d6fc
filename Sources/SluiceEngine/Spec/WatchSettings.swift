/// How a running pipeline is judged by those who watch it: its health endpoint (`health`),
/// and the thresholds of its own alerts (`sla`, for the `@pipeline` alerts port).
/// Documented in docs/pipelines.md and docs/operations.md.

/// `/health` answers unhealthy when no batch completed for `stallMs` while a batch was in
/// flight or input was waiting, or when more than `maxErrors` error records or more than
/// `maxFailedDeliveries` failed alert deliveries (failed or spooled) happened within the
/// last `periodMs` (nil: not judged). RunHealth judges them; docs/monitoring.md tells the
/// rules and why these defaults (an idle pipeline is healthy; error records are the data's,
/// judged only when bounded; one undelivered alert in a minute is unhealthy).
public struct HealthSettings: Sendable, Equatable {
    public var stallMs: Int = 60_000
    public var periodMs: Int = 60_000
    public var maxErrors: Int?
    public var maxFailedDeliveries: Int? = 0
    public init() {}
}

/// The thresholds of the pipeline's own alerts (nil: that alert is off).
public struct SLASettings: Sendable, Equatable {
    /// A batch that takes longer (from the source's hand-over to the alerts published).
    public var batchMs: Int?
    /// No records from the source for this long.
    public var silentMs: Int?
    /// The source's lag over this many records, or bytes.
    public var lagRecords: Int?
    public var lagBytes: Int?
    /// The lag grew in each of this many batches in a row (Burrow's rule: judged over a
    /// window, not a fixed threshold).
    public var lagGrowingBatches: Int? = 10
    /// A publisher's spool fuller than this share of spool.maxBytes (percent).
    public var spoolPercent: Int? = 80
    /// A publisher failing for longer than this.
    public var publisherFailingMs: Int? = 300_000
    /// While one of these alerts fires, tell again this often (nil: never).
    public var renotifyMs: Int?
    public init() {}
}

extension ConfigReader {
    mutating func health(_ json: JSONValue?) -> HealthSettings {
        var h = HealthSettings()
        guard let fields = object(json, "health") else { return h }
        unknownKeys(fields, ["stallMs", "periodMs", "maxErrors", "maxFailedDeliveries"], "health")
        h.stallMs = integer(json?["stallMs"], "health.stallMs", minimum: 1, maximum: Limits.maxDelayMs) ?? h.stallMs
        h.periodMs = integer(json?["periodMs"], "health.periodMs", minimum: 1_000, maximum: Limits.maxDelayMs) ?? h.periodMs
        h.maxErrors = optionalLimit(json?["maxErrors"], "health.maxErrors", Limits.maxRecords, default: h.maxErrors)
        h.maxFailedDeliveries = optionalLimit(json?["maxFailedDeliveries"], "health.maxFailedDeliveries", Limits.maxRecords,
                                              default: h.maxFailedDeliveries)
        return h
    }

    mutating func sla(_ json: JSONValue?) -> SLASettings {
        var s = SLASettings()
        guard let fields = object(json, "sla") else { return s }
        unknownKeys(fields, ["batchMs", "silentMs", "lagRecords", "lagBytes", "lagGrowingBatches", "spoolPercent", "publisherFailingMs",
                                "renotifyMs"], "sla")
        s.batchMs = optionalLimit(json?["batchMs"], "sla.batchMs", Limits.maxDelayMs, minimum: 1, default: s.batchMs)
        s.silentMs = optionalLimit(json?["silentMs"], "sla.silentMs", Limits.maxDelayMs, minimum: 1, default: s.silentMs)
        s.lagRecords = optionalLimit(json?["lagRecords"], "sla.lagRecords", Int(Int32.max), default: s.lagRecords)
        s.lagBytes = optionalLimit(json?["lagBytes"], "sla.lagBytes", Limits.maxSpoolBytes, default: s.lagBytes)
        s.lagGrowingBatches = optionalLimit(json?["lagGrowingBatches"], "sla.lagGrowingBatches", 100_000, minimum: 2, default: s.lagGrowingBatches)
        s.spoolPercent = optionalLimit(json?["spoolPercent"], "sla.spoolPercent", 100, minimum: 1, default: s.spoolPercent)
        s.publisherFailingMs = optionalLimit(json?["publisherFailingMs"], "sla.publisherFailingMs", Limits.maxDelayMs, minimum: 1,
                                             default: s.publisherFailingMs)
        s.renotifyMs = optionalLimit(json?["renotifyMs"], "sla.renotifyMs", Limits.maxRepeatIntervalMs, minimum: 1, default: s.renotifyMs)
        return s
    }

    /// A number, or null to turn the check off; absent: `default`.
    private mutating func optionalLimit(_ v: JSONValue?, _ path: String, _ maximum: Int, minimum: Int = 0, default d: Int?) -> Int? {
        guard let v else { return d }
        if v == .null { return nil }
        return integer(v, path, minimum: minimum, maximum: maximum) ?? d
    }
}
