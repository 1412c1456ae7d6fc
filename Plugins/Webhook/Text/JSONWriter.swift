/// Builds compact JSON bytes: the request bodies of every format. Strings are escaped as
/// RFC 8259 requires (quote, backslash, control characters); everything else is UTF-8 as is.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    var count: Int { bytes.count }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma.removeLast() }
    mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); needsComma.append(false) }
    mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma.removeLast() }

    /// `"name":` inside an object; the value follows.
    mutating func key(_ name: String) {
        separate()
        appendString(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
    }

    mutating func string(_ s: String) { separate(); appendString(s) }
    mutating func number(_ n: Int64) { separate(); bytes.append(contentsOf: String(n).utf8) }
    mutating func bool(_ b: Bool) { separate(); bytes.append(contentsOf: (b ? "true" : "false").utf8) }
    mutating func null() { separate(); bytes.append(contentsOf: "null".utf8) }
    /// Bytes that already are one JSON value (an alert's envelope).
    mutating func raw(_ json: UnsafeRawBufferPointer) { separate(); bytes.append(contentsOf: json) }

    mutating func field(_ name: String, _ value: String) { key(name); string(value) }
    mutating func field(_ name: String, _ value: Int64) { key(name); number(value) }
    mutating func field(_ name: String, _ value: Bool) { key(name); bool(value) }

    private mutating func appendString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case 92: bytes.append(contentsOf: [92, 92])
            case 10: bytes.append(contentsOf: [92, 110])
            case 13: bytes.append(contentsOf: [92, 114])
            case 9: bytes.append(contentsOf: [92, 116])
            case 0..<32:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [92, 117, 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension String {
    /// At most `limit` characters: when longer, cut and ended with `marker` (the result,
    /// marker included, is `limit` characters).
    func truncated(to limit: Int, marker: String = "…") -> String {
        guard count > limit else { return self }
        return String(prefix(max(0, limit - marker.count))) + marker
    }

    /// At most `limit` bytes of UTF-8, cut at a character boundary, ended with `marker`.
    func truncated(toBytes limit: Int, marker: String = "…") -> String {
        guard utf8.count > limit else { return self }
        var out = ""
        let room = limit - marker.utf8.count
        var used = 0
        for c in self {
            let n = c.utf8.count
            if used + n > room { break }
            out.append(c)
            used += n
        }
        return out + marker
    }

    /// Slack's mrkdwn: &, < and > are control characters there.
    var slackEscaped: String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for c in self {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(c)
            }
        }
        return out
    }
}
