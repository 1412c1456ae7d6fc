import Foundation
import SluiceEngine

/// What the dashboard shows of the run in this process (docs/api.md, "Live state"): the
/// counters as of the last batch or idle tick, the last batches, each stage's last errors.
/// A RunObserver: it copies what it is handed under a short lock and returns.
public final class LiveRun: RunObserver, @unchecked Sendable {
    public init(plan: PipelinePlan) {}
}
