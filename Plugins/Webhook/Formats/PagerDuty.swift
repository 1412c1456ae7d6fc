import SluicePluginSDK

/// `pagerduty`: PagerDuty's Events API v2, `POST https://events.pagerduty.com/v2/enqueue`,
/// one `trigger` event per alert, sent concurrently: `routing_key`, `dedup_key` = the
/// alert's key (the same store's alerts update one incident), `payload.summary` (the
/// title, at most 1,024 characters — code points, as PagerDuty counts them), `severity`,
/// `source`, `timestamp`, `component` (the stage), `group` (the pipeline), `custom_details`
/// = the payload (and the raw-alert count and the alert's id); the whole event under
/// PagerDuty's 512 KB. PagerDuty allows 120 events a minute per routing key.
///
/// Alerts with a life (ABI 1.5): "firing" and "renotify" are triggers as above (`severity`
/// the alert's own when it has one); "resolved" is a `resolve` event with the same
/// `dedup_key` — `{"routing_key":…,"dedup_key":…,"event_action":"resolve"}`, all that
/// Events v2 reads in one — which closes the incident (a later trigger with that key opens
/// a new one); "refresh" is never handed to this format (nothing to say).
struct PagerDutyFormat: AlertFormat {
    static let name = "pagerduty"
    static let defaultRate = "120/min"
    static let maxSummary = 1_024
    static let maxDedupKey = 255
    static let maxSource = 255
    /// PagerDuty takes events up to 512 KB: under it whether a KB is 1,000 or 1,024 bytes.
    static let maxEventBytes = 512_000
    static let defaultEndpoint = "https://events.pagerduty.com/v2/enqueue"
    let config: WebhookConfig
    let url: String

    init(_ config: WebhookConfig) throws {
        guard !config.routingKey.isEmpty else {
            throw PluginError.error("format pagerduty needs 'routingKey' (an Events API v2 integration key, e.g. ${env:PAGERDUTY_ROUTING_KEY})")
        }
        self.config = config
        url = config.endpoint.isEmpty ? PagerDutyFormat.defaultEndpoint : config.endpoint
    }

    func requests(_ alerts: [Alert]) -> [HTTPRequest] {
        alerts.enumerated().map { i, alert in
            let (body, builds) = fitted(alert)
            return HTTPRequest(url: url, headers: config.headers, body: body, alerts: [i], bodyBuilds: builds)
        }
    }

    /// The event, under `maxEventBytes`, and how many times it was built: as it is when it
    /// fits; else its longest custom_details values cut (halving the longest allowed until
    /// it fits: a few builds, as the length halves), then, if the names alone are too
    /// long, the largest entries left out — saying so in `sluice_truncated`. Each entry's
    /// size as written is counted once and the largest are left out until the rest fits,
    /// so the event is built once more, not once per entry left out. The rest of an event
    /// is bounded (summary 1,024 code points, source 255), so this always ends with an
    /// event PagerDuty takes.
    func fitted(_ alert: Alert) -> (body: [UInt8], builds: Int) {
        if alert.isResolved { return (resolve(alert), 1) }
        let payload = alert.payload.map { (key: $0.key, value: $0.value) }
        var body = event(alert, details: payload, note: nil)
        var builds = 1
        guard body.count > PagerDutyFormat.maxEventBytes else { return (body, builds) }
        let note = "values cut to fit PagerDuty's 512 KB an event"
        var cap = payload.map { $0.value.unicodeScalars.count }.max() ?? 0
        var details = payload
        while body.count > PagerDutyFormat.maxEventBytes && cap > 64 {
            cap /= 2
            details = payload.map { (key: $0.key, value: $0.value.truncated(to: cap)) }
            body = event(alert, details: details, note: note)
            builds += 1
        }
        guard body.count > PagerDutyFormat.maxEventBytes else { return (body, builds) }
        // An entry takes its name and value as written, a colon and a comma; the note grows
        // by "N fields left out and " (at most 40 bytes) when entries are left out.
        let size = details.map { JSONWriter.writtenCount($0.key) + JSONWriter.writtenCount($0.value) + 2 }
        let largestFirst = details.indices.sorted { size[$0] > size[$1] }
        var excess = body.count - PagerDutyFormat.maxEventBytes + 40
        var dropped = Set<Int>()
        for index in largestFirst {
            if excess <= 0 && !dropped.isEmpty {
                // Built from the sizes counted: it fits (checked, as a miscount must not
                // send an event PagerDuty refuses).
                let kept = details.indices.filter { !dropped.contains($0) }.map { details[$0] }
                body = event(alert, details: kept, note: "\(dropped.count) field\(dropped.count == 1 ? "" : "s") left out and " + note)
                builds += 1
                if body.count <= PagerDutyFormat.maxEventBytes { return (body, builds) }
                excess = body.count - PagerDutyFormat.maxEventBytes
            }
            dropped.insert(index)
            excess -= size[index]
        }
        body = event(alert, details: [], note: "\(dropped.count) field\(dropped.count == 1 ? "" : "s") left out and " + note)
        return (body, builds + 1)
    }

    /// The resolve event: routing key, dedup key, action — nothing else.
    private func resolve(_ alert: Alert) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("routing_key", config.routingKey)
        w.field("dedup_key", alert.key.truncated(to: PagerDutyFormat.maxDedupKey, marker: ""))
        w.field("event_action", "resolve")
        w.endObject()
        return w.bytes
    }

    private func event(_ alert: Alert, details: [(key: String, value: String)], note: String?) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("routing_key", config.routingKey)
        w.field("event_action", "trigger")
        w.field("dedup_key", alert.key.truncated(to: PagerDutyFormat.maxDedupKey, marker: ""))
        w.key("payload"); w.beginObject()
        w.field("summary", config.titleText(alert).truncated(to: PagerDutyFormat.maxSummary))
        w.field("source", config.sourceText(alert).truncated(to: PagerDutyFormat.maxSource))
        w.field("severity", config.pagerDutySeverity(alert))
        w.field("timestamp", alert.timestamp)
        w.field("component", alert.stage.truncated(to: PagerDutyFormat.maxSource))
        w.field("group", alert.pipeline.truncated(to: PagerDutyFormat.maxSource))
        w.field("class", alert.namespace.truncated(to: PagerDutyFormat.maxSource))
        w.key("custom_details"); w.beginObject()
        for (k, v) in details { w.field(k, v) }
        w.field("sluice_count", Int64(clamping: alert.count))
        w.field("sluice_alert_id", alert.id)
        if let note { w.field("sluice_truncated", note) }
        w.endObject()
        w.endObject()
        w.field("client", "Sluice")
        w.endObject()
        return w.bytes
    }
}
