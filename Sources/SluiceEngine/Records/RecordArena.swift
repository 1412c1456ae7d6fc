import Foundation
import SluicePluginABI
import SluiceRecords

/// Memory ran out in the native record core (sluice_records.h gives NULL or -1 for it),
/// for `what`.
public struct OutOfMemory: Error, CustomStringConvertible, Equatable {
    public let what: String
    public var description: String { "out of memory: \(what)" }
}

/// Where the host cannot go on without the memory (its own bookkeeping: envelopes,
/// aggregates, routing records, constants): stops the process with a message saying what
/// could not be allocated — never a bare crash on a nil.
func outOfMemory(_ what: String) -> Never {
    fatalError("sluice: out of memory: \(what)")
}

/// Memory for one batch's records: everything parsed, copied or emitted during the batch
/// lives here and is released at once when the batch is done.
/// When records are parsed on several threads, each thread allocates in an arena of its
/// own; those belong to the batch too and are released with it.
public final class RecordArena: @unchecked Sendable {
    let raw: OpaquePointer
    private let chunkBytes: Int
    /// The arenas of parsing threads 1, 2, ... (thread 0 uses `raw`).
    private var threadArenas: [OpaquePointer] = []

    public init(chunkBytes: Int = 1 << 20) {
        self.chunkBytes = chunkBytes
        guard let arena = sr_arena_new(chunkBytes) else { outOfMemory("a record arena of \(chunkBytes) bytes") }
        raw = arena
    }

    deinit {
        sr_arena_free(raw)
        threadArenas.forEach { sr_arena_free($0) }
    }

    /// Releases every record of the batch; the memory is kept for the next one.
    public func reset() {
        sr_arena_reset(raw)
        threadArenas.forEach { sr_arena_reset($0) }
    }

    /// Bytes used since the last reset.
    public var usedBytes: Int { sr_arena_used(raw) + threadArenas.reduce(0) { $0 + sr_arena_used($1) } }

    /// The most bytes this arena (not its parsing threads') may hold; 0: no limit. Past it an
    /// allocation fails as if memory had run out (sr_arena_set_limit).
    public func limit(bytes: Int) { sr_arena_set_limit(raw, max(0, bytes)) }

    /// One arena per parsing thread: this one first, then others of the same batch; nil when
    /// memory ran out.
    func arenas(forThreads n: Int) -> [OpaquePointer?]? {
        while threadArenas.count < n - 1 {
            guard let arena = sr_arena_new(chunkBytes) else { return nil }
            threadArenas.append(arena)
        }
        return [raw] + threadArenas.prefix(n - 1).map { Optional($0) }
    }

    /// `count` (at least one) uninitialised values of `T`, valid until the next reset;
    /// throws when memory (or the arena's limit) ran out.
    func tryAllocate<T>(_: T.Type, count: Int, for what: @autoclosure () -> String) throws(OutOfMemory) -> UnsafeMutablePointer<T> {
        let n = max(1, count)
        let (bytes, overflow) = n.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
        guard !overflow, let p = sr_arena_alloc(raw, bytes, max(MemoryLayout<T>.alignment, 1)) else {
            throw OutOfMemory(what: "\(n) × \(MemoryLayout<T>.stride) bytes for \(what())")
        }
        return p.bindMemory(to: T.self, capacity: n)
    }

    /// As tryAllocate, for the host's own bookkeeping: stops the process with a message
    /// when memory ran out.
    func allocate<T>(_: T.Type, count: Int, for what: @autoclosure () -> String) -> UnsafeMutablePointer<T> {
        do {
            return try tryAllocate(T.self, count: count, for: what())
        } catch {
            outOfMemory(error.what)
        }
    }

    /// A NUL-terminated copy of `count` bytes at `bytes`, valid until the next reset; stops
    /// the process with a message when memory ran out.
    func copy(_ bytes: UnsafePointer<CChar>?, count: Int, for what: @autoclosure () -> String) -> UnsafePointer<CChar> {
        guard count >= 0, let p = sr_arena_strdup(raw, bytes, count) else { outOfMemory("\(count) bytes for \(what())") }
        return p
    }
}

/// Parses JSON text into records with simdjson. One per thread.
public final class RecordParser: @unchecked Sendable {
    let raw: OpaquePointer
    private var errorBuffer = [CChar](repeating: 0, count: 512)

    public init() {
        guard let parser = sr_parser_new() else { outOfMemory("a JSON parser") }
        raw = parser
    }
    deinit { sr_parser_free(raw) }

    /// The record, allocated in `arena`; throws with the reason when the text is not one
    /// JSON object.
    public func parse(_ bytes: UnsafeRawBufferPointer, into arena: RecordArena) throws -> sluice_record {
        var record = sluice_record()
        let status = errorBuffer.withUnsafeMutableBufferPointer { e in
            sr_parse_record(raw, arena.raw, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count, &record, e.baseAddress, e.count)
        }
        if status != 0 {
            throw RecordError(message: errorBuffer.withUnsafeBufferPointer { b in b.baseAddress.map { String(cString: $0) } ?? "" })
        }
        return record
    }

    public func parse(_ text: String, into arena: RecordArena) throws -> sluice_record {
        var t = text
        return try t.withUTF8 { try parse(UnsafeRawBufferPointer($0), into: arena) }
    }
}

/// Parses JSON Lines as a source's batch is parsed (sr_parse_lines: the compact parser,
/// simdjson where a line needs it), eagerly (flat records) or lazily (host handles, ABI
/// 1.7): for `host test-plugin` and tests. One per thread.
public final class LineParser: @unchecked Sendable {
    let raw: OpaquePointer

    public init(threads: Int = 1) {
        guard let parser = sr_line_parser_new(UInt32(max(1, min(threads, 64)))) else { outOfMemory("a line parser") }
        raw = parser
    }
    deinit { sr_line_parser_free(raw) }

    /// The records of the valid lines of `text`, in `arena` (valid until its reset), and how
    /// many lines were refused; throws when memory ran out.
    public func parse(_ text: UnsafeRawBufferPointer, _ parsing: RecordParsing,
                      into arena: RecordArena) throws(OutOfMemory) -> (records: UnsafeBufferPointer<sluice_record>, refused: Int) {
        guard let base = text.baseAddress, text.count > 0 else { return (UnsafeBufferPointer(start: nil, count: 0), 0) }
        guard let arenas = arena.arenas(forThreads: Int(sr_line_parser_threads(raw))) else {
            throw OutOfMemory(what: "the parsing threads' arenas")
        }
        sr_line_parser_set_mode(raw, parsing == .lazy ? SR_PARSE_LAZY : SR_PARSE_EAGER)
        var records: UnsafePointer<sluice_record>?
        var bad: UnsafePointer<sr_bad_line>?
        var n = 0, nbad = 0
        let status = arenas.withUnsafeBufferPointer { a in
            sr_parse_lines(raw, a.baseAddress, base.assumingMemoryBound(to: CChar.self), text.count, &records, &n, &bad, &nbad)
        }
        guard status == 0 else { throw OutOfMemory(what: "parsing \(text.count) bytes of JSON lines") }
        return (UnsafeBufferPointer(start: records, count: n), nbad)
    }
}

public struct RecordError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
}

/// Renders records as compact JSON (stopping the process with a message if the text
/// cannot be held in memory).
public enum RecordJSON {
    public static func render(_ record: sluice_record) -> String {
        var buf = sr_buf()
        defer { sr_buf_free(&buf) }
        var r = record
        if sr_write_record_json(&buf, &r) != 0 { outOfMemory("the JSON text of a record of \(sr_count(&r)) fields") }
        return String(decoding: UnsafeRawBufferPointer(start: buf.data, count: buf.len), as: UTF8.self)
    }

    public static func render(_ value: sluice_value) -> String {
        var buf = sr_buf()
        defer { sr_buf_free(&buf) }
        var v = value
        if sr_write_value_json(&buf, &v) != 0 { outOfMemory("the JSON text of a value") }
        return String(decoding: UnsafeRawBufferPointer(start: buf.data, count: buf.len), as: UTF8.self)
    }
}

/// The process-wide field-name table (see sluice_plugin.h, "Records").
public enum FieldKeys {
    public static func intern(_ name: String) -> sluice_key {
        var n = name
        return n.withUTF8 { b in sr_intern(UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), b.count) }
    }
}
