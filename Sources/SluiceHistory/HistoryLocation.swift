#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SluiceEngine

/// Which histories a command reads: one state folder (`--state DIR`), a pipeline file's
/// (its `state.path`, or the default), or every `${SLUICE_OUT:-out}/*/state/` that has one.
public enum HistoryLocation {
    /// The history files to read; throws a HistoryError when there is none.
    public static func databases(pipeline: String?, state: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [String] {
        if let state {
            return [HistoryDatabase.path(stateFolder: state)]
        }
        if let pipeline {
            return [HistoryDatabase.path(stateFolder: try stateFolder(pipeline: pipeline, environment: environment))]
        }
        let out = environment["SLUICE_OUT"].flatMap { $0.isEmpty ? nil : $0 } ?? "out"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).sorted()
        let found = names.map { "\(out)/\($0)/state/history.sqlite" }.filter { FileManager.default.fileExists(atPath: $0) }
        guard !found.isEmpty else {
            throw HistoryError("no history under \(out)/*/state/ (SLUICE_OUT=\(environment["SLUICE_OUT"] ?? "unset")); name a pipeline file or --state DIR")
        }
        return found
    }

    /// The state folder a pipeline file names (or its default).
    public static func stateFolder(pipeline: String, environment: [String: String]) throws -> String {
        let spec: PipelineSpec
        do {
            (spec, _) = try PipelineSpec.load(path: pipeline)
        } catch {
            throw HistoryError("\(pipeline): \(error)")
        }
        switch spec.stateFolder(PropertyTemplate(environment: environment, pipelineDirectory: spec.directory)) {
        case .success(let folder): return folder
        case .failure(let error): throw HistoryError("\(pipeline): state.path: \(error.message)")
        }
    }

    /// Whether a host holds the run lock of the state folder a history is in: read from
    /// /proc/locks (without taking the lock, which would make a starting run fail). Nil
    /// when that cannot be told.
    public static func runLockHeld(historyPath: String) -> Bool? {
        let lock = (historyPath as NSString).deletingLastPathComponent + "/run.lock"
        var st = stat()
        guard stat(lock, &st) == 0 else { return false }
        guard let text = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        let major = (UInt64(st.st_dev) >> 8) & 0xfff | ((UInt64(st.st_dev) >> 32) & ~0xfff)
        let minor = (UInt64(st.st_dev) & 0xff) | ((UInt64(st.st_dev) >> 12) & ~0xff)
        let id = String(format: "%02x:%02x:%lu", major, minor, UInt(st.st_ino))
        return text.split(separator: "\n").contains { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            return f.contains("FLOCK") && !f.contains("->") && f.contains { $0 == id }
        }
    }
}
