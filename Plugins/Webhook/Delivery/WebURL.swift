/// The rules every webhook URL follows, checked when the stage is created (the host checks
/// the same at `validate`, from the widgets file's `url` type) and again before each
/// request: an `http` or `https` URL with a host, and `https` for the known services,
/// whose URLs and keys are secrets that plain http would send in clear text. Messages never
/// quote the URL (it may be a secret).
enum WebURL {
    /// The known services' hosts ("*." for any subdomain): Slack, Teams (connectors and
    /// Workflows), PagerDuty, Datadog (every site). Keep in step with `httpsHosts` in
    /// widgets/Webhook-alertpublisher.json.
    static let httpsHosts = [
        "hooks.slack.com", "*.slack.com", "*.webhook.office.com", "outlook.office.com", "*.logic.azure.com",
        "*.powerplatform.com", "*.powerautomate.com", "events.pagerduty.com", "*.pagerduty.com",
        "*.datadoghq.com", "*.datadoghq.eu", "*.ddog-gov.com",
    ]

    /// Why `url` cannot be used, or nil when it can.
    static func problem(_ url: String) -> String? {
        guard !url.isEmpty else { return "no URL is set" }
        guard url.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value != 127 }) else {
            return "the URL holds a space or a control character"
        }
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://"),
              url[..<colon].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else {
            return "the URL has no scheme: write https://… (without one it would be sent over plain http, any secret in it in clear text)"
        }
        let scheme = url[..<colon].lowercased()
        guard scheme == "http" || scheme == "https" else { return "the URL's scheme must be http or https" }
        let host = URLParts.host(url)
        guard !host.isEmpty else { return "the URL has no host" }
        if scheme == "http", let known = httpsHosts.first(where: { matches(host, $0) }) {
            return "the URL must be https for \(known): plain http would send its secret in clear text"
        }
        return nil
    }

    static func matches(_ host: String, _ pattern: String) -> Bool {
        let host = host.hasSuffix(".") ? String(host.dropLast()) : host
        if pattern.hasPrefix("*.") { return host.hasSuffix(pattern.dropFirst(1)) || host == pattern.dropFirst(2) }
        return host == pattern
    }
}
