// store-events: writes N seeded, reproducible store events as JSON Lines to stdout:
//
//   {"store_id":"store17","ts":1700000000123,"data_points":[4,88,19]}
//
// 1000 stores (--stores); about 30% of events carry 1–9 data points (bad: fewer than 10),
// the rest 10–20; points are integers 0–100; ts grows by 0–9 ms per event.
// --bad-lines M inserts M malformed lines at seeded positions (for the error port).
// --spaced writes the same events as Python's json.dumps does, with a space after every
// `:` and `,` (its default separators `, ` and `: `); everything else is identical:
//
//   {"store_id": "store17", "ts": 1700000000123, "data_points": [4, 88, 19]}
//
//   store-events N [--seed S] [--stores K] [--bad-lines M] [--spaced]
#if canImport(Glibc)
import Glibc
#endif

/// SplitMix64: small, fast and the same on every machine.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: UInt64) -> UInt64 { next() % n }
}

@main
enum StoreEvents {
    static func main() {
        var args = Array(CommandLine.arguments.dropFirst())
        func option(_ name: String, _ fallback: UInt64) -> UInt64 {
            guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = UInt64(args[i + 1]) else { return fallback }
            args.removeSubrange(i...(i + 1))
            return v
        }
        let seed = option("--seed", 42)
        let stores = max(1, option("--stores", 1000))
        let badLines = option("--bad-lines", 0)
        let spaced = args.contains("--spaced")
        args.removeAll { $0 == "--spaced" }
        let (colon, comma) = spaced ? (": ", ", ") : (":", ",")
        guard let countText = args.first, let count = UInt64(countText) else {
            "usage: store-events N [--seed S] [--stores K] [--bad-lines M] [--spaced]\n".withCString { _ = write(2, $0, strlen($0)) }
            exit(2)
        }

        var rng = SplitMix64(state: seed)
        var bad = Set<UInt64>()
        while UInt64(bad.count) < min(badLines, count) { bad.insert(rng.below(count)) }

        var out: [UInt8] = []
        out.reserveCapacity(1 << 20)
        func put(_ s: String) { out.append(contentsOf: s.utf8) }
        func put(_ n: UInt64) {
            if n >= 10 { put(n / 10) }
            out.append(UInt8(48 + n % 10))
        }
        func flush() {
            out.withUnsafeBytes { b in
                var off = 0
                while off < b.count {
                    let n = write(1, b.baseAddress! + off, b.count - off)
                    if n <= 0 { exit(1) }
                    off += n
                }
            }
            out.removeAll(keepingCapacity: true)
        }

        var ts: UInt64 = 1_700_000_000_000
        for i in 0..<count {
            ts += rng.below(10)
            if bad.contains(i) {
                put("{\"store_id\"\(colon)\"store\(rng.below(stores))\"\(comma)\"ts\"\(colon)\(ts)\(comma)\"data_points\"\(colon)[1\(comma)2\(comma)\n")
                continue
            }
            put("{\"store_id\"\(colon)\"store")
            put(rng.below(stores))
            put("\"\(comma)\"ts\"\(colon)")
            put(ts)
            put("\(comma)\"data_points\"\(colon)[")
            let n = rng.below(100) < 30 ? 1 + rng.below(9) : 10 + rng.below(11)
            for j in 0..<n {
                if j > 0 { put(comma) }
                put(rng.below(101))
            }
            put("]}\n")
            if out.count > (1 << 20) - 256 { flush() }
        }
        flush()
    }
}
