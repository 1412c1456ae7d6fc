import SluicePluginABI

/// A growable array of record headers (16 bytes each) in plain memory: appending is a store
/// and an increment, with no Swift array bookkeeping, and its address can be handed to a
/// plugin. The records themselves live in the batch arena. The owner frees it.
struct RecordBuffer {
    private(set) var base: UnsafeMutablePointer<sluice_record>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    func deallocate() { base.deallocate() }

    var records: UnsafeBufferPointer<sluice_record> { UnsafeBufferPointer(start: base, count: count) }

    mutating func removeAll() { count = 0 }

    @inline(__always)
    mutating func append(_ r: sluice_record) {
        if count == capacity { reserve(count + 1) }
        base[count] = r
        count += 1
    }

    mutating func append(contentsOf rs: UnsafeBufferPointer<sluice_record>) {
        guard let src = rs.baseAddress, rs.count > 0 else { return }
        reserve(count + rs.count)
        (base + count).update(from: src, count: rs.count)
        count += rs.count
    }

    private mutating func reserve(_ needed: Int) {
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
