/// One alert key's window across batches (issue 22): the raw alerts of the last `sizeMs`,
/// kept as buckets of `slideMs` (a tumbling window when the two are equal), so that its
/// memory is bounded by the window's shape, not by how many alerts arrive. Times are
/// processing time or event time, as the caller gives them: with event time an alert older
/// than `allowedLatenessMs` behind the newest time seen (the watermark) is refused as late.
/// Pure: no clock, no I/O.
struct AlertWindow: Codable, Equatable, Sendable {
    struct Shape: Codable, Equatable, Sendable {
        var sizeMs: Int64
        var slideMs: Int64
        var allowedLatenessMs: Int64 = 0

        /// The most buckets a key holds: two windows' worth (the one closing and the one
        /// open, until the caller has evaluated the first) and those a late alert may reach.
        var maxBuckets: Int { Int((2 * sizeMs + allowedLatenessMs + slideMs - 1) / slideMs) + 1 }

        /// Whether a bucket starting at `start` is past at `watermark`: the last window
        /// holding it ended `allowedLatenessMs` or longer before.
        func isPast(_ start: Int64, watermark: Int64) -> Bool {
            watermark != .min && start + sizeMs + allowedLatenessMs <= watermark
        }
    }

    enum Function: Codable, Equatable, Sendable { case count, sum, avg, min, max, distinct }

    /// One aggregate's input from one alert: a number, a text (for `distinct`), or nothing.
    enum Sample: Equatable, Sendable { case number(Double), text(String), missing }

    enum Outcome: Equatable, Sendable {
        case added
        /// Older than the watermark minus `allowedLatenessMs`: not counted.
        case late
    }

    struct Accumulator: Codable, Equatable, Sendable {
        var numbers = 0
        var sum = 0.0
        var min = Double.infinity
        var max = -Double.infinity
        var texts: Set<String> = []

        init() {}

        // Saved with min and max only when there are numbers (JSON has no infinity).
        private enum CodingKeys: String, CodingKey { case numbers, sum, min, max, texts }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            numbers = try c.decode(Int.self, forKey: .numbers)
            sum = try c.decode(Double.self, forKey: .sum)
            min = try c.decodeIfPresent(Double.self, forKey: .min) ?? .infinity
            max = try c.decodeIfPresent(Double.self, forKey: .max) ?? -.infinity
            texts = try c.decodeIfPresent(Set<String>.self, forKey: .texts) ?? []
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(numbers, forKey: .numbers)
            try c.encode(sum, forKey: .sum)
            if numbers > 0 {
                try c.encode(min, forKey: .min)
                try c.encode(max, forKey: .max)
            }
            if !texts.isEmpty { try c.encode(texts, forKey: .texts) }
        }

        /// Adds one sample (for function `function`); false when a distinct text did not
        /// fit in `maxDistinct`.
        mutating func add(_ sample: Sample, _ function: Function, maxDistinct: Int) -> Bool {
            switch sample {
            case let .number(x) where x.isFinite:
                numbers += 1
                sum += x
                min = Swift.min(min, x)
                max = Swift.max(max, x)
                if function == .distinct { return insert(String(x), maxDistinct) }
            case let .text(s) where function == .distinct:
                return insert(s, maxDistinct)
            default:
                break
            }
            return true
        }

        mutating func insert(_ text: String, _ maxDistinct: Int) -> Bool {
            guard texts.count < maxDistinct || texts.contains(text) else { return false }
            texts.insert(text)
            return true
        }
    }

    struct Bucket: Codable, Equatable, Sendable {
        var start: Int64
        var count = 0
        var accumulators: [Accumulator]
    }

    let shape: Shape
    let functions: [Function]
    /// The most distinct texts one bucket keeps per aggregate; past it they are counted in
    /// `overflow` and `distinct` is a lower bound.
    let maxDistinct: Int
    private(set) var buckets: [Bucket] = []   // oldest first
    private(set) var watermark: Int64 = .min
    private(set) var overflow = 0

    init(shape: Shape, functions: [Function], maxDistinct: Int = 1_000) {
        self.shape = shape
        self.functions = functions
        self.maxDistinct = maxDistinct
    }

    /// A window as it was saved (AlertState).
    init(shape: Shape, functions: [Function], maxDistinct: Int, buckets: [Bucket], watermark: Int64, overflow: Int) {
        self.init(shape: shape, functions: functions, maxDistinct: maxDistinct)
        self.buckets = buckets.sorted { $0.start < $1.start }
        self.watermark = watermark
        self.overflow = overflow
    }

    /// The bucket that holds time `t`: the start of its slide.
    func bucketStart(_ t: Int64) -> Int64 {
        let r = t % shape.slideMs
        return t - (r < 0 ? r + shape.slideMs : r)
    }

    /// Whether a bucket starting at `start` is past: the last window holding it ended
    /// `allowedLatenessMs` or longer before the watermark. Late alerts go nowhere, past
    /// buckets are dropped: one rule for both.
    func isPast(_ start: Int64) -> Bool { shape.isPast(start, watermark: watermark) }

    /// Adds one alert at time `t` with one sample per function.
    mutating func add(at t: Int64, samples: [Sample]) -> Outcome {
        var accumulators = Array(repeating: Accumulator(), count: functions.count)
        for f in functions.indices where f < samples.count {
            if !accumulators[f].add(samples[f], functions[f], maxDistinct: maxDistinct) { overflow += 1 }
        }
        return merge(at: t, count: 1, accumulators: accumulators[...])
    }

    /// Adds `count` alerts at time `t`, already summed up per function (a batch's alerts of
    /// one key and one slide, added at once).
    /// `judgedLate`: the caller has judged lateness already (against the stage's watermark
    /// before the batch), so the window's own newest time does not count.
    mutating func merge(at t: Int64, count: Int, accumulators: ArraySlice<Accumulator>, judgedLate: Bool = false) -> Outcome {
        if !judgedLate && isPast(bucketStart(t)) { return .late }
        watermark = Swift.max(watermark, t)
        let start = bucketStart(t)
        if !buckets.contains(where: { $0.start == start }) {
            let at = buckets.firstIndex(where: { $0.start > start }) ?? buckets.count
            buckets.insert(Bucket(start: start, accumulators: Array(repeating: Accumulator(), count: functions.count)), at: at)
            // However seldom the caller advances, no key holds more than `maxBuckets`.
            let bound = watermark - 2 * shape.sizeMs - shape.allowedLatenessMs
            buckets.removeAll { $0.start <= bound }
        }
        guard let i = buckets.lastIndex(where: { $0.start == start }) else { return .late }
        buckets[i].count += count
        for f in functions.indices where f < accumulators.count {
            let a = accumulators[accumulators.startIndex + f]
            buckets[i].accumulators[f].numbers += a.numbers
            buckets[i].accumulators[f].sum += a.sum
            buckets[i].accumulators[f].min = Swift.min(buckets[i].accumulators[f].min, a.min)
            buckets[i].accumulators[f].max = Swift.max(buckets[i].accumulators[f].max, a.max)
            for text in a.texts where !buckets[i].accumulators[f].insert(text, maxDistinct) { overflow += 1 }
        }
        return .added
    }

    /// Forgets every alert (a window of one batch, once it was judged).
    mutating func clear() { buckets.removeAll(keepingCapacity: true) }

    /// Moves the watermark to `t` (time passing without alerts) and drops the buckets no
    /// window still open or within its lateness holds: call it once the windows that
    /// closed by then were evaluated.
    mutating func advance(to t: Int64) {
        watermark = Swift.max(watermark, t)
        let window = self
        buckets.removeAll { window.isPast($0.start) }
    }

    /// The window ending at `end` (exclusive), of the buckets that start in
    /// [end − sizeMs, end): how many alerts, and each function's value (nil: no number).
    func values(endingAt end: Int64, all: Bool = false) -> (count: Int, values: [Double?]) {
        var count = 0
        var total = Array(repeating: Accumulator(), count: functions.count)
        for b in buckets where all || (b.start >= end - shape.sizeMs && b.start < end) {
            count += b.count
            for f in functions.indices {
                let a = b.accumulators[f]
                total[f].numbers += a.numbers
                total[f].sum += a.sum
                total[f].min = Swift.min(total[f].min, a.min)
                total[f].max = Swift.max(total[f].max, a.max)
                if functions[f] == .distinct { total[f].texts.formUnion(a.texts) }
            }
        }
        let values = functions.indices.map { f -> Double? in
            let a = total[f]
            switch functions[f] {
            case .count: return Double(count)
            case .distinct: return Double(a.texts.count)
            case .sum: return a.numbers > 0 ? a.sum : nil
            case .avg: return a.numbers > 0 ? a.sum / Double(a.numbers) : nil
            case .min: return a.numbers > 0 ? a.min : nil
            case .max: return a.numbers > 0 ? a.max : nil
            }
        }
        return (count, values)
    }
}
