/// What the alerts with a life carry from one batch to the next, as it is saved with the
/// source's position after each committed batch (State/SourcePositions.swift): per stage
/// with a condition, its keys (windows and lives), its watermark and counts. A restart
/// (even after `kill -9`) resumes from the position and this state together: no window
/// starts again from zero, no open incident is forgotten, so none fires twice and none
/// loses its resolve.
struct AlertState: Codable, Equatable, Sendable {
    /// The most a saved state may take (keys past it are not saved: said in the log).
    static let maxBytes = 256 << 20

    struct Stage: Codable, Equatable, Sendable {
        var table: AlertKeyTable
        var watermark: Int64
        var untimed: Int
    }

    /// Stage name → its state.
    var stages: [String: Stage] = [:]
}
