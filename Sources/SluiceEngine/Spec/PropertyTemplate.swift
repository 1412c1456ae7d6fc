import Foundation

/// Substitutes references in property values:
///   `${env:NAME}`            the environment variable NAME (an error when it is not set)
///   `${env:NAME:-fallback}`  NAME, or `fallback` when NAME is unset or empty
///   `${pipeline.dir}`        the folder of the pipeline file
///   `$$`                     a literal `$`
/// so that secrets and machine-specific paths stay out of pipeline files.
public struct PropertyTemplate {
    public var environment: [String: String]
    public var pipelineDirectory: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, pipelineDirectory: String) {
        self.environment = environment
        self.pipelineDirectory = pipelineDirectory
    }

    /// The substituted text, or every problem found in it.
    public func resolve(_ text: String) -> Result<String, TemplateError> {
        var out = ""
        var problems: [String] = []
        var rest = text[...]
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let after = rest[rest.index(after: dollar)...]
            if after.first == "$" {
                out += "$"
                rest = after.dropFirst()
                continue
            }
            guard after.first == "{", let close = after.firstIndex(of: "}") else {
                out += "$"
                rest = after
                continue
            }
            let reference = String(after[after.index(after: after.startIndex)..<close])
            rest = after[after.index(after: close)...]
            switch expand(reference) {
            case .success(let value): out += value
            case .failure(let e): problems.append(e.message)
            }
        }
        out += rest
        return problems.isEmpty ? .success(out) : .failure(TemplateError(message: problems.joined(separator: "; ")))
    }

    private func expand(_ reference: String) -> Result<String, TemplateError> {
        if reference == "pipeline.dir" { return .success(pipelineDirectory) }
        guard reference.hasPrefix("env:") else {
            return .failure(TemplateError(message: "unknown reference ${\(reference)} (use ${env:NAME}, ${env:NAME:-default} or ${pipeline.dir})"))
        }
        let body = reference.dropFirst(4)
        var name = String(body)
        var fallback: String?
        if let sep = body.range(of: ":-") {
            name = String(body[..<sep.lowerBound])
            fallback = String(body[sep.upperBound...])
        }
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            return .failure(TemplateError(message: "${\(reference)}: '\(name)' is not an environment variable name"))
        }
        if let value = environment[name], !(fallback != nil && value.isEmpty) { return .success(value) }
        if let fallback { return .success(fallback) }
        return .failure(TemplateError(message: "environment variable \(name) is not set (referenced as ${env:\(name)})"))
    }
}

public struct TemplateError: Error, Equatable {
    public let message: String
}
