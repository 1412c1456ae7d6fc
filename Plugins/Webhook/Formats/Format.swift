import SluicePluginSDK

/// Turns the alerts of one publish call into the HTTP requests of one service, following
/// that service's documented request shape and limits. Every alert is carried by at least
/// one request; an alert is delivered when every request carrying it succeeded.
protocol AlertFormat {
    /// The name used in messages and for `format`.
    static var name: String { get }
    /// The service's documented rate limit, used when `rateLimit` is not set.
    static var defaultRate: String { get }
    init(_ config: WebhookConfig) throws
    func requests(_ alerts: Alerts) -> [HTTPRequest]
}

/// What the human formats (Slack, Teams) put in one message: the first alerts, each with
/// its title and text, and how many more the message stands for ("… and 12 more").
struct Listing {
    let shown: [Alert]
    let more: Int

    init(_ alerts: Alerts, upTo n: Int) {
        shown = Array(alerts.prefix(max(1, n)))
        more = alerts.count - shown.count
    }

    var moreText: String { "… and \(more) more alert\(more == 1 ? "" : "s")" }
}

extension WebhookConfig {
    /// The message's heading: the alert's title when it is alone, else how many there are.
    func heading(_ alerts: Alerts) -> String {
        guard let first = alerts.first else { return "" }
        return alerts.count == 1 ? titleText(first) : "\(alerts.count) alerts from \(first.namespace)/\(first.pipeline)"
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
