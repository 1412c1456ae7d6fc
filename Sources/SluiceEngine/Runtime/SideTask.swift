import Dispatch

/// Work run on another thread while the runner's thread does something else, then waited
/// for: a batch's sinks flush beside its alert flow (both end before the batch commits;
/// neither waits for the other). The work must touch nothing the runner's thread touches
/// meanwhile; the wait makes what it did visible to the caller.
final class SideTask<Value>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var value: Value?

    init(_ work: @escaping () -> Value) {
        let job = UncheckedWork(work)
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            value = job.work()
            done.signal()
        }
    }

    /// Waits for the work; what it returned.
    func wait() -> Value {
        done.wait()
        guard let value else { preconditionFailure("a side task ended without a value") }
        return value
    }
}

/// A closure handed to another thread by a caller that guarantees it is safe there.
private struct UncheckedWork<Value>: @unchecked Sendable {
    let work: () -> Value
    init(_ work: @escaping () -> Value) { self.work = work }
}
