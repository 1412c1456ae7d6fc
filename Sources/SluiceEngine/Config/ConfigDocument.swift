import Foundation
import Yams

/// Reads a configuration file — JSON, or YAML by its extension (.yaml, .yml) — into plain
/// JSON values, so every later check can name the path of what it complains about.
public enum ConfigDocument {
    public enum Format: String, Sendable { case json, yaml }

    public static func format(of path: String) -> Format {
        let ext = (path as NSString).pathExtension.lowercased()
        return ext == "yaml" || ext == "yml" ? .yaml : .json
    }

    /// Reads and parses the file; the error says why in one line (with line and column
    /// for syntax errors).
    public static func load(path: String) throws -> JSONValue {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigError(message: "cannot read \(path): \((error as NSError).localizedDescription)")
        }
        return try parse(data, format: format(of: path))
    }

    public static func parse(_ data: Data, format: Format) throws -> JSONValue {
        switch format {
        case .json:
            do {
                return try JSONValue.parse(data)
            } catch {
                throw ConfigError(message: "malformed JSON: \(error)")
            }
        case .yaml:
            let text = String(decoding: data, as: UTF8.self)
            do {
                guard let node = try Yams.compose(yaml: text) else { return .null }
                return try value(node)
            } catch let e as ConfigError {
                throw e
            } catch {
                throw ConfigError(message: "malformed YAML: \(String(describing: error).split(separator: "\n").joined(separator: " "))")
            }
        }
    }

    private static func value(_ node: Node) throws -> JSONValue {
        switch node {
        case .scalar(let scalar):
            switch node.tag.rawValue {
            case Tag.Name.null.rawValue: return .null
            case Tag.Name.bool.rawValue: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case Tag.Name.int.rawValue: return node.int.map { .number(Double($0)) } ?? .string(scalar.string)
            case Tag.Name.float.rawValue: return node.float.map { .number($0) } ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        case .sequence(let seq):
            return .array(try seq.map(value))
        case .mapping(let map):
            return .object(try map.map { pair in
                guard case .scalar(let key) = pair.key else {
                    throw ConfigError(message: "malformed YAML: a mapping key at line \(pair.key.mark?.line ?? 0) is not a plain string")
                }
                return (key.string, try value(pair.value))
            })
        case .alias:
            throw ConfigError(message: "malformed YAML: aliases are not supported")
        }
    }
}

public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
}
