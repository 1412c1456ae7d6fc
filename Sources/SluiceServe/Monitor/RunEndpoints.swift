import Hummingbird
import NIOCore
import SluiceEngine

/// A running pipeline's monitoring endpoints (docs/monitoring.md):
///
///   /metrics  the run's metrics (Prometheus text 0.0.4, or OpenMetrics when asked for)
///   /ping     200 while the process is alive
///   /ready    200 once the run began (stages created, publishers connected), else 503
///   /health   200 or 503 with a JSON body giving the reasons (RunHealth)
public final class RunEndpoints: Sendable {
    public let metrics: PipelineMetrics
    public let health: RunHealth

    /// Hand these to the runner (`PipelineRunner.Options.observers`).
    public var observers: [RunObserver] { [metrics, health] }

    public init(plan: PipelinePlan) {
        metrics = PipelineMetrics(plan: plan)
        health = RunHealth(settings: plan.spec.health)
    }

    public func add(to router: Router<BasicRequestContext>) {
        let metrics = self.metrics, health = self.health
        router.get("ping") { _, _ in HTTPServer.text("pong\n") }
        router.get("ready") { _, _ in
            health.isReady ? HTTPServer.text("ready\n") : HTTPServer.text("not ready\n", .serviceUnavailable)
        }
        router.get("health") { _, _ in
            let report = health.report()
            return HTTPServer.text(RunHealth.json(report), report.healthy ? .ok : .serviceUnavailable, type: "application/json")
        }
        router.get("metrics") { request, _ in
            let format = Exposition.negotiate(accept: request.headers[.accept])
            let body = format.render(metrics.expositionBytes())
            return Response(status: .ok, headers: [.contentType: format.contentType], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }
}
