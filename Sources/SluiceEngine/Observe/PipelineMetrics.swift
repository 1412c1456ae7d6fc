import Foundation
import Prometheus

/// A run's metrics in a swift-prometheus registry, in the families of `MetricCatalog`.
/// A RunObserver: the runner's calls (on its thread) turn the run's cumulative counts
/// (`totals`, a RunSummary) into counter increments by their deltas, and set the gauges.
/// `exposition()` may be called from any thread (the registry locks itself): it refreshes
/// the process gauges, then writes the Prometheus text format 0.0.4.
///
/// Labels are of bounded cardinality only: stage, plugin, kind, publisher, outcome,
/// error type, a source's partition and at most `MetricCatalog.maxPluginCounters` plugin
/// counter names per stage; never an alert key, an incident, a file or a run id.
public final class PipelineMetrics: RunObserver, @unchecked Sendable {
    public let registry: PrometheusCollectorRegistry
    /// Milliseconds since 1970 (tests pass their own).
    private let nowMs: @Sendable () -> Int64
    private let pipeline: [String]
    private var stages: [StageSeries]
    private var publishers: [String: PublisherSeries] = [:]
    /// A publisher's position in `stages`, by name.
    private var publisherStage: [String: Int] = [:]
    private let batches: Counter
    private let batchDuration: DurationHistogram
    private let inProgress: Gauge
    private let lastBatch: Gauge
    private let heartbeat: Gauge
    private let runStart: Gauge
    private let process: ProcessMetrics
    /// The lag gauges set after the last batch, by family name, stage and partition.
    private var lag: [LagKey: Gauge] = [:]
    /// The pipeline's own alerts (`@pipeline`), as a stage of their own.
    private var pipelineAlerts: AlertSeries
    /// The partition names each stage's lag series were made for in this run.
    private var lagPartitions: [String: Set<String>] = [:]
    /// The most partition label values one stage's lag gauges take over a run.
    static let maxLagPartitions = 1_024

    public init(plan: PipelinePlan, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
                nowMs: @escaping @Sendable () -> Int64 = { Timestamp.nowMilliseconds() }) {
        self.registry = registry
        self.nowMs = nowMs
        let ns = plan.spec.namespace, name = plan.spec.name
        pipeline = [ns, name]
        let read = Set(plan.stages.flatMap(\.errorInputs))
        stages = plan.stages.enumerated().map { i, s in
            StageSeries(registry, labels: [ns, name, s.name, s.entry.name, s.type.rawValue],
                        isFilter: s.entry.name == "Filter", errorsRead: read.contains(i), routesAlerts: !s.alertRoutes.isEmpty)
        }
        pipelineAlerts = AlertSeries(registry, namespace: ns, pipeline: name, stage: "@pipeline",
                                     emittedFromTheStart: !plan.pipelineAlertRoutes.isEmpty)
        batches = registry.counter(MetricCatalog.batches, pipeline)
        batchDuration = registry.histogram(MetricCatalog.batchDuration, pipeline)
        inProgress = registry.gauge(MetricCatalog.batchInProgress, pipeline)
        lastBatch = registry.gauge(MetricCatalog.lastBatch, pipeline)
        heartbeat = registry.gauge(MetricCatalog.heartbeat, pipeline)
        heartbeat.set(to: Double(nowMs()) / 1000)  // starting (stages being created) is moving
        runStart = registry.gauge(MetricCatalog.runStart, pipeline)
        registry.gauge(MetricCatalog.buildInfo, [BuildInfo.version, BuildInfo.abi]).set(Int64(1))
        process = ProcessMetrics(registry)
        for (i, s) in plan.stages.enumerated() where s.type == .alertpublisher {
            publishers[s.name] = PublisherSeries(registry, labels: pipeline + [s.name, s.entry.name])
            publisherStage[s.name] = i
        }
    }

    /// The exposition in the Prometheus text format 0.0.4, the process gauges refreshed.
    public func exposition() -> String {
        String(decoding: expositionBytes(), as: UTF8.self)
    }

    public func expositionBytes() -> [UInt8] {
        process.refresh()
        return registry.emitToBuffer()
    }

    // MARK: RunObserver

    public func runStarted(_ start: RunStart) {
        runStart.set(to: Double(start.startedMs) / 1000)
        heartbeat.set(to: Double(nowMs()) / 1000)
    }

    public func batchStarted(_ id: UInt64, atMs: Int64) {
        inProgress.set(Int64(1))
        heartbeat.set(to: Double(nowMs()) / 1000)
    }

    public func batchDone(_ progress: BatchProgress, totals: RunSummary) {
        let now = nowMs()
        batches.increment()
        if let ms = progress.durationMs["total"], ms.isFinite, ms >= 0 {
            batchDuration.record(.nanoseconds(Int64(min(ms, 1e12) * 1e6)))
        }
        advance(totals, atMs: now)
        setLag(progress.sources)
        inProgress.set(Int64(0))
        lastBatch.set(to: Double(now) / 1000)
        heartbeat.set(to: Double(now) / 1000)
    }

    /// While no batch comes, publishers still work (spools replayed, deliveries failing):
    /// their families follow.
    public func idle(atMs: Int64, totals: RunSummary) {
        let now = nowMs()
        advance(totals, atMs: now)
        heartbeat.set(to: Double(now) / 1000)
    }

    public func runEnded(_ summary: RunSummary) {
        // The source's own counts (its plugin's counters, alerts it raised) join here.
        advance(summary, atMs: nowMs())
        inProgress.set(Int64(0))
    }

    // MARK: counts

    private func advance(_ totals: RunSummary, atMs now: Int64) {
        let seconds = Double(now) / 1000
        for (i, s) in totals.stages.enumerated() where i < stages.count {
            stages[i].advance(s, registry: registry, atSeconds: seconds)
        }
        if let own = totals.pipelineAlerts { pipelineAlerts.advance(own, registry: registry) }
        for p in totals.publishers {
            guard let series = publishers[p.name] else { continue }
            series.advance(p)
            // A publisher's events are alerts: those it was handed (spooled ones replayed
            // included) and those it delivered.
            if let i = publisherStage[p.name] {
                var moved = stages[i].received.advance(to: Int64(p.received + p.replayed))
                moved = stages[i].sent.advance(to: Int64(p.published)) || moved
                if moved { stages[i].lastProcessed.set(to: seconds) }
            }
        }
    }

    private func setLag(_ sources: [SourceProgress]) {
        var seen = Set<LagKey>()
        for s in sources {
            for l in s.lag {
                // A bounded number of partition label values per stage over the run: a
                // source naming new partitions at every batch (short-lived topics, a plugin
                // gone wrong) must not grow Prometheus' series without end.
                if !lagPartitions[s.stage, default: []].contains(l.partition) {
                    guard lagPartitions[s.stage, default: []].count < Self.maxLagPartitions else { continue }
                    lagPartitions[s.stage, default: []].insert(l.partition)
                }
                for (family, value) in [(MetricCatalog.lagRecords, l.records), (MetricCatalog.lagBytes, l.bytes)] {
                    guard let value else { continue }
                    let key = LagKey(family: family.name, stage: s.stage, partition: l.partition)
                    let gauge = lag[key] ?? registry.gauge(family, pipeline + [s.stage, l.partition])
                    lag[key] = gauge
                    gauge.set(value)
                    seen.insert(key)
                }
            }
        }
        // A partition no longer reported (moved to another host, a file read to its end
        // and gone) leaves no stale series behind.
        for (key, gauge) in lag where !seen.contains(key) {
            registry.unregisterGauge(gauge)
            lag[key] = nil
        }
    }
}

private struct LagKey: Hashable {
    let family: String
    let stage: String
    let partition: String
}

/// A counter fed with a cumulative count: it advances by the count's growth.
struct TrackedCounter {
    let counter: Counter
    private(set) var last: Int64 = 0

    init(_ counter: Counter) { self.counter = counter }

    /// True when the count grew.
    @discardableResult
    mutating func advance(to value: Int64) -> Bool {
        guard value > last else { return false }
        counter.increment(by: value - last)
        last = value
        return true
    }
}

/// One stage's series.
private struct StageSeries {
    let labels: [String]
    var name: String { labels[2] }
    let isFilter: Bool
    let errorsRead: Bool
    let isSource: Bool
    let isPublisher: Bool
    var received: TrackedCounter
    var sent: TrackedCounter
    var errorRecords: TrackedCounter
    var discarded: TrackedCounter?
    let lastProcessed: Gauge
    var workerRestarts: TrackedCounter?
    var plugin: [String: TrackedCounter] = [:]
    var alerts: AlertSeries
    var lastCounters: [String: Int64] = [:]

    init(_ r: PrometheusCollectorRegistry, labels: [String], isFilter: Bool, errorsRead: Bool, routesAlerts: Bool) {
        self.labels = labels
        self.isFilter = isFilter
        self.errorsRead = errorsRead
        isSource = labels[4] == PluginType.source.rawValue
        isPublisher = labels[4] == PluginType.alertpublisher.rawValue
        received = TrackedCounter(r.counter(MetricCatalog.received, labels))
        sent = TrackedCounter(r.counter(MetricCatalog.sent, labels))
        errorRecords = TrackedCounter(r.counter(MetricCatalog.errors, labels + ["error_record"]))
        if isFilter {
            discarded = TrackedCounter(r.counter(MetricCatalog.discarded, labels + ["true"]))
        } else if !errorsRead {
            discarded = TrackedCounter(r.counter(MetricCatalog.discarded, labels + ["false"]))
        }
        lastProcessed = r.gauge(MetricCatalog.lastProcessed, labels)
        alerts = AlertSeries(r, namespace: labels[0], pipeline: labels[1], stage: labels[2], emittedFromTheStart: routesAlerts)
    }

    mutating func advance(_ s: StageSummary, registry r: PrometheusCollectorRegistry, atSeconds now: Double) {
        // A source's "received" is what it read: its records out.
        var moved = false
        if !isPublisher {  // a publisher's: its alerts (PipelineMetrics.advance)
            moved = received.advance(to: Int64(isSource ? s.recordsOut : s.recordsIn))
            moved = sent.advance(to: Int64(s.recordsOut)) || moved
        }
        errorRecords.advance(to: Int64(s.errors))
        if isFilter {
            discarded?.advance(to: Int64(max(0, s.recordsIn - s.recordsOut - s.errors)))
        } else {
            discarded?.advance(to: Int64(s.errors))
        }
        if moved { lastProcessed.set(to: now) }
        if let restarts = s.workerRestarts {
            if workerRestarts == nil { workerRestarts = TrackedCounter(r.counter(MetricCatalog.workerRestarts, labels)) }
            workerRestarts?.advance(to: Int64(restarts))
        }
        if s.counters != lastCounters {
            lastCounters = s.counters
            for (name, value) in s.counters {
                if plugin[name] == nil {
                    guard plugin.count < MetricCatalog.maxPluginCounters else { continue }
                    plugin[name] = TrackedCounter(r.counter(MetricCatalog.pluginEvents, labels + [name]))
                }
                plugin[name]?.advance(to: value)
            }
        }
        alerts.advance(s.alerts, registry: r)
    }
}

/// One stage's `sluice_alerts_total` series, by outcome (the pipeline's own alerts too, as
/// stage "@pipeline").
struct AlertSeries {
    let labels: [String]
    /// By outcome, in MetricCatalog.alertOutcomes' order (nil: not happened yet).
    var counters: [TrackedCounter?] = Array(repeating: nil, count: MetricCatalog.alertOutcomes.count)
    /// The counts at the last call: unchanged ones are not walked again.
    var last = AlertCounts()

    /// `emittedFromTheStart`: the `emitted` series is there before any alert (a stage with
    /// an alerts connection: a rate of 0 is an answer).
    init(_ r: PrometheusCollectorRegistry, namespace: String, pipeline: String, stage: String, emittedFromTheStart: Bool) {
        labels = [namespace, pipeline, stage]
        if emittedFromTheStart {
            counters[0] = TrackedCounter(r.counter(MetricCatalog.alerts, labels + [MetricCatalog.alertOutcomes[0].0]))
        }
    }

    mutating func advance(_ counts: AlertCounts, registry r: PrometheusCollectorRegistry) {
        guard counts != last else { return }
        last = counts
        for (i, (outcome, field)) in MetricCatalog.alertOutcomes.enumerated() {
            let value = counts[keyPath: field]
            if counters[i] == nil {
                guard value > 0 else { continue }  // a series once the outcome happened
                counters[i] = TrackedCounter(r.counter(MetricCatalog.alerts, labels + [outcome]))
            }
            counters[i]?.advance(to: Int64(value))
        }
    }
}

/// One alert publisher's series.
private final class PublisherSeries {
    var outcomes: [TrackedCounter]
    var retries: TrackedCounter
    let spoolAlerts, spoolBytes, spoolLimit, failingSince: Gauge

    init(_ r: PrometheusCollectorRegistry, labels: [String]) {
        outcomes = MetricCatalog.publisherOutcomes.map { TrackedCounter(r.counter(MetricCatalog.publisherAlerts, labels + [$0.0])) }
        retries = TrackedCounter(r.counter(MetricCatalog.publisherRetries, labels))
        spoolAlerts = r.gauge(MetricCatalog.spoolAlerts, labels)
        spoolBytes = r.gauge(MetricCatalog.spoolBytes, labels)
        spoolLimit = r.gauge(MetricCatalog.spoolLimitBytes, labels)
        failingSince = r.gauge(MetricCatalog.failingSince, labels)
    }

    func advance(_ p: PublisherSummary) {
        for (i, (_, field)) in MetricCatalog.publisherOutcomes.enumerated() {
            outcomes[i].advance(to: Int64(p[keyPath: field]))
        }
        retries.advance(to: Int64(p.retries))
        spoolAlerts.set(Int64(p.waiting))
        spoolBytes.set(Int64(p.spoolBytes))
        spoolLimit.set(Int64(p.spoolLimitBytes))
        failingSince.set(to: p.failingSinceMs.map { Double($0) / 1000 } ?? 0)
    }
}
