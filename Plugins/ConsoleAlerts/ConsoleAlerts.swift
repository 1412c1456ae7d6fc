// ConsoleAlerts — an alert publisher, written in Swift, that prints alerts for humans:
//
//   ALERT store-quality/quality batch 3 (12 alerts)  store_id=store1 bad_events=12 min_points=3
//
// and an alert's life (ABI 1.5) as it goes, with its severity:
//
//   FIRING store-quality/quality [critical] since 06:00 UTC  store_id=store1 bad_events=7
//   STILL FIRING store-quality/quality [critical] since 06:00 UTC (42m)  store_id=store1 bad_events=9
//   RESOLVED store-quality/quality [critical] fired for 42m, 06:00 → 06:42 UTC  store_id=store1 bad_events=1
//
// "refresh" notifications (still firing, nothing new) are not printed (counter
// `refreshes_skipped`).
//
// Properties:
//   stream  (default "stdout") stdout or stderr
#if canImport(Glibc)
import Glibc
#endif
import SluicePluginSDK

@_cdecl("sluice_plugin_entry")
public func sluicePluginEntry() -> UnsafeRawPointer { exportPlugins(ConsoleAlerts.self) }

public struct ConsoleAlerts: AlertPublisher {
    public static let name = "ConsoleAlerts"
    public static let version = "1.0.0"

    let fd: Int32

    public init(context: Context, emitter: Emitter) throws {
        switch context.property("stream") ?? "stdout" {
        case "stdout", "": fd = 1
        case "stderr": fd = 2
        case let other: throw PluginError.error("property 'stream' must be stdout or stderr, got '\(other)'")
        }
    }

    public mutating func publish(_ alerts: Alerts, _ out: Emitter) throws {
        var text = ""
        var skipped = 0
        for alert in alerts {
            if alert.isRefresh { skipped += 1; continue }
            let count = alert.count == 1 ? "" : " (\(alert.count) alerts)"
            let payload = alert.payload.map { "\($0.key)=\(quoted($0.value))" }.joined(separator: " ")
            guard alert.hasStatus else {
                text += "ALERT \(alert.pipeline)/\(alert.stage) batch \(alert.batch)\(count)  \(payload)\n"
                continue
            }
            let severity = alert.severity.isEmpty ? "" : " [\(alert.severity)]"
            let life: String
            if alert.isResolved {
                life = "RESOLVED \(alert.pipeline)/\(alert.stage)\(severity) \(alert.firedFor)"
            } else if alert.isRenotify {
                life = "STILL FIRING \(alert.pipeline)/\(alert.stage)\(severity) \(alert.firingSince(nowMs: alert.timestampMs))"
            } else {
                life = "FIRING \(alert.pipeline)/\(alert.stage)\(severity) since \(Alert.clock(alert.startsAtMs, sameDayAs: alert.timestampMs)) UTC"
            }
            text += "\(life)\(count)  \(payload)\n"
        }
        if skipped > 0 { out.count("refreshes_skipped", Int64(skipped)) }
        var bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { b -> Int in
                guard let base = b.baseAddress else { return 0 }
                return write(fd, base + off, b.count - off)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw PluginError.retry("write failed: \(String(cString: strerror(errno)))")
            }
            off += n
        }
        bytes.removeAll()
    }

    /// Values with spaces, '=' or quotes are quoted.
    func quoted(_ v: String) -> String {
        guard v.isEmpty || v.contains(where: { $0 == " " || $0 == "=" || $0 == "\"" }) else { return v }
        return "\"" + v.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\\\"") + "\""
    }
}
