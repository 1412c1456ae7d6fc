// The protocols a Swift plugin conforms to. One type per plugin; export it with
//
//     @_cdecl("sluice_plugin_entry")
//     public func sluicePluginEntry() -> UnsafeRawPointer { exportPlugins(MyTransform.self) }
//
// Nothing Swift crosses the ABI: the SDK turns every call into the C structures of
// sluice_plugin.h, so each Swift plugin library carries its own copy of this module.

/// What every plugin type shares: its identity and how an instance is made.
public protocol Plugin {
    /// The plugin's name in the catalog, e.g. "Threshold". Must match its widgets file.
    static var name: String { get }
    /// Its semantic version, e.g. "1.0.0".
    static var version: String { get }
    /// Make an instance for one stage. Throw `PluginError.error` for a bad configuration.
    init(context: Context, emitter: Emitter) throws
    /// Called once before the instance is released; default: nothing.
    mutating func close()
    /// The plugin reads input records only through `Record` and `Value` (ABI 1.7,
    /// SLUICE_READS_BY_ACCESSOR), so the host may hand it records parsed only as far as
    /// they are read. Default: true. Set it false only when the plugin reads the C
    /// layout itself (`Record.raw`'s fields, a value's `as.items` / `as.fields`).
    static var readsRecordsByAccessor: Bool { get }
}

extension Plugin {
    public mutating func close() {}
    public static var readsRecordsByAccessor: Bool { true }
}

/// Records in, records out.
public protocol Transform: Plugin {
    /// Read the batch's records and emit what goes on; records not emitted are dropped.
    mutating func process(_ batch: Batch, _ out: Emitter) throws
}

/// Where records come from.
public protocol Source: Plugin {
    /// Emit up to `request.maxRecords` records within about `request.maxWaitMs`.
    mutating func read(_ request: ReadRequest, _ out: Emitter) throws -> SourceState
    /// Everything up to batch `batch` is written by every sink and publisher; default: nothing.
    mutating func commit(batch: UInt64, _ out: Emitter) throws
}

extension Source {
    public mutating func commit(batch: UInt64, _ out: Emitter) throws {}
}

/// Where records go.
public protocol Sink: Plugin {
    /// Write the batch's records. Throw `PluginError.retry` for a transient failure.
    mutating func write(_ batch: Batch, _ out: Emitter) throws
    /// Make what `write` accepted durable; default: nothing.
    mutating func flush(_ out: Emitter) throws
}

extension Sink {
    public mutating func flush(_ out: Emitter) throws {}
}

/// Delivers alerts.
public protocol AlertPublisher: Plugin {
    /// Deliver the alerts. Report per-alert results with `out.outcome(...)` when they differ.
    mutating func publish(_ alerts: Alerts, _ out: Emitter) throws
}

/// What a source says after a read.
public enum SourceState {
    /// More input may come.
    case more
    /// Input is exhausted for good.
    case end
}

/// Errors a plugin throws; they become SLUICE_ERROR / SLUICE_RETRY with the message.
/// Any other error thrown becomes SLUICE_ERROR with its description.
public enum PluginError: Error, CustomStringConvertible {
    case error(String)
    case retry(String)

    public var description: String {
        switch self {
        case .error(let m), .retry(let m): return m
        }
    }
}

/// Log levels of `Emitter.log`.
public enum LogLevel: Int32 {
    case trace = 0, debug, info, warn, error
}
