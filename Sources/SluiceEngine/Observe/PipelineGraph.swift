/// A pipeline as a graph for people to look at (the dashboard, docs/api.md): its stages
/// with their plugin, ports and properties — secret ones masked — and its edges: records,
/// errors, alerts and extra output ports. Built from the plan, so it is what runs; kept
/// with each run in the history, so `host serve` can draw a pipeline it does not run.
public struct PipelineGraph: Codable, Equatable, Sendable {
    public var name: String
    public var namespace: String
    public var stages: [Stage]
    public var edges: [Edge]

    public struct Stage: Codable, Equatable, Sendable {
        public var name: String
        /// source, transform, sink or alertpublisher.
        public var kind: String
        public var plugin: String
        public var version: String
        /// From the plugin's widgets file: it has an alert port / an error port, whether or
        /// not an edge leaves it.
        public var emitsAlerts: Bool
        public var emitsErrors: Bool
        /// none, process.
        public var isolation: String
        /// Extra output ports its widgets file declares (Filter's "rejected").
        public var ports: [String]
        public var properties: [Property]
    }

    public struct Property: Codable, Equatable, Sendable {
        public var name: String
        /// Redactor.mask for a secret property.
        public var value: String
        public var secret: Bool
    }

    public struct Edge: Codable, Equatable, Sendable {
        public var from: String
        public var to: String
        /// records, errors, alerts, or an extra output port's name.
        public var port: String
    }

    public init(name: String, namespace: String, stages: [Stage], edges: [Edge]) {
        self.name = name
        self.namespace = namespace
        self.stages = stages
        self.edges = edges
    }

    /// The plan's graph, stages in the plan's order. Secret values never leave this
    /// function: they are replaced by `Redactor.mask`, and every other value goes through a
    /// redactor of every stage's secrets (a secret may be part of another property's value,
    /// of this stage or another: `${env:TOKEN}` in a Webhook's url and a sink's path).
    public init(plan: PipelinePlan) {
        name = plan.spec.name
        namespace = plan.spec.namespace
        let redactor = Redactor(secrets: plan.stages.flatMap(\.secretValues))
        stages = plan.stages.map { s in
            Stage(
                name: s.name, kind: s.type.rawValue, plugin: s.entry.name, version: s.entry.version.description,
                emitsAlerts: s.entry.widgets.emitsAlerts, emitsErrors: s.entry.widgets.emitsErrors,
                isolation: s.isolation.rawValue, ports: s.entry.extraPorts,
                properties: s.properties.map { name, value in
                    let secret = s.secretProperties.contains(name)
                    return Property(name: name, value: secret ? Redactor.mask : redactor.redact(value), secret: secret)
                })
        }
        edges = plan.spec.connections.map { Edge(from: $0.from, to: $0.to, port: $0.port.name) }
    }
}
