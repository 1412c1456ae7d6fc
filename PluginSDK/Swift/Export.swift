import SluicePluginABI
import Synchronization

/// Builds this library's descriptor table for the given plugin types (once) and returns
/// it. Call it from the library's entry symbol, the one line a Swift plugin library needs:
///
///     @_cdecl("sluice_plugin_entry")
///     public func sluicePluginEntry() -> UnsafeRawPointer { exportPlugins(Threshold.self) }
public func exportPlugins(_ types: any Plugin.Type...) -> UnsafeRawPointer {
    let address = exported.withLock { state -> UInt in
        if let library = state.library { return UInt(bitPattern: library) }
        let descriptors = UnsafeMutablePointer<UnsafePointer<sluice_plugin>?>.allocate(capacity: max(types.count, 1))
        for (i, type) in types.enumerated() {
            let d = makeDescriptor(type)
            state.factories[UInt(bitPattern: d)] = type
            descriptors[i] = UnsafePointer(d)
        }
        let library = UnsafeMutablePointer<sluice_library>.allocate(capacity: 1)
        library.initialize(to: sluice_library(
            size: UInt32(MemoryLayout<sluice_library>.size),
            abi_major: UInt32(SLUICE_ABI_MAJOR),
            abi_minor: UInt32(SLUICE_ABI_MINOR),
            nplugins: UInt32(types.count),
            plugins: UnsafePointer(descriptors)))
        state.library = library
        return UInt(bitPattern: library)
    }
    return UnsafeRawPointer(bitPattern: address)!
}

/// The library's descriptors and which Swift type each one makes. Allocated once and
/// never freed: the host never unloads a library.
private struct ExportState: @unchecked Sendable {
    var library: UnsafeMutablePointer<sluice_library>?
    var factories: [UInt: any Plugin.Type] = [:]
}

private let exported = Mutex(ExportState())

private func cString(_ s: String) -> UnsafePointer<CChar> {
    let bytes = Array(s.utf8CString)
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
    p.initialize(from: bytes, count: bytes.count)
    return UnsafePointer(p)
}

private func makeDescriptor(_ type: any Plugin.Type) -> UnsafeMutablePointer<sluice_plugin> {
    var d = sluice_plugin()
    d.size = UInt32(MemoryLayout<sluice_plugin>.size)
    d.name = cString(type.name)
    d.version = cString(type.version)
    d.create = createThunk
    d.destroy = destroyThunk
    d.flags = type.readsRecordsByAccessor ? UInt64(SLUICE_READS_BY_ACCESSOR) : 0
    switch type {
    case is any Source.Type:
        d.type = sluice_plugin_type(SLUICE_SOURCE)
        d.read = readThunk
        d.commit = commitThunk
    case is any Transform.Type:
        d.type = sluice_plugin_type(SLUICE_TRANSFORM)
        d.process = processThunk
    case is any Sink.Type:
        d.type = sluice_plugin_type(SLUICE_SINK)
        d.write = writeThunk
        d.flush = flushThunk
    case is any AlertPublisher.Type:
        d.type = sluice_plugin_type(SLUICE_ALERT_PUBLISHER)
        d.publish = publishThunk
    default:
        d.type = 0  // conforms to no plugin kind: the host reports it
    }
    let p = UnsafeMutablePointer<sluice_plugin>.allocate(capacity: 1)
    p.initialize(to: d)
    return p
}

// MARK: - Instances

/// Holds one plugin instance behind the `void *instance` of the ABI.
class InstanceBox {
    func close() {}
}

final class TransformBox: InstanceBox {
    var plugin: any Transform
    init(_ p: any Transform) { plugin = p }
    override func close() { plugin.close() }
}

final class SourceBox: InstanceBox {
    var plugin: any Source
    init(_ p: any Source) { plugin = p }
    override func close() { plugin.close() }
}

final class SinkBox: InstanceBox {
    var plugin: any Sink
    init(_ p: any Sink) { plugin = p }
    override func close() { plugin.close() }
}

final class PublisherBox: InstanceBox {
    var plugin: any AlertPublisher
    init(_ p: any AlertPublisher) { plugin = p }
    override func close() { plugin.close() }
}

/// Runs `body`, turning a thrown error into a status and a message for the host.
@inline(__always)
private func guarded(_ out: UnsafePointer<sluice_emitter>?, _ body: () throws -> sluice_status) -> sluice_status {
    do {
        return try body()
    } catch let e as PluginError {
        if let out { Emitter(raw: out).fail(e.description) }
        if case .retry = e { return SLUICE_RETRY }
        return SLUICE_ERROR
    } catch {
        if let out { Emitter(raw: out).fail(String(describing: error)) }
        return SLUICE_ERROR
    }
}

private func box<T>(_ instance: UnsafeMutableRawPointer?, as: T.Type) -> T where T: InstanceBox {
    Unmanaged<T>.fromOpaque(instance!).takeUnretainedValue()
}

private let createThunk: @convention(c) (
    UnsafePointer<sluice_context>?, UnsafePointer<sluice_emitter>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> sluice_status = { ctx, out, instance in
    guard let ctx, let out, let instance else { return SLUICE_ERROR }
    let key = UInt(bitPattern: ctx.pointee.plugin)
    guard let type = exported.withLock({ $0.factories[key] }) else {
        Emitter(raw: out).fail("this library does not export the plugin descriptor it was asked to create")
        return SLUICE_ERROR
    }
    return guarded(out) {
        let plugin = try type.init(context: Context(ctx), emitter: Emitter(raw: out))
        let b: InstanceBox
        switch plugin {
        case let p as any Source: b = SourceBox(p)
        case let p as any Transform: b = TransformBox(p)
        case let p as any Sink: b = SinkBox(p)
        case let p as any AlertPublisher: b = PublisherBox(p)
        default: throw PluginError.error("\(type.name) conforms to none of Source, Transform, Sink, AlertPublisher")
        }
        instance.pointee = Unmanaged.passRetained(b).toOpaque()
        return SLUICE_OK
    }
}

private let destroyThunk: @convention(c) (UnsafeMutableRawPointer?) -> Void = { instance in
    guard let instance else { return }
    let b = Unmanaged<InstanceBox>.fromOpaque(instance)
    b.takeUnretainedValue().close()
    b.release()
}

private let processThunk: @convention(c) (
    UnsafeMutableRawPointer?, UnsafePointer<sluice_batch>?, UnsafePointer<sluice_emitter>?
) -> sluice_status = { instance, batch, out in
    let b = box(instance, as: TransformBox.self)
    return guarded(out) {
        try b.plugin.process(Batch(raw: batch!, emitter: out), Emitter(raw: out!))
        return SLUICE_OK
    }
}

private let readThunk: @convention(c) (
    UnsafeMutableRawPointer?, UnsafePointer<sluice_batch>?, UnsafePointer<sluice_emitter>?
) -> sluice_status = { instance, batch, out in
    let b = box(instance, as: SourceBox.self)
    return guarded(out) {
        switch try b.plugin.read(ReadRequest(batch!), Emitter(raw: out!)) {
        case .more: return SLUICE_OK
        case .end: return SLUICE_END
        }
    }
}

private let commitThunk: @convention(c) (
    UnsafeMutableRawPointer?, UInt64, UnsafePointer<sluice_emitter>?
) -> sluice_status = { instance, batchID, out in
    let b = box(instance, as: SourceBox.self)
    return guarded(out) {
        try b.plugin.commit(batch: batchID, Emitter(raw: out!))
        return SLUICE_OK
    }
}

private let writeThunk: @convention(c) (
    UnsafeMutableRawPointer?, UnsafePointer<sluice_batch>?, UnsafePointer<sluice_emitter>?
) -> sluice_status = { instance, batch, out in
    let b = box(instance, as: SinkBox.self)
    return guarded(out) {
        try b.plugin.write(Batch(raw: batch!, emitter: out), Emitter(raw: out!))
        return SLUICE_OK
    }
}

private let flushThunk: @convention(c) (
    UnsafeMutableRawPointer?, UnsafePointer<sluice_emitter>?
) -> sluice_status = { instance, out in
    let b = box(instance, as: SinkBox.self)
    return guarded(out) {
        try b.plugin.flush(Emitter(raw: out!))
        return SLUICE_OK
    }
}

private let publishThunk: @convention(c) (
    UnsafeMutableRawPointer?, UnsafePointer<UnsafePointer<sluice_alert>?>?, Int, UnsafePointer<sluice_emitter>?
) -> sluice_status = { instance, alerts, n, out in
    let b = box(instance, as: PublisherBox.self)
    return guarded(out) {
        try b.plugin.publish(Alerts(base: alerts, count: n), Emitter(raw: out!))
        return SLUICE_OK
    }
}
