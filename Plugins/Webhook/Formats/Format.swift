import SluicePluginSDK

/// Turns the alerts of one publish call into the HTTP requests of one service, following
/// that service's documented request shape and limits. Every alert is carried by at least
/// one request; an alert is delivered when every request carrying it succeeded.
protocol AlertFormat {
    /// The name used in messages and for `format`.
    static var name: String { get }
    /// The service's documented rate limit, used when `rateLimit` is not set.
    static var defaultRate: String { get }
    /// Whether the service needs "refresh" notifications (ABI 1.5: still firing, nothing
    /// new) to keep an alert alive — Alertmanager forgets one whose `endsAt` passed. The
    /// others are never handed them: the plugin reports them delivered and sends nothing.
    static var sendsRefreshes: Bool { get }
    init(_ config: WebhookConfig) throws
    func requests(_ alerts: [Alert]) -> [HTTPRequest]
    /// Warnings for the stage's log since the last call (each said once per stage).
    func takeNotes() -> [String]
}

extension AlertFormat {
    static var sendsRefreshes: Bool { false }
    func takeNotes() -> [String] { [] }
}

/// What the human formats (Slack, Teams) put in one message: the first alerts, each with
/// its title and text, and how many more the message stands for ("… and 12 more").
struct Listing {
    let shown: [Alert]
    let more: Int

    init(_ alerts: [Alert], upTo n: Int) {
        shown = Array(alerts.prefix(max(1, n)))
        more = alerts.count - shown.count
    }

    var moreText: String { "… and \(more) more alert\(more == 1 ? "" : "s")" }
}

extension WebhookConfig {
    /// The message's heading: the alert's title when it is alone (as `lifeTitle` says it),
    /// else how many there are, and of which kind when some are notifications of an
    /// alert's life: "Resolved: 3 alerts from retail/store-quality", "4 alerts from
    /// retail/store-quality: 1 firing, 2 resolved, 1 still firing".
    func heading(_ alerts: [Alert]) -> String {
        guard let first = alerts.first else { return "" }
        if alerts.count == 1 { return lifeTitle(first) }
        let all = "\(alerts.count) alerts from \(first.namespace)/\(first.pipeline)"
        let resolved = alerts.filter(\.isResolved).count, still = alerts.filter(\.isRenotify).count
        let firing = alerts.count - resolved - still
        if resolved == alerts.count { return "Resolved: " + all }
        if still == alerts.count { return "Still firing: " + all }
        if resolved == 0 && still == 0 { return all }
        let kinds = [(firing, "firing"), (resolved, "resolved"), (still, "still firing")].filter { $0.0 > 0 }
        return all + ": " + kinds.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
    }

    /// The alert's title as people should read it: "Resolved: …" when its incident is
    /// over, "Still firing: …" when renotified, else as it is.
    func lifeTitle(_ alert: Alert) -> String {
        let title = titleText(alert)
        if alert.isResolved { return "Resolved: " + title }
        if alert.isRenotify { return "Still firing: " + title }
        return title
    }

    /// A line on the alert's life: "Fired for 42m, 06:00 → 06:42 UTC" (resolved), "Still
    /// firing since 06:00 UTC (42m)" (renotified, as of the notification's time); empty for
    /// a first firing and a plain alert.
    func lifeLine(_ alert: Alert) -> String {
        if alert.isResolved { return "F" + alert.firedFor.dropFirst() }
        if alert.isRenotify { return "Still firing " + alert.firingSince(nowMs: alert.timestampMs) }
        return ""
    }

    /// The alert's title; the default one when the template renders nothing but spaces (a
    /// payload field the alert lacks): Slack, Datadog and PagerDuty refuse an empty title.
    func titleText(_ alert: Alert) -> String {
        let text = title.render(alert)
        return text.allSatisfy(\.isWhitespace) ? "\(alert.stage) alert in \(alert.namespace)/\(alert.pipeline)" : text
    }

    /// PagerDuty's `payload.source`, which it requires: the default when it renders blank.
    func sourceText(_ alert: Alert) -> String {
        let text = source.render(alert)
        return text.allSatisfy(\.isWhitespace) ? "sluice:\(alert.namespace)/\(alert.pipeline)" : text
    }
}

/// The formats by name.
enum Formats {
    static var all: [any AlertFormat.Type] { [
        JSONArrayFormat.self, SlackFormat.self, TeamsFormat.self, TeamsMessageCardFormat.self,
        DatadogFormat.self, PagerDutyFormat.self, AlertmanagerFormat.self,
    ] }

    static func named(_ name: String) -> (any AlertFormat.Type)? { all.first { $0.name == name } }

    /// `format: auto`: PagerDuty when a routing key is set, Datadog when an API key is,
    /// otherwise by the URL: a Slack incoming webhook, a Teams Workflows (Power Automate)
    /// or Office 365 connector URL, an Alertmanager alerts API; anything else gets `json`.
    static func detect(url: String, apiKey: String, routingKey: String) -> any AlertFormat.Type {
        if !routingKey.isEmpty { return PagerDutyFormat.self }
        if !apiKey.isEmpty { return DatadogFormat.self }
        let host = URLParts.host(url)
        if host == "hooks.slack.com" || host.hasSuffix(".slack.com") { return SlackFormat.self }
        if host.hasSuffix(".webhook.office.com") || host == "outlook.office.com" { return TeamsMessageCardFormat.self }
        if host.hasSuffix(".logic.azure.com") || host.hasSuffix(".powerplatform.com") || host.hasSuffix(".powerautomate.com") {
            return TeamsFormat.self
        }
        if URLParts.path(url).hasSuffix("/api/v2/alerts") { return AlertmanagerFormat.self }
        return JSONArrayFormat.self
    }
}

/// The host and path of a URL, without a URL parser that might print it.
enum URLParts {
    /// What follows "scheme://".
    private static func afterScheme(_ url: String) -> Substring? {
        var rest = Substring(url)
        while !rest.isEmpty {
            if rest.hasPrefix("://") { return rest.dropFirst(3) }
            rest = rest.dropFirst()
        }
        return nil
    }

    /// The host libcurl connects to (lower case), "" for no usable URL: `WebURL`'s reading.
    static func host(_ url: String) -> String { WebURL.host(url) }

    static func path(_ url: String) -> String {
        guard let rest = afterScheme(url) else { return "" }
        guard let slash = rest.firstIndex(of: "/") else { return "" }
        var path = rest[slash...]
        if let q = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<q] }
        return String(path.hasSuffix("/") ? path.dropLast() : path)
    }
}
