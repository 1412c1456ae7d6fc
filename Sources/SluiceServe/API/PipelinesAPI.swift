import Dispatch
import Foundation
import Hummingbird
import SluiceEngine
import SluiceHistory

/// `/api/v1/pipelines`, `/api/v1/session`, `…/{id}/graph` (docs/api.md, "Pipelines", "The graph").
extension Dashboard {
    func addPipelineRoutes(_ router: Router<BasicRequestContext>) {
        router.get("api/v1/pipelines") { _, _ in
            let list = await self.pipelineList()
            return API.json(PipelineList(mode: self.mode.rawValue, host: BuildInfo.line, pipelines: list))
        }
        router.get("api/v1/session") { _, _ in
            API.json(["csrfToken": self.csrfToken])
        }
        router.get("api/v1/pipelines/:id/graph") { _, context in
            guard let p = self.pipeline(context) else { return Dashboard.unknownPipeline(context) }
            var graph = p.graph
            if p.graphRecorded {
                let path = p.historyPath
                graph = await Blocking.run { (try? HistoryReader(readingOnly: path).newestGraph()?.graph) ?? nil } ?? graph
            }
            guard let graph else { return API.notFound("the graph of \(p.id)") }
            return API.json(graph)
        }
    }

    /// The pipeline a route's `{id}` names.
    func pipeline(_ context: BasicRequestContext) -> DashboardPipeline? {
        context.parameters.get("id").flatMap { pipeline(id: $0) }
    }

    /// The 404 of a route whose `{id}` names no pipeline.
    static func unknownPipeline(_ context: BasicRequestContext) -> Response {
        API.notFound("pipeline \(API.printable(context.parameters.get("id") ?? ""))")
    }

    /// Every pipeline with whether it has a history: a look at the file system, off the
    /// server's threads.
    private func pipelineList() async -> [PipelineList.Entry] {
        let pipelines = self.pipelines
        return await Blocking.run {
            pipelines.map { p in
                PipelineList.Entry(id: p.id, name: p.name, namespace: p.namespace, stateFolder: p.stateFolder,
                                   live: p.live != nil, history: FileManager.default.fileExists(atPath: p.historyPath))
            }
        }
    }
}

/// `GET /api/v1/pipelines`.
struct PipelineList: Encodable {
    var mode: String
    var host: String
    var pipelines: [Entry]

    struct Entry: Encodable {
        var id: String
        var name: String
        var namespace: String
        var stateFolder: String
        var live: Bool
        var history: Bool
    }
}
