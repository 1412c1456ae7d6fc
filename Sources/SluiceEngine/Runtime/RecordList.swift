import SluicePluginABI

/// A growable list of record headers (16 bytes each) in plain memory, so the runtime can
/// hand a stable pointer to a plugin. The records themselves live in the batch arena.
final class RecordList {
    private(set) var base: UnsafeMutablePointer<sluice_record>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int = 1024) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    var buffer: UnsafeBufferPointer<sluice_record> { UnsafeBufferPointer(start: base, count: count) }
    var isEmpty: Bool { count == 0 }

    func removeAll() { count = 0 }

    func append(_ r: sluice_record) {
        reserve(count + 1)
        base[count] = r
        count += 1
    }

    func append(contentsOf rs: UnsafeBufferPointer<sluice_record>) {
        guard let src = rs.baseAddress, rs.count > 0 else { return }
        reserve(count + rs.count)
        (base + count).update(from: src, count: rs.count)
        count += rs.count
    }

    private func reserve(_ needed: Int) {
        guard needed > capacity else { return }
        var c = capacity * 2
        while c < needed { c *= 2 }
        let bigger = UnsafeMutablePointer<sluice_record>.allocate(capacity: c)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = c
    }
}
