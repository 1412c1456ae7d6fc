import Logging

/// Everything one stage is made of: the catalog plugin, its properties, who it is, where it
/// runs and where it resumes.
public struct StageBlueprint {
    public var entry: CatalogEntry
    public var identity: StageIdentity
    /// Every property the plugin gets, already checked and substituted.
    public var properties: [(String, String)]
    /// Values of the properties marked secret: never in a message the host shows.
    public var secrets: [String] = []
    /// In the host's process, or in a worker process of its own (not for built-ins: they run
    /// no plugin code).
    public var isolation: Isolation = .none
    /// Isolated stages: the longest one call may take.
    public var timeoutMs = Isolation.defaultTimeoutMs
    /// Sources: the position a previous run saved, handed back to create().
    public var position: [UInt8] = []
    /// The extra output ports a connection takes (records sent to the others are dropped).
    public var connectedPorts: Set<String> = []
    /// The most alerts kept per batch.
    public var alertLimit = AlertSettings.defaultMaxPerBatch
    /// Where the properties are in the pipeline file, for a built-in's messages.
    public var propertiesPath = "properties"

    public init(entry: CatalogEntry, identity: StageIdentity, properties: [(String, String)]) {
        self.entry = entry
        self.identity = identity
        self.properties = properties
    }

    /// Its extra output ports, as its widgets file declares them, and which are taken.
    public var ports: OutputPorts { OutputPorts(declared: entry.extraPorts, connected: connectedPorts) }
}

/// The one way a stage is built, for `host run` and `host test-plugin` alike: a plugin of a
/// library in the host's own process (its library loaded only now), a plugin in a worker
/// process (isolation: process — its library is loaded in the worker only), or a stage
/// built into the host (its properties compiled, the instance made by the engine). Each
/// comes back in the role its type gives it.
public struct StageFactory {
    /// The plugin functions built-in stages' expressions may call.
    public var functions: ExpressionFunctions
    public var logger: Logger
    /// The executable isolated stages run in (`<it> worker …`).
    public var workerExecutable: String

    public init(functions: ExpressionFunctions = ExpressionFunctions(), logger: Logger = Logger(label: "sluice"),
                workerExecutable: String = "/proc/self/exe") {
        self.functions = functions
        self.logger = logger
        self.workerExecutable = workerExecutable
    }

    /// Creates the stage's instance; throws StageCreateError with the plugin's reason.
    public func make(_ b: StageBlueprint, arena: RecordArena) throws -> BuiltStage {
        let entry = b.entry
        let plugin = "\(entry.name) \(entry.version)"
        let made: StageInstance
        switch entry.origin {
        case .library(let path) where b.isolation == .process:
            let isolated = try IsolatedStage(library: path, plugin: entry.name, version: "\(entry.version)", type: entry.type,
                                             identity: b.identity, properties: b.properties, allowsAlerts: entry.widgets.emitsAlerts,
                                             arena: arena, logger: logger, secrets: b.secrets, position: b.position, ports: b.ports,
                                             timeoutMs: b.timeoutMs, executable: workerExecutable)
            isolated.alertLimit = b.alertLimit
            return try role(of: isolated, entry)
        case .library(let path):
            let descriptor: PluginDescriptor
            do {
                descriptor = try entry.load()
            } catch {
                throw StageCreateError(stage: b.identity.stage, plugin: plugin, message: "cannot load \(path): \(error)")
            }
            made = try StageInstance(descriptor: descriptor, identity: b.identity, properties: b.properties,
                                     allowsAlerts: entry.widgets.emitsAlerts, arena: arena, logger: logger, secrets: b.secrets,
                                     position: b.position, ports: b.ports)
        case .builtIn(let stage):
            // Compiled again, now with its plugin functions bound for calling.
            let compiled = stage.compile(b.properties, b.propertiesPath, functions, FunctionBinder.bind)
            guard let instance = compiled.instance else {
                throw StageCreateError(stage: b.identity.stage, plugin: plugin,
                                       message: compiled.problems.errors.map(\.description).joined(separator: "; "))
            }
            made = try StageInstance(descriptor: try entry.load(), identity: b.identity, properties: b.properties,
                                     allowsAlerts: entry.widgets.emitsAlerts, arena: arena, logger: logger, secrets: b.secrets,
                                     ports: b.ports, made: instance)
        }
        made.alertLimit = b.alertLimit
        return try role(of: made, entry)
    }

    private func role<S: SourceStage & TransformStage & SinkStage & PublisherStage>(of stage: S, _ entry: CatalogEntry) throws -> BuiltStage {
        switch entry.type {
        case .source: return .source(stage)
        case .transform: return .transform(stage)
        case .sink: return .sink(stage)
        case .alertpublisher: return .publisher(stage)
        case .functions:
            stage.destroy()
            throw StageCreateError(stage: stage.identity.stage, plugin: "\(entry.name) \(entry.version)",
                                   message: "\(entry.name) is a library of functions for expressions, not a stage")
        }
    }
}
