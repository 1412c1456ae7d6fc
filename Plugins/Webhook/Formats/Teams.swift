import SluicePluginSDK

/// Teams' limit on a message posted to a channel: 28 KB. We stay under 28,000 bytes.
let teamsMaxBytes = 28_000

/// Renders one Teams message listing `shown` alerts, with every text (the heading too) cut
/// to `textLimit` characters and at most `factLimit` facts per alert; the formats below
/// shrink it until it is under 28 KB.
protocol TeamsCard {
    var config: WebhookConfig { get }
    func message(_ alerts: [Alert], shown: Int, textLimit: Int, factLimit: Int) -> [UInt8]
}

extension TeamsCard {
    /// One message per publish call.
    func requests(_ alerts: [Alert]) -> [HTTPRequest] {
        guard !alerts.isEmpty else { return [] }
        let (body, builds) = fitted(alerts)
        // The charset said: without it Teams counts the body as UTF-16, twice its bytes.
        return [HTTPRequest(url: config.url, headers: config.headers, contentType: "application/json; charset=utf-8",
                            body: body, alerts: Array(0..<alerts.count), bodyBuilds: builds)]
    }

    /// One message per publish call, under 28 KB, and how many times it was built: fewer
    /// alerts listed (the rest counted in "… and N more": the most that fit, found by
    /// halving the range, so a few builds for hundreds of alerts), then shorter texts, then
    /// fewer facts, until it fits.
    func fitted(_ alerts: [Alert]) -> (body: [UInt8], builds: Int) {
        var builds = 0
        var textLimit = 4_000, factLimit = 100
        func build(_ shown: Int) -> [UInt8] {
            builds += 1
            return message(alerts, shown: shown, textLimit: textLimit, factLimit: factLimit)
        }
        let most = min(alerts.count, config.maxAlertsPerMessage)
        var body = build(most)
        guard body.count >= teamsMaxBytes else { return (body, builds) }
        // The most alerts that fit: `fits` fit (0: none known yet), `over` do not.
        var fits = 0, fitting: [UInt8] = [], over = most
        while over - fits > 1 {
            let mid = (fits + over) / 2
            let candidate = build(max(mid, 1))
            if candidate.count < teamsMaxBytes { fits = mid; fitting = candidate } else { over = mid }
        }
        if fits >= 1 { return (fitting, builds) }
        body = build(1)
        while body.count >= teamsMaxBytes {
            if textLimit > 50 { textLimit /= 2 } else if factLimit > 0 { factLimit /= 2 } else { break }
            body = build(1)
        }
        return (body, builds)
    }
}

/// `teams`: a Teams Workflows webhook ("Post to a channel when a webhook request is
/// received", Power Automate) carrying an Adaptive Card: a heading, then per alert its
/// title, its text and its payload as facts; "… and N more" past `maxAlertsPerMessage`.
/// Teams allows about four requests a second per webhook.
///
/// Alerts with a life (ABI 1.5): a resolved alert's title reads "Resolved: <title>" in a
/// TextBlock of color Good (green), followed by "Fired for 42m, 06:00 → 06:42 UTC"; a
/// renotified one "Still firing: <title>" (color Warning), then "Still firing since 06:00
/// UTC (42m)"; the heading is green when every alert listed resolved; "refresh" is never
/// handed to this format (nothing to say).
struct TeamsFormat: AlertFormat, TeamsCard {
    static let name = "teams"
    static let defaultRate = "4/s"
    let config: WebhookConfig

    init(_ config: WebhookConfig) throws {
        guard !config.url.isEmpty else { throw PluginError.error("format teams needs 'url' (the Workflows webhook URL)") }
        self.config = config
    }

    func message(_ alerts: [Alert], shown: Int, textLimit: Int, factLimit: Int) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("type", "message")
        w.key("attachments"); w.beginArray(); w.beginObject()
        w.field("contentType", "application/vnd.microsoft.card.adaptive")
        w.key("contentUrl"); w.null()
        w.key("content"); w.beginObject()
        w.field("$schema", "http://adaptivecards.io/schemas/adaptive-card.json")
        w.field("type", "AdaptiveCard")
        w.field("version", "1.4")
        w.key("body"); w.beginArray()
        textBlock(&w, config.heading(alerts).truncated(to: textLimit), size: "Large", bold: true,
                  color: alerts.allSatisfy(\.isResolved) ? "Good" : nil)
        for alert in alerts.prefix(shown) {
            let color = alert.isResolved ? "Good" : alert.isRenotify ? "Warning" : nil
            textBlock(&w, config.lifeTitle(alert).truncated(to: textLimit), bold: true, separator: true, color: color)
            let line = config.lifeLine(alert)
            if !line.isEmpty { textBlock(&w, line.truncated(to: textLimit), color: color) }
            let text = config.text.render(alert)
            if !text.isEmpty && !config.textIsPayload { textBlock(&w, text.truncated(to: textLimit)) }
            w.beginObject()
            w.field("type", "FactSet")
            w.key("facts"); w.beginArray()
            for (k, v) in alert.payload.prefix(factLimit) {
                w.beginObject(); w.field("title", k.truncated(to: textLimit)); w.field("value", v.truncated(to: textLimit)); w.endObject()
            }
            if alert.count > 1 { w.beginObject(); w.field("title", "raw alerts"); w.field("value", String(alert.count)); w.endObject() }
            w.endArray()
            w.endObject()
        }
        if alerts.count > shown { textBlock(&w, "… and \(alerts.count - shown) more alert\(alerts.count - shown == 1 ? "" : "s")", subtle: true) }
        w.endArray()
        w.endObject()
        w.endObject(); w.endArray()
        w.endObject()
        return w.bytes
    }

    private func textBlock(_ w: inout JSONWriter, _ text: String, size: String? = nil, bold: Bool = false,
                           separator: Bool = false, subtle: Bool = false, color: String? = nil) {
        w.beginObject()
        w.field("type", "TextBlock")
        w.field("text", text)
        w.field("wrap", true)
        if let size { w.field("size", size) }
        if bold { w.field("weight", "Bolder") }
        if let color { w.field("color", color) }
        if separator { w.field("separator", true) }
        if subtle { w.field("isSubtle", true) }
        w.endObject()
    }
}

/// `teams-messagecard`: the legacy Office 365 connector card (MessageCard) for incoming
/// webhooks created before Workflows: a title, a summary, and one section per alert with
/// its text and its payload as facts; under 28 KB as above. Alerts with a life: as `teams`
/// (the title "Resolved: …" or "Still firing: …", the line on its life as the section's
/// `activitySubtitle`), the theme green when every alert listed resolved.
struct TeamsMessageCardFormat: AlertFormat, TeamsCard {
    static let name = "teams-messagecard"
    static let defaultRate = "4/s"
    let config: WebhookConfig

    init(_ config: WebhookConfig) throws {
        guard !config.url.isEmpty else { throw PluginError.error("format teams-messagecard needs 'url' (the connector's webhook URL)") }
        self.config = config
    }

    func message(_ alerts: [Alert], shown: Int, textLimit: Int, factLimit: Int) -> [UInt8] {
        let heading = config.heading(alerts).truncated(to: textLimit)
        var w = JSONWriter()
        w.beginObject()
        w.field("@type", "MessageCard")
        w.field("@context", "https://schema.org/extensions")
        w.field("summary", heading.truncated(to: 200))
        w.field("themeColor", alerts.allSatisfy(\.isResolved) ? "2EB886" : "D70000")
        w.field("title", heading)
        if alerts.count > shown { w.field("text", "… and \(alerts.count - shown) more alert\(alerts.count - shown == 1 ? "" : "s")") }
        w.key("sections"); w.beginArray()
        for alert in alerts.prefix(shown) {
            w.beginObject()
            w.field("activityTitle", config.lifeTitle(alert).truncated(to: textLimit))
            let line = config.lifeLine(alert)
            if !line.isEmpty { w.field("activitySubtitle", line.truncated(to: textLimit)) }
            let text = config.text.render(alert)
            if !text.isEmpty && !config.textIsPayload { w.field("text", text.truncated(to: textLimit)) }
            w.key("facts"); w.beginArray()
            for (k, v) in alert.payload.prefix(factLimit) {
                w.beginObject(); w.field("name", k.truncated(to: textLimit)); w.field("value", v.truncated(to: textLimit)); w.endObject()
            }
            if alert.count > 1 { w.beginObject(); w.field("name", "raw alerts"); w.field("value", String(alert.count)); w.endObject() }
            w.endArray()
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.bytes
    }
}
