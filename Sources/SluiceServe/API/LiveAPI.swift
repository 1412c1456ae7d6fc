import Foundation
import Hummingbird
import SluiceEngine

/// The run in this process (docs/api.md, "Live state"): `…/status`, `…/stages/{stage}`,
/// `…/batches` and `…/publishers` (both falling back to HistoryAPI's readers when the
/// pipeline has no run here), and `/api/v1/events`, the server-sent events the pages
/// listen to. Everything read here is LiveRun's, in memory, copied under its lock: nothing
/// waits on the runner.
extension Dashboard {
    func addLiveRoutes(_ router: Router<BasicRequestContext>) {
        router.get("api/v1/pipelines/:id/status") { _, context in
            switch self.live(context) {
            case .failure(let answer): return answer.response
            case .success(let (_, live)): return API.json(live.status())
            }
        }
        router.get("api/v1/pipelines/:id/stages/:stage") { _, context in
            switch self.live(context) {
            case .failure(let answer): return answer.response
            case .success(let (p, live)):
                // Names are anything (a page sends them percent-encoded).
                let raw = context.parameters.get("stage") ?? "", name = raw.removingPercentEncoding ?? raw
                guard let stage = p.graph?.stages.first(where: { $0.name == name }), let counts = live.counts(of: name) else {
                    return API.notFound("stage \(API.printable(name)) of \(p.id)")
                }
                return API.json(StageAnswer(stage: stage, counters: counts, lastErrors: live.lastErrors(of: name)))
            }
        }
        router.get("api/v1/pipelines/:id/batches") { request, context in
            guard let p = self.pipeline(context) else { return Dashboard.unknownPipeline(context) }
            let query = request.uri.queryParameters
            let limit: Int
            switch API.integer(request, "limit", default: 120, 1...LiveRun.batchesKept) {
            case .failure(let problem): return problem.response
            case .success(let n): limit = n
            }
            let run = query["run"].map(String.init)
            guard let live = p.live, run == nil || run == live.run else {
                return await self.recordedBatches(p, run: run, limit: limit)
            }
            let (id, batches) = live.batches(limit: limit)
            return API.json(BatchesAnswer(run: id, slaBatchMs: live.slaBatchMs, batches: batches))
        }
        router.get("api/v1/pipelines/:id/publishers") { _, context in
            guard let p = self.pipeline(context) else { return Dashboard.unknownPipeline(context) }
            guard let live = p.live else { return await self.spooledPublishers(p) }
            return API.json(["publishers": live.status().publishers])
        }
        router.get("api/v1/events") { request, _ in
            guard let id = request.uri.queryParameters["pipeline"].map(String.init) else {
                return API.error(.badRequest, "events: name the pipeline: /api/v1/events?pipeline=ID")
            }
            guard let p = self.pipeline(id: id) else { return API.notFound("pipeline \(API.printable(id))") }
            guard let live = p.live else { return API.notFound("live events of \(p.id) (no run in this process)") }
            return LiveEvents(live: live).response()
        }
    }

    /// The pipeline `{id}` names and its run in this process, or the 404 to answer.
    private func live(_ context: BasicRequestContext) -> Result<(DashboardPipeline, LiveRun), Answer> {
        guard let p = pipeline(context) else { return .failure(Answer(Dashboard.unknownPipeline(context))) }
        guard let live = p.live else { return .failure(Answer(API.notFound("live state of \(p.id) (no run in this process)"))) }
        return .success((p, live))
    }
}

/// A response to answer instead (as a Result's failure).
struct Answer: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}

/// `…/stages/{stage}`.
struct StageAnswer: Encodable {
    var stage: PipelineGraph.Stage
    var counters: LiveStageCounts
    var lastErrors: [LiveError]
}

/// `…/batches`.
struct BatchesAnswer: Encodable {
    var run: String?
    var slaBatchMs: Int?
    var batches: [LiveBatch]

    enum CodingKeys: String, CodingKey { case run, slaBatchMs, batches }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(run, forKey: .run)
        try c.encode(slaBatchMs, forKey: .slaBatchMs)
        try c.encode(batches, forKey: .batches)
    }
}
