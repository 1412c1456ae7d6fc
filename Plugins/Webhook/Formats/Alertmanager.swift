#if canImport(Glibc)
import Glibc
#endif
import SluicePluginSDK

/// `alertmanager`: Prometheus Alertmanager's API, `POST <url>/api/v2/alerts`, the alerts as
/// one array (at most `maxAlertsPerRequest` per request).
///
/// Labels, which Alertmanager groups and deduplicates on (the same label set is the same
/// alert): `alertname`, `namespace`, `pipeline`, `stage`, the key fields (the stage's
/// groupBy or alerts.key fields; without any, a `key` label carrying the alert's key),
/// `severity` when the alert has one (ABI 1.5; else the `labels` property's, if it sets
/// one), and the `labels` property's. Annotations: `summary` (the title), `description` (the
/// text, when set), the rest of the payload, the `annotations` property's, `count`.
///
/// Times. A plain alert: `startsAt` is its time, `endsAt` `resolveAfterMs` after it is
/// sent (so one replayed after an outage arrives active). An alert with a life (ABI 1.5):
/// firing, renotified or refreshed, `startsAt` is when its incident began and `endsAt`
/// `resolveAfterMs` from now — the host sends "refresh" notifications well before that
/// passes, as Alertmanager clients must; resolved, the same labels with `endsAt` = when it
/// ended, in the past, so Alertmanager resolves it (and sends its resolved notification).
///
/// Payload keys that cannot be sent as they are — not a label name (renamed: `store-id`
/// becomes `store_id`), or taken by a label or annotation Sluice or the properties set —
/// are logged once per key by the stage; a key field that cannot be a label is sent as an
/// annotation, and the `key` label then keeps alerts of different keys apart.
struct AlertmanagerFormat: AlertFormat {
    static let name = "alertmanager"
    static let defaultRate = "0"
    static let sendsRefreshes = true
    /// Labels Sluice sets, which `labels` may not.
    static let sluiceLabels = ["alertname", "namespace", "pipeline", "stage", "key"]
    /// Annotations Sluice sets, which `annotations` may not.
    static let sluiceAnnotations = ["summary", "description", "count"]
    let config: WebhookConfig
    let url: String
    /// What was already said about payload keys, and what is still to be logged.
    let notes = Notes()

    init(_ config: WebhookConfig) throws {
        guard !config.url.isEmpty else { throw PluginError.error("format alertmanager needs 'url' (e.g. http://alertmanager:9093)") }
        self.config = config
        let base = config.url.hasSuffix("/") ? String(config.url.dropLast()) : config.url
        url = URLParts.path(base).hasSuffix("/api/v2/alerts") ? base : base + "/api/v2/alerts"
    }

    func requests(_ alerts: [Alert]) -> [HTTPRequest] {
        stride(from: 0, to: alerts.count, by: config.maxAlertsPerRequest).map { start in
            let end = min(alerts.count, start + config.maxAlertsPerRequest)
            var w = JSONWriter()
            w.beginArray()
            for i in start..<end { alert(alerts[i], &w) }
            w.endArray()
            return HTTPRequest(url: url, headers: config.headers, body: w.bytes, alerts: Array(start..<end))
        }
    }

    func takeNotes() -> [String] { notes.take() }

    private func alert(_ alert: Alert, _ w: inout JSONWriter) {
        let keyFields = alert.keyFields
        let staticLabels = config.labels.map(\.name)
        var labels: [(String, String)] = [("alertname", config.alertName.render(alert)), ("namespace", alert.namespace),
                                          ("pipeline", alert.pipeline), ("stage", alert.stage)]
        // Names no payload key may take: Sluice's labels, severity, the static ones.
        var taken = Set(AlertmanagerFormat.sluiceLabels + ["severity"] + staticLabels)
        var unlabelled: Set<String> = []
        for k in keyFields {
            guard let v = alert.value(k) else { continue }
            let name = AlertmanagerFormat.labelName(k)
            if taken.insert(name).inserted {
                if name != k { notes.once("label " + k, "payload key '\(k)' is not an Alertmanager label name: sent as label '\(name)'") }
                labels.append((name, v))
            } else {
                unlabelled.insert(k)
                notes.once("label " + k, "payload key '\(k)' (a key field) cannot be label '\(name)', which "
                    + "\(AlertmanagerFormat.owner(name, staticNames: staticLabels, label: true)) sets: sent as an annotation, with the 'key' label keeping alerts of different keys apart")
            }
        }
        let severity = alert.severity
        for (name, template) in config.labels where !(name == "severity" && !severity.isEmpty) {
            labels.append((name, template.render(alert)))
            if !keyFields.isEmpty {
                for field in template.payloadNames where !keyFields.contains(field) {
                    notes.once("template \(name) \(field)", "labels.\(name) reads {payload.\(field)}, not a key field of stage '\(alert.stage)' (\(keyFields.joined(separator: ", "))): "
                        + "when its value changes, Alertmanager takes the alert for a new one and the first is never resolved; put it in annotations")
                }
            }
        }
        if !severity.isEmpty { labels.append(("severity", severity)) }
        if keyFields.isEmpty || !unlabelled.isEmpty { labels.append(("key", alert.key)) }

        w.beginObject()
        w.key("labels"); w.beginObject()
        for (k, v) in labels { w.field(k, v) }
        w.endObject()
        w.key("annotations"); w.beginObject()
        w.field("summary", config.titleText(alert))
        if !config.textIsPayload { w.field("description", config.text.render(alert)) }
        let staticAnnotations = config.annotations.map(\.name)
        var annotated = Set(AlertmanagerFormat.sluiceAnnotations + staticAnnotations)
        for (k, v) in alert.payload where !keyFields.contains(k) || unlabelled.contains(k) {
            let name = AlertmanagerFormat.labelName(k)
            if annotated.insert(name).inserted {
                if name != k { notes.once("annotation " + k, "payload key '\(k)' is not an Alertmanager annotation name: sent as annotation '\(name)'") }
                w.field(name, v)
            } else {
                notes.once("annotation " + k, "payload key '\(k)' cannot be annotation '\(name)', which "
                    + "\(AlertmanagerFormat.owner(name, staticNames: staticAnnotations, label: false)) sets: left out")
            }
        }
        for (name, template) in config.annotations { w.field(name, template.render(alert)) }
        w.field("count", String(alert.count))
        w.endObject()
        if alert.hasStatus {
            let starts = alert.startsAtMs > 0 ? alert.startsAtMs : alert.timestampMs
            w.field("startsAt", Alert.iso8601(starts))
            if alert.isResolved {
                // When it ended: in the past, so Alertmanager resolves it now.
                let ends = alert.endsAtMs > 0 ? alert.endsAtMs : alert.timestampMs
                w.field("endsAt", Alert.iso8601(max(ends, starts)))
            } else {
                // Alive for resolveAfterMs more: the host refreshes it before then.
                w.field("endsAt", Alert.iso8601(max(starts, Clock.nowMs()) + Int64(config.resolveAfterMs)))
            }
        } else {
            w.field("startsAt", alert.timestamp)
            // From now, not from the alert's time: an alert replayed after an outage must not
            // reach Alertmanager already resolved.
            w.field("endsAt", Alert.iso8601(max(alert.timestampMs, Clock.nowMs()) + Int64(config.resolveAfterMs)))
        }
        if !config.generatorURL.isEmpty { w.field("generatorURL", config.generatorURL) }
        w.endObject()
    }

    /// Who sets a label or annotation a payload key collides with, for the message.
    static func owner(_ name: String, staticNames: [String], label: Bool) -> String {
        if staticNames.contains(name) { return label ? "the labels property" : "the annotations property" }
        if name == "severity" { return "the alert's severity" }
        if sluiceLabels.contains(name) || sluiceAnnotations.contains(name) { return "Sluice" }
        return "another payload key"
    }

    /// A Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*.
    static func isLabelName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }
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

/// Messages a format has for the stage's log, each said once per stage (per payload key,
/// not per alert): the plugin logs them after the publish call.
final class Notes {
    private var said: Set<String> = []
    private var pending: [String] = []

    /// Keeps `message` to be logged, unless something was already said about `topic`.
    func once(_ topic: String, _ message: String) {
        // Bounded: a payload with a new odd key in every alert stops being reported.
        guard said.count < 1_000, said.insert(topic).inserted else { return }
        pending.append(message)
    }

    func take() -> [String] {
        defer { pending.removeAll() }
        return pending
    }
}
