/// A validated pipeline, ready to run: each stage bound to a catalog plugin with its
/// properties resolved, in topological order, with its inputs and alert targets.
public struct PipelinePlan: @unchecked Sendable {
    public let spec: PipelineSpec
    /// Stages in topological order: every stage comes after the stages it reads from.
    public let stages: [PlannedStage]
    /// The position of the source stage in `stages`.
    public let source: Int
    /// The folder of the publishers' spools (spool.path resolved, or the default).
    public let spoolFolder: String
    /// The state folder: the source's saved position and the run lock.
    public let stateFolder: String
    /// The plugin functions expressions may call.
    public var functions = ExpressionFunctions()
    /// Stage name → the keys its `alerts.expectedKeys` file lists (the values of its key
    /// fields, in their order).
    public var expectedKeys: [String: [[String]]] = [:]
    /// Where the pipeline's own alerts go (`"from": "@pipeline"` connections; docs/alerts.md).
    public internal(set) var pipelineAlertRoutes: [AlertRoute] = []
    /// The name the pipeline's own alerts have: `from` of their connections, `stage` of
    /// their envelopes. No stage may be named so.
    public static let pipelineAlerts = "@pipeline"

    public func stage(named name: String) -> PlannedStage? { stages.first { $0.name == name } }
}

public struct PlannedStage: @unchecked Sendable {
    /// Its position in the pipeline file's `stages`.
    public let specIndex: Int
    public let name: String
    public let entry: CatalogEntry
    /// Every property the plugin gets: the file's values with `${…}` substituted, then
    /// widgets defaults for the ones the file leaves out.
    public let properties: [(String, String)]
    /// Names of properties marked secret: their values are never printed.
    public let secretProperties: Set<String>
    public let alerts: AlertSettings?
    /// Alert publishers: their `delivery` section.
    public let delivery: DeliverySettings?
    /// Positions in `PipelinePlan.stages` of the stages whose records this one reads.
    public internal(set) var recordInputs: [Int] = []
    /// Positions of the stages whose error records this one reads.
    public internal(set) var errorInputs: [Int] = []
    /// Where this stage's alerts go: the publishers' positions, each with the repeat
    /// interval of that connection (the publisher's own when the connection sets none).
    public internal(set) var alertRoutes: [AlertRoute] = []
    /// Positions of the alert publishers this stage's alerts go to.
    public var alertPublishers: [Int] { alertRoutes.map(\.publisher) }
    /// Whether some stage reads this one's error records.
    public internal(set) var hasErrorConsumers = false
    /// The extra output ports of other stages whose records this one reads (Filter's
    /// "rejected", or any port a widgets file declares in `outputs`).
    public internal(set) var portInputs: [PortInput] = []
    /// Its own extra output ports that some connection takes.
    public internal(set) var connectedPorts: Set<String> = []
    /// Where the plugin runs: the stage's `isolation`, else the pipeline's.
    public internal(set) var isolation: Isolation = .none
    /// Isolated stages: the longest one call may take.
    public internal(set) var timeoutMs: Int = Isolation.defaultTimeoutMs

    public var type: PluginType { entry.type }

    /// What StageFactory builds it from; a source gets the position it resumes from.
    func blueprint(namespace: String, pipeline: String, position: [UInt8] = []) -> StageBlueprint {
        var b = StageBlueprint(entry: entry, identity: StageIdentity(namespace: namespace, pipeline: pipeline, stage: name),
                               properties: properties)
        b.secrets = secretValues
        b.isolation = isolation
        b.timeoutMs = timeoutMs
        b.position = position
        b.connectedPorts = connectedPorts
        b.alertLimit = alerts?.maxPerBatch ?? AlertSettings.defaultMaxPerBatch
        b.propertiesPath = "stages[\(specIndex)].plugin.properties"
        return b
    }
}

/// Records a stage reads from another stage's extra output port.
public struct PortInput: Sendable, Equatable {
    /// The position in `PipelinePlan.stages` of the stage that sends them.
    public let stage: Int
    /// The port's position among that stage's extra output ports (OutputPorts).
    public let port: Int
}

/// One alerts connection, planned.
public struct AlertRoute: Sendable, Equatable {
    public let publisher: Int
    /// 0: no repeat suppression.
    public let repeatIntervalMs: Int
    /// Only alerts whose envelope makes this expression true take this route; nil: all.
    public var when: String? = nil
    /// Where `when` is in the file, for messages ("connections[3].when").
    public var path: String = ""
}
