import Foundation
import SluicePluginABI

/// How the catalog is shown to people (`host list-plugins`, `host describe-plugin`):
/// text tables and JSON documents. The CLI only prints what these return.
public enum CatalogReport {
    // MARK: list-plugins

    /// One row per plugin version, as `host list-plugins --json` prints them.
    public struct PluginSummary: Codable, Equatable, Sendable {
        public let name: String
        public let type: String
        public let version: String
        public let emitsAlerts: Bool
        public let emitsErrors: Bool
        public let library: String
        public let widgets: String
        public let displayName: String?
        public let description: String?
        public let origin: String
        /// The plugin ABI its library was built against ("1.6"): what the host may ask of it
        /// (1.5: alerts with a life; 1.6: a source's lag).
        public let abi: String
    }

    public struct Listing: Codable, Sendable {
        public let plugins: [PluginSummary]
        public let problems: [CatalogProblem]
        public let searchPath: [PluginLocation]
    }

    public static func summary(_ e: CatalogEntry) -> PluginSummary {
        PluginSummary(name: e.name, type: e.type.rawValue, version: e.version.text,
                      emitsAlerts: e.widgets.emitsAlerts, emitsErrors: e.widgets.emitsErrors,
                      library: e.libraryPath, widgets: e.widgetsPath,
                      displayName: e.widgets.displayName, description: e.widgets.description,
                      origin: e.location.origin.rawValue, abi: "\(SLUICE_ABI_MAJOR).\(e.abiMinor)")
    }

    public static func listJSON(_ catalog: Catalog, type: PluginType? = nil) -> String {
        let listing = Listing(plugins: catalog.entries.filter { type == nil || $0.type == type }.map(summary),
                              problems: catalog.problems, searchPath: catalog.locations)
        return encode(listing)
    }

    public static func listTable(_ catalog: Catalog, type: PluginType? = nil) -> String {
        let rows = catalog.entries.filter { type == nil || $0.type == type }.map { e in
            [e.name, e.type.rawValue, e.version.text, e.widgets.emitsAlerts ? "yes" : "no",
             e.widgets.emitsErrors ? "yes" : "no", e.libraryPath]
        }
        if rows.isEmpty { return "no plugins found\n" }
        return table(["NAME", "TYPE", "VERSION", "ALERTS", "ERRORS", "LIBRARY"], rows)
    }

    /// The problem lines, one per broken file or plugin.
    public static func problemLines(_ catalog: Catalog) -> String {
        catalog.problems.map { "\($0)\n" }.joined()
    }

    // MARK: describe-plugin

    public struct PropertyDescription: Codable, Equatable, Sendable {
        public let name: String
        public let label: String
        public let widgetType: String
        public let required: Bool
        /// The default; for a secret property only whether it has one ("(secret)").
        public let defaultValue: String?
        public let secret: Bool
        public let description: String?
        public let group: String
        /// string, number, integer, boolean, list, object or enum.
        public let type: String
        /// An enum's values.
        public let values: [String]?
        public let min: Double?
        public let max: Double?
        /// "integer 1..100", "enum (json, text)": what `describe-plugin` prints.
        public let typeSummary: String
        /// True when the widgets file gave no `type` and it was inferred from `widget-type`.
        public let typeInferred: Bool
    }

    public struct FunctionDescription: Codable, Equatable, Sendable {
        public let name: String
        public let symbol: String
        public let arguments: [String]
        public let returns: String
        public let signature: String
        public let description: String?
    }

    public struct Port: Codable, Equatable, Sendable {
        public let name: String
        public let direction: String
        public let carries: String
    }

    public struct Description: Codable, Sendable {
        public let plugin: PluginSummary
        public let otherVersions: [String]
        public let properties: [PropertyDescription]
        public let ports: [Port]
        public let functions: [FunctionDescription]
        public let outputs: [String]
    }

    /// The ports a plugin has, from its type and its widgets flags.
    public static func ports(_ e: CatalogEntry) -> [Port] {
        var ports: [Port] = []
        switch e.type {
        case .source:
            ports.append(.init(name: "records", direction: "out", carries: "records"))
        case .transform:
            ports.append(.init(name: "records", direction: "in", carries: "records"))
            ports.append(.init(name: "records", direction: "out", carries: "records"))
        case .sink:
            ports.append(.init(name: "records", direction: "in", carries: "records"))
        case .alertpublisher:
            ports.append(.init(name: "alerts", direction: "in", carries: "alerts"))
        case .functions:
            break
        }
        // The extra outputs its widgets file declares (Filter's "rejected").
        for name in e.extraPorts { ports.append(.init(name: name, direction: "out", carries: "records")) }
        if e.widgets.emitsErrors { ports.append(.init(name: "errors", direction: "out", carries: "error records")) }
        if e.widgets.emitsAlerts { ports.append(.init(name: "alerts", direction: "out", carries: "alerts")) }
        return ports
    }

    public static func describe(_ e: CatalogEntry, in catalog: Catalog) -> Description {
        let props = e.widgets.groups.flatMap { g in
            g.properties.map { p in
                PropertyDescription(name: p.name, label: p.label, widgetType: p.widgetType, required: p.required,
                                    defaultValue: p.secret ? (p.defaultValue == nil ? nil : "(secret)") : p.defaultValue,
                                    secret: p.secret, description: p.description, group: g.label,
                                    type: p.type.kind.rawValue, values: p.type.kind == .enumeration ? p.type.values : nil,
                                    min: p.type.minimum, max: p.type.maximum, typeSummary: p.type.summary,
                                    typeInferred: p.type.inferred)
            }
        }
        let functions = e.widgets.functions.map {
            FunctionDescription(name: $0.name, symbol: $0.symbol, arguments: $0.arguments.map(\.rawValue),
                                returns: $0.returns.rawValue, signature: $0.signature, description: $0.description)
        }
        let others = catalog.versions(of: e.name, type: e.type).map(\.version.text).filter { $0 != e.version.text }
        return Description(plugin: summary(e), otherVersions: others, properties: props, ports: ports(e),
                           functions: functions, outputs: e.widgets.outputs.map(\.name))
    }

    public static func describeJSON(_ e: CatalogEntry, in catalog: Catalog) -> String {
        encode(describe(e, in: catalog))
    }

    public static func describeText(_ e: CatalogEntry, in catalog: Catalog) -> String {
        let d = describe(e, in: catalog)
        var out = "\(e.name) \(e.version) (\(e.type.rawValue))"
        if let n = e.widgets.displayName { out += " — \(n)" }
        out += "\n"
        if let desc = e.widgets.description { out += "\n\(desc)\n" }
        out += "\nlibrary:       \(e.libraryPath)\nwidgets:       \(e.widgetsPath)\n"
        out += "emits alerts:  \(e.widgets.emitsAlerts ? "yes" : "no")\n"
        out += "emits errors:  \(e.widgets.emitsErrors ? "yes" : "no")\n"
        out += "built for ABI: \(d.plugin.abi)\n"
        if !d.otherVersions.isEmpty { out += "other versions: \(d.otherVersions.joined(separator: ", "))\n" }

        out += "\nProperties:\n"
        if d.properties.isEmpty {
            out += "  (none)\n"
        } else {
            out += indent(table(["NAME", "TYPE", "REQUIRED", "DEFAULT", "WIDGET", "DESCRIPTION"], d.properties.map { p in
                [p.name, p.typeSummary, p.required ? "yes" : "no", p.defaultValue ?? "-",
                 p.widgetType + (p.secret ? " (secret)" : ""), p.description ?? ""]
            }))
        }
        out += "\nPorts:\n"
        out += indent(table(["PORT", "DIRECTION", "CARRIES"], d.ports.map { [$0.name, $0.direction, $0.carries] }))
        out += "\nFunctions:\n"
        if d.functions.isEmpty {
            out += "  (none)\n"
        } else {
            out += indent(table(["FUNCTION", "SYMBOL", "DESCRIPTION"], d.functions.map { [$0.signature, $0.symbol, $0.description ?? ""] }))
        }
        return out
    }

    // MARK: helpers

    static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// A plain text table, columns padded to their widest cell.
    public static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { c, cell in
                c == row.count - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    static func indent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n")
    }
}
