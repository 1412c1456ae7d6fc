import SluicePluginSDK

/// `alertmanager`: Prometheus Alertmanager's API, `POST <url>/api/v2/alerts`, the alerts as
/// one array (at most `maxAlertsPerRequest` per request). Labels, which Alertmanager
/// groups and deduplicates on: `alertname`, `namespace`, `pipeline`, `stage` and the key
/// fields (the stage's groupBy or alerts.key fields; without any, a `key` label carrying
/// the alert's key). Annotations: `summary` (the title), `description` (the text, when
/// set), the rest of the payload, `count`. `startsAt` is the alert's time, `endsAt`
/// `resolveAfterMs` after it is sent (a replayed alert arrives active); `generatorURL`
/// when configured.
struct AlertmanagerFormat: AlertFormat {
    static let name = "alertmanager"
    static let defaultRate = "0"
    let config: WebhookConfig
    let url: String

    init(_ config: WebhookConfig) throws {
        guard !config.url.isEmpty else { throw PluginError.error("format alertmanager needs 'url' (e.g. http://alertmanager:9093)") }
        self.config = config
        let base = config.url.hasSuffix("/") ? String(config.url.dropLast()) : config.url
        url = URLParts.path(base).hasSuffix("/api/v2/alerts") ? base : base + "/api/v2/alerts"
    }

    func requests(_ alerts: Alerts) -> [HTTPRequest] {
        stride(from: 0, to: alerts.count, by: config.maxAlertsPerRequest).map { start in
            let end = min(alerts.count, start + config.maxAlertsPerRequest)
            var w = JSONWriter()
            w.beginArray()
            for i in start..<end { alert(alerts[i], &w) }
            w.endArray()
            return HTTPRequest(url: url, headers: config.headers, body: w.bytes, alerts: Array(start..<end))
        }
    }

    private func alert(_ alert: Alert, _ w: inout JSONWriter) {
        let keyFields = alert.keyFields
        w.beginObject()
        w.key("labels"); w.beginObject()
        w.field("alertname", config.alertName.render(alert))
        w.field("namespace", alert.namespace)
        w.field("pipeline", alert.pipeline)
        w.field("stage", alert.stage)
        var labelled = Set(["alertname", "namespace", "pipeline", "stage"])
        for k in keyFields {
            let name = AlertmanagerFormat.labelName(k)
            guard let v = alert.value(k), labelled.insert(name).inserted else { continue }
            w.field(name, v)
        }
        if keyFields.isEmpty { w.field("key", alert.key) }
        w.endObject()
        w.key("annotations"); w.beginObject()
        w.field("summary", config.titleText(alert))
        if !config.textIsPayload { w.field("description", config.text.render(alert)) }
        var annotated = Set(["summary", "description", "count"])
        for (k, v) in alert.payload where !keyFields.contains(k) {
            let name = AlertmanagerFormat.labelName(k)
            if annotated.insert(name).inserted { w.field(name, v) }
        }
        w.field("count", String(alert.count))
        w.endObject()
        w.field("startsAt", alert.timestamp)
        // From now, not from the alert's time: an alert replayed after an outage must not
        // reach Alertmanager already resolved.
        w.field("endsAt", Alert.iso8601(max(alert.timestampMs, Clock.nowMs()) + Int64(config.resolveAfterMs)))
        if !config.generatorURL.isEmpty { w.field("generatorURL", config.generatorURL) }
        w.endObject()
    }

    /// A Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*, other characters become '_'.
    static func labelName(_ s: String) -> String {
        var out = String(s.unicodeScalars.map { c -> Character in
            c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_") ? Character(c) : "_"
        })
        if out.first.map({ $0.isNumber }) ?? true { out = "_" + out }
        return out
    }
}
