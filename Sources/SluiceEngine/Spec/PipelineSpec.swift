/// A pipeline as its file describes it: stages made of catalog plugins and the connections
/// between them. Close to CDAP's exported pipelines. The format is documented in
/// docs/pipelines.md.
public struct PipelineSpec: Sendable {
    public var name: String
    public var namespace: String
    public var batch: BatchSettings
    public var retry: RetrySettings
    public var spool: SpoolSettings
    /// Where the source's position and the run lock are kept: the folder as written
    /// (before `${…}` substitution); nil: `${SLUICE_OUT:-out}/<pipeline name>/state`.
    public var statePath: String?
    /// Where every stage's plugin runs unless the stage says otherwise.
    public var isolation: Isolation = .none
    /// How the health endpoint judges the run, and the thresholds of its own alerts.
    public var health = HealthSettings()
    public var sla = SLASettings()
    /// The run and alert history kept in the state folder.
    public var history = HistorySettings()
    public var stages: [StageSpec]
    public var connections: [ConnectionSpec]
    /// The folder of the pipeline file, for `${pipeline.dir}`.
    public var directory: String

    public init(name: String, namespace: String = "default", batch: BatchSettings = .init(), retry: RetrySettings = .init(),
                spool: SpoolSettings = .init(), statePath: String? = nil, stages: [StageSpec], connections: [ConnectionSpec],
                directory: String = ".") {
        self.name = name
        self.namespace = namespace
        self.batch = batch
        self.retry = retry
        self.spool = spool
        self.statePath = statePath
        self.stages = stages
        self.connections = connections
        self.directory = directory
    }
}

/// The bounds of a pipeline file's numbers (docs/pipelines.md): large enough for any real
/// use, small enough that no arithmetic on them can overflow.
public enum Limits {
    public static let maxRecords = 10_000_000
    public static let maxDelayMs = 86_400_000            // a day
    public static let maxAttempts = 100
    public static let maxBackoffMs = 3_600_000           // an hour
    public static let maxSpoolBytes = 1 << 40            // 1 TiB
    public static let maxRepeatIntervalMs = 31_536_000_000  // a year
    public static let maxAlertsPerBatch = 10_000_000
    public static let maxTimeoutMs = 86_400_000           // a day
    /// Stages and connections of one pipeline: far beyond a real one (each stage is a
    /// plugin instance, called once per batch), small enough to plan and run in linear time
    /// without surprises.
    public static let maxStages = 1_000
    public static let maxWindowMs = 604_800_000           // a week
    public static let maxLifecycleKeys = 10_000_000
    public static let maxConnections = 10_000
}

/// Where a stage's plugin runs: in the host's own process (`none`, the fastest), or in a
/// worker process of its own (`process`): a plugin that crashes, aborts, calls exit() or
/// hangs then costs a restart of its worker, not the host. Batches cross through shared
/// memory; the plugin sees the same ABI.
public enum Isolation: String, Sendable, CaseIterable, Codable {
    case none, process

    /// How long a call of an isolated stage may take, unless the stage sets `timeoutMs`
    /// (a source's read gets its batch's maxDelayMs on top).
    public static let defaultTimeoutMs = 60_000
}

/// When a batch ends: at `maxRecords` records, or `maxDelayMs` after it started, or at the
/// end of input, whichever comes first.
public struct BatchSettings: Sendable, Equatable {
    public var maxRecords: Int = 10_000
    public var maxDelayMs: Int = 1_000
    public init(maxRecords: Int = 10_000, maxDelayMs: Int = 1_000) {
        self.maxRecords = maxRecords
        self.maxDelayMs = maxDelayMs
    }
}

/// How sinks and alert publishers that answer "retry" are retried: up to `maxAttempts`
/// calls in all, waiting `initialBackoffMs`, then twice as long each time, at most
/// `maxBackoffMs`.
public struct RetrySettings: Sendable, Equatable {
    public var maxAttempts: Int = 5
    public var initialBackoffMs: Int = 100
    public var maxBackoffMs: Int = 5_000
    public init(maxAttempts: Int = 5, initialBackoffMs: Int = 100, maxBackoffMs: Int = 5_000) {
        self.maxAttempts = maxAttempts
        self.initialBackoffMs = initialBackoffMs
        self.maxBackoffMs = maxBackoffMs
    }

    /// How long to wait before attempt `attempt` (2, 3, ...).
    public func backoffMs(beforeAttempt attempt: Int) -> Int {
        var wait = initialBackoffMs
        for _ in 2..<max(2, attempt) { wait = min(maxBackoffMs, wait * 2) }
        return min(wait, maxBackoffMs)
    }
}

/// Where alerts a publisher could not deliver wait, on disk, for a later batch or run.
public struct SpoolSettings: Sendable, Equatable {
    /// The folder, as written (before `${…}` substitution); nil: the default,
    /// `${SLUICE_OUT:-out}/<pipeline name>/spool`, beside the bundled examples' output.
    public var path: String?
    /// The most bytes one publisher's spool file may hold; past it, new failures are
    /// counted as failed and logged.
    public var maxBytes: Int = 64 << 20

    public init(path: String? = nil, maxBytes: Int = 64 << 20) {
        self.path = path
        self.maxBytes = maxBytes
    }
}

extension PipelineSpec {
    /// The spool folder: `spool.path` with its references substituted, or the default.
    public func spoolFolder(_ template: PropertyTemplate) -> Result<String, TemplateError> {
        template.resolve(spool.path ?? "${env:SLUICE_OUT:-out}/\(Spool.fileName(name.isEmpty ? "pipeline" : name))/spool")
            .map { $0.isEmpty ? "." : $0 }
    }

    /// The state folder (the source's saved position, the run lock): `state.path` with its
    /// references substituted, or the default beside the spool.
    public func stateFolder(_ template: PropertyTemplate) -> Result<String, TemplateError> {
        template.resolve(statePath ?? "${env:SLUICE_OUT:-out}/\(Spool.fileName(name.isEmpty ? "pipeline" : name))/state")
            .map { $0.isEmpty ? "." : $0 }
    }
}

public struct StageSpec: Sendable {
    public var name: String
    public var plugin: PluginReference
    public var alerts: AlertSettings?
    /// Alert publishers only: how their deliveries are shaped.
    public var delivery: DeliverySettings?
    /// nil: the pipeline's `isolation`.
    public var isolation: Isolation?
    /// Isolated stages: the longest a call may take before its worker is killed and
    /// restarted; nil: Isolation.defaultTimeoutMs.
    public var timeoutMs: Int?

    public init(name: String, plugin: PluginReference, alerts: AlertSettings? = nil, delivery: DeliverySettings? = nil,
                isolation: Isolation? = nil, timeoutMs: Int? = nil) {
        self.name = name
        self.plugin = plugin
        self.alerts = alerts
        self.delivery = delivery
        self.isolation = isolation
        self.timeoutMs = timeoutMs
    }
}

/// A publisher stage's `delivery` section.
public struct DeliverySettings: Sendable, Equatable {
    /// An alert whose key was delivered to this publisher less than this long ago is not
    /// sent again (counted as suppressed); 0: every alert is sent. An alerts connection's
    /// own `repeatIntervalMs` wins over this.
    public var repeatIntervalMs: Int = 0

    public init(repeatIntervalMs: Int = 0) { self.repeatIntervalMs = repeatIntervalMs }
}

public struct PluginReference: Sendable {
    public var name: String
    public var type: PluginType?
    public var version: String?
    /// Property name → text as written (before `${…}` substitution), in file order.
    public var properties: [(String, String)]
    /// The properties written as a list or an object: their text is their JSON.
    public var structured: Set<String> = []

    public init(name: String, type: PluginType? = nil, version: String? = nil, properties: [(String, String)] = []) {
        self.name = name
        self.type = type
        self.version = version
        self.properties = properties
    }
}

/// A stage's `alerts` section: how its alerts are bounded and aggregated per batch.
public struct AlertSettings: Sendable, Equatable {
    /// Payload fields whose values make a group; none: every alert of the batch in one group.
    public var groupBy: [String]
    /// With none, alerts are not aggregated.
    public var aggregates: [AggregateSpec]
    /// The most alerts a stage keeps per batch; more are counted as overflowed.
    public var maxPerBatch: Int
    /// Payload fields that identify what an unaggregated alert is about: its `key` is made
    /// of them (an aggregating stage's key is made of its groupBy fields).
    public var key: [String] = []
    /// An alert's life across batches (issue 22): nil keeps the per-batch behaviour.
    public var lifecycle: LifecycleSettings?

    public static let defaultMaxPerBatch = 100_000

    public init(groupBy: [String] = [], aggregates: [AggregateSpec] = [], maxPerBatch: Int = AlertSettings.defaultMaxPerBatch) {
        self.groupBy = groupBy
        self.aggregates = aggregates
        self.maxPerBatch = maxPerBatch
    }

    /// Whether this stage's alerts are aggregated (an aggregate or a groupBy is given).
    public var isAggregating: Bool { !aggregates.isEmpty || !groupBy.isEmpty }

    /// The payload fields an alert's key is made of; nil: the whole payload. An aggregating
    /// stage's key is its groupBy fields, none at all when it has no groupBy: one group
    /// per batch, the same key in every batch.
    public var keyFields: [String]? { isAggregating ? groupBy : (key.isEmpty ? nil : key) }
}

/// When a key of a stage's alerts is alerting and when it is healthy again, over what
/// window, and how its life goes on (docs/alerts.md).
public struct LifecycleSettings: Sendable, Equatable {
    public struct Window: Sendable, Equatable {
        public var sizeMs: Int
        /// Equal to sizeMs: tumbling windows.
        public var slideMs: Int
        /// The payload field holding an alert's event time (milliseconds since 1970, or
        /// ISO 8601); nil: processing time.
        public var timeField: String?
        public var allowedLatenessMs: Int = 0
    }

    public var window: Window?
    /// An expression over the aggregates and groupBy fields: the key is alerting.
    public var condition: String
    /// An expression: the key is healthy again; nil: when the condition does not hold.
    public var recover: String?
    public var forMs = 0
    public var keepFiringMs = 0
    public var renotifyMs = 0
    /// A word (`critical`, `warning`, …) or `${field}` of the payload.
    public var severity: String?
    public var maxKeys = LifecycleSettings.defaultMaxKeys
    /// A file of the keys that exist from the start (one value per line, or one JSON
    /// object of the groupBy fields per line), `${…}` allowed: each is followed from the
    /// run's start, so that one never seen is judged once a whole window has passed.
    public var expectedKeys: String?

    public static let defaultMaxKeys = 100_000

    public init(condition: String) { self.condition = condition }
}

public struct AggregateSpec: Sendable, Equatable {
    public var name: String
    public var function: AggregateFunction
    /// The payload field read as a number; `count` may go without one.
    public var field: String?

    public init(name: String, function: AggregateFunction, field: String? = nil) {
        self.name = name
        self.function = function
        self.field = field
    }
}

public enum AggregateFunction: String, Sendable, CaseIterable {
    case count, sum, avg, min, max
    /// How many distinct values the field had: over a window only (a section with a
    /// condition), where a per-batch count would mislead.
    case distinct

    /// Also accepts `mean` for `avg`.
    public init?(name: String) {
        if name == "mean" { self = .avg; return }
        self.init(rawValue: name)
    }

    public static let names = ["count", "sum", "avg", "mean", "min", "max", "distinct"]
}

/// Which output of a stage a connection carries.
/// Which output of its `from` stage a connection carries.
public enum ConnectionPort: Sendable, Hashable {
    case records, alerts, errors
    /// An extra output port the stage's widgets file declares in `outputs`, such as a
    /// Filter's "rejected" (its records for which `where` was not true).
    case output(String)

    /// The ports every stage has, as its type and widgets flags give them.
    public static let reserved = ["records", "alerts", "errors"]

    public init(name: String) {
        switch name {
        case "records": self = .records
        case "alerts": self = .alerts
        case "errors": self = .errors
        default: self = .output(name)
        }
    }

    public var name: String {
        switch self {
        case .records: return "records"
        case .alerts: return "alerts"
        case .errors: return "errors"
        case .output(let name): return name
        }
    }
}

public struct ConnectionSpec: Sendable, Equatable {
    public var from: String
    public var to: String
    public var port: ConnectionPort
    /// Alerts connections: repeat suppression for this stage's alerts at this publisher
    /// (see DeliverySettings); nil: the publisher's setting.
    public var repeatIntervalMs: Int?
    /// Alerts connections: only the alerts whose envelope makes this expression true take
    /// it (docs/expressions.md); nil: every alert.
    public var when: String?

    public init(from: String, to: String, port: ConnectionPort = .records, repeatIntervalMs: Int? = nil, when: String? = nil) {
        self.from = from
        self.to = to
        self.port = port
        self.repeatIntervalMs = repeatIntervalMs
        self.when = when
    }
}
