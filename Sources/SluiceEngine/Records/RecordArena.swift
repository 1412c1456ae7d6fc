import SluicePluginABI
import SluiceRecords

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
        raw = sr_arena_new(chunkBytes)
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

    /// One arena per parsing thread: this one first, then others of the same batch.
    func arenas(forThreads n: Int) -> [OpaquePointer?] {
        while threadArenas.count < n - 1 { threadArenas.append(sr_arena_new(chunkBytes)) }
        return [raw] + threadArenas.prefix(n - 1).map { Optional($0) }
    }
}

/// Parses JSON text into records with simdjson. One per thread.
public final class RecordParser: @unchecked Sendable {
    let raw: OpaquePointer
    private var errorBuffer = [CChar](repeating: 0, count: 512)

    public init() { raw = sr_parser_new() }
    deinit { sr_parser_free(raw) }

    /// The record, allocated in `arena`; throws with the reason when the text is not one
    /// JSON object.
    public func parse(_ bytes: UnsafeRawBufferPointer, into arena: RecordArena) throws -> sluice_record {
        var record = sluice_record()
        let status = errorBuffer.withUnsafeMutableBufferPointer { e in
            sr_parse_record(raw, arena.raw, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count, &record, e.baseAddress, e.count)
        }
        if status != 0 {
            throw RecordError(message: errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return record
    }

    public func parse(_ text: String, into arena: RecordArena) throws -> sluice_record {
        var t = text
        return try t.withUTF8 { try parse(UnsafeRawBufferPointer($0), into: arena) }
    }
}

public struct RecordError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
}

/// Renders records as compact JSON.
public enum RecordJSON {
    public static func render(_ record: sluice_record) -> String {
        var buf = sr_buf()
        defer { sr_buf_free(&buf) }
        var r = record
        sr_write_record_json(&buf, &r)
        return String(decoding: UnsafeRawBufferPointer(start: buf.data, count: buf.len), as: UTF8.self)
    }

    public static func render(_ value: sluice_value) -> String {
        var buf = sr_buf()
        defer { sr_buf_free(&buf) }
        var v = value
        sr_write_value_json(&buf, &v)
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
