// The ABI benchmark's runner: loads the benchmark plugins through the catalog, exactly as
// the host does, and measures nanoseconds per record of a transform call for batch sizes
// 1 to 1024. Run it with tools/abi-bench/run (release build), not directly.
//
//   abi-bench PLUGIN_DIR [--records N]
import Foundation
import SluiceEngine
import SluicePluginABI

let args = CommandLine.arguments
guard args.count >= 2 else {
    FileHandle.standardError.write(Data("usage: abi-bench PLUGIN_DIR [--records N]\n".utf8))
    exit(2)
}
let pluginDir = args[1]
var recordsPerPoint = 4_000_000
if let i = args.firstIndex(of: "--records"), i + 1 < args.count, let n = Int(args[i + 1]) { recordsPerPoint = n }

let catalog = Catalog.load(locations: PluginSearchPath.locations(pluginDirectories: [pluginDir], environment: [:], includeBundled: false))
if !catalog.problems.isEmpty {
    FileHandle.standardError.write(Data(CatalogReport.problemLines(catalog).utf8))
    exit(1)
}

// 1024 store events of the shape the examples use; "value" is the numeric field read.
let arena = RecordArena()
let parser = RecordParser()
var input: [sluice_record] = []
for i in 0..<1024 {
    let line = #"{"store_id":"store\#(i % 1000)","ts":\#(1_700_000_000_000 + i),"value":\#(Double(i % 100) + 0.5),"data_points":[1,7,3]}"#
    input.append(try parser.parse(line, into: arena))
}

// Read: two fields inline (the flat layout); Read acc: the same through the accessors
// (sluice_get; in Swift, the SDK's Record).
let plugins = ["BenchPassC", "BenchEmitC", "BenchReadC", "BenchReadAccC",
               "BenchPassSwift", "BenchEmitSwift", "BenchReadInlineSwift", "BenchReadSwift"]
let columns = ["Pass C", "Emit C", "Read C", "Read acc C", "Pass Swift", "Emit Swift", "Read Swift", "Read acc Swift"]
let sizes = [1, 4, 16, 64, 256, 1024]

@MainActor func nanosecondsPerRecord(_ stage: StageInstance, batchSize: Int) -> Double {
    let calls = max(1, recordsPerPoint / batchSize)
    return input.withUnsafeBufferPointer { all in
        let batch = UnsafeBufferPointer(rebasing: all[0..<batchSize])
        var emitted = 0
        for _ in 0..<min(calls, 1000) { emitted &+= stage.process(batch: 1, records: batch).records.count }  // warm up
        let start = DispatchTime.now().uptimeNanoseconds
        for c in 0..<calls { emitted &+= stage.process(batch: UInt64(c), records: batch).records.count }
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        precondition(emitted == (calls + min(calls, 1000)) * batchSize, "\(stage.descriptor.name) lost records")
        return Double(elapsed) / Double(calls * batchSize)
    }
}

var results: [String: [Int: Double]] = [:]
for name in plugins {
    let entry = try catalog.find(name: name).get()
    let stage = try StageInstance(descriptor: try entry.load(), identity: StageIdentity(pipeline: "bench", stage: name),
                                  properties: [], allowsAlerts: false, arena: arena)
    for size in sizes {
        // Best of three, to keep the other core's noise out.
        results[name, default: [:]][size] = (0..<3).map { _ in nanosecondsPerRecord(stage, batchSize: size) }.min()!
    }
}

print("ns per record (best of 3; \(recordsPerPoint) records per measurement)")
print("| batch | " + columns.joined(separator: " | ") + " |")
print("|---:|" + plugins.map { _ in "---:" }.joined(separator: "|") + "|")
for size in sizes {
    print("| \(size) | " + plugins.map { String(format: "%.2f", results[$0]![size]!) }.joined(separator: " | ") + " |")
}
