import SluicePluginSDK

/// `pagerduty`: PagerDuty's Events API v2, `POST https://events.pagerduty.com/v2/enqueue`,
/// one `trigger` event per alert, sent concurrently: `routing_key`, `dedup_key` = the
/// alert's key (the same store's alerts update one incident), `payload.summary` (the
/// title, at most 1,024 characters), `severity`, `source`, `timestamp`, `component` (the
/// stage), `group` (the pipeline), `custom_details` = the payload (and the raw-alert count
/// and the alert's id). PagerDuty allows 120 events a minute per routing key.
struct PagerDutyFormat: AlertFormat {
    static let name = "pagerduty"
    static let defaultRate = "120/min"
    static let maxSummary = 1_024
    static let maxDedupKey = 255
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

    func requests(_ alerts: Alerts) -> [HTTPRequest] {
        alerts.enumerated().map { i, alert in
            var w = JSONWriter()
            w.beginObject()
            w.field("routing_key", config.routingKey)
            w.field("event_action", "trigger")
            w.field("dedup_key", String(alert.key.prefix(PagerDutyFormat.maxDedupKey)))
            w.key("payload"); w.beginObject()
            w.field("summary", config.title.render(alert).truncated(to: PagerDutyFormat.maxSummary))
            w.field("source", config.source.render(alert).truncated(to: 255))
            w.field("severity", config.pagerDutySeverity(alert))
            w.field("timestamp", alert.timestamp)
            w.field("component", alert.stage)
            w.field("group", alert.pipeline)
            w.field("class", alert.namespace)
            w.key("custom_details"); w.beginObject()
            for (k, v) in alert.payload { w.field(k, v) }
            w.field("sluice_count", Int64(clamping: alert.count))
            w.field("sluice_alert_id", alert.id)
            w.endObject()
            w.endObject()
            w.field("client", "Sluice")
            w.endObject()
            return HTTPRequest(url: url, headers: config.headers, body: w.bytes, alerts: [i])
        }
    }
}
