import SluicePluginSDK

/// `slack`: an incoming webhook message (api.slack.com/messaging/webhooks): `text` (the
/// notification and fallback) and `blocks`: a header, one section per alert (its title in
/// bold, its text; at most 3,000 characters), and "… and N more" when the call has more
/// alerts than `maxAlertsPerMessage`. At most 50 blocks, so at most 48 alerts are listed;
/// and at most 12,000 characters of text in all the blocks, as Slack refuses a message
/// whose blocks are too long in total (`msg_blocks_too_long`, past about 13,000): long
/// sections share that room, and when each would get less than 500 characters fewer
/// alerts are listed. Slack counts characters as Unicode code points, and so do the cuts
/// here, after escaping and never inside an escape (`&amp;`).
/// One message per publish call; Slack allows about one per second per webhook.
///
/// Alerts with a life (ABI 1.5): a resolved alert's section (and the header, when it is
/// alone) reads "Resolved: <title>", then "Fired for 42m, 06:00 → 06:42 UTC"; a renotified
/// one "Still firing: <title>", then "Still firing since 06:00 UTC (42m)"; several kinds
/// in one message are counted in the header ("4 alerts from …: 1 firing, 2 resolved, 1
/// still firing"); "refresh" is never handed to this format (nothing to say).
struct SlackFormat: AlertFormat {
    static let name = "slack"
    static let defaultRate = "1/s"
    static let maxBlocks = 50
    static let maxSectionText = 3_000
    static let maxHeaderText = 150
    /// All the blocks' text together.
    static let maxBlocksText = 12_000
    /// The least a listed alert's section is cut to before fewer alerts are listed.
    static let minSectionText = 500
    let config: WebhookConfig

    init(_ config: WebhookConfig) throws {
        guard !config.url.isEmpty else { throw PluginError.error("format slack needs 'url' (the incoming webhook URL)") }
        self.config = config
    }

    func requests(_ alerts: [Alert]) -> [HTTPRequest] {
        guard !alerts.isEmpty else { return [] }
        let heading = config.heading(alerts)
        let header = heading.truncated(to: SlackFormat.maxHeaderText)
        var sections = alerts.prefix(min(config.maxAlertsPerMessage, SlackFormat.maxBlocks - 2)).map(section)
        // The room left by the header and "… and N more".
        let room = SlackFormat.maxBlocksText - header.unicodeScalars.count - 50
        var limits = SlackFormat.shares(sections.map { $0.unicodeScalars.count }, room: room)
        while sections.count > 1,
              zip(sections, limits).contains(where: { $1 < min($0.unicodeScalars.count, SlackFormat.minSectionText) }) {
            sections.removeLast()
            limits = SlackFormat.shares(sections.map { $0.unicodeScalars.count }, room: room)
        }
        let listing = Listing(alerts, upTo: sections.count)
        var w = JSONWriter()
        w.beginObject()
        w.field("text", heading.slackEscaped.truncated(to: SlackFormat.maxSectionText, escapes: true))
        w.key("blocks")
        w.beginArray()
        w.beginObject()
        w.field("type", "header")
        w.key("text")
        w.beginObject(); w.field("type", "plain_text"); w.field("text", header); w.endObject()
        w.endObject()
        for (section, limit) in zip(sections, limits) {
            w.beginObject()
            w.field("type", "section")
            w.key("text")
            w.beginObject(); w.field("type", "mrkdwn"); w.field("text", section.truncated(to: limit, escapes: true)); w.endObject()
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

    /// One alert's section, escaped; its parts first cut to what a section can show (escaping
    /// only lengthens), so a 1 MB value costs no more than a short one.
    func section(_ alert: Alert) -> String {
        let most = SlackFormat.maxSectionText
        let line = config.lifeLine(alert).slackEscaped
        var section: String
        if line.isEmpty {
            section = "*\(config.titleText(alert).truncated(to: most).slackEscaped)*"
        } else {
            // The line on its life says what matters ("Fired for 42m, …"): the title leaves
            // it room in the least a section is cut to.
            let room = SlackFormat.minSectionText - line.unicodeScalars.count - 3
            section = "*\(config.lifeTitle(alert).truncated(to: most).slackEscaped.truncated(to: room, escapes: true))*\n" + line
        }
        let text = config.text.render(alert)
        if !text.isEmpty { section += "\n" + text.truncated(to: most).slackEscaped }
        if alert.count > 1 { section += "\n_\(alert.count) raw alerts_" }
        return section
    }

    /// Each section's room: `room` shared out, the shorter sections whole, the rest alike,
    /// none over a section's 3,000.
    static func shares(_ lengths: [Int], room: Int) -> [Int] {
        var out = [Int](repeating: 0, count: lengths.count)
        var remaining = max(0, room)
        var left = lengths.count
        for i in lengths.indices.sorted(by: { lengths[$0] < lengths[$1] }) {
            let give = min(lengths[i], maxSectionText, remaining / max(1, left))
            out[i] = give
            remaining -= give
            left -= 1
        }
        return out
    }
}
