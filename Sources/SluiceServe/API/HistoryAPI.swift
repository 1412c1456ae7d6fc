import Hummingbird
import SluiceEngine

extension Dashboard {
    func addHistoryRoutes(_ router: Router<BasicRequestContext>) {
    }

    /// `…/batches` of a pipeline with no run in this process: its newest recorded run's
    /// batches (or `run`'s), oldest first (docs/api.md). LiveAPI's route calls it.
    func recordedBatches(_ pipeline: DashboardPipeline, run: String?, limit: Int) async -> Response {
        API.notFound("batches of \(pipeline.id)")
    }

    /// `…/publishers` of a pipeline with no run in this process: what its spools hold.
    /// LiveAPI's route calls it.
    func spooledPublishers(_ pipeline: DashboardPipeline) async -> Response {
        API.notFound("publishers of \(pipeline.id)")
    }
}
