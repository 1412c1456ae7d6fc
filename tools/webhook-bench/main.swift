// webhook-bench — measures the webhook publisher on the path users run: a release `host`
// process, its bundled plugins, a real HTTP receiver on 127.0.0.1 (LoopbackHTTP, in this
// process). Run it through tools/webhook-bench/run.
//
//   1. Latency: the store-quality pipeline with its defaults (batch maxDelayMs 1000, the
//      source's pollMs 200) following a folder, publishing to a `json` webhook. A file of
//      store events is renamed into the folder; the clock stops when the receiver holds
//      that file's alerts. 20 files, one after another, at random moments.
//   2. Throughput: 10,000 alerts per batch (every event alerts, not aggregated) delivered
//      to the `json` receiver, against the local alert log (AlertLog) on the same alerts
//      in the same run as the reference.
import Foundation
import LoopbackHTTP

let args = CommandLine.arguments
guard args.count >= 3 else {
    print("usage: webhook-bench HOST WORKDIR [--files N] [--batches N] [--runs N]")
    exit(64)
}
let host = args[1], work = args[2]
func option(_ name: String, _ fallback: Int) -> Int {
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
    return v
}
let files = option("--files", 20), batches = option("--batches", 20), runs = option("--runs", 3)
let fm = FileManager.default

func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

func json(_ object: Any) -> String {
    String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data(), as: UTF8.self)
}

/// The example's stages: events → quality (aggregated per store when `aggregate`) → `publisher`.
func pipeline(name: String, input: String, follow: Bool, aggregate: Bool, publisher: [String: Any], batch: [String: Any]? = nil,
              spool: String) -> String {
    var quality: [String: Any] = [
        "name": "quality",
        "plugin": ["name": "QualityCheck", "properties": ["field": "data_points", "min": 10, "idField": "store_id", "countField": "n_elements"]],
    ]
    if aggregate {
        quality["alerts"] = ["groupBy": ["store_id"], "aggregates": [["name": "bad_events", "function": "count"],
                                                                      ["name": "min_points", "function": "min", "field": "n_elements"]]]
    }
    var p: [String: Any] = [
        "name": name, "namespace": "bench", "spool": ["path": spool], "state": ["path": spool + "/../state"],
        "stages": [
            ["name": "events", "plugin": ["name": "JSONLSource", "properties": ["path": input, "follow": follow]]],
            quality,
            ["name": "out", "plugin": publisher],
        ],
        "connections": [["from": "events", "to": "quality"], ["from": "quality", "to": "out", "port": "alerts"]],
    ]
    if let batch { p["batch"] = batch }
    return json(p)
}

/// Store events with 1 to 9 data points (all too few): each one alerts.
func events(_ n: Int, stores: Int, prefix: String, into out: inout String) {
    for i in 0..<n {
        let points = (0..<(1 + i % 9)).map { String(($0 * 7 + i) % 100) }.joined(separator: ",")
        out += #"{"store_id":"\#(prefix)\#(i % stores)","ts":\#(1_700_000_000_000 + i),"data_points":[\#(points)]}"# + "\n"
    }
}

func median(_ v: [Double]) -> Double {
    let s = v.sorted()
    return s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

func runHost(_ arguments: [String], log: String) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: host)
    p.arguments = arguments
    _ = fm.createFile(atPath: log, contents: nil)
    let handle = FileHandle(forWritingAtPath: log)
    p.standardOutput = handle
    p.standardError = handle
    try p.run()
    return p
}

// MARK: 1. latency

try? fm.removeItem(atPath: work)

/// Latencies (ms) of `files` files, with the batch settings `batch` (nil: the defaults).
func latencies(_ label: String, batch: [String: Any]?) throws -> [Double] {
    let dir = work + "/latency-" + label
    try fm.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
    let receiver = try LoopbackHTTPServer()
    try pipeline(name: "latency", input: dir + "/in", follow: true, aggregate: true,
                 publisher: ["name": "Webhook", "properties": ["format": "json", "url": receiver.url + "/alerts"]],
                 batch: batch, spool: dir + "/spool")
        .write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
    let follower = try runHost(["run", dir + "/pipeline.json", "--progress", "none", "--from-start"], log: dir + "/host.log")
    defer {
        follower.terminate()
        follower.waitUntilExit()
    }
    usleep(500_000)
    var out: [Double] = []
    for f in 1...files {
        usleep(useconds_t(Int.random(in: 0..<400) * 1000))  // not in step with the source's polling
        var text = ""
        events(200, stores: 10, prefix: "f\(f)-s", into: &text)
        let tmp = dir + "/in/.f\(f).tmp"
        try text.write(toFile: tmp, atomically: false, encoding: .utf8)
        let marker = "\"f\(f)-s"
        let t0 = nowMs()
        guard rename(tmp, dir + "/in/" + String(format: "f-%04d.jsonl", f)) == 0 else { throw CocoaError(.fileWriteUnknown) }
        var arrived: Int64?
        for _ in 0..<10_000 {
            if let r = receiver.requests.first(where: { $0.bodyText.contains(marker) }) { arrived = r.receivedMs; break }
            usleep(1_000)
        }
        guard let arrived else { print("file \(f): its alerts did not arrive within 10 s; see \(dir)/host.log"); exit(1) }
        out.append(Double(arrived - t0))
    }
    return out
}

for (label, batch, what) in [("defaults", nil, "pipeline defaults: maxDelayMs 1000, pollMs 200"),
                             ("100ms", ["maxDelayMs": 100] as [String: Any]?, "batch.maxDelayMs 100")] {
    let l = try latencies(label, batch: batch)
    let sorted = l.sorted()
    print("latency, rename into a followed folder → the webhook receiver holds the alerts (\(files) files, \(what)):")
    print(String(format: "  p50 %.0f ms, max %.0f ms, min %.0f ms", median(l), sorted.last ?? 0, sorted.first ?? 0))
    print("  all (ms): " + l.map { String(Int($0)) }.joined(separator: " "))
}

// MARK: 2. throughput

let tputDir = work + "/throughput"
try fm.createDirectory(atPath: tputDir + "/in", withIntermediateDirectories: true)
var big = ""
big.reserveCapacity(batches * 10_000 * 90)
events(batches * 10_000, stores: 1000, prefix: "store", into: &big)
try big.write(toFile: tputDir + "/in/events.jsonl", atomically: true, encoding: .utf8)
let sink = try LoopbackHTTPServer(keepBodies: false, handler: { _ in HTTPResponseSpec(status: 200, body: "ok") })

struct Measure { var alertsPerSecond: [Double] = []; var publishMs: [Double] = []; var alerts = 0 }
var webhook = Measure(), alertLog = Measure()
for run in 1...runs {
    for (label, publisher) in [("webhook", ["name": "Webhook", "properties": ["format": "json", "url": sink.url + "/alerts"]] as [String: Any]),
                               ("alertlog", ["name": "AlertLog", "properties": ["path": tputDir + "/alerts-\(run).jsonl"]])] {
        let file = tputDir + "/\(label).json"
        try pipeline(name: "throughput", input: tputDir + "/in/events.jsonl", follow: false, aggregate: false, publisher: publisher,
                     batch: ["maxRecords": 10_000], spool: tputDir + "/spool")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let start = Date()
        let p = try runHost(["run", file, "--progress", "none", "--from-start", "--summary-json", tputDir + "/summary.json"], log: tputDir + "/host.log")
        p.waitUntilExit()
        let wall = Date().timeIntervalSince(start)
        let summary = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tputDir + "/summary.json")))) as? [String: Any] ?? [:]
        let published = ((summary["alerts"] as? [String: Any])?["published"] as? Int) ?? 0
        let publishMs = ((summary["publishers"] as? [[String: Any]])?.first?["durationMs"] as? Double) ?? 0
        guard p.terminationStatus == 0, published == batches * 10_000 else {
            print("\(label): the run failed (exit \(p.terminationStatus), \(published) alerts published); see \(tputDir)/host.log")
            exit(1)
        }
        var m = label == "webhook" ? webhook : alertLog
        m.alertsPerSecond.append(Double(published) / (publishMs / 1000))
        m.publishMs.append(publishMs)
        m.alerts = published
        if label == "webhook" { webhook = m } else { alertLog = m }
        print(String(format: "  run %d %-8@ %d alerts, whole run %.2f s, publishing %.0f ms", run, label as NSString, published, wall, publishMs))
    }
}
print("throughput, 10,000 alerts per batch, \(batches) batches, \(runs) runs (medians):")
print(String(format: "  json webhook: %.0f alerts/s while publishing (%.1f ms per batch of 10,000)",
             median(webhook.alertsPerSecond), median(webhook.publishMs) / Double(batches)))
print(String(format: "  AlertLog (reference, local file): %.0f alerts/s (%.1f ms per batch)",
             median(alertLog.alertsPerSecond), median(alertLog.publishMs) / Double(batches)))
print(String(format: "  ratio webhook / alert log: %.2f", median(webhook.alertsPerSecond) / max(1, median(alertLog.alertsPerSecond))))
let requests = sink.requests.count
print("  requests received: \(requests) (\(webhook.alerts / max(1, requests / runs)) alerts per request), connections: \(sink.connectionCount)")
