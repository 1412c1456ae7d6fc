import Dispatch
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SluiceEngine

/// The HTTP endpoints of a running host (`host run --http ADDR`, docs/monitoring.md):
///
///   /metrics  the run's metrics (Prometheus text 0.0.4, or OpenMetrics when asked for)
///   /ping     200 while the process is alive
///   /ready    200 once the run began (stages created, publishers connected), else 503
///   /health   200 or 503 with a JSON body giving the reasons (RunHealth)
///
/// Served by Hummingbird on NIO's threads beside the synchronous runner, in a ServiceGroup
/// of its own with no signal handlers: the host keeps its own SIGINT/SIGTERM handling.
public final class HTTPServer: @unchecked Sendable {
    /// Where it listens, as bound ("127.0.0.1:41234": port 0 asks for any free port).
    public let boundAddress: String
    /// What it serves: hand these to the runner (`PipelineRunner.Options.observers`).
    public let metrics: PipelineMetrics
    public let health: RunHealth
    private let group: ServiceGroup
    private let finished = DispatchSemaphore(value: 0)
    private let stopLock = NSLock()
    private var stopped = false

    public var observers: [RunObserver] { [metrics, health] }

    /// Binds `settings.address` and starts serving; throws when it cannot listen (the port
    /// in use, an address not of this machine) before anything else started.
    public init(_ settings: HTTPSettings, plan: PipelinePlan, logger: Logger = HTTPServer.quietLogger) throws {
        metrics = PipelineMetrics(plan: plan)
        health = RunHealth(settings: plan.spec.health)
        let router = Router()
        if let token = settings.token { router.add(middleware: BearerAuth(token: token)) }
        Self.routes(router, metrics: metrics, health: health)
        let start = StartBox()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil),
            onServerRunning: { channel in start.bound(channel.localAddress) },
            logger: logger)
        group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let group = self.group, finished = self.finished
        Task.detached {
            do { try await group.run() } catch { start.failed(error) }
            start.failed(nil)
            finished.signal()
        }
        switch start.wait() {
        case .bound(let address):
            boundAddress = address
        case .failed(let error):
            finished.wait()
            throw HTTPSettings.Problem("--http \(settings.address): cannot listen: \(error.map { "\($0)" } ?? "the server stopped")")
        }
    }

    /// Stops listening; returns once requests in flight are answered (at most `seconds`).
    public func stop(seconds: Double = 5) {
        stopLock.lock()
        defer { stopLock.unlock() }
        guard !stopped else { return }
        stopped = true
        let group = self.group
        // Detached: a task inheriting the caller's actor could wait for a thread that is
        // blocked right here.
        Task.detached { await group.triggerGracefulShutdown() }
        _ = finished.wait(timeout: .now() + seconds)
    }

    /// A logger for the server's own messages: warnings and worse, on the host's log handler.
    public static var quietLogger: Logger {
        var l = Logger(label: "sluice.http")
        l.logLevel = .warning
        return l
    }

    static func routes(_ router: Router<BasicRequestContext>, metrics: PipelineMetrics, health: RunHealth) {
        router.get("ping") { _, _ in text("pong\n") }
        router.get("ready") { _, _ in
            health.isReady ? text("ready\n") : text("not ready\n", .serviceUnavailable)
        }
        router.get("health") { _, _ in
            let report = health.report()
            return text(RunHealth.json(report), report.healthy ? .ok : .serviceUnavailable, type: "application/json")
        }
        router.get("metrics") { request, _ in
            let format = Exposition.negotiate(accept: request.headers[.accept])
            let body = format.render(metrics.expositionBytes())
            return Response(status: .ok, headers: [.contentType: format.contentType], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    static func text(_ body: String, _ status: HTTPResponse.Status = .ok, type: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Every request must carry `Authorization: Bearer <token>` (compared in constant time);
/// else 401 with `WWW-Authenticate: Bearer`.
struct BearerAuth<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The scheme's name is case-insensitive (RFC 9110 §11.1); the token is not.
        guard let given = request.headers[.authorization], given.count > 7, given.prefix(7).lowercased() == "bearer ",
              HTTPSettings.sameToken(Array(given.utf8.dropFirst(7)), Array(token.utf8)) else {
            return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"sluice\"", .contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "unauthorized: this host needs Authorization: Bearer <token>\n")))
        }
        return try await next(request, context)
    }
}

/// The server's start, told from NIO's threads to the one that waits for it.
private final class StartBox: @unchecked Sendable {
    enum Outcome { case bound(String), failed((any Error)?) }
    private let lock = NSLock()
    private let signal = DispatchSemaphore(value: 0)
    private var outcome: Outcome?

    func bound(_ address: SocketAddress?) {
        var text = "?"
        if let a = address, let ip = a.ipAddress, let port = a.port {
            text = a.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        }
        set(.bound(text))
    }

    func failed(_ error: (any Error)?) { set(.failed(error)) }

    private func set(_ o: Outcome) {
        lock.lock()
        defer { lock.unlock() }
        guard outcome == nil else { return }
        outcome = o
        signal.signal()
    }

    func wait() -> Outcome {
        signal.wait()
        lock.lock()
        defer { lock.unlock() }
        return outcome ?? .failed(nil)
    }
}
