#if canImport(Glibc)
import Glibc
#endif

/// Numbers the distinct byte strings it is given, in the order first seen: the group keys
/// of alert aggregation. An open-addressing table over the raw bytes, so finding the group
/// of a raw alert makes no Swift string and no allocation.
struct GroupTable {
    private var slots: [Int32]          // entry + 1, or 0 when empty; power-of-two count
    private var hashes: [UInt64] = []   // per entry
    private var starts: [Int] = []      // per entry: where its bytes begin in `pool`
    private var pool: [UInt8] = []
    private var mask: Int

    init(capacity: Int = 64) {
        var n = 16
        while n < capacity * 2 { n *= 2 }
        slots = Array(repeating: 0, count: n)
        mask = n - 1
    }

    var count: Int { hashes.count }

    /// The number of `key`: an existing one, or the next free one.
    mutating func number(of key: UnsafeBufferPointer<UInt8>) -> (number: Int, isNew: Bool) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        var slot = Int(truncatingIfNeeded: h ^ (h >> 29)) & mask
        while true {
            let entry = Int(slots[slot]) - 1
            if entry < 0 { break }
            if hashes[entry] == h && same(entry, key) { return (entry, false) }
            slot = (slot + 1) & mask
        }
        let entry = hashes.count
        slots[slot] = Int32(entry + 1)
        hashes.append(h)
        starts.append(pool.count)
        pool.append(contentsOf: key)
        if hashes.count * 2 > slots.count { grow() }
        return (entry, true)
    }

    private func same(_ entry: Int, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = starts[entry]
        let end = entry + 1 < starts.count ? starts[entry + 1] : pool.count
        guard end - start == key.count else { return false }
        guard key.count > 0 else { return true }
        return pool.withUnsafeBufferPointer { memcmp($0.baseAddress! + start, key.baseAddress!, key.count) == 0 }
    }

    private mutating func grow() {
        let n = slots.count * 2
        slots = Array(repeating: 0, count: n)
        mask = n - 1
        for (entry, h) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: h ^ (h >> 29)) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(entry + 1)
        }
    }
}
