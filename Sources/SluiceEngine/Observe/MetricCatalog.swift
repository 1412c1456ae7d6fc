import Prometheus

/// Every metric family a host exposes, declared once: its name, type, help and label names.
/// swift-prometheus stops the process (fatalError) when one name is registered with another
/// type, another help text or labelled and unlabelled series mixed; taking every name from
/// this one table, and every series through `Family.labels`, rules that out. Names follow
/// Prometheus' naming practices (one prefix, base units, `_total` on counters only) and
/// Vector's component spec (`component_received_events_total`, …). Documented in
/// docs/monitoring.md, whose table a test compares with this one.
public enum MetricCatalog {
    public enum Kind: String, Sendable { case counter, gauge, histogram }

    public struct Family: Sendable, Hashable {
        /// The full name, as exposed (`sluice_component_received_events_total`).
        public let name: String
        public let kind: Kind
        public let help: String
        /// The label names, in order; every series of the family has exactly these.
        public let labels: [String]

        init(_ name: String, _ kind: Kind, _ labels: [String], _ help: String) {
            self.name = name
            self.kind = kind
            self.labels = labels
            self.help = help
        }

        var descriptor: MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        }

        /// The label pairs of one series: `values` in the order of `labels`.
        func pairs(_ values: [String]) -> [(String, String)] {
            precondition(values.count == labels.count, "\(name): \(labels.count) label values expected")
            return Array(zip(labels, values))
        }
    }

    /// The labels that name a stage on every per-stage family.
    static let stageLabels = ["namespace", "pipeline", "stage", "plugin", "kind"]
    static let pipelineLabels = ["namespace", "pipeline"]
    static let publisherLabels = ["namespace", "pipeline", "publisher", "plugin"]

    // Per stage (Vector's component families; `stage` is Sluice's stage name, `kind` its
    // kind: source, transform, sink, alertpublisher).
    public static let received = Family("sluice_component_received_events_total", .counter, stageLabels,
                                        "Records a stage took in (a source: records it read; an alert publisher: alerts).")
    public static let sent = Family("sluice_component_sent_events_total", .counter, stageLabels,
                                    "Records a stage handed on (a sink: records it wrote; an alert publisher: alerts it delivered).")
    public static let errors = Family("sluice_component_errors_total", .counter, stageLabels + ["error_type"],
                                      "Errors of a stage by type: error_record (records sent to its error port).")
    public static let discarded = Family("sluice_component_discarded_events_total", .counter, stageLabels + ["intentional"],
                                         "Records a stage dropped: intentional (a Filter's) or not (error records no stage reads).")
    public static let lastProcessed = Family("sluice_component_last_processed_timestamp_seconds", .gauge, stageLabels,
                                             "When a stage last handled records (seconds since 1970).")
    public static let workerRestarts = Family("sluice_component_worker_restarts_total", .counter, stageLabels,
                                              "Times an isolated stage's worker process was replaced (it crashed, exited or hung).")
    public static let pluginEvents = Family("sluice_plugin_events_total", .counter, stageLabels + ["name"],
                                            "A plugin's own counters (out->count), by name; at most 64 names per stage.")
    // Alerts.
    public static let alerts = Family("sluice_alerts_total", .counter, pipelineLabels + ["stage", "outcome"],
                                      "Alerts of a stage by outcome (emitted, published, failed, spooled, firing, resolved, ...).")
    public static let publisherAlerts = Family("sluice_publisher_alerts_total", .counter, publisherLabels + ["outcome"],
                                               "Alerts of a publisher by outcome (received, published, failed, suppressed, spooled, replayed, refreshed, withheld).")
    public static let publisherRetries = Family("sluice_publisher_retries_total", .counter, publisherLabels,
                                                "Publish calls a publisher repeated after it asked for a retry.")
    public static let spoolAlerts = Family("sluice_publisher_spool_alerts", .gauge, publisherLabels,
                                           "Alerts waiting in a publisher's spool.")
    public static let spoolBytes = Family("sluice_publisher_spool_bytes", .gauge, publisherLabels,
                                          "The size of a publisher's spool on disk.")
    public static let spoolLimitBytes = Family("sluice_publisher_spool_limit_bytes", .gauge, publisherLabels,
                                               "The most a publisher's spool may hold (spool.maxBytes).")
    public static let failingSince = Family("sluice_publisher_failing_since_timestamp_seconds", .gauge, publisherLabels,
                                            "Since when a publisher's deliveries fail (seconds since 1970; 0: its last delivery went through).")
    // Batches: the heartbeat.
    public static let batches = Family("sluice_batches_total", .counter, pipelineLabels,
                                       "Batches done (sinks flushed, alerts handed to the publishers).")
    public static let batchDuration = Family("sluice_batch_duration_seconds", .histogram, pipelineLabels,
                                             "How long batches took, from the source's hand-over to their alerts published.")
    public static let batchInProgress = Family("sluice_batch_in_progress", .gauge, pipelineLabels,
                                               "1 while a batch is being processed, else 0.")
    public static let lastBatch = Family("sluice_last_batch_timestamp_seconds", .gauge, pipelineLabels,
                                         "When the last batch was done (seconds since 1970).")
    public static let heartbeat = Family("sluice_heartbeat_timestamp_seconds", .gauge, pipelineLabels,
                                         "When the run last moved: a batch begun or done, or an idle tick every 200 ms while the source has nothing (seconds since 1970).")
    public static let runStart = Family("sluice_run_start_timestamp_seconds", .gauge, pipelineLabels,
                                        "When the run began: its stages created, its publishers connected (seconds since 1970).")
    // Sources.
    public static let lagRecords = Family("sluice_source_lag_records", .gauge, pipelineLabels + ["stage", "partition"],
                                          "Records a source is behind its input, per partition, as it reported after its last batch.")
    public static let lagBytes = Family("sluice_source_lag_bytes", .gauge, pipelineLabels + ["stage", "partition"],
                                        "Bytes of input a source has not read yet, per partition, as it reported after its last batch.")
    // The build and the process.
    public static let buildInfo = Family("sluice_build_info", .gauge, ["version", "abi"],
                                         "Always 1: the host's version and the plugin ABI it speaks.")
    public static let residentMemory = Family("process_resident_memory_bytes", .gauge, [],
                                              "Resident memory size in bytes.")
    public static let virtualMemory = Family("process_virtual_memory_bytes", .gauge, [],
                                             "Virtual memory size in bytes.")
    public static let cpuSeconds = Family("process_cpu_seconds_total", .counter, [],
                                          "Total user and system CPU time spent in seconds.")
    public static let startTime = Family("process_start_time_seconds", .gauge, [],
                                         "Start time of the process since unix epoch in seconds.")
    public static let openFDs = Family("process_open_fds", .gauge, [],
                                       "Number of open file descriptors.")

    public static let all: [Family] = [
        received, sent, errors, discarded, lastProcessed, workerRestarts, pluginEvents,
        alerts, publisherAlerts, publisherRetries, spoolAlerts, spoolBytes, spoolLimitBytes, failingSince,
        batches, batchDuration, batchInProgress, lastBatch, heartbeat, runStart, lagRecords, lagBytes,
        buildInfo, residentMemory, virtualMemory, cpuSeconds, startTime, openFDs,
    ]

    /// The batch duration histogram's buckets (seconds).
    public static let batchBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    /// A plugin's counters exposed per stage, at most (past it, new names are left out).
    public static let maxPluginCounters = 64

    /// Every AlertCounts field as the `outcome` label of `sluice_alerts_total`.
    public static let alertOutcomes: [(String, any KeyPath<AlertCounts, Int> & Sendable)] = [
        ("emitted", \.emitted), ("rejected", \.rejected), ("overflowed", \.overflowed), ("dropped", \.dropped),
        ("unrouted", \.unrouted), ("aggregated", \.aggregated), ("published", \.published), ("failed", \.failed),
        ("suppressed", \.suppressed), ("spooled", \.spooled), ("replayed", \.replayed), ("firing", \.firing),
        ("renotified", \.renotified), ("resolved", \.resolved), ("refreshed", \.refreshed), ("silenced", \.silenced),
        ("withheld", \.withheld), ("handed_over", \.handedOver), ("late", \.late), ("untimed", \.untimed),
        ("overflow_keys", \.overflowKeys),
    ]

    /// Every counted PublisherSummary field as the `outcome` label of `sluice_publisher_alerts_total`.
    public static let publisherOutcomes: [(String, any KeyPath<PublisherSummary, Int> & Sendable)] = [
        ("received", \.received), ("published", \.published), ("failed", \.failed), ("suppressed", \.suppressed),
        ("spooled", \.spooled), ("replayed", \.replayed), ("refreshed", \.refreshed), ("withheld", \.withheld),
    ]
}

extension PrometheusCollectorRegistry {
    func counter(_ f: MetricCatalog.Family, _ values: [String]) -> Counter {
        precondition(f.kind == .counter)
        return values.isEmpty ? makeCounter(descriptor: f.descriptor) : makeCounter(descriptor: f.descriptor, labels: f.pairs(values))
    }

    func gauge(_ f: MetricCatalog.Family, _ values: [String]) -> Gauge {
        precondition(f.kind == .gauge)
        return values.isEmpty ? makeGauge(descriptor: f.descriptor) : makeGauge(descriptor: f.descriptor, labels: f.pairs(values))
    }

    func histogram(_ f: MetricCatalog.Family, _ values: [String]) -> DurationHistogram {
        precondition(f.kind == .histogram)
        return makeDurationHistogram(descriptor: f.descriptor, labels: f.pairs(values), buckets: MetricCatalog.batchBuckets)
    }
}
