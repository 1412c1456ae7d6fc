import CCurl
import SluicePluginSDK

/// The webhook URLs: the SDK's `URLRule` (the same rule the host checks at `validate` for
/// the widgets file's `url` type), with the known services' hosts below as its
/// `httpsHosts`, checked when the stage is created and again before each request; and the
/// host libcurl's own URL parser reads must be the host the rule read.
enum WebURL {
    /// The known services' hosts ("*." for any subdomain): Slack, Teams (connectors and
    /// Workflows), PagerDuty, Datadog (every site). The widgets file's `url` and `endpoint`
    /// carry the same list as `httpsHosts` (a test holds them equal).
    static let httpsHosts = [
        "hooks.slack.com", "*.slack.com", "*.webhook.office.com", "outlook.office.com", "*.logic.azure.com",
        "*.powerplatform.com", "*.powerautomate.com", "events.pagerduty.com", "*.pagerduty.com",
        "*.datadoghq.com", "*.datadoghq.eu", "*.ddog-gov.com",
    ]

    /// Why `url` cannot be used ("it has no scheme …"), or nil when it can.
    static func problem(_ url: String) -> String? {
        guard !url.isEmpty else { return "no URL is set" }
        if let why = URLRule.problem(url, httpsHosts: httpsHosts) { return why }
        guard case let .usable(_, host) = URLRule.read(url) else { return nil }
        // Whatever the rule's reading missed, a URL whose host libcurl reads otherwise is
        // refused rather than sent somewhere else than checked.
        switch libcurlHost(url) {
        case .none: return "libcurl cannot read it"
        case let .some(read?) where URLRule.normalized(read) != host: return "libcurl reads its host otherwise than it is written"
        default: return nil
        }
    }

    /// The URL's host as libcurl connects to it (lower case, no trailing dot), or "" when the
    /// URL is no usable one.
    static func host(_ url: String) -> String {
        if case let .usable(_, host) = URLRule.read(url) { return host }
        return ""
    }

    /// The host libcurl's URL parser reads in `url`; nil when it refuses the URL; .some(nil)
    /// when libcurl cannot be loaded (creating the stage then fails, saying why).
    private static func libcurlHost(_ url: String) -> String?? {
        var why = [CChar](repeating: 0, count: 256)
        guard sluice_curl_load(&why, why.count) == 0 else { return .some(nil) }
        var host = [CChar](repeating: 0, count: 1024)
        guard sluice_curl_url_host(url, &host, host.count) == 0 else { return nil }
        return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
