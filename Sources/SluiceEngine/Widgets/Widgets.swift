import Foundation

/// A plugin's widgets file: how it is shown, configured and what it can emit.
/// The format is documented in docs/widgets.md.
public struct Widgets: Sendable, Equatable {
    public var specVersion: String
    /// `metadata.name` / `metadata.type`: optional, checked against the library when given.
    public var declaredName: String?
    public var declaredType: PluginType?
    public var displayName: String?
    public var description: String?
    public var emitsAlerts: Bool
    public var emitsErrors: Bool
    public var groups: [PropertyGroup]
    public var outputs: [Output]
    public var functions: [FunctionDeclaration]
    /// Alert publishers: the names a service takes payload keys as (Alertmanager's label
    /// names), checked by `host validate` against the keys a stage's alerts carry.
    public var payloadKeys: PayloadKeyRule?

    /// `payloadKeys` in a publisher's widgets file: when the property `when.property` has
    /// one of `when.values` (or always without `when`), each payload key a connected stage
    /// is known to send (its groupBy or key fields, its aggregates) must match `pattern`
    /// and may not be one of `reserved` or a key of the object properties `reservedBy`
    /// (such as Alertmanager's static `labels`).
    public struct PayloadKeyRule: Sendable, Equatable {
        public var whenProperty: String?
        public var whenValues: [String]
        public var pattern: String
        public var reserved: [String]
        public var reservedBy: [String]
        /// What the keys become: "Alertmanager label names".
        public var what: String
    }

    /// Every property of every group, in order.
    public var properties: [Property] { groups.flatMap(\.properties) }

    /// The output ports besides the main one that `outputs` declares (Filter's
    /// "rejected"), in order: the outputs of widget-type "records" whose names are not those
    /// every stage has as its type and flags give them (records, errors, alerts). Other
    /// outputs (CDAP's "schema", …) only document. Only sources and transforms have them:
    /// see CatalogEntry.extraPorts.
    public var extraOutputs: [String] {
        var names: [String] = []
        for o in outputs where o.widgetType == Widgets.portWidgetType && !ConnectionPort.reserved.contains(o.name) && !names.contains(o.name) {
            names.append(o.name)
        }
        return names
    }

    /// The widget-type of an output that is a port.
    public static let portWidgetType = "records"

    /// Whether `name` may name a port: 1 to 64 ASCII letters, digits, '-' and '_' (it names
    /// a file of `host test-plugin --output` too).
    public static func isPortName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F }
    }

    public struct PropertyGroup: Sendable, Equatable {
        public var label: String
        public var properties: [Property]
    }

    public struct Property: Sendable, Equatable {
        public var name: String
        public var label: String
        public var widgetType: String
        public var required: Bool
        /// The default as text (numbers and booleans included), nil when none.
        public var defaultValue: String?
        public var description: String?
        /// Never printed or logged: `secret: true`, or CDAP's `widget-type: password`.
        public var secret: Bool
        /// What values it takes: `type` (with `values`, `min`, `max`), else inferred from
        /// `widget-type`.
        public var type: PropertyType

        public init(name: String, label: String, widgetType: String, required: Bool, defaultValue: String?,
                    description: String?, secret: Bool, type: PropertyType? = nil) {
            self.name = name
            self.label = label
            self.widgetType = widgetType
            self.required = required
            self.defaultValue = defaultValue
            self.description = description
            self.secret = secret
            self.type = type ?? PropertyType.inferred(widgetType: widgetType, options: [])
        }
    }

    public struct Output: Sendable, Equatable {
        public var name: String
        public var widgetType: String?
        public var description: String?
    }

    /// A typed C function the plugin library exports, callable from pipeline expressions.
    public struct FunctionDeclaration: Sendable, Equatable {
        public var name: String
        public var symbol: String
        public var arguments: [FunctionValueType]
        public var returns: FunctionValueType
        public var description: String?

        public var signature: String {
            "\(returns.rawValue) \(name)(\(arguments.map(\.rawValue).joined(separator: ", ")))"
        }
    }

    /// The C types a declared function may take and return (libffi maps them).
    public enum FunctionValueType: String, Sendable, CaseIterable {
        case bool      // uint8_t, 0 or 1 (libffi has no bool)
        case int32     // int32_t
        case int64     // int64_t
        case uint32    // uint32_t
        case uint64    // uint64_t
        case double    // double
        case float     // float
        case string    // two C parameters: const char *ptr, size_t len (UTF-8, not NUL-terminated); returned as sluice_str
    }
}

/// Why a widgets file cannot be used: a JSON syntax error, or every field problem at once.
public struct WidgetsError: Error, CustomStringConvertible, Equatable {
    public let problems: [String]
    public var description: String { problems.joined(separator: "; ") }
}

extension Widgets {
    /// Reads and checks a widgets file. Unknown top-level keys are allowed (CDAP files carry
    /// more than Sluice uses).
    public static func load(path: String) throws -> Widgets {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw WidgetsError(problems: ["cannot read: \(error.localizedDescription)"])
        }
        return try parse(data)
    }

    public static func parse(_ data: Data) throws -> Widgets {
        let json: JSONValue
        do {
            json = try JSONValue.parse(data)
        } catch {
            throw WidgetsError(problems: ["malformed JSON: \(error)"])
        }
        var r = ConfigReader()
        let w = r.widgets(json)
        let problems = r.diagnostics.errors.map { "\($0.path): \($0.message)" }
        if !problems.isEmpty { throw WidgetsError(problems: problems) }
        return w
    }
}

/// Walks a widgets document, collecting every problem with its path.
extension ConfigReader {
    mutating func widgets(_ json: JSONValue) -> Widgets {
        guard case .object = json else {
            error("$", "a widgets file must be a JSON object, not \(json.kind)")
            return Widgets(specVersion: "", emitsAlerts: false, emitsErrors: false, groups: [], outputs: [], functions: [])
        }
        let metadata = json["metadata"]
        if metadata == nil { error("metadata", "is required (with spec-version)") }
        else if case .object = metadata! {} else { error("metadata", "must be an object, not \(metadata!.kind)") }
        let spec = metadata.map { string($0["spec-version"], "metadata.spec-version", required: true) } ?? nil
        let declaredName = string(metadata?["name"], "metadata.name")
        var declaredType: PluginType?
        if let t = string(metadata?["type"], "metadata.type") {
            declaredType = PluginType(rawValue: t)
            if declaredType == nil {
                error("metadata.type", "'\(t)' is not one of \(PluginType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        // Sluice's spelling first, CDAP's as an alias; both given and different is a mistake.
        func flag(_ ours: String, _ cdap: String) -> Bool {
            let a = bool(json[ours], ours)
            let b = bool(json[cdap], cdap)
            if let a, let b, a != b { error(cdap, "says \(b) but \(ours) says \(a)") }
            return a ?? b ?? false
        }
        let emitsAlerts = flag("emitsAlerts", "emit-alerts")
        let emitsErrors = flag("emitsErrors", "emit-errors")

        var groups: [Widgets.PropertyGroup] = []
        var seen: [String: String] = [:]
        for (g, group) in array(json["configuration-groups"], "configuration-groups").enumerated() {
            let gp = "configuration-groups[\(g)]"
            let label = string(group["label"], "\(gp).label") ?? ""
            var props: [Widgets.Property] = []
            for (i, p) in array(group["properties"], "\(gp).properties").enumerated() {
                let pp = "\(gp).properties[\(i)]"
                guard case .object = p else { error(pp, "must be an object, not \(p.kind)"); continue }
                let name = string(p["name"], "\(pp).name", required: true) ?? ""
                if !name.isEmpty, let first = seen[name] { error("\(pp).name", "'\(name)' is already defined at \(first)") }
                if !name.isEmpty, seen[name] == nil { seen[name] = "\(pp).name" }
                let widgetType = string(p["widget-type"], "\(pp).widget-type", required: true) ?? ""
                var defaultValue: JSONValue? = p["default"]
                if defaultValue == nil { defaultValue = p["widget-attributes"]?["default"] }
                let type = propertyType(p, widgetType: widgetType, pp)
                let secret = (bool(p["secret"], "\(pp).secret") ?? false) || widgetType == "password"
                var defaultText: String?
                if let d = defaultValue, d != .null {
                    switch d {
                    case .array, .object:
                        // A list or an object property's default, as the plugin receives it.
                        if type.kind == .list || type.kind == .object { defaultText = d.jsonText }
                        else { error("\(pp).default", "must be a string, number or boolean, not \(d.kind)") }
                    default:
                        defaultText = d.scalarText
                    }
                    if let text = defaultText, let why = type.problem(text, secret: secret) {
                        error("\(pp).default", "does not fit the property's type \(type.summary): \(why)")
                    }
                }
                props.append(.init(
                    name: name,
                    label: string(p["label"], "\(pp).label") ?? name,
                    widgetType: widgetType,
                    required: bool(p["required"], "\(pp).required") ?? false,
                    defaultValue: defaultText,
                    description: string(p["description"], "\(pp).description"),
                    secret: secret,
                    type: type))
            }
            groups.append(.init(label: label, properties: props))
        }

        var outputs: [Widgets.Output] = []
        for (i, o) in array(json["outputs"], "outputs").enumerated() {
            let op = "outputs[\(i)]"
            guard case .object = o else { error(op, "must be an object, not \(o.kind)"); continue }
            let output = Widgets.Output(
                name: string(o["name"], "\(op).name", required: true) ?? "",
                widgetType: string(o["widget-type"], "\(op).widget-type"),
                description: string(o["description"], "\(op).description"))
            if output.widgetType == Widgets.portWidgetType && !output.name.isEmpty && !Widgets.isPortName(output.name) {
                error("\(op).name", "a port's name is 1 to 64 letters, digits, '-' and '_'")
            }
            outputs.append(output)
        }

        var functions: [Widgets.FunctionDeclaration] = []
        for (i, f) in array(json["functions"], "functions").enumerated() {
            let fp = "functions[\(i)]"
            guard case .object = f else { error(fp, "must be an object, not \(f.kind)"); continue }
            let name = string(f["name"], "\(fp).name", required: true) ?? ""
            let symbol = string(f["symbol"], "\(fp).symbol") ?? name
            let argsKey = f["args"] != nil ? "args" : "arguments"
            var args: [Widgets.FunctionValueType] = []
            for (j, a) in array(f[argsKey], "\(fp).\(argsKey)").enumerated() {
                if let t = valueType(a, "\(fp).\(argsKey)[\(j)]") { args.append(t) }
            }
            let returnsKey = f["returns"] != nil ? "returns" : "return"
            var returns: Widgets.FunctionValueType?
            if let r = f[returnsKey] { returns = valueType(r, "\(fp).\(returnsKey)") } else { error("\(fp).returns", "is required") }
            functions.append(.init(name: name, symbol: symbol, arguments: args,
                                   returns: returns ?? .double,
                                   description: string(f["description"], "\(fp).description")))
        }

        return Widgets(
            specVersion: spec ?? "",
            declaredName: declaredName,
            declaredType: declaredType,
            displayName: string(json["display-name"], "display-name"),
            description: string(json["description"], "description"),
            emitsAlerts: emitsAlerts,
            emitsErrors: emitsErrors,
            groups: groups,
            outputs: outputs,
            functions: functions,
            payloadKeys: payloadKeyRule(json["payloadKeys"]))
    }

    private mutating func payloadKeyRule(_ value: JSONValue?) -> Widgets.PayloadKeyRule? {
        guard let rule = value, rule != JSONValue.null else { return nil }
        guard case .object = rule else { error("payloadKeys", "must be an object"); return nil }
        func strings(_ v: JSONValue?, _ path: String) -> [String] {
            var out: [String] = []
            for (i, s) in array(v, path).enumerated() { if let s = string(s, "\(path)[\(i)]", required: true) { out.append(s) } }
            return out
        }
        return Widgets.PayloadKeyRule(
            whenProperty: string(rule["when"]?["property"], "payloadKeys.when.property"),
            whenValues: strings(rule["when"]?["values"], "payloadKeys.when.values"),
            pattern: string(rule["pattern"], "payloadKeys.pattern") ?? ".*",
            reserved: strings(rule["reserved"], "payloadKeys.reserved"),
            reservedBy: strings(rule["reservedBy"], "payloadKeys.reservedBy"),
            what: string(rule["what"], "payloadKeys.what") ?? "names the service takes")
    }

    /// A property's `type` with its `values`, `min` and `max`; without `type`, what CDAP's
    /// `widget-type` and `widget-attributes` imply.
    mutating func propertyType(_ p: JSONValue, widgetType: String, _ pp: String) -> PropertyType {
        let attributes = p["widget-attributes"]
        var type: PropertyType
        if let given = string(p["type"], "\(pp).type") {
            guard let kind = PropertyType.Kind(rawValue: given) else {
                error("\(pp).type", "unknown type '\(given)' (one of \(PropertyType.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
                return PropertyType(.string)
            }
            type = PropertyType(kind)
            if kind == .enumeration {
                type.values = array(p["values"], "\(pp).values").enumerated().compactMap { i, v in
                    string(v, "\(pp).values[\(i)]", required: true)
                }
                if p["values"] == nil { error("\(pp).values", "is required for type enum: the values the property may take") }
                else if type.values.isEmpty { error("\(pp).values", "must list at least one value") }
            } else if p["values"] != nil {
                error("\(pp).values", "is only for type enum")
            }
        } else {
            type = PropertyType.inferred(widgetType: widgetType, options: cdapOptions(widgetType, attributes))
        }
        if type.kind == .url {
            type.httpsHosts = array(p["httpsHosts"], "\(pp).httpsHosts").enumerated().compactMap { i, v in
                string(v, "\(pp).httpsHosts[\(i)]", required: true)?.lowercased()
            }
        } else if p["httpsHosts"] != nil {
            error("\(pp).httpsHosts", "is only for type url")
        }
        if type.kind == .number || type.kind == .integer {
            type.minimum = bound(p["min"] ?? attributes?["min"], "\(pp).min")
            type.maximum = bound(p["max"] ?? attributes?["max"], "\(pp).max")
            if let lo = type.minimum, let hi = type.maximum, lo > hi {
                error("\(pp).min", "\(PropertyType.format(lo)) is greater than max \(PropertyType.format(hi))")
            }
        } else {
            for key in ["min", "max"] where p[key] != nil {
                error("\(pp).\(key)", "is only for types number and integer, not \(type.kind.rawValue)")
            }
        }
        return type
    }

    /// The options of a CDAP `select` (`widget-attributes.values`, strings or {value}),
    /// `radio-group` (`widget-attributes.options`, {id}) or `toggle` (`on`/`off` values
    /// other than true and false).
    func cdapOptions(_ widgetType: String, _ attributes: JSONValue?) -> [String] {
        guard let attributes else { return [] }
        func text(_ v: JSONValue, _ keys: [String]) -> String? {
            if let s = v.scalarText { return s }
            for k in keys { if let s = v[k]?.scalarText { return s } }
            return nil
        }
        switch widgetType {
        case "select":
            guard case .array(let items)? = attributes["values"] ?? attributes["options"] else { return [] }
            return items.compactMap { text($0, ["value", "id"]) }
        case "radio-group":
            guard case .array(let items)? = attributes["options"] ?? attributes["values"] else { return [] }
            return items.compactMap { text($0, ["id", "value"]) }
        case "toggle":
            guard let on = attributes["on"]?["value"]?.scalarText, let off = attributes["off"]?["value"]?.scalarText,
                  Set([on, off]) != Set(["true", "false"]) else { return [] }
            return [on, off]
        default:
            return []
        }
    }

    mutating func bound(_ v: JSONValue?, _ path: String) -> Double? {
        guard let v else { return nil }
        if case .number(let d) = v, d.isFinite { return d }
        if case .string(let s) = v, let d = PropertyType.number(s, integer: false) { return d }
        error(path, "must be a number, not \(v.kind)")
        return nil
    }

    mutating func valueType(_ v: JSONValue, _ path: String) -> Widgets.FunctionValueType? {
        guard case .string(let s) = v else {
            error(path, "must be a type name, not \(v.kind)")
            return nil
        }
        guard let t = Widgets.FunctionValueType(rawValue: s) else {
            error(path, "unknown type '\(s)' (one of \(Widgets.FunctionValueType.allCases.map(\.rawValue).joined(separator: ", ")))")
            return nil
        }
        return t
    }
}
