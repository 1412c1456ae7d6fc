import Foundation
import Logging

/// A pipeline's state folder as one run holds it: the run lock (one host per pipeline at a
/// time, taken before any plugin runs — a sink may truncate its file) and the source's
/// saved position, which the run resumes from.
final class PipelineState {
    let lock: RunLock
    let positions: SourcePositions
    /// What the source resumes from; nil: the beginning.
    let resumedFrom: SavedPosition?

    init(plan: PipelinePlan, fromStart: Bool, logger: Logger,
         writeFile: @escaping (Data, String) throws -> Void = SourcePositions.writeInPlace) throws {
        lock = try RunLock(folder: plan.stateFolder)
        let source = plan.stages[plan.source]
        positions = SourcePositions(folder: plan.stateFolder, stage: source.name, write: writeFile)
        resumedFrom = try Self.resume(positions, source: source, fromStart: fromStart, logger: logger)
    }

    /// The bytes the source's plugin gets back in create().
    var position: [UInt8] { resumedFrom?.bytes ?? [] }

    private static func resume(_ positions: SourcePositions, source: PlannedStage, fromStart: Bool, logger: Logger) throws -> SavedPosition? {
        if fromStart {
            logger.info("stage '\(source.name)' starts from the beginning (--from-start)")
            return nil
        }
        guard let saved = try positions.load() else { return nil }
        if let warning = positions.warning { logger.warning("stage '\(source.name)': \(warning)") }
        let file = positions.loadedFrom ?? positions.paths[0]
        guard saved.plugin == source.entry.name else {
            logger.warning("stage '\(source.name)': the saved position in \(file) belongs to plugin \(saved.plugin), not \(source.entry.name); starting from the beginning")
            return nil
        }
        logger.info("stage '\(source.name)' resumes after batch \(saved.batch) of run \(saved.run) (\(file))")
        return saved
    }
}
