/// A validated pipeline, ready to run: each stage bound to a catalog plugin with its
/// properties resolved, in topological order, with its inputs and alert targets.
public struct PipelinePlan: @unchecked Sendable {
    public let spec: PipelineSpec
    /// Stages in topological order: every stage comes after the stages it reads from.
    public let stages: [PlannedStage]
    /// The position of the source stage in `stages`.
    public let source: Int

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
    /// Positions in `PipelinePlan.stages` of the stages whose records this one reads.
    public internal(set) var recordInputs: [Int] = []
    /// Positions of the stages whose error records this one reads.
    public internal(set) var errorInputs: [Int] = []
    /// Positions of the alert publishers this stage's alerts go to.
    public internal(set) var alertPublishers: [Int] = []
    /// Whether some stage reads this one's error records.
    public internal(set) var hasErrorConsumers = false

    public var type: PluginType { entry.type }
}
