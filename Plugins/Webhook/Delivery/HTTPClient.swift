#if canImport(Glibc)
import Glibc
#endif
import CCurl

/// One HTTP request a format wants sent, and which alerts of the publish call it carries.
struct HTTPRequest {
    var url: String
    var method = "POST"
    /// "Name: value" lines, besides Content-Type.
    var headers: [String] = []
    var contentType = "application/json"
    var body: [UInt8]
    /// Indices into the publish call's alerts.
    var alerts: [Int]
    /// How many times the body was built to fit the service's size cap (1: it fitted at
    /// once): counted in the stage's `bodies_built`.
    var bodyBuilds = 1
}

/// What became of one request.
enum HTTPResult: Equatable {
    /// A complete reply with a 2xx status: the status line, every header up to the blank
    /// line, and the whole body its Content-Length or chunks announced.
    case delivered(status: Int)
    /// Worth trying again: a 5xx, 408 or 429, a timeout, a refused or dropped connection, a
    /// reply that is not valid HTTP (no status line, a status outside 100–599) or was cut
    /// anywhere (in its headers, its body shorter than announced).
    /// `afterMs`: the service's Retry-After, 0 when it gave none.
    case retry(String, afterMs: Int)
    /// Not worth trying again: another 4xx, a malformed URL.
    case failed(String)
}

/// Sends requests with libcurl: one multi handle per publisher instance, so connections
/// (and HTTP/2 streams, where the server speaks HTTP/2 over TLS) are reused from one batch
/// to the next; up to `maxInFlight` requests at once; connect and total timeouts; at most
/// `rate` requests started per period. Only http and https URLs are followed, redirects
/// are not. Messages never quote the URL (it may be a secret): they name the format.
final class HTTPClient {
    struct Settings {
        var connectTimeoutMs = 5_000
        var timeoutMs = 10_000
        var maxInFlight = 8
        var http2 = true
        /// Trust the CA certificates in this PEM file (a private CA) instead of the system's.
        var caFile = ""
        var rate: RateLimit?
        /// The longest a publish call waits for the rate limit before answering "retry"
        /// for what it could not send.
        var maxRateWaitMs = 10_000
    }

    let settings: Settings
    /// Names the service in messages ("slack", "pagerduty").
    let label: String
    private let multi: UnsafeMutableRawPointer
    private var idle: [UnsafeMutableRawPointer] = []
    private var limiter: RateLimiter?

    init(settings: Settings, label: String) throws {
        var why = [CChar](repeating: 0, count: 512)
        guard sluice_curl_load(&why, why.count) == 0 else {
            throw HTTPClientError(String(decoding: why.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        guard let m = sluice_curl_multi_init() else { throw HTTPClientError("libcurl could not make a multi handle") }
        self.settings = settings
        self.label = label
        multi = m
        _ = sluice_curl_multi_set_long(m, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
        _ = sluice_curl_multi_set_long(m, CURLMOPT_MAX_HOST_CONNECTIONS, max(1, settings.maxInFlight))
        limiter = settings.rate.map(RateLimiter.init)
    }

    deinit {
        for h in idle { sluice_curl_easy_cleanup(h) }
        sluice_curl_multi_cleanup(multi)
    }

    /// One request in flight: what it sends, what came back.
    final class Transfer {
        let index: Int
        let handle: UnsafeMutableRawPointer
        var headers: UnsafeMutablePointer<curl_slist>?
        var response: [UInt8] = []
        var retryAfter: String?
        /// The last response's header block ended with its blank line: a reply cut in its
        /// headers (the connection closed) leaves this false, which libcurl does not report.
        var headersComplete = false
        init(index: Int, handle: UnsafeMutableRawPointer) {
            self.index = index
            self.handle = handle
        }
    }

    /// Sends every request; returns one result per request, in order.
    func send(_ requests: [HTTPRequest]) -> [HTTPResult] {
        var results = [HTTPResult](repeating: .retry("\(label): not sent", afterMs: 0), count: requests.count)
        var running: [UnsafeMutableRawPointer: Transfer] = [:]
        var next = 0
        let started = Clock.nowMs()
        while next < requests.count || !running.isEmpty {
            // Start what the in-flight bound and the rate limit allow.
            var rateWait = 0
            while next < requests.count && running.count < max(1, settings.maxInFlight) {
                let now = Clock.nowMs()
                if let wait = limiter?.waitMs(now: now), wait > 0 {
                    if now + Int64(wait) - started > Int64(settings.maxRateWaitMs) {
                        // Waiting longer would hold the batch: the rest is retried later.
                        for i in next..<requests.count {
                            results[i] = .retry("\(label): rate limit (\(settings.rate?.text ?? "")) reached; not sent", afterMs: wait)
                        }
                        next = requests.count
                    } else {
                        rateWait = wait
                    }
                    break
                }
                limiter?.take(now: now)
                switch start(requests[next], index: next) {
                case .success(let t): running[t.handle] = t
                case .failure(let e): results[next] = e.transient ? .retry("\(label): \(e.description)", afterMs: 0) : .failed("\(label): \(e.description)")
                }
                next += 1
            }
            if running.isEmpty {
                if rateWait > 0 { usleep(useconds_t(min(rateWait, 1_000)) * 1000) }
                continue
            }
            var still: Int32 = 0
            sluice_curl_multi_perform(multi, &still)
            var handle: UnsafeMutableRawPointer?
            var code = CURLE_OK
            while sluice_curl_multi_done(multi, &handle, &code) != 0 {
                guard let h = handle, let t = running.removeValue(forKey: h) else { continue }
                results[t.index] = finish(t, code: code)
            }
            if !running.isEmpty {
                let timeout = rateWait > 0 ? min(rateWait, 100) : 100
                sluice_curl_multi_poll(multi, Int32(timeout))
            }
        }
        return results
    }

    private func start(_ r: HTTPRequest, index: Int) -> Result<Transfer, HTTPClientError> {
        // Checked here, not left to libcurl: it guesses http for a URL without a scheme, and
        // its "unsupported protocol" then means a reply without a status line (below).
        if let why = WebURL.problem(r.url) { return .failure(HTTPClientError("the URL: \(why)")) }
        guard let h = idle.popLast() ?? sluice_curl_easy_init() else { return .failure(HTTPClientError("cannot create a curl handle", transient: true)) }
        sluice_curl_easy_reset(h)
        let t = Transfer(index: index, handle: h)
        var lines = ["Content-Type: \(r.contentType)", "Expect:", "User-Agent: Sluice-Webhook/1.0"]
        lines += r.headers
        for line in lines { t.headers = sluice_curl_slist_append(t.headers, line) }
        var ok = true
        func check(_ c: CURLcode) { if c != CURLE_OK { ok = false } }
        check(sluice_curl_set_string(h, CURLOPT_URL, r.url))
        // http and https only (CURLOPT_PROTOCOLS_STR from libcurl 7.85, the bit mask before).
        if sluice_curl_set_string(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK {
            check(sluice_curl_set_long(h, CURLOPT_PROTOCOLS, Int(CURLPROTO_HTTP | CURLPROTO_HTTPS)))
        }
        check(sluice_curl_set_long(h, CURLOPT_NOSIGNAL, 1))
        // A reply without a status line (HTTP/0.9) is refused, whatever this libcurl's default.
        _ = sluice_curl_set_long(h, CURLOPT_HTTP09_ALLOWED, 0)
        check(sluice_curl_set_long(h, CURLOPT_FOLLOWLOCATION, 0))
        check(sluice_curl_set_long(h, CURLOPT_CONNECTTIMEOUT_MS, settings.connectTimeoutMs))
        check(sluice_curl_set_long(h, CURLOPT_TIMEOUT_MS, settings.timeoutMs))
        check(sluice_curl_set_long(h, CURLOPT_TCP_KEEPALIVE, 1))
        if !settings.caFile.isEmpty { check(sluice_curl_set_string(h, CURLOPT_CAINFO, settings.caFile)) }
        // HTTP/2 over TLS where libcurl has it and the server offers it; HTTP/1.1 otherwise.
        if !settings.http2 || sluice_curl_set_long(h, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS)) != CURLE_OK {
            check(sluice_curl_set_long(h, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1)))
        }
        check(sluice_curl_set_pointer(h, CURLOPT_HTTPHEADER, t.headers))
        if r.method != "POST" { check(sluice_curl_set_string(h, CURLOPT_CUSTOMREQUEST, r.method)) }
        check(sluice_curl_set_size(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(r.body.count)))
        r.body.withUnsafeBytes { b in
            // Copied by libcurl: the bytes need not outlive this call.
            check(sluice_curl_set_pointer(h, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: b.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)))
        }
        let user = Unmanaged.passUnretained(t).toOpaque()
        check(sluice_curl_set_write(h, HTTPClient.onBody, user))
        check(sluice_curl_set_header_callback(h, HTTPClient.onHeader, user))
        guard ok else {
            sluice_curl_slist_free_all(t.headers)
            idle.append(h)
            return .failure(HTTPClientError("the request could not be set up (is the URL well formed and http or https?)"))
        }
        // The transfer is kept alive by `running` until it finishes.
        if sluice_curl_multi_add_handle(multi, h) != CURLM_OK {
            sluice_curl_slist_free_all(t.headers)
            idle.append(h)
            return .failure(HTTPClientError("the request could not be started", transient: true))
        }
        return .success(t)
    }

    private func finish(_ t: Transfer, code: CURLcode) -> HTTPResult {
        sluice_curl_multi_remove_handle(multi, t.handle)
        sluice_curl_slist_free_all(t.headers)
        t.headers = nil
        defer { idle.append(t.handle) }
        var status = 0
        _ = sluice_curl_get_long(t.handle, CURLINFO_RESPONSE_CODE, &status)
        guard code == CURLE_OK else {
            let curl = String(cString: sluice_curl_easy_strerror(code))
            switch code {
            case CURLE_URL_MALFORMAT, CURLE_NOT_BUILT_IN, CURLE_BAD_FUNCTION_ARGUMENT, CURLE_TOO_MANY_REDIRECTS, CURLE_FILESIZE_EXCEEDED:
                return .failed("\(label): \(curl)")  // a setting to fix: trying again changes nothing
            default:
                // A network, proxy, TLS or resource problem, or a reply that is not valid
                // HTTP or was cut: it may pass; the host retries, then spools.
                return .retry("\(label): \(HTTPClient.replyProblem(code, status: status) ?? curl)", afterMs: 0)
            }
        }
        let body = HTTPClient.shortened(t.response)
        let what = "\(label): HTTP \(status)" + (body.isEmpty ? "" : ": \(body)")
        guard (100...599).contains(status) else {
            return .retry("\(label): HTTP \(status): not a valid status (100 to 599); the reply is not trusted", afterMs: 0)
        }
        guard t.headersComplete else {
            return .retry("\(label): HTTP \(status) but the reply was cut in its headers (the connection closed): not a delivery", afterMs: 0)
        }
        switch status {
        case 200..<300: return .delivered(status: status)
        case 100..<200: return .retry("\(label): HTTP \(status) and no final reply", afterMs: 0)
        case 429, 503, 408, 500..<600:
            let after = t.retryAfter.flatMap { RetryAfter.milliseconds($0, now: Clock.nowMs()) } ?? 0
            return .retry(what, afterMs: after)
        default:
            return .failed(what)
        }
    }

    /// What libcurl's code means for the reply, in words an operator can act on; nil for
    /// the others (its own message is used).
    static func replyProblem(_ code: CURLcode, status: Int) -> String? {
        switch code {
        case CURLE_UNSUPPORTED_PROTOCOL:
            // The URL's scheme is checked before sending: this is libcurl refusing an
            // HTTP/0.9 reply, one with no status line.
            return "the reply has no valid HTTP status line (is it an HTTP server?)"
        case CURLE_WEIRD_SERVER_REPLY: return "the reply is not valid HTTP"
        case CURLE_GOT_NOTHING: return "the connection was closed without a reply"
        case CURLE_PARTIAL_FILE:
            return "HTTP \(status) but the reply was cut: its body is shorter than announced (the connection closed): not a delivery"
        case CURLE_RECV_ERROR:
            return (status > 0 ? "HTTP \(status) but " : "") + "the reply was cut (the connection failed while receiving it)"
        default: return nil
        }
    }

    /// A response body for a log line: whitespace collapsed, at most 300 characters.
    static func shortened(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(4096), as: UTF8.self)
        return text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" })
            .joined(separator: " ").truncated(to: 300)
    }

    private static let onBody: sluice_curl_data_fn = { data, size, n, user in
        let count = size * n
        guard let data, let user else { return count }
        let t = Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue()
        // Keep the first 64 KiB: enough to say why, never a memory sink.
        let room = max(0, 65_536 - t.response.count)
        if room > 0 {
            t.response.append(contentsOf: UnsafeRawBufferPointer(start: data, count: min(room, count)))
        }
        return count
    }

    private static let onHeader: sluice_curl_data_fn = { data, size, n, user in
        let count = size * n
        guard let data, let user else { return count }
        let t = Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue()
        let line = String(decoding: UnsafeRawBufferPointer(start: data, count: min(count, 1024)), as: UTF8.self)
        if line.hasPrefix("HTTP/") {  // a new response (after a 100 Continue)
            t.retryAfter = nil
            t.headersComplete = false
        }
        if line == "\r\n" || line == "\n" { t.headersComplete = true }
        if let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == "retry-after" {
            t.retryAfter = line[line.index(after: colon)...].trimmingCharacters(in: " \t\r\n")
        }
        return count
    }
}

struct HTTPClientError: Error, CustomStringConvertible {
    let description: String
    /// Worth trying again (out of resources), rather than a setting to fix.
    let transient: Bool
    init(_ d: String, transient: Bool = false) {
        description = d
        self.transient = transient
    }
}

/// Retry-After: a number of seconds, or an HTTP date (RFC 9110's IMF-fixdate,
/// "Sun, 06 Nov 1994 08:49:37 GMT"). At most a day.
enum RetryAfter {
    static func milliseconds(_ text: String, now: Int64) -> Int? {
        if let seconds = Int(text) { return seconds < 0 ? nil : min(seconds, 86_400) * 1000 }
        let parts = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 6, parts[5] == "GMT", let day = Int32(parts[1]), (1...31).contains(day),
              let month = months.firstIndex(of: String(parts[2])), let year = Int32(parts[3]), (1970...9999).contains(year) else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int32($0) }
        guard clock.count == 3, (0...23).contains(clock[0]), (0...59).contains(clock[1]), (0...60).contains(clock[2]) else { return nil }
        var t = tm()
        t.tm_year = year - 1900
        t.tm_mon = Int32(month)
        t.tm_mday = day
        t.tm_hour = clock[0]
        t.tm_min = clock[1]
        t.tm_sec = clock[2]
        let at = Int64(timegm(&t)) * 1000  // years up to 9999: no overflow
        return Int(max(0, min(at - now, 86_400_000)))
    }
}

enum Clock {
    /// Milliseconds since 1970.
    static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = self[...]
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
