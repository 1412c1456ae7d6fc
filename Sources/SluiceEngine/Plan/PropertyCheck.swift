/// A stage's property values checked against its plugin's widgets file: `${…}` substituted,
/// each value checked against its property's type, defaults filled in, required ones
/// present. What `validate`, `run` and `test-plugin` share, so they say the same thing.
public enum PropertyCheck {
    /// The values the plugin's create() receives (given ones in order, then defaults), and
    /// every problem, each at `path.<property>`.
    public static func resolve(_ given: [(String, String)], structured: Set<String> = [], of entry: CatalogEntry,
                               path: String, template: PropertyTemplate,
                               inFile: Bool = true) -> (values: [(String, String)], diagnostics: [Diagnostic]) {
        let declared = entry.widgets.properties
        let known = Set(declared.map(\.name))
        var values: [(String, String)] = []
        var diagnostics: [Diagnostic] = []
        var seen = Set<String>()
        for (name, raw) in given {
            let pp = "\(path).\(name)"
            let property = declared.first(where: { $0.name == name })
            if !known.contains(name) {
                let list = declared.map(\.name).joined(separator: ", ")
                let close = NameSuggestion.closest(to: name, among: declared.map(\.name)).map { " — did you mean '\($0)'?" } ?? ""
                diagnostics.append(.warning(pp, "plugin \(entry.name) has no property '\(name)'"
                    + (list.isEmpty ? " (it takes none)" : " (it has: \(list))") + close))
            }
            if inFile, let property, property.secret, !raw.isEmpty, !raw.contains("${env:") {
                diagnostics.append(.warning(pp, "'\(name)' is a secret: keep it out of the file, e.g. \"${env:\(name.uppercased())}\""))
            }
            switch template.resolve(raw) {
            case .success(let text):
                values.append((name, text))
                // Checked after `${…}` substitution: the same message at validate and at run.
                // An empty required value is reported below, once.
                if let property, !(text.isEmpty && property.required),
                   let why = property.type.problem(text, structured: structured.contains(name), secret: property.secret) {
                    let from = text == raw || property.secret ? "" : " (from \(raw))"
                    diagnostics.append(.error(pp, "property '\(name)' of plugin \(entry.name) \(why)\(from)"))
                }
            case .failure(let e):
                diagnostics.append(.error(pp, e.message))
            }
            seen.insert(name)
        }
        for p in declared where !seen.contains(p.name) {
            if let d = p.defaultValue {
                values.append((p.name, d))
            } else if p.required {
                diagnostics.append(.error("\(path).\(p.name)", "required property '\(p.name)' of plugin \(entry.name) is not set"))
            }
        }
        for (name, text) in values where text.isEmpty && declared.contains(where: { $0.name == name && $0.required }) {
            diagnostics.append(.error("\(path).\(name)", "required property '\(name)' of plugin \(entry.name) is empty"))
        }
        return (values, diagnostics)
    }
}
