import Foundation
import Logging
@testable import SluiceEngine
import XCTest

/// The one retry policy: backoff within the pipeline's bound (up to an hour, honoured as
/// written), jitter for publishers, a service's Retry-After, giving up, and one log line per
/// wait — the same for every place that retries.
final class RetryPolicyTests: XCTestCase {
    final class Waits: @unchecked Sendable {
        let lock = NSLock()
        var ms: [Int] = []
        func add(_ m: Int) { lock.lock(); ms.append(m); lock.unlock() }
    }

    func testWaitsDoubleUpToTheBoundAndAnHourIsWaitedAsAnHour() {
        let waits = Waits()
        let settings = RetrySettings(maxAttempts: 4, initialBackoffMs: Limits.maxBackoffMs / 2, maxBackoffMs: Limits.maxBackoffMs)
        let policy = RetryPolicy(settings, sleep: waits.add)
        var calls = 0
        let outcome = policy.run { _ in
            calls += 1
            return .retry("busy")
        }
        XCTAssertEqual(calls, 4)
        XCTAssertEqual(waits.ms, [1_800_000, 3_600_000, 3_600_000], "an hour is the bound, and the waits reach it")
        XCTAssertEqual(outcome, .gaveUp("busy", attempts: 4, notBeforeMs: 0))
        XCTAssertEqual(outcome.failure, "still failing after 4 attempts: busy")
        // The real sleep takes the hour whole (no cap at a minute), as seconds and nanoseconds.
        let hour = RetryPolicy.interval(milliseconds: Limits.maxBackoffMs)
        XCTAssertEqual(hour.tv_sec, 3600)
        XCTAssertEqual(hour.tv_nsec, 0)
        let odd = RetryPolicy.interval(milliseconds: 61_234)
        XCTAssertEqual(odd.tv_sec, 61)
        XCTAssertEqual(odd.tv_nsec, 234_000_000)
        let t0 = Date()
        RetryPolicy.sleep(30)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(t0), 0.029, "it sleeps at least as long as asked")
    }

    func testTheBoundIsValidatedWhereItIsWritten() throws {
        func problems(_ maxBackoff: Int) throws -> [String] {
            let json = """
                {"name": "p", "retry": {"maxBackoffMs": \(maxBackoff), "initialBackoffMs": \(maxBackoff)},
                 "stages": [{"name": "s", "plugin": {"name": "JSONLSource", "properties": {"path": "x"}}}], "connections": []}
                """
            let (spec, read) = PipelineSpec.read(try ConfigDocument.parse(Data(json.utf8), format: .json), directory: "/p")
            XCTAssertEqual(spec.retry.maxBackoffMs, read.isEmpty ? maxBackoff : RetrySettings().maxBackoffMs)
            return read.map(\.description)
        }
        XCTAssertEqual(try problems(3_600_000), [])
        XCTAssertEqual(try problems(3_600_001), [
            "error: retry.initialBackoffMs: must be a whole number from 0 to 3600000, not '3600001'",
            "error: retry.maxBackoffMs: must be a whole number from 0 to 3600000, not '3600001'",
        ])
    }

    func testJitterWaitsBetweenHalfAndAllOfTheBackoff() {
        let settings = RetrySettings(maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 400)
        var low = RetryPolicy(settings, sleep: { _ in }, jitter: true)
        low.random = { 0 }
        var high = low
        high.random = { 0.999_999 }
        XCTAssertEqual((2...5).map(low.waitMs(beforeAttempt:)), [50, 100, 200, 200])
        XCTAssertEqual((2...5).map(high.waitMs(beforeAttempt:)), [99, 199, 399, 399])
        XCTAssertEqual((2...5).map(RetryPolicy(settings).waitMs(beforeAttempt:)), [100, 200, 400, 400], "no jitter")
    }

    func testASpoolIsReplayedAfterTheLongestBackoffDoubledPerFailedReplayUpTo16Times() {
        let policy = RetryPolicy(RetrySettings(maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 1_000))
        XCTAssertEqual((1...7).map(policy.spoolWaitMs(afterFailedReplays:)), [1_000, 2_000, 4_000, 8_000, 16_000, 16_000, 16_000])
        let hour = RetryPolicy(RetrySettings(maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: Limits.maxBackoffMs))
        XCTAssertEqual(hour.spoolWaitMs(afterFailedReplays: 1_000_000), 16 * Limits.maxBackoffMs, "no overflow at the bound")
    }

    func testARetryAfterWithinTheBoundIsWaitedForAndOneBeyondItGivesUpAtOnce() {
        let settings = RetrySettings(maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 5_000)
        let waits = Waits()
        let within = RetryPolicy(settings, sleep: waits.add).run { attempt in
            attempt == 1 ? .retry("429", notBeforeMs: 3_000) : .done
        }
        XCTAssertEqual(within, .done(attempts: 2))
        XCTAssertEqual(waits.ms, [3_000], "the service's wait, not the shorter backoff")

        let beyond = RetryPolicy(settings, sleep: waits.add).run { _ in .retry("429", notBeforeMs: 90_000) }
        XCTAssertEqual(beyond, .gaveUp("429", attempts: 1, notBeforeMs: 90_000))
        XCTAssertEqual(beyond.failure, "the service asked to wait 90000 ms (Retry-After): 429")
        XCTAssertEqual(waits.ms, [3_000], "no wait past the bound")
    }

    /// Where giving up loses nothing (a source's read, a publisher), no wait begins once the
    /// run is asked to stop: the run stops within its grace period whatever the backoff.
    func testNoWaitBeginsOnceTheRunIsAskedToStop() throws {
        final class Flag: @unchecked Sendable { var on = false }
        let waits = Waits(), stopping = Flag()
        let policy = RetryPolicy(RetrySettings(maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: Limits.maxBackoffMs),
                                 sleep: { waits.add($0); stopping.on = true }, stop: { stopping.on })
        var calls = 0
        let outcome = policy.run { _ in
            calls += 1
            return .retry("busy")
        }
        XCTAssertEqual(calls, 2, "the attempt after the wait under way when the stop came, then no more")
        XCTAssertEqual(waits.ms, [100])
        XCTAssertEqual(outcome, .stopped("busy", attempts: 2))
        XCTAssertEqual(outcome.failure, "still failing after 2 attempts when the run was asked to stop: busy")
        XCTAssertEqual(RetryPolicy(RetrySettings(), sleep: { _ in }).run { _ in .retry("x") }.attempts, 5, "without a stop: every attempt")

        // A publisher: what it still could not deliver goes to the spool, with the reason.
        stopping.on = true
        let hook = AlertFlowTests.Recorder("hook")
        hook.answer = "retry"
        let arena = RecordArena()
        let writer = EnvelopeWriter(arena: arena, namespace: "n", pipeline: "p", stage: "s", run: "r", batch: 1, timestampMs: 0)
        let alert = UnsafePointer(writer.write(payload: arena.payload([("k", "v")]), count: 1, ordinal: 0))
        let delivered = AlertDelivery(settings: RetrySettings(), sleep: waits.add, stop: { stopping.on }).deliver([alert], to: hook)
        XCTAssertEqual(delivered.fates, [.deferred("still failing after 1 attempt when the run was asked to stop: down for now", notBeforeMs: 0)])
        XCTAssertEqual(hook.calls.count, 1)
        XCTAssertEqual(waits.ms, [100], "no wait")
    }

    /// Every place that retries — a sink's write, a source's read and commit, a publisher's
    /// delivery — logs each wait in one wording.
    func testEveryRetryIsLoggedInOneWording() throws {
        let lines = LogCapture()
        let dir = try scratchFolder()
        let pipeline = """
            {"name": "retries", "retry": {"maxAttempts": 3, "initialBackoffMs": 1, "maxBackoffMs": 2},
             "stages": [
              {"name": "in", "plugin": {"name": "ListSource", "properties": {"lines": "{\\"id\\":\\"a\\",\\"alarm\\":1}"}}},
              {"name": "rule", "plugin": {"name": "AlertRule", "properties": {"when": "true", "payload": {"id": "id"}}}},
              {"name": "out", "plugin": {"name": "FileSink", "properties": {"path": "\(dir)/out.txt", "fail_first": "true"}}},
              {"name": "hook", "plugin": {"name": "FlakyPublisher", "properties": {"path": "\(dir)/alerts.jsonl", "fail_times": 1}}}
             ],
             "connections": [{"from": "in", "to": "rule"}, {"from": "rule", "to": "out"}, {"from": "rule", "to": "hook", "port": "alerts"}]}
            """
        let (spec, read) = PipelineSpec.read(try ConfigDocument.parse(Data(pipeline.utf8), format: .json), directory: dir)
        XCTAssertEqual(read.map(\.description), [])
        let (plan, problems) = PipelinePlanner.plan(spec, catalog: testCatalog, environment: ["SLUICE_OUT": dir + "/out"])
        guard let plan else { return XCTFail("\(problems)") }
        var options = PipelineRunner.Options(runID: "r", logger: Logger(label: "test") { _ in lines })
        options.sleep = { _ in }
        let summary = try PipelineRunner(plan: plan, options: options).run()
        XCTAssertEqual(summary.status, .completed, summary.error ?? "")
        let retries = lines.all.filter { $0.contains("retrying") }
        XCTAssertEqual(retries.count, 2, retries.joined(separator: "\n"))
        let pattern = try NSRegularExpression(pattern: #"^(stage|publisher) '[a-z]+': retrying [a-z0-9 ]+ \(attempt 2 of 3 in \d+ ms\): .+$"#)
        for line in retries {
            XCTAssertNotNil(pattern.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)), line)
        }
        XCTAssertTrue(retries.contains { $0.hasPrefix("stage 'out': retrying write of batch 1 (attempt 2 of 3 in 1 ms): ") }, "\(retries)")
        XCTAssertTrue(retries.contains { $0.hasPrefix("publisher 'hook': retrying publish of 1 alert (attempt 2 of 3 in ") && $0.hasSuffix("ms): endpoint busy") },
                      "\(retries)")
    }
}

/// Keeps every log line (message only).
final class LogCapture: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lock.lock()
        lines.append(event.message.description)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }
}
