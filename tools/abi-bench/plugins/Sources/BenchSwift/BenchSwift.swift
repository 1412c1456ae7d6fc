// The ABI benchmark's Swift plugins: pass the batch on, emit record by record, read two
// fields through the SDK (the accessor way, ABI 1.7) and the same two inline (the C layout).
import SluicePluginABI
import SluicePluginSDK

@_cdecl("sluice_plugin_entry")
public func sluicePluginEntry() -> UnsafeRawPointer {
    exportPlugins(BenchPassSwift.self, BenchEmitSwift.self, BenchReadSwift.self, BenchReadInlineSwift.self)
}

/// Passes the whole batch on with one call.
public struct BenchPassSwift: Transform {
    public static let name = "BenchPassSwift"
    public static let version = "1.0.0"
    public init(context: Context, emitter: Emitter) throws {}
    public mutating func process(_ batch: Batch, _ out: Emitter) throws { out.emitAll(batch) }
}

/// Passes every record on with one emit call each.
public struct BenchEmitSwift: Transform {
    public static let name = "BenchEmitSwift"
    public static let version = "1.0.0"
    public init(context: Context, emitter: Emitter) throws {}
    public mutating func process(_ batch: Batch, _ out: Emitter) throws {
        for record in batch { out.emit(record) }
    }
}

/// Reads one string field (its bytes, no copy) and one numeric field of every record,
/// through `Record` and `Value` (the reader: the accessor way).
public struct BenchReadSwift: Transform {
    public static let name = "BenchReadSwift"
    public static let version = "1.0.0"
    let store: Key
    let value: Key
    var checksum: Double = 0

    public init(context: Context, emitter: Emitter) throws {
        store = emitter.intern("store_id")
        value = emitter.intern("value")
    }

    public mutating func process(_ batch: Batch, _ out: Emitter) throws {
        var sum = 0.0
        for record in batch {
            if let s = record[store]?.utf8 { sum += Double(s.count) }
            if let v = record[value]?.double { sum += v }
        }
        checksum += sum
        out.emitAll(batch)
    }
}

/// The same two fields read inline from the C layout (`record.raw`, sluice_record_get):
/// what the SDK did before ABI 1.7. It reads fields[], so it does not read by accessor.
public struct BenchReadInlineSwift: Transform {
    public static let name = "BenchReadInlineSwift"
    public static let version = "1.0.0"
    public static var readsRecordsByAccessor: Bool { false }
    let store: Key
    let value: Key
    var checksum: Double = 0

    public init(context: Context, emitter: Emitter) throws {
        store = emitter.intern("store_id")
        value = emitter.intern("value")
    }

    public mutating func process(_ batch: Batch, _ out: Emitter) throws {
        var sum = 0.0
        for record in batch {
            if let s = sluice_record_get(record.raw, store.raw), s.pointee.type == sluice_type(SLUICE_STRING) { sum += Double(s.pointee.len) }
            var v = 0.0
            if sluice_value_number(sluice_record_get(record.raw, value.raw), &v) != 0 { sum += v }
        }
        checksum += sum
        out.emitAll(batch)
    }
}
