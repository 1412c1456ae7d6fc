import SluicePluginABI

/// A record buffer owned by the runtime (a batch's source records, a stage's error records,
/// fan-in's gathered inputs), freed with it.
final class RecordList {
    private var storage: RecordBuffer

    init(capacity: Int = 1024) { storage = RecordBuffer(capacity: capacity) }
    deinit { storage.deallocate() }

    var buffer: UnsafeBufferPointer<sluice_record> { storage.records }
    var count: Int { storage.count }
    var isEmpty: Bool { storage.count == 0 }

    func removeAll() { storage.removeAll() }
    func append(_ r: sluice_record) { storage.append(r) }
    func append(contentsOf rs: UnsafeBufferPointer<sluice_record>) { storage.append(contentsOf: rs) }
}
