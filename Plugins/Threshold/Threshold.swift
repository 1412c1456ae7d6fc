// Threshold — a transform, written in Swift, that raises an alert when a numeric field
// crosses a limit, and passes every record on.
//
// Properties:
//   field      (required) the numeric field to watch, e.g. "heartbeat"
//   limit      (required) the limit, a number
//   direction  "above" (default): alert when value > limit; "below": when value < limit
//   include    comma-separated fields copied into the alert payload, in this order
//              (default: every top-level field that is not an array or object);
//              the watched field is always included
// A record whose field is missing or not a number goes to the error port (code 1) and is
// not passed on.
import SluicePluginSDK

@_cdecl("sluice_plugin_entry")
public func sluicePluginEntry() -> UnsafeRawPointer { exportPlugins(Threshold.self) }

public struct Threshold: Transform {
    public static let name = "Threshold"
    public static let version = "1.0.0"

    let field: Key
    let limit: Double
    let above: Bool
    let include: [Key]

    public init(context: Context, emitter: Emitter) throws {
        field = emitter.intern(try context.required("field"))
        limit = try context.double("limit")
        switch context.property("direction") ?? "above" {
        case "above", "": above = true
        case "below": above = false
        case let other: throw PluginError.error("property 'direction' must be above or below, got '\(other)'")
        }
        include = context.list("include").map { emitter.intern($0) }
    }

    public mutating func process(_ batch: Batch, _ out: Emitter) throws {
        for record in batch {
            guard let value = record[field] else {
                out.error(record, code: 1, "field '\(field.name)' is missing")
                continue
            }
            guard let number = value.double else {
                out.error(record, code: 1, "field '\(field.name)' is not a number (\(value.type))")
                continue
            }
            if above ? number > limit : number < limit {
                out.alert(payload(of: record))
                out.count("alerts")
            }
            out.emit(record)
        }
    }

    func payload(of record: Record) -> [(String, String)] {
        var entries: [(String, String)]
        if include.isEmpty {
            entries = record.fields
                .filter { $0.value.type != .array && $0.value.type != .object }
                .map { ($0.name, $0.value.text) }
        } else {
            entries = include.compactMap { key in record[key].map { (key.name, $0.text) } }
        }
        if !entries.contains(where: { $0.0 == field.name }), let v = record[field] {
            entries.append((field.name, v.text))
        }
        return entries
    }
}
