import Dispatch
import Foundation

/// Work that blocks a thread — SQLite reads (which may wait up to the history's busy
/// timeout), file reads and writes, probing plugin libraries — done off Swift's cooperative
/// pool (two threads on a small machine, shared by every request and stream): on a queue of
/// its own, at most `width` at once (a burst of requests waits its turn rather than making
/// a thread each), the handler awaiting the answer.
enum Blocking {
    static let width = 4
    private static let queue: OperationQueue = {
        let q = OperationQueue()
        q.name = "sluice.dashboard.blocking"
        q.maxConcurrentOperationCount = width
        q.qualityOfService = .utility
        return q
    }()

    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.addOperation { continuation.resume(returning: body()) }
        }
    }
}
