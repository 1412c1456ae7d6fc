// ConsoleSink — a sink, written in Swift, that prints each record as one line of JSON.
//
// Properties:
//   stream  (default "stdout") stdout or stderr
//   prefix  (default "") text put before each line, e.g. "record: "
#if canImport(Glibc)
import Glibc
#endif
import SluicePluginSDK

@_cdecl("sluice_plugin_entry")
public func sluicePluginEntry() -> UnsafeRawPointer { exportPlugins(ConsoleSink.self) }

public struct ConsoleSink: Sink {
    public static let name = "ConsoleSink"
    public static let version = "1.0.0"

    let fd: Int32
    let prefix: [UInt8]
    var line: [UInt8] = []

    public init(context: Context, emitter: Emitter) throws {
        switch context.property("stream") ?? "stdout" {
        case "stdout", "": fd = 1
        case "stderr": fd = 2
        case let other: throw PluginError.error("property 'stream' must be stdout or stderr, got '\(other)'")
        }
        prefix = Array((context.property("prefix") ?? "").utf8)
    }

    public mutating func write(_ batch: Batch, _ out: Emitter) throws {
        line.removeAll(keepingCapacity: true)
        for record in batch {
            line.append(contentsOf: prefix)
            line.append(contentsOf: out.renderJSON(record))
            line.append(UInt8(ascii: "\n"))
        }
        try writeAll(line, to: fd)
    }
}

/// Writes every byte, or throws a retryable error.
func writeAll(_ bytes: [UInt8], to fd: Int32) throws {
    try bytes.withUnsafeBytes { b in
        var off = 0
        while off < b.count {
            let n = Glibc.write(fd, b.baseAddress! + off, b.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw PluginError.retry("write failed: \(String(cString: strerror(errno)))")
            }
            off += n
        }
    }
}
