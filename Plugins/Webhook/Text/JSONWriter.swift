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

    /// The bytes `s` takes as a JSON string, quotes included: what `string(s)` appends
    /// (besides a comma), counted without writing it.
    static func writtenCount(_ s: String) -> Int {
        var n = 2
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""), 92, 10, 13, 9: n += 2
            case 0..<32: n += 6
            default: n += 1
            }
        }
        return n
    }

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
    /// At most `limit` Unicode code points — the unit Slack, Datadog and PagerDuty count
    /// their limits in — ending with `marker` when cut (the marker counted in). The cut falls
    /// between characters, so a ZWJ emoji or an accented letter is kept whole or left out
    /// (one character longer than the room is cut between its code points); it never falls
    /// inside a UTF-8 sequence. `escapes`: the text holds `&…;` escapes (Slack's), and the cut
    /// never leaves one half written. Reads no further than the limit: cheap on 1 MB values.
    func truncated(to limit: Int, marker: String = "…", escapes: Bool = false) -> String {
        let limit = max(0, limit)
        var used = 0
        var end = startIndex
        // The last character boundary with room for the marker after it.
        let markerCount = marker.unicodeScalars.count
        let room = max(0, limit - markerCount)
        var cut = startIndex
        while end < endIndex {
            let next = index(after: end)
            used += self[end..<next].unicodeScalars.count
            if used > limit { break }
            end = next
            if used <= room { cut = end }
        }
        if end == endIndex && used <= limit { return self }
        var kept = self[..<cut]
        if kept.isEmpty && room > 0 {
            // One character longer than the room (a letter and thousands of marks).
            kept = Substring(String(String.UnicodeScalarView(unicodeScalars.prefix(room))))
        }
        if escapes, let amp = kept.unicodeScalars.suffix(5).lastIndex(of: "&"), !kept.unicodeScalars[amp...].contains(";") {
            kept = Substring(String(kept.unicodeScalars[..<amp]))
        }
        return String(kept) + (markerCount <= limit ? marker : "")
    }

    /// Slack's mrkdwn: &, < and > are control characters there. Escaped code point by code
    /// point: a combining mark after one of them does not hide it.
    var slackEscaped: String {
        var out = String.UnicodeScalarView()
        for c in unicodeScalars {
            switch c {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            default: out.append(c)
            }
        }
        return String(out)
    }
}
