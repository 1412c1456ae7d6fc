import Foundation

extension PipelineSpec {
    /// Reads a pipeline file (JSON, or YAML by extension). Structural problems come back as
    /// diagnostics with paths, together with the best reading of the rest, so that
    /// validation can report every problem at once; only an unreadable or syntactically
    /// broken file throws.
    public static func load(path: String) throws -> (PipelineSpec, [Diagnostic]) {
        let json = try ConfigDocument.load(path: path)
        let dir = ((path as NSString).deletingLastPathComponent as NSString).standardizingPath
        return read(json, directory: dir.isEmpty ? "." : dir)
    }

    /// Reads a pipeline from its JSON value.
    public static func read(_ json: JSONValue, directory: String = ".") -> (PipelineSpec, [Diagnostic]) {
        var r = ConfigReader()
        let spec = r.pipeline(json, directory: directory)
        return (spec, r.diagnostics)
    }
}

/// Walks a pipeline document field by field, noting every problem with its path.
extension ConfigReader {
    mutating func pipeline(_ json: JSONValue, directory: String) -> PipelineSpec {
        guard case .object(let top) = json else {
            error("$", "a pipeline must be a JSON object, not \(json.kind)")
            return PipelineSpec(name: "", stages: [], connections: [], directory: directory)
        }
        unknownKeys(top, ["name", "namespace", "description", "batch", "retry", "spool", "state", "isolation", "health", "sla", "history",
                           "stages", "connections"], "")
        let name = string(json["name"], "name", required: true) ?? ""
        let namespace = string(json["namespace"], "namespace") ?? "default"

        var batch = BatchSettings()
        if let b = object(json["batch"], "batch") {
            unknownKeys(b, ["maxRecords", "maxDelayMs"], "batch")
            batch.maxRecords = integer(json["batch"]?["maxRecords"], "batch.maxRecords", minimum: 1, maximum: Limits.maxRecords) ?? batch.maxRecords
            batch.maxDelayMs = integer(json["batch"]?["maxDelayMs"], "batch.maxDelayMs", minimum: 0, maximum: Limits.maxDelayMs) ?? batch.maxDelayMs
        }
        var retry = RetrySettings()
        if let r = object(json["retry"], "retry") {
            unknownKeys(r, ["maxAttempts", "initialBackoffMs", "maxBackoffMs"], "retry")
            retry.maxAttempts = integer(json["retry"]?["maxAttempts"], "retry.maxAttempts", minimum: 1, maximum: Limits.maxAttempts) ?? retry.maxAttempts
            retry.initialBackoffMs = integer(json["retry"]?["initialBackoffMs"], "retry.initialBackoffMs", minimum: 0, maximum: Limits.maxBackoffMs) ?? retry.initialBackoffMs
            retry.maxBackoffMs = integer(json["retry"]?["maxBackoffMs"], "retry.maxBackoffMs", minimum: 0, maximum: Limits.maxBackoffMs) ?? retry.maxBackoffMs
        }

        var spool = SpoolSettings()
        if let sp = object(json["spool"], "spool") {
            unknownKeys(sp, ["path", "maxBytes"], "spool")
            spool.path = string(json["spool"]?["path"], "spool.path")
            spool.maxBytes = integer(json["spool"]?["maxBytes"], "spool.maxBytes", minimum: 1024, maximum: Limits.maxSpoolBytes) ?? spool.maxBytes
        }

        var statePath: String?
        if let st = object(json["state"], "state") {
            unknownKeys(st, ["path"], "state")
            statePath = string(json["state"]?["path"], "state.path")
        }

        let pipelineIsolation = isolation(json["isolation"], "isolation") ?? .none

        var stageValues = array(json["stages"], "stages", required: true)
        if stageValues.count > Limits.maxStages {
            error("stages", "has \(stageValues.count) stages; a pipeline may have at most \(Limits.maxStages) (split it into pipelines that hand records on through files or Kafka)")
            stageValues = Array(stageValues.prefix(Limits.maxStages))
        }
        let stages = stageValues.enumerated().map { i, value in
            let s = stage(value, "stages[\(i)]")
            if s.timeoutMs != nil && (s.isolation ?? pipelineIsolation) == .none {
                warning("stages[\(i)].timeoutMs", "is ignored: only an isolated stage (isolation: process) can be stopped when a call takes too long")
            }
            return s
        }

        var connections: [ConnectionSpec] = []
        var connectionValues = array(json["connections"], "connections")
        if connectionValues.count > Limits.maxConnections {
            error("connections", "has \(connectionValues.count) connections; a pipeline may have at most \(Limits.maxConnections)")
            connectionValues = Array(connectionValues.prefix(Limits.maxConnections))
        }
        for (i, c) in connectionValues.enumerated() {
            let path = "connections[\(i)]"
            guard let fields = object(c, path) else {
                if c == .null { error(path, "must be an object, not null") }
                continue
            }
            unknownKeys(fields, ["from", "to", "port", "repeatIntervalMs", "when"], path)
            let from = string(c["from"], "\(path).from", required: true) ?? ""
            let to = string(c["to"], "\(path).to", required: true) ?? ""
            var port = ConnectionPort.records
            // Which ports a stage has is the catalog's to say: the planner checks the name.
            if let p = string(c["port"], "\(path).port") {
                if p.isEmpty { error("\(path).port", "names no port") } else { port = ConnectionPort(name: p) }
            }
            let repeatInterval = integer(c["repeatIntervalMs"], "\(path).repeatIntervalMs", minimum: 0, maximum: Limits.maxRepeatIntervalMs)
            if repeatInterval != nil && port != .alerts {
                warning("\(path).repeatIntervalMs", "is ignored: only alerts connections suppress repeats")
            }
            let when = string(c["when"], "\(path).when")
            if when != nil && port != .alerts {
                error("\(path).when", "only alerts connections take a `when`: records are filtered with a Filter stage")
            }
            connections.append(ConnectionSpec(from: from, to: to, port: port, repeatIntervalMs: repeatInterval,
                                              when: port == .alerts ? when : nil))
        }
        var spec = PipelineSpec(name: name, namespace: namespace, batch: batch, retry: retry, spool: spool,
                                statePath: statePath, stages: stages, connections: connections, directory: directory)
        spec.isolation = pipelineIsolation
        spec.health = health(json["health"])
        spec.sla = sla(json["sla"])
        spec.history = history(json["history"])
        return spec
    }

    /// `none` or `process`.
    mutating func isolation(_ value: JSONValue?, _ path: String) -> Isolation? {
        guard let text = string(value, path) else { return nil }
        guard let known = Isolation(rawValue: text) else {
            error(path, "unknown isolation '\(text)' (none or process)")
            return nil
        }
        return known
    }

    /// An alerts section's life across batches: nil when it has no condition (then no
    /// window or timing may be given either).
    mutating func lifecycle(_ a: JSONValue, _ ap: String) -> LifecycleSettings? {
        let timing = ["window", "recover", "forMs", "keepFiringMs", "renotifyMs", "severity", "maxKeys", "expectedKeys"]
        guard let condition = string(a["condition"], "\(ap).condition") else {
            for key in timing where a[key] != nil && a[key] != .null {
                error("\(ap).\(key)", "needs a condition: the expression that says when a key is alerting")
            }
            return nil
        }
        if condition.isEmpty { error("\(ap).condition", "must not be empty") }
        var l = LifecycleSettings(condition: condition)
        l.recover = string(a["recover"], "\(ap).recover")
        l.forMs = integer(a["forMs"], "\(ap).forMs", minimum: 0, maximum: Limits.maxWindowMs) ?? 0
        l.keepFiringMs = integer(a["keepFiringMs"], "\(ap).keepFiringMs", minimum: 0, maximum: Limits.maxWindowMs) ?? 0
        l.renotifyMs = integer(a["renotifyMs"], "\(ap).renotifyMs", minimum: 0, maximum: Limits.maxRepeatIntervalMs) ?? 0
        l.severity = string(a["severity"], "\(ap).severity")
        l.maxKeys = integer(a["maxKeys"], "\(ap).maxKeys", minimum: 1, maximum: Limits.maxLifecycleKeys) ?? l.maxKeys
        l.expectedKeys = string(a["expectedKeys"], "\(ap).expectedKeys")
        if let w = object(a["window"], "\(ap).window") {
            let wp = "\(ap).window"
            unknownKeys(w, ["sizeMs", "slideMs", "timeField", "allowedLatenessMs"], wp)
            let size = integer(a["window"]?["sizeMs"], "\(wp).sizeMs", minimum: 1, maximum: Limits.maxWindowMs)
            if a["window"]?["sizeMs"] == nil { error("\(wp).sizeMs", "is required") }
            let slide = integer(a["window"]?["slideMs"], "\(wp).slideMs", minimum: 1, maximum: Limits.maxWindowMs) ?? size
            if let size, let slide {
                if slide > size { error("\(wp).slideMs", "must not be longer than sizeMs (\(size))") }
                if size % slide != 0 { error("\(wp).slideMs", "must divide sizeMs (\(size)) into whole slides") }
                // Buckets per key: a window's and its lateness's, bounded (docs/alerts.md).
                if size / slide > 1_000 { error("\(wp).slideMs", "makes \(size / slide) buckets a window: at most 1000") }
                var window = LifecycleSettings.Window(sizeMs: size, slideMs: slide)
                window.timeField = string(a["window"]?["timeField"], "\(wp).timeField")
                window.allowedLatenessMs = integer(a["window"]?["allowedLatenessMs"], "\(wp).allowedLatenessMs", minimum: 0, maximum: Limits.maxWindowMs) ?? 0
                if window.timeField == nil, a["window"]?["allowedLatenessMs"] != nil {
                    warning("\(wp).allowedLatenessMs", "is ignored: only an event-time window (timeField) has late alerts")
                }
                l.window = window
            }
        }
        return l
    }

    mutating func stage(_ json: JSONValue, _ path: String) -> StageSpec {
        guard let fields = object(json, path) else {
            if json == .null { error(path, "must be an object, not null") }
            return StageSpec(name: "", plugin: PluginReference(name: ""))
        }
        unknownKeys(fields, ["name", "plugin", "alerts", "delivery", "isolation", "timeoutMs", "description"], path)
        let name = string(json["name"], "\(path).name", required: true) ?? ""
        var plugin = PluginReference(name: "")
        if let p = object(json["plugin"], "\(path).plugin", required: true) {
            let pp = "\(path).plugin"
            unknownKeys(p, ["name", "type", "version", "artifact", "label", "properties"], pp)
            plugin.name = string(json["plugin"]?["name"], "\(pp).name", required: true) ?? ""
            if let t = string(json["plugin"]?["type"], "\(pp).type") {
                plugin.type = PluginType(rawValue: t)
                if plugin.type == nil {
                    error("\(pp).type", "unknown type '\(t)' (one of \(PluginType.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
            }
            if let v = json["plugin"]?["version"] {
                plugin.version = v.scalarText
                if case .number = v {} else if case .string = v {} else {
                    error("\(pp).version", "must be a string like \"1.2.0\", not \(v.kind)")
                }
            }
            for (key, value) in object(json["plugin"]?["properties"], "\(pp).properties") ?? [] {
                if let text = value.scalarText {
                    plugin.properties.append((key, text))
                } else if value == .null {
                    error("\(pp).properties.\(key)", "must be a string, number, boolean, object or list, not null")
                } else {
                    // An object or a list reaches the plugin as its JSON text.
                    plugin.properties.append((key, value.jsonText))
                    plugin.structured.insert(key)
                }
            }
        }
        var alerts: AlertSettings?
        if let a = object(json["alerts"], "\(path).alerts") {
            let ap = "\(path).alerts"
            unknownKeys(a, ["groupBy", "aggregates", "maxPerBatch", "key", "window", "condition", "recover", "forMs",
                            "keepFiringMs", "renotifyMs", "severity", "maxKeys", "expectedKeys"], ap)
            var settings = AlertSettings()
            for (i, g) in array(json["alerts"]?["groupBy"], "\(ap).groupBy").enumerated() {
                if let s = string(g, "\(ap).groupBy[\(i)]", required: true) { settings.groupBy.append(s) }
            }
            for (i, k) in array(json["alerts"]?["key"], "\(ap).key").enumerated() {
                if let s = string(k, "\(ap).key[\(i)]", required: true) { settings.key.append(s) }
            }
            settings.maxPerBatch = integer(json["alerts"]?["maxPerBatch"], "\(ap).maxPerBatch", minimum: 0, maximum: Limits.maxAlertsPerBatch) ?? settings.maxPerBatch
            var names = Set<String>()
            for (i, agg) in array(json["alerts"]?["aggregates"], "\(ap).aggregates").enumerated() {
                let gp = "\(ap).aggregates[\(i)]"
                guard let aggFields = object(agg, gp) else { continue }
                unknownKeys(aggFields, ["name", "function", "field"], gp)
                let aggName = string(agg["name"], "\(gp).name", required: true) ?? ""
                if !aggName.isEmpty, !names.insert(aggName).inserted { error("\(gp).name", "'\(aggName)' is already used by another aggregate") }
                if settings.groupBy.contains(aggName) { error("\(gp).name", "'\(aggName)' is also a groupBy field") }
                let field = string(agg["field"], "\(gp).field")
                guard let fn = string(agg["function"], "\(gp).function", required: true) else { continue }
                guard let function = AggregateFunction(name: fn) else {
                    error("\(gp).function", "unknown aggregate function '\(fn)' (one of \(AggregateFunction.names.joined(separator: ", ")))")
                    continue
                }
                if function != .count && (field ?? "").isEmpty {
                    error("\(gp).field", "is required for \(fn): the payload field to read as a number")
                }
                settings.aggregates.append(AggregateSpec(name: aggName, function: function, field: field))
            }
            settings.lifecycle = lifecycle(json["alerts"] ?? .null, ap)
            if settings.lifecycle == nil {
                for (i, agg) in settings.aggregates.enumerated() where agg.function == .distinct {
                    error("\(ap).aggregates[\(i)].function", "distinct counts values over a window: it needs a condition (see docs/alerts.md, \"Alerts with a life\")")
                }
            }
            if !settings.key.isEmpty && settings.isAggregating {
                warning("\(ap).key", "is ignored: the key of an aggregating stage's alerts is made of its groupBy fields")
            }
            alerts = settings
        }
        var delivery: DeliverySettings?
        if let d = object(json["delivery"], "\(path).delivery") {
            unknownKeys(d, ["repeatIntervalMs"], "\(path).delivery")
            var settings = DeliverySettings()
            settings.repeatIntervalMs = integer(json["delivery"]?["repeatIntervalMs"], "\(path).delivery.repeatIntervalMs", minimum: 0, maximum: Limits.maxRepeatIntervalMs) ?? 0
            delivery = settings
        }
        return StageSpec(name: name, plugin: plugin, alerts: alerts, delivery: delivery,
                         isolation: isolation(json["isolation"], "\(path).isolation"),
                         timeoutMs: integer(json["timeoutMs"], "\(path).timeoutMs", minimum: 1, maximum: Limits.maxTimeoutMs))
    }
}
