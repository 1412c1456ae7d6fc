#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Prometheus

/// The standard process_* metrics (resident and virtual memory, CPU time, start time, open
/// files), read from /proc/self when a scrape asks (`refresh`); any thread, one at a time.
final class ProcessMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private let rss, vsize, start, fds: Gauge
    private let cpu: Counter
    /// CPU seconds already added to the counter (it only goes up).
    private var cpuSeconds = 0.0

    init(_ r: PrometheusCollectorRegistry) {
        rss = r.gauge(MetricCatalog.residentMemory, [])
        vsize = r.gauge(MetricCatalog.virtualMemory, [])
        start = r.gauge(MetricCatalog.startTime, [])
        fds = r.gauge(MetricCatalog.openFDs, [])
        cpu = r.counter(MetricCatalog.cpuSeconds, [])
        refresh()
    }

    func refresh() {
        lock.lock()
        defer { lock.unlock() }
        guard let stat = Self.read() else { return }
        rss.set(to: stat.rssBytes)
        vsize.set(to: stat.virtualBytes)
        start.set(to: stat.startSeconds)
        if stat.cpuSeconds > cpuSeconds {
            cpu.increment(by: stat.cpuSeconds - cpuSeconds)
            cpuSeconds = stat.cpuSeconds
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            fds.set(Int64(entries.count))
        }
    }

    struct Stat: Equatable {
        var cpuSeconds: Double
        var startSeconds: Double
        var virtualBytes: Double
        var rssBytes: Double
    }

    static func read() -> Stat? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let proc = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        return parse(stat: stat, procStat: proc, ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))),
                     pageBytes: Double(sysconf(Int32(_SC_PAGESIZE))))
    }

    /// /proc/self/stat's fields after the command name (which may hold spaces and
    /// parentheses: everything up to the last ')' is skipped), with /proc/stat's btime.
    static func parse(stat: String, procStat: String, ticksPerSecond: Double, pageBytes: Double) -> Stat? {
        guard ticksPerSecond > 0, let close = stat.lastIndex(of: ")") else { return nil }
        // Field 3 (state) is fields[0]: utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 21, let utime = Double(fields[11]), let stime = Double(fields[12]),
              let started = Double(fields[19]), let vsize = Double(fields[20]), let rss = Double(fields[21]),
              let line = procStat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
              let boot = Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) else { return nil }
        return Stat(cpuSeconds: (utime + stime) / ticksPerSecond, startSeconds: boot + started / ticksPerSecond,
                    virtualBytes: vsize, rssBytes: rss * pageBytes)
    }
}
