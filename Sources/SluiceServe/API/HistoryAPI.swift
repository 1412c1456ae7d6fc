import Foundation
import Hummingbird
import SluiceEngine
import SluiceHistory

/// docs/api.md, "History": a pipeline's recorded runs, batches, incidents and alerts sent,
/// read from its history.sqlite read-only (HistoryReader(readingOnly:)): the server never
/// migrates it, marks a run killed or writes anything into it, whoever else is writing it.
/// Each request opens the file anew, on the blocking queue; a missing, damaged or busy
/// history is a JSON error naming the file, never more.
extension Dashboard {
    func addHistoryRoutes(_ router: Router<BasicRequestContext>) {
        router.get("api/v1/pipelines/:id/runs") { request, context in
            await self.withHistory(context) { _, reader in
                let limit = try API.integer(request, "limit", default: 50, 1...1000).get()
                return API.object(["runs": try reader.runs(limit: limit).map(HistoryJSONAnswer.run)])
            }
        }
        router.get("api/v1/pipelines/:id/runs/:run") { request, context in
            let id = context.parameters.get("run") ?? ""
            return await self.withHistory(context) { pipeline, reader in
                let limit = try API.integer(request, "limit", default: 1000, 1...1000).get()
                guard let run = try reader.run(id) else { return API.notFound("run \(API.printable(id)) of \(pipeline.id)") }
                let (batches, kept) = try reader.batches(run: run.id, limit: limit + 1)
                var o = HistoryJSONAnswer.run(run)
                o["summary"] = HistoryJSONAnswer.parse(run.summaryJSON) ?? NSNull()
                o["batches"] = HistoryJSONAnswer.batches(batches, limit: limit)
                o["batchesKept"] = kept
                o["slaBatchMs"] = pipeline.slaBatchMs ?? NSNull()
                return API.object(o)
            }
        }
        router.get("api/v1/pipelines/:id/incidents") { request, context in
            await self.withHistory(context) { _, reader in
                let limit = try API.integer(request, "limit", default: 100, 1...1000).get()
                let open = try API.flag(request, "open").get()
                let stage = request.uri.queryParameters.get("stage")
                return API.object(["incidents": try reader.incidents(openOnly: open, stage: stage, limit: limit).map(HistoryJSONAnswer.incident)])
            }
        }
        router.get("api/v1/pipelines/:id/alerts") { request, context in
            await self.withHistory(context) { _, reader in
                let q = request.uri.queryParameters
                var filter = HistoryReader.AlertFilter(stage: q.get("stage"), key: q.get("key"), status: q.get("status"),
                                                       publisher: q.get("publisher"), run: q.get("run"))
                filter.limit = try API.integer(request, "limit", default: 100, 1...1000).get()
                if let s = filter.status, !["firing", "resolved"].contains(s) {
                    throw API.Problem("?status=\(API.printable(s)): firing or resolved is expected")
                }
                return API.object(["alerts": try reader.alerts(filter).map(HistoryJSONAnswer.alert)])
            }
        }
    }

    /// `…/batches` of a pipeline with no run in this process: its newest recorded run's
    /// batches (or `run`'s), oldest first (docs/api.md). LiveAPI's route calls it.
    func recordedBatches(_ pipeline: DashboardPipeline, run: String?, limit: Int) async -> Response {
        await withHistory(pipeline) { pipeline, reader in
            let found = try run.map { id in try reader.run(id) } ?? reader.runs(limit: 1).first
            if let run, found == nil { return API.notFound("run \(API.printable(run)) of \(pipeline.id)") }
            let batches = try found.map { try reader.batches(run: $0.id, limit: limit + 1).batches } ?? []
            return API.object(["run": found?.id ?? NSNull(), "slaBatchMs": pipeline.slaBatchMs ?? NSNull(),
                               "batches": HistoryJSONAnswer.batches(batches, limit: limit)])
        }
    }

    /// `…/publishers` of a pipeline with no run in this process: what its spools hold
    /// (SpoolReport, as `host spool` reads it). LiveAPI's route calls it.
    func spooledPublishers(_ pipeline: DashboardPipeline) async -> Response {
        guard let folder = pipeline.spoolFolder else { return API.object(["publishers": [Any]()]) }
        let stages = pipeline.graph?.stages.filter { $0.kind == PluginType.alertpublisher.rawValue } ?? []
        let report = await Blocking.run { SpoolReport.inspect(folder: folder, publishers: stages.map(\.name)) }
        let publishers = report.publishers.map { e -> [String: Any] in
            let stage = stages.first { Spool.fileName($0.name) == e.publisher }
            let ms = { (text: String?) -> Any in
                guard let text, case .success(let v) = SilenceTime.milliseconds(time: text) else { return NSNull() }
                return v
            }
            var o: [String: Any] = [:]
            for key in ["received", "published", "failed", "retries", "suppressed", "spooled", "replayed", "spoolLimitBytes", "failingSinceMs"] {
                o[key] = NSNull()
            }
            o["name"] = stage?.name ?? e.publisher
            o["plugin"] = stage?.plugin ?? NSNull()
            o["inPipeline"] = e.inPipeline
            o["waiting"] = e.alerts
            o["spoolBytes"] = e.bytes
            o["oldestMs"] = ms(e.oldest)
            o["lastError"] = e.lastError ?? NSNull()
            o["lastFailureMs"] = ms(e.lastFailure)
            o["nextRetryMs"] = ms(e.nextAttempt)
            o["unreadable"] = e.unreadable
            return o
        }
        return API.object(["publishers": publishers, "spoolFolder": report.folder])
    }

    /// Runs `body` with the pipeline `{id}`'s history open read-only, on the blocking queue.
    private func withHistory(_ context: BasicRequestContext,
                             _ body: @escaping @Sendable (DashboardPipeline, HistoryReader) throws -> Response) async -> Response {
        guard let pipeline = pipeline(context) else { return Dashboard.unknownPipeline(context) }
        return await withHistory(pipeline, body)
    }

    private func withHistory(_ pipeline: DashboardPipeline,
                             _ body: @escaping @Sendable (DashboardPipeline, HistoryReader) throws -> Response) async -> Response {
        await Blocking.run {
            do {
                let reader = try HistoryReader(readingOnly: pipeline.historyPath)
                return try body(pipeline, reader)
            } catch let e as API.Problem {
                return e.response
            } catch let e as HistoryError {
                let status: HTTPResponse.Status = e.missing ? .notFound : e.ambiguous ? .badRequest : e.busy ? .serviceUnavailable : .internalServerError
                return API.error(status, "history of \(pipeline.id): \(e)")
            } catch {
                return API.error(.internalServerError, "history of \(pipeline.id): \(error)")
            }
        }
    }
}

/// The history's rows as the API answers them (docs/api.md): times in milliseconds, every
/// field present (null when not known), JSON the history stores as text given as JSON.
enum HistoryJSONAnswer {
    static func parse(_ text: String?) -> Any? {
        guard let text else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    static func run(_ r: HistoryReader.Run) -> [String: Any] {
        ["id": r.id, "namespace": r.namespace, "pipeline": r.pipeline, "status": r.status, "startedMs": r.startedMs,
         "endedMs": r.endedMs ?? NSNull(), "exitCode": r.exitCode ?? NSNull(), "batches": r.batches, "recordsIn": r.recordsIn,
         "recordsOut": r.recordsOut, "errors": r.errors, "alerts": parse(r.alertsJSON) ?? [String: Int](),
         "failure": r.failure ?? NSNull(), "resumedAfter": r.resumedAfter ?? NSNull(), "hostVersion": r.hostVersion ?? NSNull(),
         "historyNote": r.historyNote ?? NSNull(), "alertsUnrecorded": r.alertsUnrecorded]
    }

    /// The last `limit` of `batches` (read one more: the one before gives the first one's
    /// input rate), oldest first; the rates as a live run reports them: input over the time
    /// since the batch before ended (null for a run's first), processed over the batch's own.
    static func batches(_ batches: [HistoryReader.Batch], limit: Int) -> [[String: Any]] {
        var previous: Int64?
        return batches.map { b -> [String: Any] in
            defer { previous = b.endedMs }
            let counts = parse(b.alertsJSON) as? [String: Int] ?? [:]
            // Histories before 0.23 kept no rate: from the batches' ends (milliseconds).
            let since = previous.map { Double(b.endedMs - $0) / 1000 }
            let input = b.inputRowsPerSecond ?? since.flatMap { $0 > 0 ? Double(b.records) / $0 : nil }
            return ["batch": b.batch, "endedMs": b.endedMs, "durationMs": b.durationMs, "records": b.records, "errors": b.errors,
                    "inputRowsPerSecond": input ?? NSNull(),
                    "processedRowsPerSecond": b.durationMs > 0 ? Double(b.records) / (b.durationMs / 1000) : NSNull(),
                    "alerts": ["emitted": counts["emitted"] ?? 0, "published": counts["published"] ?? 0,
                               "suppressed": counts["suppressed"] ?? 0, "failed": counts["failed"] ?? 0],
                    "phasesMs": parse(b.phasesJSON) ?? [String: Double]()]
        }.suffix(limit)
    }

    static func incident(_ i: HistoryReader.Incident) -> [String: Any] {
        ["stage": i.stage, "incident": i.incident, "key": i.key, "subject": i.subject, "severity": i.severity,
         "openedMs": i.openedMs, "lastSeenMs": i.lastSeenMs, "resolvedMs": i.resolvedMs ?? NSNull(),
         "notifications": i.notifications, "firstRun": i.firstRun, "lastRun": i.lastRun,
         "state": i.resolvedMs == nil ? "firing" : "resolved"]
    }

    static func alert(_ a: HistoryReader.Alert) -> [String: Any] {
        ["atMs": a.atMs, "run": a.run, "batch": a.batch, "stage": a.stage, "key": a.key, "id": a.id, "publisher": a.publisher,
         "outcome": a.outcome, "attempts": a.attempts, "status": a.status ?? NSNull(), "notification": a.notification ?? NSNull(),
         "severity": a.severity ?? NSNull(), "incident": a.incident ?? NSNull(), "reason": a.reason ?? NSNull(),
         "envelope": parse(a.envelope) ?? a.envelope]
    }
}
