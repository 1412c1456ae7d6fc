import SluicePluginABI
import SluiceRecords

/// A record buffer owned by the runtime (a batch's source records, a stage's error records,
/// fan-in's gathered inputs, a stage's materialised input), freed with it.
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

    /// `records` as a stage of an earlier ABI minor must see them: unchanged when none is a
    /// lazy record (a handle); else a copy, in this list, in which each handle is replaced by
    /// its flat form, built in `arena` (once per record: sr_materialize caches it, so a
    /// second stage that needs it costs nothing more) and rendering to the same bytes.
    /// Throws the reason when memory ran out.
    func materialised(_ records: UnsafeBufferPointer<sluice_record>, in arena: RecordArena) throws(OutOfMemory) -> UnsafeBufferPointer<sluice_record> {
        guard records.contains(where: { $0.flags & SLUICE_RECORD_HOST != 0 }) else { return records }
        storage.removeAll()
        storage.append(contentsOf: records)
        var why = [CChar](repeating: 0, count: 256)
        let status = sr_materialize_records(arena.raw, storage.base, storage.count, storage.base, &why, why.count)
        guard status == 0 else {
            storage.removeAll()
            throw OutOfMemory(what: "materialising \(records.count) records: " + String(decoding: why.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return storage.records
    }
}
