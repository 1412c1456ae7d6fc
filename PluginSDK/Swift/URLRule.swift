/// The rule an http(s) URL follows before anything is sent to it: the host checks it at
/// `validate` for every property of widgets type `url`, and a plugin that sends to URLs
/// checks it again when a stage is created (a value from `${env:…}` may differ at run time).
/// One rule for both, so they cannot drift apart.
///
/// A usable URL has the scheme `http` or `https` (without one a client would guess plain
/// http), a host, and no space or control character. The host read is the one libcurl
/// connects to: a host libcurl would read otherwise than it is written is refused —
/// percent-encoded (`hooks%2Eslack.com`), not ASCII (libidn2 maps `hooks．slack．com` to
/// hooks.slack.com), a backslash or a second `@` in the authority, an empty label; upper
/// case and one trailing dot are compared away. Plain `http` to one of `httpsHosts` (the
/// hosts whose URLs carry secrets; `*.` for any subdomain) is refused too. Messages never
/// quote the URL: it may be a secret.
public enum URLRule {
    /// A URL as read: its scheme (lower case) and host (lower case, no trailing dot), or
    /// why it is no usable web URL ("it has no host", …).
    public enum Reading: Equatable, Sendable {
        case usable(scheme: String, host: String)
        case refused(String)
    }

    /// Why `url` cannot be used, or nil when it can.
    public static func problem(_ url: String, httpsHosts: [String]) -> String? {
        switch read(url) {
        case let .refused(why): return why
        case let .usable(scheme, host):
            if scheme == "http", let known = httpsHosts.first(where: { matches(host, $0) }) {
                return "it must be https for \(known) (plain http would send its secret in clear text)"
            }
            return nil
        }
    }

    /// Whether `host` (as read) is `pattern`, or a subdomain of it for `*.name`.
    public static func matches(_ host: String, _ pattern: String) -> Bool {
        if pattern.hasPrefix("*.") { return host.hasSuffix(pattern.dropFirst(1)) || host == pattern.dropFirst(2) }
        return host == pattern
    }

    /// A host as compared: lower case, without one trailing dot.
    public static func normalized(_ host: String) -> String {
        let lower = host.lowercased()
        return lower.hasSuffix(".") ? String(lower.dropLast()) : lower
    }

    public static func read(_ url: String) -> Reading {
        guard url.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value != 127 }) else {
            return .refused("it holds a space or a control character")
        }
        guard let colon = url.firstIndex(of: ":"), colon != url.startIndex, url[colon...].hasPrefix("://"),
              url[..<colon].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else {
            return .refused("it has no scheme (write https://…; without one it would go over plain http, any secret in it in clear text)")
        }
        let scheme = url[..<colon].lowercased()
        guard scheme == "http" || scheme == "https" else { return .refused("its scheme is \(scheme)") }
        var authority = url[url.index(colon, offsetBy: 3)...]
        if let end = authority.firstIndex(where: { "/?#".contains($0) }) { authority = authority[..<end] }
        guard !authority.contains("\\") else { return .refused("its host part holds a backslash") }
        let at = authority.split(separator: "@", omittingEmptySubsequences: false)
        guard at.count <= 2 else { return .refused("its host part holds more than one @") }
        var host = at[at.count - 1]
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return .refused("its IPv6 address has no closing ]") }
            let port = host[host.index(after: close)...]
            guard port.isEmpty || (port.hasPrefix(":") && port.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber })),
                  host[host.index(after: host.startIndex)..<close].allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                return .refused("its IPv6 address or port is malformed")
            }
            host = host[...close]
        } else if let port = host.lastIndex(of: ":") {
            guard host[host.index(after: port)...].allSatisfy({ $0.isASCII && $0.isNumber }) else { return .refused("its port is not a number") }
            host = host[..<port]
        }
        guard !host.isEmpty else { return .refused("it has no host") }
        guard !host.contains("%") else { return .refused("its host is percent-encoded: write it plainly") }
        guard host.unicodeScalars.allSatisfy({ $0.isASCII }) else {
            return .refused("its host is not ASCII: write an international name in its xn-- form")
        }
        guard host.hasPrefix("[") || host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }) else {
            return .refused("its host holds a character no host name has")
        }
        let name = normalized(String(host))
        guard !name.isEmpty, !name.hasPrefix("."), !name.hasSuffix("."), !name.contains("..") else { return .refused("its host has an empty label") }
        return .usable(scheme: scheme, host: name)
    }
}
