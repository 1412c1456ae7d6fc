// ConsoleAlerts — an alert publisher, written in Swift, that prints alerts for humans:
//
//   ALERT store-quality/quality batch 3 (12 alerts)  store_id=store1 bad_events=12 min_points=3
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
        for alert in alerts {
            let count = alert.count == 1 ? "" : " (\(alert.count) alerts)"
            let payload = alert.payload.map { "\($0.key)=\(quoted($0.value))" }.joined(separator: " ")
            text += "ALERT \(alert.pipeline)/\(alert.stage) batch \(alert.batch)\(count)  \(payload)\n"
        }
        var bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
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
