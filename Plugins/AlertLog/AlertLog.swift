// AlertLog — an alert publisher, written in Swift, that appends every alert's envelope as
// one line of JSON to a file: the local alert log, Sluice's default publisher.
//
// Properties:
//   path   (default "alerts.jsonl") the file; its folder is created if missing
//   fsync  (default false) make every publish durable on disk before answering
//
// A failed write answers "retry", so the host retries and counts what stays undelivered.
#if canImport(Glibc)
import Glibc
#endif
import SluicePluginSDK

@_cdecl("sluice_plugin_entry")
public func sluicePluginEntry() -> UnsafeRawPointer { exportPlugins(AlertLog.self) }

public struct AlertLog: AlertPublisher {
    public static let name = "AlertLog"
    public static let version = "1.0.0"

    let path: String
    let fd: Int32
    let sync: Bool

    public init(context: Context, emitter: Emitter) throws {
        path = context.property("path").flatMap { $0.isEmpty ? nil : $0 } ?? "alerts.jsonl"
        sync = context.property("fsync") == "true"
        try makeParentFolders(of: path)
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if fd < 0 {
            throw PluginError.error("cannot open \(path) for appending: \(String(cString: strerror(errno)))")
        }
    }

    public mutating func close() { _ = Glibc.close(fd) }

    var bytes: [UInt8] = []

    public mutating func publish(_ alerts: Alerts, _ out: Emitter) throws {
        bytes.removeAll(keepingCapacity: true)
        for alert in alerts {
            bytes.append(contentsOf: alert.jsonBytes)
            bytes.append(UInt8(ascii: "\n"))
        }
        // One write per publish: O_APPEND keeps concurrent writers' lines whole.
        try bytes.withUnsafeBytes { [fd, path] b in
            var off = 0
            while off < b.count {
                let n = write(fd, b.baseAddress! + off, b.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw PluginError.retry("cannot append to \(path): \(String(cString: strerror(errno)))")
                }
                off += n
            }
        }
        if sync, fsync(fd) != 0 {
            throw PluginError.retry("cannot sync \(path): \(String(cString: strerror(errno)))")
        }
        out.count("written", Int64(alerts.count))
    }
}

/// mkdir -p of the folder holding `path`.
func makeParentFolders(of path: String) throws {
    var folder = ""
    let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
    for (i, part) in parts.enumerated() {
        folder += (i == 0 ? "" : "/") + part
        if folder.isEmpty { continue }
        if mkdir(folder, 0o777) != 0 && errno != EEXIST {
            throw PluginError.error("cannot create folder \(folder): \(String(cString: strerror(errno)))")
        }
    }
}
