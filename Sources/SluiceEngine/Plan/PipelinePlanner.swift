import Foundation

/// Checks a pipeline against the catalog and the environment and, when nothing is wrong,
/// plans it. Every problem is reported at once, each with its path in the file.
public enum PipelinePlanner {
    public static func plan(_ spec: PipelineSpec, catalog: Catalog,
                            environment: [String: String] = ProcessInfo.processInfo.environment) -> (PipelinePlan?, [Diagnostic]) {
        var v = Validation(spec: spec, catalog: catalog, template: PropertyTemplate(environment: environment, pipelineDirectory: spec.directory))
        v.run()
        guard v.diagnostics.errors.isEmpty, let plan = v.makePlan() else { return (nil, v.diagnostics) }
        return (plan, v.diagnostics)
    }
}

private struct Validation {
    let spec: PipelineSpec
    let catalog: Catalog
    let template: PropertyTemplate
    var diagnostics: [Diagnostic] = []
    /// Stage name → its position in the file (first occurrence).
    var byName: [String: Int] = [:]
    /// Position in the file → its catalog entry, when found.
    var entries: [Int: CatalogEntry] = [:]
    var resolved: [Int: [(String, String)]] = [:]
    /// Valid connections (both ends known), by position in the file.
    var edges: [(index: Int, from: Int, to: Int, port: ConnectionPort)] = []
    /// The connections of the pipeline's own alerts (`@pipeline`): to which publisher.
    var pipelineEdges: [(index: Int, to: Int)] = []
    /// The edges already taken, to find one given twice.
    private var seenEdges = Set<EdgeKey>()
    private struct EdgeKey: Hashable {
        let from: Int, to: Int, port: ConnectionPort
    }

    /// Stage → its record and error edges (not alerts) in file order: every walk of the
    /// graph goes through this, so planning stays linear in the stages and connections.
    private func flowOut() -> [[(index: Int, from: Int, to: Int, port: ConnectionPort)]] {
        var out = Array(repeating: [(index: Int, from: Int, to: Int, port: ConnectionPort)](), count: spec.stages.count)
        for e in edges where e.port != .alerts { out[e.from].append(e) }
        return out
    }
    var spoolFolder = ""
    var stateFolder = ""
    var expectedKeys: [String: [[String]]] = [:]
    /// The functions expressions may call.
    let functions: ExpressionFunctions

    init(spec: PipelineSpec, catalog: Catalog, template: PropertyTemplate) {
        self.spec = spec
        self.catalog = catalog
        self.template = template
        functions = ExpressionFunctions(catalog: catalog)
    }

    mutating func error(_ path: String, _ message: String) { diagnostics.append(.error(path, message)) }
    mutating func warning(_ path: String, _ message: String) { diagnostics.append(.warning(path, message)) }

    func describe(_ i: Int) -> String {
        let s = spec.stages[i]
        if let e = entries[i] { return "stage '\(s.name)' (\(e.name), \(e.type.rawValue))" }
        return "stage '\(s.name)'"
    }

    mutating func run() {
        if spec.stages.isEmpty { error("stages", "a pipeline needs at least one stage") }
        for (i, stage) in spec.stages.enumerated() { checkStage(stage, i) }
        checkSources()
        for (k, c) in spec.connections.enumerated() { checkConnection(c, k) }
        for (k, c) in spec.connections.enumerated() where c.port == .alerts { checkPayloadKeys(c, k) }
        checkCycles()
        checkConnectedness()
        checkSpool()
    }

    mutating func checkSpool() {
        switch spec.spoolFolder(template) {
        case .success(let folder): spoolFolder = folder
        case .failure(let e): error("spool.path", e.message)
        }
        switch spec.stateFolder(template) {
        case .success(let folder): stateFolder = folder
        case .failure(let e): error("state.path", e.message)
        }
        // Each publisher's spool files are named after it: two names must not meet in one file.
        var files: [String: Int] = [:]
        for i in spec.stages.indices where entries[i]?.type == .alertpublisher {
            let file = Spool.fileName(spec.stages[i].name)
            if let other = files[file] {
                error("stages[\(i)].name", "'\(spec.stages[i].name)' would share its spool files (\(file).spool.jsonl) with stage '\(spec.stages[other].name)': rename one")
            } else {
                files[file] = i
            }
        }
    }

    // MARK: stages

    mutating func checkStage(_ stage: StageSpec, _ i: Int) {
        let path = "stages[\(i)]"
        if stage.name == PipelinePlan.pipelineAlerts {
            error("\(path).name", "'\(stage.name)' is reserved: it names the pipeline's own alerts in connections")
        } else if !stage.name.isEmpty {
            if let first = byName[stage.name] {
                error("\(path).name", "duplicate stage name '\(stage.name)' (also stages[\(first)])")
            } else {
                byName[stage.name] = i
            }
        }
        guard !stage.plugin.name.isEmpty else { return }
        let entry: CatalogEntry
        switch catalog.find(name: stage.plugin.name, type: stage.plugin.type, version: stage.plugin.version) {
        case .success(let e):
            entry = e
        case .failure(let e):
            if case .unknownVersion = e { error("\(path).plugin.version", "\(e)") } else { error("\(path).plugin.name", "\(e)") }
            return
        }
        if entry.type == .functions {
            error("\(path).plugin.name", "\(entry.name) is a library of functions for expressions, not a stage: call its functions (\(entry.widgets.functions.map { "\(entry.name).\($0.name)()" }.joined(separator: ", "))) from a Filter, Derive or AlertRule stage")
            return
        }
        entries[i] = entry
        checkProperties(stage, entry, path, i)
        if let builtIn = entry.builtIn {
            diagnostics += builtIn.check(resolved[i] ?? [], path: "\(path).plugin.properties", functions: functions)
            if stage.isolation == .process {
                warning("\(path).isolation", "\(entry.name) is built into the host and runs no plugin code of its own: it is not isolated")
            }
        }
        if stage.delivery != nil && entry.type != .alertpublisher {
            warning("\(path).delivery", "is ignored: only alert publishers have a delivery section")
        }
        if let alerts = stage.alerts, !entry.widgets.emitsAlerts, alerts.isAggregating {
            warning("\(path).alerts", "plugin \(entry.name) does not emit alerts (its widgets file does not declare emitsAlerts), so this section has nothing to aggregate")
        }
        if let life = stage.alerts?.lifecycle {
            // Expressions over a key's aggregates and groupBy fields, as alert routes' `when`.
            for (name, source) in [("condition", life.condition), ("recover", life.recover)] {
                guard let source, !source.isEmpty else { continue }
                var compiler = ExpressionCompiler(functions: functions, allowsState: false)
                if case .failure(let p) = compiler.compile(source, as: .condition) { error("\(path).alerts.\(name)", p.description) }
            }
            if let file = life.expectedKeys, let alerts = stage.alerts {
                switch template.resolve(file) {
                case .success(let resolved):
                    switch ExpectedKeys.read(resolved, fields: alerts.keyFields ?? [], maxKeys: life.maxKeys) {
                    case .success(let keys): expectedKeys[stage.name] = keys
                    case .failure(let problems): for p in problems.messages { error("\(path).alerts.expectedKeys", p) }
                    }
                case .failure(let e): error("\(path).alerts.expectedKeys", e.message)
                }
            }
        }
    }

    mutating func checkProperties(_ stage: StageSpec, _ entry: CatalogEntry, _ path: String, _ index: Int) {
        let checked = PropertyCheck.resolve(stage.plugin.properties, structured: stage.plugin.structured, of: entry,
                                            path: "\(path).plugin.properties", template: template)
        diagnostics += checked.diagnostics
        resolved[index] = checked.values
    }

    /// The payload keys a stage's alerts are known to carry (its groupBy fields and
    /// aggregates, or its key fields), against what the publisher's widgets file says its
    /// service takes (`payloadKeys`: Alertmanager's label names): each one that would be
    /// renamed, or whose key field would collide with a name the publisher sets, is
    /// reported, with the connection's path.
    mutating func checkPayloadKeys(_ c: ConnectionSpec, _ k: Int) {
        guard let from = byName[c.from], let to = byName[c.to], let rule = entries[to]?.widgets.payloadKeys,
              let alerts = spec.stages[from].alerts else { return }
        let properties = Dictionary(resolved[to] ?? [], uniquingKeysWith: { $1 })
        if let property = rule.whenProperty, !rule.whenValues.contains(properties[property] ?? "") { return }
        // The key fields are the alert's identity (Alertmanager: its labels); aggregates go
        // along (annotations) and must only be well-formed names.
        let keyFields = alerts.keyFields ?? []
        let keys = keyFields + (alerts.isAggregating || alerts.lifecycle != nil ? alerts.aggregates.map(\.name) : [])
        let pattern = try? NSRegularExpression(pattern: "^(?:\(rule.pattern))$")
        var taken: [String: String] = [:]
        for name in rule.reserved { taken[name] = "one the publisher sets itself" }
        for property in rule.reservedBy {
            guard let text = properties[property], let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { continue }
            for name in object.keys { taken[name] = "one of its '\(property)'" }
        }
        let publisher = "'\(c.to)' (\(entries[to]?.name ?? ""))"
        for key in keys {
            if let pattern, pattern.firstMatch(in: key, range: NSRange(key.startIndex..., in: key)) == nil {
                warning("connections[\(k)]", "stage '\(c.from)' sends payload key '\(key)', which is not among \(rule.what) (\(rule.pattern)): publisher \(publisher) sends it renamed or not at all")
            } else if keyFields.contains(key), let why = taken[key] {
                warning("connections[\(k)]", "stage '\(c.from)' sends payload key '\(key)', which collides with \(why) at publisher \(publisher): it is not sent under that name")
            }
        }
    }

    mutating func checkSources() {
        let sources = spec.stages.indices.filter { entries[$0]?.type == .source }
        let unknown = spec.stages.indices.contains { entries[$0] == nil }
        if sources.isEmpty && !unknown && !spec.stages.isEmpty {
            error("stages", "a pipeline needs a source stage")
        }
        for extra in sources.dropFirst() {
            error("stages[\(extra)]", "only one source per pipeline is supported; '\(spec.stages[sources[0]].name)' is already the source")
        }
    }

    // MARK: connections

    mutating func checkConnection(_ c: ConnectionSpec, _ k: Int) {
        let path = "connections[\(k)]"
        if c.from == PipelinePlan.pipelineAlerts || c.to == PipelinePlan.pipelineAlerts {
            checkPipelineConnection(c, k)
            return
        }
        let from = byName[c.from], to = byName[c.to]
        if !c.from.isEmpty, from == nil { error("\(path).from", "no stage named '\(c.from)'") }
        if !c.to.isEmpty, to == nil { error("\(path).to", "no stage named '\(c.to)'") }
        guard let from, let to else { return }
        if from == to {
            error(path, "stage '\(c.from)' is connected to itself")
            return
        }
        guard seenEdges.insert(EdgeKey(from: from, to: to, port: c.port)).inserted else {
            warning(path, "the same connection is given twice")
            return
        }
        edges.append((k, from, to, c.port))
        guard let fromEntry = entries[from], let toEntry = entries[to] else { return }
        switch c.port {
        case .alerts:
            if !fromEntry.widgets.emitsAlerts {
                error("\(path).from", "\(describe(from)) does not emit alerts: plugin \(fromEntry.name)'s widgets file does not declare emitsAlerts")
            }
            if toEntry.type != .alertpublisher {
                error("\(path).to", "\(describe(to)) is not an alert publisher; alerts connections go to stages of type alertpublisher")
            }
            if let when = c.when {
                var compiler = ExpressionCompiler(functions: functions, allowsState: false)
                if case .failure(let p) = compiler.compile(when, as: .condition) { error("\(path).when", p.description) }
            }
        case .records:
            if fromEntry.type == .sink || fromEntry.type == .alertpublisher {
                error("\(path).from", "\(describe(from)) has no record output: record connections cannot leave a \(fromEntry.type.rawValue)")
            }
            if toEntry.type == .alertpublisher {
                error("\(path).to", "\(describe(to)) takes alerts, not records: connect it with \"port\": \"alerts\"")
            } else if toEntry.type == .source {
                error("\(path).to", "\(describe(to)) is a source: it takes no input")
            }
        case .output(let name):
            if fromEntry.type == .sink || fromEntry.type == .alertpublisher {
                error("\(path).from", "\(describe(from)) has no record output: record connections cannot leave a \(fromEntry.type.rawValue)")
            } else if !fromEntry.extraPorts.contains(name) {
                error("\(path).port", unknownPort(name, of: from))
            }
            if toEntry.type == .alertpublisher || toEntry.type == .source {
                error("\(path).to", "\(describe(to)) cannot take records: connect \(name) records to a transform or a sink")
            }
        case .errors:
            if fromEntry.type == .alertpublisher {
                error("\(path).from", "\(describe(from)) has no error port")
            } else if !fromEntry.widgets.emitsErrors {
                warning("\(path).from", "plugin \(fromEntry.name) does not declare emitsErrors: this connection may never carry anything")
            }
            if toEntry.type == .alertpublisher || toEntry.type == .source {
                error("\(path).to", "\(describe(to)) cannot take error records: connect errors to a transform or a sink")
            }
        }
    }

    /// A connection of the pipeline's own alerts: `"from": "@pipeline"`, port `alerts`
    /// only, to an alert publisher, with a `when` like any alerts connection.
    mutating func checkPipelineConnection(_ c: ConnectionSpec, _ k: Int) {
        let path = "connections[\(k)]"
        let me = PipelinePlan.pipelineAlerts
        if c.to == me {
            error("\(path).to", "'\(me)' sends the pipeline's own alerts; it takes nothing: use it as a connection's \"from\"")
            return
        }
        if c.port != .alerts {
            error("\(path).port", "'\(me)' has only an alerts port (the pipeline's own alerts): say \"port\": \"alerts\"")
        }
        let to = byName[c.to]
        if !c.to.isEmpty, to == nil { error("\(path).to", "no stage named '\(c.to)'") }
        if let to, let entry = entries[to], entry.type != .alertpublisher {
            error("\(path).to", "\(describe(to)) is not an alert publisher; alerts connections go to stages of type alertpublisher")
        }
        if let when = c.when {
            var compiler = ExpressionCompiler(functions: functions, allowsState: false)
            if case .failure(let p) = compiler.compile(when, as: .condition) { error("\(path).when", p.description) }
        }
        guard let to, c.port == .alerts else { return }
        guard !pipelineEdges.contains(where: { $0.to == to }) else {
            warning(path, "the same connection is given twice")
            return
        }
        pipelineEdges.append((k, to))
    }

    /// Why stage `from` has no output port `name`: which plugins of the catalog have one, or
    /// which ports there are when none has.
    func unknownPort(_ name: String, of from: Int) -> String {
        let having = Set(catalog.entries.filter { $0.extraPorts.contains(name) }.map(\.name)).sorted()
        guard having.isEmpty else {
            let who = having.count == 1 ? "a \(having[0]) stage has" : "\(Self.list(having, "and")) stages have"
            return "only \(who) a \(name) port; \(describe(from)) does not"
        }
        let extras = Set(catalog.entries.flatMap(\.extraPorts)).sorted()
        return "unknown port '\(name)' (\(Self.list(ConnectionPort.reserved + extras, "or")))"
    }

    /// "a, b and c".
    static func list(_ items: [String], _ conjunction: String) -> String {
        guard items.count > 1 else { return items.first ?? "" }
        return items.dropLast().joined(separator: ", ") + " \(conjunction) " + items[items.count - 1]
    }

    /// Records and error records must flow one way: no stage may feed itself. (An explicit
    /// stack: a chain of thousands of stages must not overflow the thread's.)
    mutating func checkCycles() {
        let out = flowOut()
        var state = [UInt8](repeating: 0, count: spec.stages.count)  // 1 visiting, 2 done
        var reported = Set<String>()
        for root in spec.stages.indices where state[root] == 0 {
            // Each frame: a node and how many of its edges were followed.
            var stack: [(node: Int, next: Int)] = [(root, 0)]
            state[root] = 1
            while let top = stack.last {
                let edgesOut = out[top.node]
                guard top.next < edgesOut.count else {
                    state[top.node] = 2
                    stack.removeLast()
                    continue
                }
                stack[stack.count - 1].next += 1
                let e = edgesOut[top.next]
                if state[e.to] == 1 {
                    let from = stack.lastIndex { $0.node == e.to } ?? 0
                    let cycle = stack[from...].map { spec.stages[$0.node].name } + [spec.stages[e.to].name]
                    if reported.insert(Set(cycle).sorted().joined(separator: ",")).inserted {
                        error("connections[\(e.index)]", "cycle: \(cycle.joined(separator: " → "))")
                    }
                } else if state[e.to] == 0 {
                    state[e.to] = 1
                    stack.append((e.to, 0))
                }
            }
        }
    }

    mutating func checkConnectedness() {
        guard spec.stages.count > 1 else { return }
        var connected = Set<Int>()
        for e in edges { connected.insert(e.from); connected.insert(e.to) }
        for e in pipelineEdges { connected.insert(e.to) }
        for i in spec.stages.indices where !connected.contains(i) {
            warning("stages[\(i)]", "stage '\(spec.stages[i].name)' is not connected to anything")
        }
    }

    // MARK: the plan

    func makePlan() -> PipelinePlan? {
        // Every stage must have its plugin: a stage the file's shape left without one (its
        // problem is reported by the reader) makes no plan.
        guard spec.stages.indices.allSatisfy({ entries[$0] != nil }),
              let source = spec.stages.indices.first(where: { entries[$0]?.type == .source }) else { return nil }
        // Kahn's algorithm over record and error edges, keeping file order among equals.
        let out = flowOut()
        var indegree = [Int](repeating: 0, count: spec.stages.count)
        for edgesOut in out { for e in edgesOut { indegree[e.to] += 1 } }
        // The ready stages, lowest file position first (a heap would be O(log n); the
        // ready set of a real pipeline is small, and a chain's holds one at a time).
        var ready = Set(spec.stages.indices.filter { indegree[$0] == 0 && entries[$0]?.type != .alertpublisher })
        var order: [Int] = []
        while let next = ready.min() {
            ready.remove(next)
            order.append(next)
            for e in out[next] {
                indegree[e.to] -= 1
                if indegree[e.to] == 0 { ready.insert(e.to) }
            }
        }
        // Publishers come last: they run after the batch's sinks.
        order += spec.stages.indices.filter { entries[$0]?.type == .alertpublisher }
        guard order.count == spec.stages.count else { return nil }
        let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })

        var stages = order.compactMap { i -> PlannedStage? in
            guard let entry = entries[i] else { return nil }
            var planned = PlannedStage(specIndex: i, name: spec.stages[i].name, entry: entry, properties: resolved[i] ?? [],
                                       secretProperties: Set(entry.widgets.properties.filter(\.secret).map(\.name)),
                                       alerts: spec.stages[i].alerts, delivery: spec.stages[i].delivery)
            // A stage built into the host runs no plugin code: nothing to isolate.
            planned.isolation = entry.builtIn != nil ? .none : spec.stages[i].isolation ?? spec.isolation
            planned.timeoutMs = spec.stages[i].timeoutMs ?? Isolation.defaultTimeoutMs
            return planned
        }
        for e in edges {
            guard let from = position[e.from], let to = position[e.to] else { return nil }
            switch e.port {
            case .records: stages[to].recordInputs.append(from)
            case .errors:
                stages[to].errorInputs.append(from)
                stages[from].hasErrorConsumers = true
            case .output(let name):
                guard let port = stages[from].entry.extraPorts.firstIndex(of: name) else { return nil }
                stages[to].portInputs.append(PortInput(stage: from, port: port))
                stages[from].connectedPorts.insert(name)
            case .alerts:
                let interval = spec.connections[e.index].repeatIntervalMs ?? spec.stages[e.to].delivery?.repeatIntervalMs ?? 0
                stages[from].alertRoutes.append(AlertRoute(publisher: to, repeatIntervalMs: interval, when: spec.connections[e.index].when,
                                                           path: "connections[\(e.index)].when"))
            }
        }
        guard let sourcePosition = position[source] else { return nil }
        var plan = PipelinePlan(spec: spec, stages: stages, source: sourcePosition, spoolFolder: spoolFolder, stateFolder: stateFolder)
        for e in pipelineEdges {
            guard let to = position[e.to] else { return nil }
            let c = spec.connections[e.index]
            plan.pipelineAlertRoutes.append(AlertRoute(publisher: to, repeatIntervalMs: c.repeatIntervalMs ?? spec.stages[e.to].delivery?.repeatIntervalMs ?? 0,
                                                       when: c.when, path: "connections[\(e.index)].when"))
        }
        plan.functions = functions
        plan.expectedKeys = expectedKeys
        return plan
    }
}
