import Foundation
import SluiceExpr
import SluicePluginABI

/// The regular expression of a `=~` or `!~` matcher: compiled by the expressions' own
/// sx_regex (RE2, with the options, limits and messages of matches(): docs/expressions.md)
/// and anchored at both ends, `^(?:…)$`, as Alertmanager anchors its matchers. Matching
/// evaluates `matches(v, pattern)` over a record of the one field `v`. Safe from any thread.
final class SilenceRegex: @unchecked Sendable {
    private let program = ExpressionProgram()
    private let root: UInt32
    /// Evaluations share the program's scratch memory.
    private let lock = NSLock()

    init(_ pattern: String) throws(SilenceError) {
        // The pattern as written first, so that its reason names what the user wrote (and
        // "a)|(b", which only anchoring makes a pattern, is refused).
        try Self.compile(pattern, in: ExpressionProgram())
        guard let raw = program.raw else { throw SilenceError(.invalid, "out of memory") }
        let regex = try Self.compile("^(?:" + pattern + ")$", in: program)
        var field = Array("v".utf8).withUnsafeBufferPointer { b in
            sx_field(raw, sluice_key(SLUICE_NO_KEY), UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), b.count)
        }
        root = sx_call(raw, UInt32(SX_MATCHES), &field, 1, regex)
        guard sx_program_failed(raw) == 0 else { throw SilenceError(.invalid, "out of memory") }
    }

    func matches(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            "v".withCString { name in
                var field = sluice_field(key: sluice_key(SLUICE_NO_KEY), name_len: 1, name: name,
                                         value: sluice_string(UnsafeRawPointer(bytes.baseAddress)?.assumingMemoryBound(to: CChar.self), bytes.count))
                return withUnsafePointer(to: &field) { f in
                    var record = sluice_record(fields: f, nfields: 1, flags: 0)
                    lock.lock()
                    defer { lock.unlock() }
                    return program.isTrue(root, &record)
                }
            }
        }
    }

    @discardableResult
    private static func compile(_ pattern: String, in program: ExpressionProgram) throws(SilenceError) -> Int32 {
        guard let raw = program.raw else { throw SilenceError(.invalid, "out of memory") }
        var why = [CChar](repeating: 0, count: 1024)
        let n = sx_regex(raw, pattern, pattern.utf8.count, &why, why.count)
        guard n >= 0 else {
            throw SilenceError(.invalid, String(decoding: why.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return n
    }
}
