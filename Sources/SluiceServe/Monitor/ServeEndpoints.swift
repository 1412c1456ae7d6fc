import Hummingbird

/// What `host serve` answers besides the dashboard: /ping (200 while the process is alive).
/// Not /metrics, /ready or /health: it runs no pipeline (docs/monitoring.md).
public enum ServeEndpoints {
    public static func add(to router: Router<BasicRequestContext>) {
        router.get("ping") { _, _ in HTTPServer.text("pong\n") }
    }
}
