// The ABI benchmark's runner: loads the benchmark plugins through the catalog, exactly as
// the host does, and measures nanoseconds per record of a transform call for batch sizes
// 1 to 1024: passing records on, and reading two fields inline and through the accessors
// (ABI 1.7), on flat records and on host handles (lazy records). Run it with tools/abi-bench/run (release build), not directly.
//
//   abi-bench PLUGIN_DIR [--records N]
import Foundation
import SluiceEngine
import SluicePluginABI
import SluiceRecords

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

// The same events as host handles (ABI 1.7 lazy records), parsed by the line parser in
// lazy mode into an arena that lives as long as the runner.
var handles: [sluice_record] = []
do {
    let lines = input.map(RecordJSON.render).joined(separator: "\n") + "\n"
    guard let parser = sr_line_parser_new(1), let lazyArena = sr_arena_new(1 << 20) else { fatalError("out of memory") }
    sr_line_parser_set_mode(parser, SR_PARSE_LAZY)
    var records: UnsafePointer<sluice_record>?
    var bad: UnsafePointer<sr_bad_line>?
    var n = 0, nbad = 0
    let arenas: [OpaquePointer?] = [lazyArena]
    let status = lines.withCString { t in
        arenas.withUnsafeBufferPointer { sr_parse_lines(parser, $0.baseAddress, t, strlen(t), &records, &n, &bad, &nbad) }
    }
    precondition(status == 0 && n == input.count && nbad == 0, "the lazy parser refused the events")
    handles = Array(UnsafeBufferPointer(start: records, count: n))
    precondition(handles.allSatisfy { r in withUnsafePointer(to: r) { sr_is_handle($0) != 0 } }, "no handles: lazy mode is not built")
    sr_line_parser_free(parser)
}

// Read: two fields inline (the flat layout); Read acc: the same through the accessors
// (sluice_get; in Swift, the SDK's Record), on flat records, then on handles.
let plugins = ["BenchPassC", "BenchEmitC", "BenchReadC", "BenchReadAccC",
               "BenchPassSwift", "BenchEmitSwift", "BenchReadInlineSwift", "BenchReadSwift"]
let columns = ["Pass C", "Emit C", "Read C", "Read acc C", "Pass Swift", "Emit Swift", "Read Swift", "Read acc Swift"]
let sizes = [1, 4, 16, 64, 256, 1024]

@MainActor func nanosecondsPerRecord(_ stage: StageInstance, batchSize: Int, records: [sluice_record] = input) -> Double {
    let calls = max(1, recordsPerPoint / batchSize)
    return records.withUnsafeBufferPointer { all in
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

// The accessor readers again, on handles (an inline reader finds no field in a handle: a
// pipeline hands it flat records instead). The same 1024 handles are read over and over, so
// whatever the record core caches at a value's first read is warm.
let onHandles = ["BenchReadAccC", "BenchReadSwift"]

var results: [String: [Int: Double]] = [:]
for (name, records, column) in plugins.map({ ($0, input, $0) }) + onHandles.map({ ($0, handles, $0 + "/handles") }) {
    let entry = try catalog.find(name: name).get()
    let stage = try StageInstance(descriptor: try entry.load(), identity: StageIdentity(pipeline: "bench", stage: name),
                                  properties: [], allowsAlerts: false, arena: arena)
    for size in sizes {
        // Best of three, to keep the other core's noise out.
        results[column, default: [:]][size] = (0..<3).map { _ in nanosecondsPerRecord(stage, batchSize: size, records: records) }.min()!
    }
}
let allColumns = plugins + onHandles.map { $0 + "/handles" }
let headings = columns + ["Read acc C, handles", "Read acc Swift, handles"]

print("ns per record (best of 3; \(recordsPerPoint) records per measurement)")
print("| batch | " + headings.joined(separator: " | ") + " |")
print("|---:|" + allColumns.map { _ in "---:" }.joined(separator: "|") + "|")
for size in sizes {
    print("| \(size) | " + allColumns.map { String(format: "%.2f", results[$0]![size]!) }.joined(separator: " | ") + " |")
}
