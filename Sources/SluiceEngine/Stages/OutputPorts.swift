/// A stage's output ports besides the main one: the extra `outputs` its widgets file
/// declares (Filter's "rejected"; any plugin may declare its own and send records there
/// with emit_to, ABI 1.4), and which of them a connection of the pipeline takes. Records
/// sent to a port nothing takes are not kept (emit_to answers SLUICE_UNCONNECTED).
public struct OutputPorts: Sendable, Equatable, Codable {
    public private(set) var names: [String] = []
    public private(set) var connected: [Bool] = []

    public init() {}

    public init(declared: [String], connected taken: Set<String>) {
        names = declared
        connected = declared.map { taken.contains($0) }
    }

    public var isEmpty: Bool { names.isEmpty }

    /// The position of the port named `name`, if the stage declares it.
    public func index(of name: String) -> Int? { names.firstIndex(of: name) }
}
