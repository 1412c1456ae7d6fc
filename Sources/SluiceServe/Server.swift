import Dispatch
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SluiceEngine

/// The host's HTTP server (`host run --http ADDR`, `host serve`): Hummingbird on NIO's
/// threads beside the synchronous runner, in a ServiceGroup of its own with no signal
/// handlers (the host keeps its own SIGINT/SIGTERM handling). What it serves is given as
/// routes: the run's monitoring endpoints (RunEndpoints, docs/monitoring.md) and the
/// dashboard with its API (Dashboard, docs/dashboard.md, docs/api.md).
public final class HTTPServer: @unchecked Sendable {
    /// Where it listens, as bound ("127.0.0.1:41234": port 0 asks for any free port).
    public let boundAddress: String
    private let group: ServiceGroup
    private let finished = DispatchSemaphore(value: 0)
    private let stopLock = NSLock()
    private var stopped = false

    /// Binds `settings.address` and starts serving what `routes` adds; throws when it
    /// cannot listen (the port in use, an address not of this machine) before anything
    /// else started. Who may ask: AccessControl.
    public init(_ settings: HTTPSettings, logger: Logger = HTTPServer.quietLogger,
                routes: (Router<BasicRequestContext>) -> Void) throws {
        let router = Router()
        router.add(middleware: AccessControl(token: settings.token))
        routes(router)
        let start = StartBox()
        let app = Application(
            router: router,
            // A connection with no request under way for a minute is closed (a response
            // that streams, such as the dashboard's events, is not idle).
            server: .http1(configuration: .init(idleTimeout: .seconds(60))),
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
    /// Streams (the dashboard's events) end at their next tick.
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

    static func text(_ body: String, _ status: HTTPResponse.Status = .ok, type: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: body)))
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
