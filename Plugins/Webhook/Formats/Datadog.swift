import SluicePluginSDK

/// `datadog`: Datadog's Events API v1, `POST https://api.<site>/api/v1/events` with the
/// `DD-API-KEY` header, one event per alert, sent concurrently: `title` (at most 100
/// characters), `text` (at most 4,000; Datadog's characters are Unicode code points, and
/// so are the cuts here), `tags` (namespace, pipeline, stage and the chosen
/// payload keys), `alert_type`, `aggregation_key` (the alert's key, so Datadog rolls the
/// same store's events up), `source_type_name`, `date_happened`. A longer text is cut with
/// a visible marker (`overflow: truncate`) or sent as several events, "(1/3)", "(2/3)", …
/// (`overflow: paginate`), at most `maxPages` (10) an alert: the last one then ends with
/// a marker saying the rest was cut.
///
/// Alerts with a life (ABI 1.5), all with the key as `aggregation_key`, so Datadog rolls an
/// incident's events up: "firing" as above (`alert_type` by the alert's own severity when
/// it has one); "renotify" titled "Still firing: …", its text opening with "Still firing
/// since 06:00 UTC (42m)"; "resolved" an `alert_type: success` event titled "Resolved: …",
/// its text opening with "Fired for 42m, 06:00 → 06:42 UTC", dated when it ended;
/// "refresh" is never handed to this format (nothing to say).
struct DatadogFormat: AlertFormat {
    static let name = "datadog"
    static let defaultRate = "0"
    static let maxTitle = 100
    static let maxText = 4_000
    static let maxAggregationKey = 100
    static let truncationMarker = "\n… [truncated]"
    /// `overflow: paginate` sends at most this many events an alert (40,000 code points).
    static let maxPages = 10
    static let pagesMarker = "\n… [truncated: the rest did not fit in \(maxPages) events]"
    let config: WebhookConfig
    let url: String

    init(_ config: WebhookConfig) throws {
        guard !config.apiKey.isEmpty else { throw PluginError.error("format datadog needs 'apiKey' (a Datadog API key, e.g. ${env:DD_API_KEY})") }
        self.config = config
        url = config.endpoint.isEmpty ? "https://api.\(config.site)/api/v1/events" : config.endpoint
    }

    func requests(_ alerts: [Alert]) -> [HTTPRequest] {
        var out: [HTTPRequest] = []
        for (i, alert) in alerts.enumerated() {
            let title = config.lifeTitle(alert)
            let line = config.lifeLine(alert)
            let rendered = config.text.render(alert)
            let text = line.isEmpty ? rendered : rendered.isEmpty ? line : line + "\n\n" + rendered
            let pages = config.paginate ? DatadogFormat.pages(text) : [text.truncated(to: DatadogFormat.maxText, marker: DatadogFormat.truncationMarker)]
            for (p, page) in pages.enumerated() {
                let suffix = pages.count > 1 ? " (\(p + 1)/\(pages.count))" : ""
                var w = JSONWriter()
                w.beginObject()
                w.field("title", title.truncated(to: DatadogFormat.maxTitle - suffix.unicodeScalars.count) + suffix)
                w.field("text", page)
                w.key("tags"); w.beginArray()
                for tag in tags(alert) { w.string(tag) }
                w.endArray()
                w.field("alert_type", alert.isResolved ? "success" : config.datadogAlertType(alert))
                w.field("aggregation_key", alert.key.truncated(to: DatadogFormat.maxAggregationKey, marker: ""))
                w.field("source_type_name", config.sourceType)
                // Datadog takes events up to 18 hours old: one replayed after a longer outage
                // is dated as late as it accepts rather than refused.
                // A resolve happened when the incident ended.
                let happened = alert.isResolved && alert.endsAtMs > 0 ? alert.endsAtMs : alert.timestampMs
                w.field("date_happened", max(happened, Clock.nowMs() - 17 * 3_600_000) / 1000)
                w.field("priority", "normal")
                w.endObject()
                out.append(HTTPRequest(url: url, headers: config.headers + ["DD-API-KEY: \(config.apiKey)"], body: w.bytes, alerts: [i]))
            }
        }
        return out
    }

    /// namespace, pipeline, stage, then `name:value` for the tag keys (default: the key
    /// fields); each at most 200 characters, as Datadog keeps them.
    func tags(_ alert: Alert) -> [String] {
        var tags = ["namespace:\(alert.namespace)", "pipeline:\(alert.pipeline)", "stage:\(alert.stage)"]
        for k in config.tagKeys.isEmpty ? alert.keyFields : config.tagKeys {
            if let v = alert.value(k) { tags.append("\(k):\(v)") }
        }
        return tags.map { $0.truncated(to: 200, marker: "") }
    }

    /// The text in pieces of at most 4,000 code points, cut at line ends where possible,
    /// else between characters (between code points only inside one longer character); at
    /// most `maxPages`, the last one then cut to end with `pagesMarker`.
    static func pages(_ text: String) -> [String] {
        var pages: [String] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            if pages.count == maxPages {
                let last = pages[maxPages - 1]
                let room = maxText - pagesMarker.unicodeScalars.count
                pages[maxPages - 1] = (last.unicodeScalars.count > room ? last.truncated(to: room, marker: "") : last) + pagesMarker
                break
            }
            var used = 0
            var i = rest.startIndex
            var afterNewline: Substring.Index?
            while i < rest.endIndex {
                let next = rest.index(after: i)
                let n = rest[i..<next].unicodeScalars.count
                if used + n > maxText { break }
                used += n
                if rest[i] == "\n" && used > maxText / 2 { afterNewline = next }
                i = next
            }
            if i == rest.endIndex { pages.append(String(rest)); break }
            var cut = afterNewline ?? i
            if cut == rest.startIndex { cut = rest.unicodeScalars.index(rest.startIndex, offsetBy: maxText) }
            pages.append(String(rest[..<cut]))
            rest = rest[cut...]
        }
        return pages
    }
}
