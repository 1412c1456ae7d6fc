import CCurl

/// The rules every webhook URL follows, checked when the stage is created (the host checks
/// the same at `validate`, from the widgets file's `url` type: `PropertyType.urlProblem`,
/// written step for step like this one, and WebhookURLRuleTests holds both to one table of
/// hostile URLs and the widgets file's `httpsHosts` to the list below) and again before each
/// request: an `http` or `https` URL with a host, and `https` for the known services,
/// whose URLs and keys are secrets that plain http would send in clear text. Messages never
/// quote the URL (it may be a secret).
///
/// The host compared is the host libcurl connects to: a host libcurl would read otherwise
/// than as written is refused — percent-encoded (`hooks%2Eslack.com`), not ASCII
/// (libidn2 maps `hooks．slack．com` to hooks.slack.com), a backslash or a second `@` in
/// the authority, an empty label; upper case and one trailing dot are compared away.
enum WebURL {
    /// The known services' hosts ("*." for any subdomain): Slack, Teams (connectors and
    /// Workflows), PagerDuty, Datadog (every site). The widgets file's `url` and `endpoint`
    /// carry the same list as `httpsHosts` (a test holds them equal).
    static let httpsHosts = [
        "hooks.slack.com", "*.slack.com", "*.webhook.office.com", "outlook.office.com", "*.logic.azure.com",
        "*.powerplatform.com", "*.powerautomate.com", "events.pagerduty.com", "*.pagerduty.com",
        "*.datadoghq.com", "*.datadoghq.eu", "*.ddog-gov.com",
    ]

    /// Why `url` cannot be used, or nil when it can.
    static func problem(_ url: String) -> String? {
        guard !url.isEmpty else { return "no URL is set" }
        switch parse(url) {
        case let .refused(why): return why
        case let .usable(scheme, host):
            // And the host libcurl's own parser reads must be that host: whatever this reading
            // missed, the URL is refused rather than sent somewhere else than checked.
            switch libcurlHost(url) {
            case .none: return "libcurl cannot read the URL"
            case let .some(read?) where normalized(read) != host: return "libcurl reads the URL's host otherwise than it is written"
            default: break
            }
            if scheme == "http", let known = httpsHosts.first(where: { matches(host, $0) }) {
                return "the URL must be https for \(known): plain http would send its secret in clear text"
            }
            return nil
        }
    }

    /// The URL's host as libcurl connects to it (lower case, no trailing dot), or "" when the
    /// URL is no usable one.
    static func host(_ url: String) -> String {
        if case let .usable(_, host) = parse(url) { return host }
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

    /// A host as compared: lower case, without one trailing dot.
    private static func normalized(_ host: String) -> String {
        let lower = host.lowercased()
        return lower.hasSuffix(".") ? String(lower.dropLast()) : lower
    }

    /// A URL read: its scheme (lower case) and host, or why it is no usable web URL.
    private enum Parsed {
        case usable(scheme: String, host: String)
        case refused(String)
    }

    private static func parse(_ url: String) -> Parsed {
        guard url.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value != 127 }) else {
            return .refused("the URL holds a space or a control character")
        }
        guard let colon = url.firstIndex(of: ":"), colon != url.startIndex, url[colon...].hasPrefix("://"),
              url[..<colon].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else {
            return .refused("the URL has no scheme: write https://… (without one it would be sent over plain http, any secret in it in clear text)")
        }
        let scheme = url[..<colon].lowercased()
        guard scheme == "http" || scheme == "https" else { return .refused("the URL's scheme must be http or https") }
        var authority = url[url.index(colon, offsetBy: 3)...]
        if let end = authority.firstIndex(where: { "/?#".contains($0) }) { authority = authority[..<end] }
        guard !authority.contains("\\") else { return .refused("the URL's host part holds a backslash") }
        let at = authority.split(separator: "@", omittingEmptySubsequences: false)
        guard at.count <= 2 else { return .refused("the URL's host part holds more than one @") }
        var host = at[at.count - 1]
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return .refused("the URL's IPv6 address has no closing ]") }
            let port = host[host.index(after: close)...]
            guard port.isEmpty || (port.hasPrefix(":") && port.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber })),
                  host[host.index(after: host.startIndex)..<close].allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                return .refused("the URL's IPv6 address or port is malformed")
            }
            host = host[...close]
        } else if let port = host.lastIndex(of: ":") {
            guard host[host.index(after: port)...].allSatisfy({ $0.isASCII && $0.isNumber }) else { return .refused("the URL's port is not a number") }
            host = host[..<port]
        }
        guard !host.isEmpty else { return .refused("the URL has no host") }
        guard !host.contains("%") else { return .refused("the URL's host is percent-encoded: write it plainly") }
        guard host.unicodeScalars.allSatisfy({ $0.isASCII }) else {
            return .refused("the URL's host is not ASCII: write an international name in its xn-- form")
        }
        guard host.hasPrefix("[") || host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }) else {
            return .refused("the URL's host holds a character no host name has")
        }
        let name = normalized(String(host))
        guard !name.isEmpty, !name.hasPrefix("."), !name.hasSuffix("."), !name.contains("..") else { return .refused("the URL's host has an empty label") }
        return .usable(scheme: scheme, host: name)
    }

    static func matches(_ host: String, _ pattern: String) -> Bool {
        if pattern.hasPrefix("*.") { return host.hasSuffix(pattern.dropFirst(1)) || host == pattern.dropFirst(2) }
        return host == pattern
    }
}
