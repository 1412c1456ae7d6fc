import Dispatch
import Foundation

/// Work that blocks a thread — SQLite reads, file reads and writes, probing plugin
/// libraries — done off Swift's cooperative pool (two threads on a small machine, shared by
/// every request and stream): on a queue of its own, the handler awaiting the answer.
enum Blocking {
    private static let queue = DispatchQueue(label: "sluice.dashboard.blocking", qos: .utility, attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }
}
