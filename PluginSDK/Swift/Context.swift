import SluicePluginABI

/// Who the stage is and its properties, as `init(context:emitter:)` receives them.
/// A copy: it stays valid after `init` returns.
public struct Context: Sendable {
    public let namespace: String
    public let pipeline: String
    public let stage: String
    /// Property name to its text (the host already filled defaults and `${env:…}`).
    public let properties: [String: String]
    /// The host's ABI version.
    public let hostABI: (major: UInt32, minor: UInt32)
    /// Sources: the position saved with the last batch an earlier run committed (see
    /// `Emitter.savePosition`); empty when there is none. Resume right after it.
    public let position: [UInt8]

    init(_ raw: UnsafePointer<sluice_context>) {
        let c = raw.pointee
        namespace = String(c.namespace_name)
        pipeline = String(c.pipeline)
        stage = String(c.stage)
        var props: [String: String] = [:]
        for i in 0..<Int(c.nproperties) {
            let kv = c.properties[i]
            props[String(kv.key)] = String(kv.value)
        }
        properties = props
        hostABI = (c.abi_major, c.abi_minor)
        let hasPosition = Int(c.size) >= MemoryLayout<sluice_context>.offset(of: \sluice_context.position)! + MemoryLayout<sluice_str>.size
        if hasPosition, let p = c.position.ptr, c.position.len > 0 {
            position = Array(UnsafeRawBufferPointer(start: p, count: c.position.len))
        } else {
            position = []
        }
    }

    public init(namespace: String, pipeline: String, stage: String, properties: [String: String]) {
        self.namespace = namespace
        self.pipeline = pipeline
        self.stage = stage
        self.properties = properties
        self.hostABI = (UInt32(SLUICE_ABI_MAJOR), UInt32(SLUICE_ABI_MINOR))
        self.position = []
    }

    /// The property's text, or nil when it is not set.
    public func property(_ name: String) -> String? { properties[name] }

    /// The property's text; throws a clear error when it is missing or empty.
    public func required(_ name: String) throws -> String {
        guard let v = properties[name], !v.isEmpty else {
            throw PluginError.error("property '\(name)' is required")
        }
        return v
    }

    /// The property as a number, `defaultValue` when it is not set; throws when it is not a number.
    public func double(_ name: String, default defaultValue: Double? = nil) throws -> Double {
        try parsed(name, defaultValue, "a number", Double.init)
    }

    /// The property as a whole number, `defaultValue` when it is not set.
    public func int(_ name: String, default defaultValue: Int? = nil) throws -> Int {
        try parsed(name, defaultValue, "a whole number", Int.init)
    }

    private func parsed<T>(_ name: String, _ defaultValue: T?, _ kind: String, _ parse: (String) -> T?) throws -> T {
        guard let text = properties[name], !text.isEmpty else {
            if let d = defaultValue { return d }
            throw PluginError.error("property '\(name)' is required")
        }
        guard let value = parse(text) else {
            throw PluginError.error("property '\(name)' must be \(kind), got '\(text)'")
        }
        return value
    }

    /// The property as a list: comma-separated, trimmed, empty entries dropped.
    public func list(_ name: String) -> [String] {
        guard let text = properties[name] else { return [] }
        return text.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}

extension String {
    /// A Swift string from a (pointer, length) slice of the ABI.
    public init(_ s: sluice_str) {
        guard let p = s.ptr, s.len > 0 else { self = ""; return }
        self = String(decoding: UnsafeRawBufferPointer(start: p, count: s.len), as: UTF8.self)
    }
}
