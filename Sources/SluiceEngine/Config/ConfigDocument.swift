#if canImport(Glibc)
import Glibc
#endif
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

    /// The largest configuration file read: far more than any pipeline needs.
    static let maxBytes = 16 << 20

    /// Reads and parses the file; the error says why in one line (with line and column
    /// for syntax errors): missing, a folder or a device, unreadable, too large, not UTF-8.
    public static func load(path: String) throws -> JSONValue {
        try parse(read(path), format: format(of: path))
    }

    static func read(_ path: String) throws -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let why = errno == ENOENT ? "no such file" : errno == EACCES ? "permission denied" : String(cString: strerror(errno))
            throw ConfigError(message: "cannot read \(path): \(why)")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ConfigError(message: "cannot read \(path): \(String(cString: strerror(errno)))") }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw ConfigError(message: "cannot read \(path): it is a folder, not a pipeline file")
        default: throw ConfigError(message: "cannot read \(path): not a regular file")
        }
        guard st.st_size <= off_t(maxBytes) else {
            throw ConfigError(message: "cannot read \(path): \(st.st_size) bytes is more than a configuration file may have (\(maxBytes))")
        }
        var data = Data(count: Int(st.st_size))
        var got = 0
        while got < data.count {
            let n = data.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, $0.count - got) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ConfigError(message: "cannot read \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { data.count = got; break }
            got += n
        }
        guard String(validating: data, as: UTF8.self) != nil else {
            throw ConfigError(message: "cannot read \(path): it is not UTF-8 text")
        }
        return data
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
                var budget = ConfigDocument.maxValues
                return try value(node, depth: 0, budget: &budget)
            } catch let e as ConfigError {
                throw e
            } catch {
                throw ConfigError(message: "malformed YAML: \(String(describing: error).split(separator: "\n").joined(separator: " "))")
            }
        }
    }

    /// The most values a YAML document may stand for, aliases expanded, and how deep it may
    /// nest: a few hundred bytes of aliases can stand for billions ("billion laughs").
    static let maxValues = 1_000_000
    static let maxDepth = 128

    private static func value(_ node: Node, depth: Int, budget: inout Int) throws -> JSONValue {
        budget -= 1
        guard budget >= 0 else {
            throw ConfigError(message: "malformed YAML: the document stands for more than \(maxValues) values (aliases repeating aliases?)")
        }
        guard depth < maxDepth else {
            throw ConfigError(message: "malformed YAML: nested deeper than \(maxDepth) levels at line \((node.mark?.line ?? 0))")
        }
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
            var items: [JSONValue] = []
            for n in seq { items.append(try value(n, depth: depth + 1, budget: &budget)) }
            return .array(items)
        case .mapping(let map):
            var fields: [(String, JSONValue)] = []
            for pair in map {
                guard case .scalar(let key) = pair.key else {
                    throw ConfigError(message: "malformed YAML: a mapping key at line \(pair.key.mark?.line ?? 0) is not a plain string")
                }
                fields.append((key.string, try value(pair.value, depth: depth + 1, budget: &budget)))
            }
            return .object(fields)
        case .alias:
            throw ConfigError(message: "malformed YAML: aliases are not supported")
        }
    }
}

public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
}
