#if canImport(Glibc)
import Glibc
#endif
import SluicePluginSDK

/// "N per period": at most `count` requests started in any one `periodMs`, written
/// `1/s`, `4/s`, `120/min`, `1000/h`; `0` or `none` for no limit.
struct RateLimit: Equatable {
    let count: Int
    let periodMs: Int
    let text: String

    /// nil for "no limit"; throws on text it cannot read.
    static func parse(_ text: String) throws -> RateLimit? {
        let t = text.trimmingCharacters(in: " ")
        if t.isEmpty || t == "0" || t == "none" { return nil }
        let parts = t.split(separator: "/", maxSplits: 1)
        let periods: [String: Int] = ["s": 1_000, "sec": 1_000, "second": 1_000, "min": 60_000, "minute": 60_000, "h": 3_600_000, "hour": 3_600_000]
        guard parts.count == 2, let n = Int(parts[0]), (1...1_000_000).contains(n), let period = periods[String(parts[1])] else {
            throw PluginError.error("rateLimit '\(text)': write it as N/s, N/min or N/h (e.g. 1/s, 120/min), or 0 for none")
        }
        return RateLimit(count: n, periodMs: period, text: t)
    }
}

/// At most `count` requests started in any window of `periodMs`, exactly: the start times
/// of the last `count` requests are kept, and the next may start once the oldest of them is
/// a period old. (A token bucket would let twice the limit through in the first period.)
struct RateLimiter {
    let limit: RateLimit
    private var starts: [Int64] = []  // ring of the last `count` start times
    private var next = 0

    init(_ limit: RateLimit) { self.limit = limit }

    /// How long until a request may start (0: now). `now` is ignored in favour of a
    /// monotonic clock, which wall-clock jumps cannot fool.
    mutating func waitMs(now _: Int64) -> Int {
        guard starts.count >= limit.count else { return 0 }
        let oldest = starts[next]
        let wait = oldest + Int64(limit.periodMs) - RateLimiter.monotonicMs()
        return wait > 0 ? Int(wait) : 0
    }

    mutating func take(now _: Int64) {
        let t = RateLimiter.monotonicMs()
        if starts.count < limit.count {
            starts.append(t)
        } else {
            starts[next] = t
            next = (next + 1) % limit.count
        }
    }

    static func monotonicMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
