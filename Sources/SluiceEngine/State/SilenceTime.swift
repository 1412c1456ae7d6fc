#if canImport(Glibc)
import Glibc
#endif

/// The durations and times `host silence` reads and writes.
public enum SilenceTime {
    /// The longest silence: ten years.
    public static let maxDurationMs: Int64 = 3_650 * 86_400_000

    private static let units: [(name: String, ms: Int64)] = [
        ("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1),
    ]

    /// "90s", "15m", "2h", "1d", "1h30m", "2w", "500ms": numbers with units, largest unit
    /// first, each unit once (as Prometheus writes durations). More than 0, at most
    /// `maxDurationMs`.
    public static func milliseconds(duration text: String) -> Result<Int64, SilenceError> {
        func problem(_ why: String) -> Result<Int64, SilenceError> {
            .failure(SilenceError(.invalid, why + " (durations are written like 90s, 15m, 2h, 1d, 1h30m; units ms s m h d w)"))
        }
        let u = Array(text.utf8)
        if u.isEmpty { return problem("an empty duration") }
        var i = 0
        var total: Int64 = 0
        var lastUnit = -1
        while i < u.count {
            var n: Int64 = 0
            let start = i
            while i < u.count, u[i] >= 48, u[i] <= 57 {
                let (times, o1) = n.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(Int64(u[i] - 48))
                if o1 || o2 { return problem("too long a number") }
                n = sum
                i += 1
            }
            if i == start { return problem("a number is missing") }
            let unitStart = i
            while i < u.count, !(u[i] >= 48 && u[i] <= 57) { i += 1 }
            let unit = String(decoding: u[unitStart..<i], as: UTF8.self)
            guard let k = units.firstIndex(where: { $0.name == unit }) else {
                return problem(unit.isEmpty ? "a number without a unit" : "unknown unit '\(unit)'")
            }
            if k <= lastUnit { return problem("units go largest first, each once") }
            lastUnit = k
            let (part, o1) = n.multipliedReportingOverflow(by: units[k].ms)
            let (sum, o2) = total.addingReportingOverflow(part)
            if o1 || o2 || sum > maxDurationMs { return problem("longer than \(format(duration: maxDurationMs)), the most a silence may last") }
            total = sum
        }
        if total == 0 { return problem("no time at all") }
        return .success(total)
    }

    /// 5_400_000 → "1h30m"; largest units first, from days down to milliseconds; "0s".
    public static func format(duration ms: Int64) -> String {
        if ms <= 0 { return "0s" }
        var rest = ms
        var out = ""
        for (name, size) in units where name != "w" {
            if rest >= size {
                out += "\(rest / size)\(name)"
                rest %= size
            }
        }
        return out
    }

    /// An RFC 3339 time, as `--until` and silences.json take it: "2026-12-06T12:00:00Z",
    /// with a fraction of a second ("…:00.250Z", kept to the millisecond) or an offset
    /// ("2026-12-06T13:00:00+01:00"). A zone is required. Years 1970 to 9999.
    public static func milliseconds(time text: String) -> Result<Int64, SilenceError> {
        let problem = Result<Int64, SilenceError>.failure(SilenceError(.invalid,
            "not a time like 2026-12-06T12:00:00Z (RFC 3339: a date, T, a time to the second, then Z for UTC or an offset like +02:00)"))
        let u = Array(text.utf8)
        func digits(_ from: Int, _ n: Int) -> Int32? {
            guard from + n <= u.count else { return nil }
            var v: Int32 = 0
            for i in from..<(from + n) {
                guard u[i] >= 48, u[i] <= 57 else { return nil }
                v = v * 10 + Int32(u[i] - 48)
            }
            return v
        }
        func at(_ i: Int, _ c: Character) -> Bool { i < u.count && Character(UnicodeScalar(u[i])) == c }
        guard let year = digits(0, 4), at(4, "-"), let month = digits(5, 2), at(7, "-"), let day = digits(8, 2),
              at(10, "T") || at(10, "t"), let hour = digits(11, 2), at(13, ":"), let minute = digits(14, 2), at(16, ":"),
              let second = digits(17, 2) else { return problem }
        var i = 19
        var millis: Int64 = 0
        if at(i, ".") {
            i += 1
            let start = i
            while i < u.count, u[i] >= 48, u[i] <= 57 {
                if i - start < 3 { millis = millis * 10 + Int64(u[i] - 48) }
                i += 1
            }
            if i == start { return problem }
            for _ in min(i - start, 3)..<3 { millis *= 10 }
        }
        var offsetMinutes: Int64 = 0
        if at(i, "Z") || at(i, "z") {
            i += 1
        } else if at(i, "+") || at(i, "-") {
            guard let oh = digits(i + 1, 2), at(i + 3, ":"), let om = digits(i + 4, 2), oh < 24, om < 60 else { return problem }
            offsetMinutes = Int64(oh * 60 + om) * (at(i, "-") ? -1 : 1)
            i += 6
        } else {
            return problem
        }
        guard i == u.count, (1970...9999).contains(year), hour < 24, minute < 60, second < 60 else { return problem }
        var t = tm()
        t.tm_year = year - 1900
        t.tm_mon = month - 1
        t.tm_mday = day
        t.tm_hour = hour
        t.tm_min = minute
        t.tm_sec = second
        let seconds = timegm(&t)
        // timegm normalises 2026-02-30 into March: such a date is not one.
        guard t.tm_mon == month - 1, t.tm_mday == day else { return problem }
        return .success((Int64(seconds) - offsetMinutes * 60) * 1000 + millis)
    }

    /// "2026-12-06T12:00:00.000Z" (Timestamp.iso8601).
    public static func format(time ms: Int64) -> String { Timestamp.iso8601(milliseconds: ms) }
}
