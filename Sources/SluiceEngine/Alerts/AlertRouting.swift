import SluicePluginABI
import SluiceRecords

/// Which alerts take which alerts connection: a connection's `when` is an expression over
/// the alert's envelope (docs/expressions.md), seen as the record
///
///     {"id": …, "key": …, "namespace": …, "pipeline": …, "stage": …, "run": …,
///      "batch": 7, "timestampMs": 1795000000000, "count": 3, "payload": {"k": "v", …},
///      "status": "firing", "notification": "firing", "severity": "critical"}
///
/// (status, notification and severity are empty strings for a plain alert: one of a stage
/// without a condition)
/// (payload values are the alert's text; `number(payload.n)` reads one as a number).
/// An alert no connection of its stage takes is counted as unrouted.
final class AlertRouter {
    /// Compiled `when` per route, by its path in the file.
    private var filters: [String: (program: ExpressionProgram, root: UInt32)] = [:]
    private let keys: [sluice_key]
    private static let names = ["id", "key", "namespace", "pipeline", "stage", "run", "batch", "timestampMs", "count", "payload",
                                "status", "notification", "severity"]

    init(plan: PipelinePlan) throws {
        keys = Self.names.map { FieldKeys.intern($0) }
        // The stages' alerts connections, then those of the pipeline's own alerts.
        let all = plan.stages.map { ($0.name, $0.entry.name, $0.alertRoutes) }
            + [(PipelinePlan.pipelineAlerts, "", plan.pipelineAlertRoutes)]
        for (stage, plugin, routes) in all {
            for route in routes {
                guard let when = route.when else { continue }
                var compiler = ExpressionCompiler(functions: plan.functions, allowsState: false, bind: FunctionBinder.bind)
                switch compiler.compile(when, as: .condition) {
                case .success(let root): filters[route.path] = (compiler.program, root)
                case .failure(let p): throw StageCreateError(stage: stage, plugin: plugin, message: "\(route.path): \(p)")
                }
            }
        }
    }

    /// Whether some route has a `when`.
    var isEmpty: Bool { filters.isEmpty }

    /// Sets what now() returns in `when` expressions for this batch.
    func setNow(_ ms: Int64) { for f in filters.values { f.program.setNow(ms) } }

    /// Whether `alert` takes `route` (`record`: the envelope as a record, built once).
    func takes(_ route: AlertRoute, _ record: UnsafePointer<sluice_record>) -> Bool {
        guard let f = filters[route.path] else { return true }
        return f.program.isTrue(f.root, record)
    }

    /// The envelope of `alert` as a record in `arena`.
    func record(of alert: UnsafePointer<sluice_alert>, arena: RecordArena) -> sluice_record {
        let a = alert.pointee
        let payload = arena.allocate(sluice_field.self, count: Int(a.npayload), for: "the payload of an alert routed with `when`")
        for i in 0..<Int(a.npayload) {
            let kv = a.payload[i]
            payload[i] = sluice_field(key: sr_intern(kv.key.ptr, kv.key.len), name_len: UInt32(kv.key.len), name: kv.key.ptr,
                                      value: sluice_string(kv.value.ptr, kv.value.len))
        }
        let values: [sluice_value] = [
            sluice_string(a.id.ptr, a.id.len), sluice_string(a.key.ptr, a.key.len),
            sluice_string(a.namespace_name.ptr, a.namespace_name.len), sluice_string(a.pipeline.ptr, a.pipeline.len),
            sluice_string(a.stage.ptr, a.stage.len), sluice_string(a.run.ptr, a.run.len),
            sluice_int(Int64(truncatingIfNeeded: a.batch)), sluice_int(a.timestamp_ms),
            sluice_int(Int64(truncatingIfNeeded: a.count)), sluice_object(payload, a.npayload),
            sluice_string(a.status.ptr, a.status.len), sluice_string(a.notification.ptr, a.notification.len),
            sluice_string(a.severity.ptr, a.severity.len),
        ]
        let fields = arena.allocate(sluice_field.self, count: values.count, for: "an alert's envelope routed with `when`")
        for (i, v) in values.enumerated() {
            var len: UInt32 = 0
            let name = sr_key_name(keys[i], &len)
            fields[i] = sluice_field(key: keys[i], name_len: len, name: name, value: v)
        }
        return sluice_record(fields: fields, nfields: UInt32(values.count), flags: 0)
    }
}
