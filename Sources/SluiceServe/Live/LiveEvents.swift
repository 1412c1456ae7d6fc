import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle
import SluiceEngine

/// `GET /api/v1/events?pipeline=ID` (docs/api.md): server-sent events of a live run. Once a
/// second it looks at the run (LiveRun.mark): when something changed it sends a `status`
/// event (the `status` answer) and, when a batch was done since, one `batch` event with the
/// newest (the ones between are coalesced); a comment every 15 s keeps proxies from cutting
/// the stream. It reads LiveRun's copies only — never waits on the runner — and it ends
/// when the server shuts down gracefully (the host's run ended, a signal): its wait is
/// cancelled at once then, so an open page never holds the host's exit.
struct LiveEvents: Sendable {
    let live: LiveRun
    var tickMs = 1000
    var heartbeatMs = 15_000
    /// What the client waits before reconnecting (the `retry:` field).
    var retryMs = 3000

    func response() -> Response {
        let live = self.live, tickMs = self.tickMs, heartbeatMs = self.heartbeatMs, retryMs = self.retryMs
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody { writer in
                // Each stream costs a connection and a status a second: a bound, past which
                // a client is told to come back in a minute (pages close theirs when hidden).
                guard LiveEvents.streams.enter() else {
                    try await writer.write(ByteBuffer(string: "retry: 60000\n: too many event streams (\(LiveEvents.streams.limit)); try again later\n\n"))
                    try await writer.finish(nil)
                    return
                }
                defer { LiveEvents.streams.leave() }
                var sent: LiveRun.Mark?
                var sentBatch: UInt64?
                var quietMs = 0
                try await writer.write(ByteBuffer(string: "retry: \(retryMs)\n\n"))
                while true {
                    let mark = live.mark
                    if mark != sent {
                        sent = mark
                        var text = LiveEvents.event("status", live.status())
                        if let batch = live.lastBatch, batch.batch != sentBatch {
                            sentBatch = batch.batch
                            text += LiveEvents.event("batch", batch)
                        }
                        try await writer.write(ByteBuffer(string: text))
                        quietMs = 0
                    } else if quietMs >= heartbeatMs {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        quietMs = 0
                    }
                    if Task.isShuttingDownGracefully || Task.isCancelled { break }
                    // Cancelled at once when the server begins to shut down.
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(tickMs)) }
                    quietMs += tickMs
                    if Task.isShuttingDownGracefully || Task.isCancelled {
                        // The run's end, if that is why: told before the stream ends.
                        if live.mark != sent {
                            try await writer.write(ByteBuffer(string: LiveEvents.event("status", live.status())))
                        }
                        break
                    }
                }
                try await writer.finish(nil)
            })
    }

    /// The streams open now, in this process, and how many may be.
    static let streams = StreamGate(limit: 32)

    /// One event: its name and its data, JSON on one line.
    static func event<T: Encodable>(_ name: String, _ value: T) -> String {
        guard let data = try? API.encoder.encode(value) else { return "" }
        return "event: \(name)\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
    }
}

/// Counts what is open against a limit.
final class StreamGate: @unchecked Sendable {
    let limit: Int
    private let lock = NSLock()
    private var open = 0

    init(limit: Int) { self.limit = limit }

    /// False when `limit` are open already.
    func enter() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard open < limit else { return false }
        open += 1
        return true
    }

    func leave() {
        lock.lock()
        open -= 1
        lock.unlock()
    }
}
