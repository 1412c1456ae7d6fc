import SluicePluginABI

/// Text a plugin hands the host to show (log lines, failure and outcome messages, error
/// record messages, counter names): read only up to a bound, whatever length the plugin
/// claims; invalid UTF-8 replaced (U+FFFD); control characters — which could forge log
/// lines or colour a terminal — replaced by spaces (line breaks, tabs) or U+FFFD.
enum PluginText {
    /// The most bytes of one message the host reads.
    static let maxBytes = 4096

    /// `text` cut to at most `maxBytes` bytes of UTF-8, at a character's boundary (never
    /// inside one: U+FFFD, which replaces each invalid byte, takes 3).
    static func prefix(_ text: String, maxBytes: Int) -> String {
        guard text.utf8.count > maxBytes else { return text }
        var bytes = 0
        var end = text.unicodeScalars.startIndex
        for i in text.unicodeScalars.indices {
            let n = UTF8.width(text.unicodeScalars[i])
            if bytes + n > maxBytes { break }
            bytes += n
            end = text.unicodeScalars.index(after: i)
        }
        return String(text.unicodeScalars[..<end])
    }

    static func read(_ ptr: UnsafePointer<CChar>?, _ len: Int, limit: Int = maxBytes) -> String {
        guard let ptr, len > 0 else { return "" }
        let take = min(len, limit)
        var text = String(decoding: UnsafeRawBufferPointer(start: ptr, count: take), as: UTF8.self)
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            text = String(String.UnicodeScalarView(text.unicodeScalars.map { s -> Unicode.Scalar in
                switch s.value {
                case 0x0A, 0x0D, 0x09: return " "
                case 0..<0x20, 0x7F...0x9F: return "\u{FFFD}"
                default: return s
                }
            }))
        }
        return len > take ? text + "… (\(len - take) more bytes)" : text
    }
}
