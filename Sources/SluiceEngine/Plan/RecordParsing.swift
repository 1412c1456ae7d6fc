import Foundation

/// How a pipeline's source parses the JSON lines of its batches (emit_json_lines):
///
///   - `eager`: every record is built in full, in the flat layout of ABI 1.0 (fields[],
///     as.items, as.fields), as before ABI 1.7;
///   - `lazy`: every record is a host handle (SLUICE_RECORD_HOST): its line, validated in
///     full, and an index of its top-level members; a value is parsed the first time a stage
///     reads it (the sr_get family, or a plugin's sluice_get family).
///
/// A pipeline is planned lazy only when every stage that reads the source's records directly
/// (over any connection: records, errors, an extra output port) reads them by accessor
/// (`PluginDescriptor.readsByAccessor`; a stage in a worker process counts as one that does
/// not). Any stage further down that does not read by accessor gets its input materialised
/// (flat) before its call, so it sees exactly what an eager run hands it.
public enum RecordParsing: String, Sendable, Equatable {
    case eager, lazy
}

/// `SLUICE_RECORDS`, the switch that overrides the planned parse mode, for tests and
/// benchmarks (docs/benchmarks.md):
///
///   - `auto` (the default, and what an unset or empty variable means): as planned;
///   - `eager`: eager whatever the stages;
///   - `lazy`: lazy whatever the stages: a stage that does not read by accessor still gets
///     its input materialised, so this only moves the cost, never the output.
public enum RecordsSetting: String, Sendable, Equatable, CaseIterable {
    case auto, eager, lazy

    public static let variable = "SLUICE_RECORDS"

    /// The setting `environment` gives, and a warning when its value is not one of the
    /// three (then `auto`).
    public static func from(environment: [String: String]) -> (RecordsSetting, warning: String?) {
        guard let text = environment[variable], !text.isEmpty else { return (.auto, nil) }
        if let setting = RecordsSetting(rawValue: text.lowercased()) { return (setting, nil) }
        return (.auto, "\(variable)=\(text) is not one of auto, eager, lazy: records are parsed as planned (auto)")
    }
}

/// How many threads parse a source's JSON lines: every core but one, at least one (the
/// runner's thread keeps a core for the other stages and the alerts), or
/// `SLUICE_PARSE_THREADS` (1-64; docs/pipelines.md).
public enum ParseThreads {
    public static let variable = "SLUICE_PARSE_THREADS"
    public static let most = 64

    /// Every core but one, at least one.
    public static var byCores: Int { max(1, ProcessInfo.processInfo.activeProcessorCount - 1) }

    /// The count `environment` sets (nil when it sets none), and a warning when its value is
    /// not a number from 1 to 64 (then nil: by cores).
    public static func from(environment: [String: String]) -> (Int?, warning: String?) {
        guard let text = environment[variable], !text.isEmpty else { return (nil, nil) }
        if let n = Int(text), (1...most).contains(n) { return (n, nil) }
        return (nil, "\(variable)=\(text) is not a number from 1 to \(most): lines are parsed on every core but one (\(byCores))")
    }
}

extension PipelinePlan {
    /// Positions in `stages` of the stages that read the source's records directly: over a
    /// records connection, its errors port, or one of its extra output ports.
    public var sourceReaders: [Int] {
        stages.indices.filter { i in
            let s = stages[i]
            return s.recordInputs.contains(source) || s.errorInputs.contains(source) || s.portInputs.contains { $0.stage == source }
        }
    }

    /// The parse mode of the source's batches under `setting`, given which stages read by
    /// accessor (by position in `stages`).
    public func recordParsing(_ setting: RecordsSetting, readsByAccessor: (Int) -> Bool) -> RecordParsing {
        switch setting {
        case .eager: return .eager
        case .lazy: return .lazy
        case .auto: return sourceReaders.allSatisfy(readsByAccessor) ? .lazy : .eager
        }
    }
}
