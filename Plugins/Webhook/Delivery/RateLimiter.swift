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
        guard parts.count == 2, let n = Int(parts[0]), n > 0, let period = periods[String(parts[1])] else {
            throw PluginError.error("rateLimit '\(text)': write it as N/s, N/min or N/h (e.g. 1/s, 120/min), or 0 for none")
        }
        return RateLimit(count: n, periodMs: period, text: t)
    }
}

/// A token bucket holding up to `count` tokens, refilled at `count` per period: bursts up to
/// the limit, never more than the limit on average.
struct RateLimiter {
    let limit: RateLimit
    private var tokens: Double
    private var updatedMs: Int64

    init(_ limit: RateLimit) {
        self.limit = limit
        tokens = Double(limit.count)
        updatedMs = RateLimiter.monotonicMs()
    }

    /// How long until a request may start (0: now). `now` is ignored in favour of a
    /// monotonic clock, which wall-clock jumps cannot fool.
    mutating func waitMs(now _: Int64) -> Int {
        refill()
        if tokens >= 1 { return 0 }
        let perMs = Double(limit.count) / Double(limit.periodMs)
        return max(1, Int(((1 - tokens) / perMs).rounded(.up)))
    }

    mutating func take(now _: Int64) {
        refill()
        tokens -= 1
    }

    private mutating func refill() {
        let t = RateLimiter.monotonicMs()
        let perMs = Double(limit.count) / Double(limit.periodMs)
        tokens = min(Double(limit.count), tokens + Double(t - updatedMs) * perMs)
        updatedMs = t
    }

    static func monotonicMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
