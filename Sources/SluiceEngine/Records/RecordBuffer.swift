import SluicePluginABI

/// A growable array of plain values (record headers, alert references) in plain memory:
/// appending is a store and an increment, with no Swift array bookkeeping, and its address
/// can be handed to a plugin. What the values point at lives in the batch arena. The owner
/// frees it.
struct PlainBuffer<Element: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    func deallocate() { base.deallocate() }

    var elements: UnsafeBufferPointer<Element> { UnsafeBufferPointer(start: base, count: count) }

    mutating func removeLast(from index: Int) { count = min(count, max(0, index)) }

    mutating func removeAll() { count = 0 }

    @inline(__always)
    mutating func append(_ r: Element) {
        if count == capacity { reserve(count + 1) }
        base[count] = r
        count += 1
    }

    mutating func append(contentsOf rs: UnsafeBufferPointer<Element>) {
        guard let src = rs.baseAddress, rs.count > 0 else { return }
        reserve(count + rs.count)
        (base + count).update(from: src, count: rs.count)
        count += rs.count
    }

    private mutating func reserve(_ needed: Int) {
        guard needed > capacity else { return }
        var c = capacity * 2
        while c < needed { c *= 2 }
        let bigger = UnsafeMutablePointer<Element>.allocate(capacity: c)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = c
    }
}

/// Record headers (16 bytes each).
typealias RecordBuffer = PlainBuffer<sluice_record>

extension PlainBuffer where Element == sluice_record {
    var records: UnsafeBufferPointer<sluice_record> { elements }
}
