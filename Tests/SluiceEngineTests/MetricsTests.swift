import Foundation
import Prometheus
@testable import SluiceEngine
import XCTest

/// The metrics of a run (PipelineMetrics, MetricCatalog), the OpenMetrics rendering and the
/// health rules (RunHealth), in process; HTTPServeTests serves them from a real host.
final class MetricsTests: XCTestCase {
    /// src → hot (Threshold: alerts over 50, errors for records without t) → keep (Filter
    /// t < 60) → out; hot's alerts → log (AlertLog).
    static let pipeline = """
        {"name": "watched", "namespace": "team",
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                    {"name": "hot", "plugin": {"name": "Threshold", "properties": {"field": "t", "limit": 50}}},
                    {"name": "keep", "plugin": {"name": "Filter", "properties": {"where": "t < 60"}}},
                    {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}},
                    {"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}],
         "connections": [{"from": "src", "to": "hot"}, {"from": "hot", "to": "keep"}, {"from": "keep", "to": "out"},
                         {"from": "hot", "to": "log", "port": "alerts"}]}
        """
    static let input = (0..<6).map { #"{"id":"s\#($0 % 2)","t":\#(40 + $0 * 5)}"# }.joined(separator: "\n")
        + "\n{\"id\":\"x\"}\n{\"id\":\"y\"}\n"

    /// Plans `pipeline` in a fresh folder and runs it with `observers`.
    func run(_ pipeline: String, files: [String: String], observers: (PipelinePlan) -> [RunObserver],
             name: String = #function) throws -> RunSummary {
        let dir = try scratchFolder(name)
        for (file, text) in files { try text.write(toFile: dir + "/" + file, atomically: true, encoding: .utf8) }
        try pipeline.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let (spec, readProblems) = try PipelineSpec.load(path: dir + "/p.json")
        guard readProblems.errors.isEmpty else { throw FixtureError("pipeline problems: \(readProblems)") }
        let (plan, problems) = PipelinePlanner.plan(spec, catalog: testCatalog, environment: ["SLUICE_OUT": dir + "/out"])
        guard let plan else { throw FixtureError("pipeline problems: \(problems)") }
        var options = PipelineRunner.Options(runID: "metrics-run")
        options.sleep = { _ in }
        options.observers = observers(plan)
        return try PipelineRunner(plan: plan, options: options).run()
    }

    func testTheExpositionAfterARunMatchesItsSummaryAndPassesPromtool() throws {
        var metrics: PipelineMetrics?
        let summary = try run(Self.pipeline, files: ["in.jsonl": Self.input]) { plan in
            metrics = PipelineMetrics(plan: plan)
            return [metrics!]
        }
        XCTAssertEqual(summary.status, .completed, summary.error ?? "")
        let text = try XCTUnwrap(metrics).exposition()
        let m = try ParsedExposition(text)
        let pipe = ["namespace": "team", "pipeline": "watched"]

        // Every stage's counts, as the summary tells them.
        for s in summary.stages {
            let l = pipe.merging(["stage": s.name, "plugin": s.plugin, "kind": s.type]) { $1 }
            // A source received what it read; a publisher's events are alerts.
            let publisher = summary.publishers.first { $0.name == s.name }
            let received = publisher.map { $0.received + $0.replayed } ?? (s.type == "source" ? s.recordsOut : s.recordsIn)
            XCTAssertEqual(m.value("sluice_component_received_events_total", l), Double(received), s.name)
            XCTAssertEqual(m.value("sluice_component_sent_events_total", l), Double(publisher?.published ?? s.recordsOut), s.name)
            XCTAssertEqual(m.value("sluice_component_errors_total", l.merging(["error_type": "error_record"]) { $1 }), Double(s.errors), s.name)
            for (outcome, field) in MetricCatalog.alertOutcomes where s.alerts[keyPath: field] > 0 {
                XCTAssertEqual(m.value("sluice_alerts_total", pipe.merging(["stage": s.name, "outcome": outcome]) { $1 }),
                               Double(s.alerts[keyPath: field]), "\(s.name) \(outcome)")
            }
            for (counter, value) in s.counters {
                XCTAssertEqual(m.value("sluice_plugin_events_total", l.merging(["name": counter]) { $1 }), Double(value))
            }
        }
        // And in numbers: 8 records read, 2 without t (errors nobody reads: discarded), 3
        // alerts published, the Filter dropping 2 on purpose, 4 written.
        XCTAssertEqual(m.value("sluice_component_sent_events_total", ["stage": "src"]), 8)
        XCTAssertEqual(m.value("sluice_component_errors_total", ["stage": "hot"]), 2)
        XCTAssertEqual(m.value("sluice_component_discarded_events_total", ["stage": "hot", "intentional": "false"]), 2)
        XCTAssertEqual(m.value("sluice_component_discarded_events_total", ["stage": "keep", "intentional": "true"]), 2)
        XCTAssertEqual(m.value("sluice_component_sent_events_total", ["stage": "out", "kind": "sink"]), 4)
        XCTAssertEqual(m.value("sluice_alerts_total", ["stage": "hot", "outcome": "emitted"]), 3)
        XCTAssertEqual(m.value("sluice_alerts_total", ["stage": "hot", "outcome": "published"]), 3)
        XCTAssertEqual(m.value("sluice_plugin_events_total", ["stage": "hot", "name": "alerts"]), 3)
        let log = ["publisher": "log", "plugin": "AlertLog"]
        XCTAssertEqual(m.value("sluice_publisher_alerts_total", log.merging(["outcome": "published"]) { $1 }), 3)
        XCTAssertEqual(m.value("sluice_publisher_alerts_total", log.merging(["outcome": "failed"]) { $1 }), 0)
        XCTAssertEqual(m.value("sluice_publisher_spool_alerts", log), 0)
        XCTAssertEqual(m.value("sluice_publisher_failing_since_timestamp_seconds", log), 0)
        XCTAssertEqual(m.value("sluice_component_sent_events_total", ["stage": "log", "kind": "alertpublisher"]), 3)
        // The heartbeat.
        XCTAssertEqual(m.value("sluice_batches_total", pipe), Double(summary.batches))
        XCTAssertEqual(m.value("sluice_batch_duration_seconds_count", pipe), Double(summary.batches))
        XCTAssertEqual(m.value("sluice_batch_in_progress", pipe), 0)
        XCTAssertGreaterThan(m.value("sluice_last_batch_timestamp_seconds", pipe) ?? 0, Date().timeIntervalSince1970 - 600)
        XCTAssertGreaterThanOrEqual(m.value("sluice_heartbeat_timestamp_seconds", pipe) ?? 0,
                                    m.value("sluice_last_batch_timestamp_seconds", pipe) ?? .infinity, "moved at the last batch at least")
        XCTAssertGreaterThan(m.value("sluice_component_last_processed_timestamp_seconds", ["stage": "out"]) ?? 0, 0)
        // The build and the process.
        XCTAssertEqual(m.value("sluice_build_info", ["version": BuildInfo.version, "abi": BuildInfo.abi]), 1)
        XCTAssertGreaterThan(m.value("process_resident_memory_bytes") ?? 0, 1_000_000)
        XCTAssertGreaterThan(m.value("process_start_time_seconds") ?? 0, 1_700_000_000)
        XCTAssertNotNil(m.value("process_cpu_seconds_total"))
        // JSONLSource reports the bytes it has not read (none, at the end), not records.
        XCTAssertEqual(m.values("sluice_source_lag_records"), [])
        XCTAssertEqual(m.values("sluice_source_lag_bytes"), [0])
        // Never a label of unbounded cardinality.
        let labelNames = Set(m.samples.flatMap { $0.labels.keys })
        XCTAssertEqual(labelNames.subtracting(["namespace", "pipeline", "stage", "plugin", "kind", "error_type", "intentional",
                                               "name", "outcome", "publisher", "partition", "version", "abi", "le"]), [])

        let check = try promtoolCheckMetrics(text)
        XCTAssertEqual(check.status, 0, check.output)
        // (promtool reads the 0.0.4 format only; the OpenMetrics answer is shown ingested by
        // a real Prometheus in PrometheusScrapeTests.)
    }

    func testAPublisherThatKeepsFailingShowsItsSpoolRetriesAndSinceWhen() throws {
        let pipeline = Self.pipeline
            .replacingOccurrences(of: #"{"name": "watched", "namespace": "team","#,
                                  with: #"{"name": "watched", "namespace": "team", "retry": {"maxAttempts": 2, "initialBackoffMs": 1, "maxBackoffMs": 1},"#)
            .replacingOccurrences(of: #"{"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}"#,
                                  with: #"{"name": "log", "plugin": {"name": "FlakyPublisher", "properties": {"path": "${pipeline.dir}/alerts.jsonl", "fail_times": 1000}}}"#)
        var metrics: PipelineMetrics?
        let before = Date().timeIntervalSince1970
        let summary = try run(pipeline, files: ["in.jsonl": Self.input]) { plan in
            metrics = PipelineMetrics(plan: plan)
            return [metrics!]
        }
        let p = try XCTUnwrap(summary.publishers.first)
        XCTAssertEqual(p.spooled, 3, "\(p)")
        let m = try ParsedExposition(try XCTUnwrap(metrics).exposition())
        let log = ["publisher": "log", "plugin": "FlakyPublisher"]
        XCTAssertEqual(m.value("sluice_publisher_alerts_total", log.merging(["outcome": "spooled"]) { $1 }), 3)
        XCTAssertEqual(m.value("sluice_publisher_alerts_total", log.merging(["outcome": "published"]) { $1 }), 0)
        XCTAssertEqual(m.value("sluice_publisher_retries_total", log), Double(p.retries))
        XCTAssertGreaterThan(p.retries, 0)
        XCTAssertEqual(m.value("sluice_publisher_spool_alerts", log), Double(p.waiting))
        XCTAssertEqual(m.value("sluice_publisher_spool_bytes", log), Double(p.spoolBytes))
        XCTAssertGreaterThan(p.spoolBytes, 0)
        XCTAssertEqual(m.value("sluice_publisher_spool_limit_bytes", log), Double(p.spoolLimitBytes))
        let since = try XCTUnwrap(m.value("sluice_publisher_failing_since_timestamp_seconds", log))
        XCTAssertGreaterThanOrEqual(since, before.rounded(.down) - 1)
        XCTAssertEqual(m.value("sluice_alerts_total", ["stage": "hot", "outcome": "spooled"]), 3)
        XCTAssertEqual(try promtoolCheckMetrics(try XCTUnwrap(metrics).exposition()).status, 0)
    }

    func testTheCatalogHasOneDeclarationPerNameAndFollowsTheNamingRules() {
        let names = MetricCatalog.all.map(\.name)
        XCTAssertEqual(Set(names).count, names.count, "a name declared twice")
        for f in MetricCatalog.all {
            XCTAssertEqual(f.kind == .counter, f.name.hasSuffix("_total"), "\(f.name): _total on counters only")
            XCTAssertTrue(f.name.hasPrefix("sluice_") || f.name.hasPrefix("process_"), f.name)
            XCTAssertFalse(f.name.contains("_ms") || f.name.contains("milliseconds"), "\(f.name): base units")
            XCTAssertFalse(f.help.contains("\"") || f.help.contains("\\") || f.help.contains("\n"), "\(f.name): help must read the same in both formats")
            XCTAssertEqual(Set(f.labels).count, f.labels.count, f.name)
        }
        // Every AlertCounts field is an outcome; every counted PublisherSummary field too.
        XCTAssertEqual(MetricCatalog.alertOutcomes.count, Mirror(reflecting: AlertCounts()).children.count)
        let counted = Mirror(reflecting: PublisherSummary(name: "p", plugin: "q")).children.compactMap { c -> String? in
            c.value is Int ? c.label : nil
        }
        XCTAssertEqual(Set(MetricCatalog.publisherOutcomes.map(\.0)),
                       Set(counted).subtracting(["retries", "waiting", "spoolBytes", "spoolLimitBytes"]))
    }

    func testLagGaugesFollowWhatTheSourceReports() throws {
        let summary = try run(Self.pipeline, files: ["in.jsonl": Self.input]) { _ in [] }
        XCTAssertEqual(summary.status, .completed)
        // A plan to label the series: the same pipeline, its progress told by hand.
        var metrics: PipelineMetrics?
        _ = try run(Self.pipeline, files: ["in.jsonl": Self.input], observers: { plan in
            metrics = PipelineMetrics(plan: plan)
            return []
        }, name: "lagPlan")
        let m = try XCTUnwrap(metrics)
        func progress(_ lag: [SourceLag]) -> BatchProgress {
            var p = BatchProgress(run: "r", batchId: 1, timestamp: "", numInputRows: 1, inputRowsPerSecond: 0, processedRowsPerSecond: 0,
                                  durationMs: ["total": 3], alerts: AlertCounts(), errors: 0)
            p.sources = [SourceProgress(stage: "src", plugin: "JSONLSource", numInputRows: 1, lag: lag)]
            return p
        }
        m.batchDone(progress([SourceLag(partition: "0", records: 120), SourceLag(partition: "1", records: 7, bytes: 900)]), totals: summary)
        var e = try ParsedExposition(m.exposition())
        XCTAssertEqual(e.value("sluice_source_lag_records", ["stage": "src", "partition": "0"]), 120)
        XCTAssertEqual(e.value("sluice_source_lag_records", ["stage": "src", "partition": "1"]), 7)
        XCTAssertEqual(e.value("sluice_source_lag_bytes", ["stage": "src", "partition": "1"]), 900)
        XCTAssertEqual(e.values("sluice_source_lag_bytes", ["partition": "0"]), [], "bytes not reported for partition 0")
        // Partition 0 moved away: its series goes; 1 is updated.
        m.batchDone(progress([SourceLag(partition: "1", records: 3)]), totals: summary)
        e = try ParsedExposition(m.exposition())
        XCTAssertEqual(e.values("sluice_source_lag_records", ["partition": "0"]), [])
        XCTAssertEqual(e.value("sluice_source_lag_records", ["partition": "1"]), 3)
        XCTAssertEqual(e.values("sluice_source_lag_bytes"), [])
        XCTAssertEqual(try promtoolCheckMetrics(m.exposition()).status, 0)
        // A source naming new partitions at every batch: at most maxLagPartitions names per
        // stage over the run (2 used above), however many batches.
        for b in 0..<600 {
            m.batchDone(progress([SourceLag(partition: "t\(b)a", records: 1), SourceLag(partition: "t\(b)b", records: 1)]), totals: summary)
        }
        e = try ParsedExposition(m.exposition())
        XCTAssertEqual(e.values("sluice_source_lag_records").count, 0, "the last batch's names are past the bound")
        m.batchDone(progress([SourceLag(partition: "1", records: 4)]), totals: summary)
        XCTAssertEqual(try ParsedExposition(m.exposition()).value("sluice_source_lag_records", ["partition": "1"]), 4, "a known name still is")
    }

    func testCountersAdvanceByDeltasAndNeverGoBack() throws {
        let registry = PrometheusCollectorRegistry()
        var c = TrackedCounter(registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "t_total", unitName: "", helpText: "t")))
        XCTAssertTrue(c.advance(to: 5))
        XCTAssertFalse(c.advance(to: 5))
        XCTAssertFalse(c.advance(to: 2), "a cumulative count that shrank (a source's counts left out during the run) moves nothing")
        XCTAssertTrue(c.advance(to: 9))
        XCTAssertEqual(try ParsedExposition(registry.emitToString()).value("t_total"), 9)
    }

    // MARK: OpenMetrics

    func testOpenMetricsIsAskedForByAcceptAndNamesCounterFamiliesWithoutTotal() throws {
        // What Prometheus 2.42 sends.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        XCTAssertEqual(Exposition.negotiate(accept: prometheus), .openMetrics)
        XCTAssertEqual(Exposition.negotiate(accept: nil), .text004)
        XCTAssertEqual(Exposition.negotiate(accept: "*/*"), .text004)
        XCTAssertEqual(Exposition.negotiate(accept: "text/plain;version=0.0.4"), .text004)
        XCTAssertEqual(Exposition.negotiate(accept: "application/openmetrics-text; q=0, text/plain"), .text004)
        XCTAssertEqual(Exposition.openMetrics.contentType, "application/openmetrics-text; version=1.0.0; charset=utf-8")
        XCTAssertEqual(Exposition.text004.contentType, "text/plain; version=0.0.4; charset=utf-8")

        let text = """
            # HELP a_total Things.
            # TYPE a_total counter
            a_total{stage="x"} 3
            # HELP b_bytes Size.
            # TYPE b_bytes gauge
            b_bytes 7
            # TYPE c_total counter
            c_total 1

            """
        XCTAssertEqual(Exposition.openMetrics.render(text), """
            # HELP a Things.
            # TYPE a counter
            a_total{stage="x"} 3
            # HELP b_bytes Size.
            # TYPE b_bytes gauge
            b_bytes 7
            # TYPE c counter
            c_total 1
            # EOF

            """)
        XCTAssertEqual(Exposition.text004.render(text), text)
    }

    // MARK: health

    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var ms: Int64 = 1_000_000
        var now: Int64 { lock.lock(); defer { lock.unlock() }; return ms }
        func advance(_ by: Int64) { lock.lock(); ms += by; lock.unlock() }
    }

    func summary(errors: Int = 0, failed: Int = 0, spooled: Int = 0) -> RunSummary {
        var s = RunSummary(run: "r", namespace: "", pipeline: "p", status: .completed)
        var stage = StageSummary(name: "t", plugin: "T", version: "1", type: "transform")
        stage.errors = errors
        s.stages = [stage]
        var p = PublisherSummary(name: "pub", plugin: "P", failed: failed)
        p.spooled = spooled
        s.publishers = [p]
        return s
    }

    func progress(lagRecords: Int64? = nil) -> BatchProgress {
        var p = BatchProgress(run: "r", batchId: 1, timestamp: "", numInputRows: 1, inputRowsPerSecond: 0, processedRowsPerSecond: 0,
                              durationMs: [:], alerts: AlertCounts(), errors: 0)
        if let lagRecords { p.sources = [SourceProgress(stage: "src", plugin: "S", numInputRows: 1, lag: [SourceLag(partition: "0", records: lagRecords)])] }
        return p
    }

    /// A RunHealth on `clock` with `settings` changed, its run begun.
    func started(_ clock: Clock, _ settings: (inout HealthSettings) -> Void) -> RunHealth {
        var s = HealthSettings()
        settings(&s)
        let health = RunHealth(settings: s, nowMs: { clock.now })
        health.runStarted(start())
        return health
    }

    /// The runner's idle ticks, every 200 ms, `times` times.
    func tick(_ health: RunHealth, _ clock: Clock, times: Int) {
        for _ in 0..<times {
            clock.advance(200)
            health.idle(atMs: clock.now, totals: summary())
        }
    }

    func start() -> RunStart { RunStart(run: "r", namespace: "", pipeline: "p", startedMs: 0, stages: []) }

    func testReadyFromTheRunsStartUntilItsEnd() {
        let health = RunHealth(settings: HealthSettings())
        XCTAssertFalse(health.isReady)
        XCTAssertFalse(health.report().ready)
        health.runStarted(start())
        XCTAssertTrue(health.isReady)
        health.runEnded(summary())
        XCTAssertFalse(health.isReady)
        XCTAssertTrue(health.report().healthy, "a run that ended well is not unhealthy, only no longer ready")
    }

    func testABatchInFlightPastStallMsIsUnhealthyUntilItCompletes() throws {
        let clock = Clock()
        let health = started(clock) { $0.stallMs = 5_000 }
        health.batchStarted(1, atMs: clock.now)
        clock.advance(4_999)
        XCTAssertTrue(health.report().healthy)
        clock.advance(1)
        let report = health.report()
        XCTAssertFalse(report.healthy)
        XCTAssertEqual(report.reasons.map(\.check), ["stalled"])
        XCTAssertTrue(report.reasons[0].message.contains("batch in flight for 5000 ms"), report.reasons[0].message)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(RunHealth.json(report).utf8)) as? [String: Any])
        XCTAssertEqual(json["status"] as? String, "unhealthy")
        XCTAssertEqual((json["reasons"] as? [[String: Any]])?.first?["check"] as? String, "stalled")
        health.batchDone(progress(), totals: summary())
        XCTAssertTrue(health.report().healthy)
        // Idle with nothing waiting (the loop ticking): however long, not a stall.
        tick(health, clock, times: 3_000)
        XCTAssertTrue(health.report().healthy)
    }

    /// Between batches the run ticks every 200 ms; a call that does not return there (a
    /// publisher replaying its spool to a service that never answers) stops the ticks.
    func testARunThatStopsTickingBetweenBatchesIsAStall() {
        let clock = Clock()
        let health = started(clock) { $0.stallMs = 5_000 }
        health.batchStarted(1, atMs: clock.now)
        health.batchDone(progress(), totals: summary())
        tick(health, clock, times: 100)  // idle, ticking: healthy however long
        XCTAssertTrue(health.report().healthy)
        clock.advance(4_999)
        XCTAssertTrue(health.report().healthy)
        clock.advance(1)
        XCTAssertEqual(health.report().reasons.map(\.check), ["stalled"])
        XCTAssertTrue(health.report().reasons[0].message.contains("has not moved for 5000 ms"), health.report().reasons[0].message)
        health.idle(atMs: clock.now, totals: summary())
        XCTAssertTrue(health.report().healthy, "ticking again")
        health.runEnded(summary())
        clock.advance(600_000)
        XCTAssertTrue(health.report().healthy, "a run that ended is not stalled")
    }

    func testInputWaitingWithoutABatchPastStallMsIsAStall() {
        let clock = Clock()
        let health = started(clock) { $0.stallMs = 1_000 }
        health.batchStarted(1, atMs: clock.now)
        health.batchDone(progress(lagRecords: 50), totals: summary())
        clock.advance(999)
        XCTAssertTrue(health.report().healthy)
        clock.advance(1)
        XCTAssertEqual(health.report().reasons.map(\.check), ["stalled"])
        XCTAssertTrue(health.report().reasons[0].message.contains("input is waiting"))
        // Caught up: lag 0 after the next batch.
        health.batchStarted(2, atMs: clock.now)
        health.batchDone(progress(lagRecords: 0), totals: summary())
        tick(health, clock, times: 50)
        XCTAssertTrue(health.report().healthy)
    }

    /// A publisher works while no batch comes (its spool replayed, or failing again): the
    /// idle tick's totals reach /health and the publisher families without a batch.
    func testDeliveriesFailingWhileIdleMakeItUnhealthyAndMoveThePublisherFamilies() throws {
        let clock = Clock()
        let health = started(clock) { $0.maxFailedDeliveries = 0 }
        health.batchDone(progress(), totals: summary())
        XCTAssertTrue(health.report().healthy)
        health.idle(atMs: clock.now, totals: summary(failed: 2))
        XCTAssertEqual(health.report().reasons.map(\.check), ["failed_deliveries"])

        var made: PipelineMetrics?
        try run(Self.pipeline, files: ["in.jsonl": Self.input]) { plan in
            made = PipelineMetrics(plan: plan)
            return [made!]
        }
        let metrics = try XCTUnwrap(made)
        XCTAssertEqual(try ParsedExposition(metrics.exposition()).value("sluice_publisher_alerts_total",
                                                                         ["publisher": "log", "outcome": "replayed"]), 0)
        var totals = RunSummary(run: "r", namespace: "team", pipeline: "watched", status: .completed)
        var log = PublisherSummary(name: "log", plugin: "AlertLog", replayed: 4)
        log.spoolBytes = 0
        totals.publishers = [log]
        metrics.idle(atMs: clock.now, totals: totals)
        let m = try ParsedExposition(metrics.exposition())
        XCTAssertEqual(m.value("sluice_publisher_alerts_total", ["publisher": "log", "outcome": "replayed"]), 4)
    }

    func testErrorsAndFailedDeliveriesCountWithinThePeriodOnly() {
        let clock = Clock()
        let health = started(clock) { $0.periodMs = 10_000; $0.maxErrors = 5; $0.maxFailedDeliveries = 1 }
        health.batchDone(progress(), totals: summary(errors: 5, failed: 1))
        XCTAssertTrue(health.report().healthy, "at the thresholds, not past them")
        clock.advance(3_000)
        health.batchDone(progress(), totals: summary(errors: 6, failed: 1, spooled: 1))
        let report = health.report()
        XCTAssertEqual(report.reasons.map(\.check), ["errors", "failed_deliveries"])
        XCTAssertTrue(report.reasons[0].message.contains("6 error records in the last 10000 ms"), report.reasons[0].message)
        XCTAssertTrue(report.reasons[1].message.contains("2 alert deliveries failed"), report.reasons[1].message)
        // The first batch's counts leave the period: 1 error, 1 spooled remain.
        clock.advance(7_001)
        XCTAssertTrue(health.report().healthy, "\(health.report().reasons)")
        clock.advance(3_000)
        XCTAssertTrue(health.report().healthy)
        // Null thresholds judge nothing.
        let lenient = RunHealth(settings: { var s = HealthSettings(); s.maxErrors = nil; s.maxFailedDeliveries = nil; return s }(),
                                nowMs: { clock.now })
        lenient.batchDone(progress(), totals: summary(errors: 1000, failed: 1000))
        XCTAssertTrue(lenient.report().healthy)
    }

    func testAFailedRunIsUnhealthyWithItsError() {
        let health = RunHealth(settings: HealthSettings())
        health.runStarted(start())
        var s = summary()
        s.status = .failed
        s.error = "stage 'out' failed: disk full"
        health.runEnded(s)
        XCTAssertEqual(health.report().reasons, [RunHealth.Reason(check: "run_failed", message: "stage 'out' failed: disk full")])
    }

    func testProcStatIsParsedWithACommandNameHoldingSpacesAndParentheses() {
        let stat = "4242 (a b) c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1000 123456789 2048 " + Array(repeating: "0", count: 27).joined(separator: " ")
        let parsed = ProcessMetrics.parse(stat: stat, procStat: "cpu 1 2 3\nbtime 1700000000\n", ticksPerSecond: 100, pageBytes: 4096)
        XCTAssertEqual(parsed, ProcessMetrics.Stat(cpuSeconds: 3, startSeconds: 1_700_000_010, virtualBytes: 123456789, rssBytes: 2048 * 4096))
        XCTAssertNil(ProcessMetrics.parse(stat: "garbage", procStat: "", ticksPerSecond: 100, pageBytes: 4096))
    }
}

/// docs/monitoring.md's metric table names every family of the catalog, with its type.
final class MonitoringDocTests: XCTestCase {
    func testTheDocumentedCatalogIsTheHostsCatalog() throws {
        let text = try String(contentsOfFile: Package.root + "/docs/monitoring.md", encoding: .utf8)
        var documented: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `sluice_") || line.hasPrefix("| `process_") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3 else { continue }
            documented[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = cells[1]
        }
        XCTAssertEqual(documented, Dictionary(uniqueKeysWithValues: MetricCatalog.all.map { ($0.name, $0.kind.rawValue) }))
    }
}
