import SluicePluginSDK

/// `slack`: an incoming webhook message (api.slack.com/messaging/webhooks): `text` (the
/// notification and fallback) and `blocks`: a header, one section per alert (its title in
/// bold, its text; at most 3,000 characters), and "… and N more" when the call has more
/// alerts than `maxAlertsPerMessage`. At most 50 blocks, so at most 48 alerts are listed.
/// Slack counts characters as Unicode code points, and so do the cuts here, after escaping
/// and never inside an escape (`&amp;`).
/// One message per publish call; Slack allows about one per second per webhook.
struct SlackFormat: AlertFormat {
    static let name = "slack"
    static let defaultRate = "1/s"
    static let maxBlocks = 50
    static let maxSectionText = 3_000
    static let maxHeaderText = 150
    let config: WebhookConfig

    init(_ config: WebhookConfig) throws {
        guard !config.url.isEmpty else { throw PluginError.error("format slack needs 'url' (the incoming webhook URL)") }
        self.config = config
    }

    func requests(_ alerts: Alerts) -> [HTTPRequest] {
        guard !alerts.isEmpty else { return [] }
        let listing = Listing(alerts, upTo: min(config.maxAlertsPerMessage, SlackFormat.maxBlocks - 2))
        let heading = config.heading(alerts)
        var w = JSONWriter()
        w.beginObject()
        w.field("text", heading.slackEscaped.truncated(to: SlackFormat.maxSectionText, escapes: true))
        w.key("blocks")
        w.beginArray()
        w.beginObject()
        w.field("type", "header")
        w.key("text")
        w.beginObject(); w.field("type", "plain_text"); w.field("text", heading.truncated(to: SlackFormat.maxHeaderText)); w.endObject()
        w.endObject()
        for alert in listing.shown {
            var section = "*\(config.title.render(alert).slackEscaped)*"
            let text = config.text.render(alert)
            if !text.isEmpty { section += "\n" + text.slackEscaped }
            if alert.count > 1 { section += "\n_\(alert.count) raw alerts_" }
            w.beginObject()
            w.field("type", "section")
            w.key("text")
            w.beginObject(); w.field("type", "mrkdwn"); w.field("text", section.truncated(to: SlackFormat.maxSectionText, escapes: true)); w.endObject()
            w.endObject()
        }
        if listing.more > 0 {
            w.beginObject()
            w.field("type", "context")
            w.key("elements")
            w.beginArray()
            w.beginObject(); w.field("type", "mrkdwn"); w.field("text", listing.moreText); w.endObject()
            w.endArray()
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return [HTTPRequest(url: config.url, headers: config.headers, body: w.bytes, alerts: Array(0..<alerts.count))]
    }
}
