// The rules benchmark's runner: nanoseconds per record for the built-in AlertRule and
// Filter stages driven through the ABI over generated store events, beside the compiled
// QualityCheck plugin in the same run, and nanoseconds per plugin-function call through
// libffi from an expression. Usage: rules-bench EVENTS.jsonl FUNCTIONS-DIR [ROUNDS]
import Foundation
import SluiceEngine
import SluicePluginABI

let args = CommandLine.arguments
guard args.count >= 3 else {
    FileHandle.standardError.write(Data("usage: rules-bench EVENTS.jsonl FUNCTIONS-DIR [ROUNDS]\n".utf8))
    exit(2)
}
let rounds = args.count > 3 ? Int(args[3]) ?? 5 : 5
let catalog = Catalog.load(locations: PluginSearchPath.locations(pluginDirectories: [args[2]]))

// The events, parsed once, in batches of 10,000 (the pipeline's default).
let arena = RecordArena(chunkBytes: 64 << 20)
let parser = RecordParser()
let text = try String(contentsOfFile: args[1], encoding: .utf8)
nonisolated(unsafe) let records: [sluice_record] = text.split(separator: "\n").compactMap { line in
    line.isEmpty ? nil : try? parser.parse(String(line), into: arena)
}
let batch = 10_000

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// ns per record of `stage` processing every record once, batch by batch (cold), or the
/// first batch again and again, as many records in all (hot: in cache, as right after parsing).
func timeOnce(_ stage: any TransformStage, hot: Bool) -> Double {
    let out = RecordArena(chunkBytes: 1 << 20)
    let t0 = now()
    records.withUnsafeBufferPointer { all in
        var i = 0, id: UInt64 = 1
        while i < all.count {
            let n = min(batch, all.count - i)
            let from = hot ? 0 : i
            stage.arena = out
            stage.beginBatch()
            _ = stage.process(batch: id, records: UnsafeBufferPointer(rebasing: all[from..<(from + n)]))
            out.reset()
            i += n
            id += 1
        }
    }
    return Double(now() - t0) / Double(records.count)
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

print("rules-bench: \(records.count) events, batches of \(batch), \(rounds) rounds each")
let quality = try StageInstance(descriptor: catalog.find(name: "QualityCheck").get().load(),
                                identity: StageIdentity(pipeline: "bench", stage: "quality"),
                                properties: [("field", "data_points"), ("min", "10"), ("idField", "store_id"), ("countField", "n_elements")],
                                allowsAlerts: true, arena: arena)
let rule = try RuleStages.instance(plugin: "AlertRule", properties: [
    ("when", "size(data_points) < 10"),
    ("payload", #"{"store_id": "store_id", "n_elements": "size(data_points)"}"#),
], catalog: catalog, arena: arena)
let filter = try RuleStages.instance(plugin: "Filter", properties: [("where", "size(data_points) >= 10")], catalog: catalog, arena: arena)
let ruleTrue = try RuleStages.instance(plugin: "AlertRule", properties: [("when", "false")], catalog: catalog, arena: arena)
let ruleNever = try RuleStages.instance(plugin: "AlertRule", properties: [
    ("when", "size(data_points) < 0"),
    ("payload", #"{"store_id": "store_id", "n_elements": "size(data_points)"}"#),
], catalog: catalog, arena: arena)
// The share of records that raise an alert (fewer than 10 data points).
let firing = records.withUnsafeBufferPointer { all in
    Double(all.indices.filter { i in
        (0..<Int(all[i].nfields)).contains { k in
            let f = all[i].fields[k]
            return String(cString: f.name) == "data_points" && f.value.type == SLUICE_ARRAY && f.value.len < 10
        }
    }.count) / Double(max(1, all.count))
}
let stages: [(String, any TransformStage)] = [
    ("QualityCheck plugin (C, reference)", quality),
    ("AlertRule size(data_points) < 10, 2-field payload", rule),
    ("Filter size(data_points) >= 10", filter),
    ("AlertRule when: false (the stage's own cost)", ruleTrue),
    ("AlertRule size(data_points) < 0 (evaluated, never true)", ruleNever),
]
for hot in [false, true] {
    print(hot ? "one batch of \(batch) events again and again (in cache, as right after parsing), \(rounds) rounds in turns:"
              : "every event once (batches read from memory, cache-cold), \(rounds) rounds in turns:")
    // Rounds in turns: a slow moment of the VM falls on every stage, not on one.
    var times = [[Double]](repeating: [], count: stages.count)
    for _ in 0..<rounds {
        for (k, stage) in stages.enumerated() { times[k].append(timeOnce(stage.1, hot: hot)) }
    }
    for (k, stage) in stages.enumerated() {
        print(String(format: "  %-58@ %7.2f ns/record (median; rounds %@)", stage.0 as NSString, median(times[k]),
                     times[k].map { String(format: "%.2f", $0) }.joined(separator: " ")))
    }
    let (qc, r, f, empty, never) = (median(times[0]), median(times[1]), median(times[2]), median(times[3]), median(times[4]))
    print(String(format: "  the condition itself: %.2f ns/record; each alert raised: %.0f ns (%.1f%% of records raise one)",
                 never - empty, (r - never) / firing, firing * 100))
    print(String(format: "  AlertRule / QualityCheck: %.2fx   Filter / QualityCheck: %.2fx", r / qc, f / qc))
}

// libffi: the same expression with and without a call of a trivial plugin function. 1,000
// records (in cache: the call's cost, not memory's) evaluated 1,000 times per measurement;
// the expressions measured in turns within each round, and the per-round differences'
// median reported, so a slow moment of the VM falls on both sides of a difference.
let sample = 1_000, repeats = 1_000
print("plugin functions through libffi (ns per evaluation of \(sample) records \(repeats) times, \(rounds) rounds in turns):")
let expressions = ["ts > 0", "ident(ts) > 0", "addd(ts, 1) > 0", "size(store_id) > 0", "len(store_id) > 0"]
let compiled = try expressions.map { try Expression($0, functions: ExpressionFunctions(catalog: catalog)) }
var perRound = [[Double]](repeating: [], count: expressions.count)
var sink = 0
for _ in 0..<rounds {
    for (k, e) in compiled.enumerated() {
        let t0 = now()
        records.withUnsafeBufferPointer { all in
            let base = all.baseAddress!, n = min(sample, all.count)
            for _ in 0..<repeats {
                for i in 0..<n where e.isTrue(base + i) { sink += 1 }
            }
        }
        perRound[k].append(Double(now() - t0) / Double(repeats * min(sample, records.count)))
    }
}
for (k, source) in expressions.enumerated() {
    print(String(format: "  %-44@ %7.2f ns (median of %d)%@", source as NSString, median(perRound[k]), rounds, sink < 0 ? "!" : ""))
}
let cost = [(1, 0), (2, 0), (4, 3)].map { pair in median(zip(perRound[pair.0], perRound[pair.1]).map { $0 - $1 }) }
print(String(format: "  per libffi call (median of the rounds' differences): int64 %.2f ns, (double, double) %.2f ns, string %.2f ns",
             cost[0], cost[1], cost[2]))
