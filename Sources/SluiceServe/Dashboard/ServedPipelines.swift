#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SluiceEngine
import SluiceHistory

/// The pipelines `host serve` shows: one per state folder it is given — a pipeline file's
/// (its `state.path`, or the default, as `host silence --pipeline` finds it), `--state DIR`,
/// or by default every `${SLUICE_OUT:-out}/*/state/`. Each one's name and graph come from
/// the pipeline file when one is given, else from the newest recorded run (read-only).
public enum ServedPipelines {
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// `files`: pipeline files; `states`: state folders. Throws when one cannot be read or
    /// does not exist, or when none is found. `warnings`: what is shown without (a history
    /// that cannot be read now is served as an error by the API, not refused here).
    public static func find(files: [String], states: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
                            catalog: () -> Catalog, warnings: inout [String]) throws -> [DashboardPipeline] {
        // Read once, and only when a pipeline file is given.
        var loaded: Catalog?
        func theCatalog() -> Catalog {
            let c = loaded ?? catalog()
            loaded = c
            return c
        }
        var found: [(name: String, namespace: String, state: String, spool: String?, graph: PipelineGraph?, sla: Int?)] = []
        for file in files {
            let spec: PipelineSpec
            do {
                (spec, _) = try PipelineSpec.load(path: file)
            } catch {
                throw Problem("\(file): \(error)")
            }
            let template = PropertyTemplate(environment: environment, pipelineDirectory: spec.directory)
            let state: String, spool: String
            switch (spec.stateFolder(template), spec.spoolFolder(template)) {
            case (.success(let s), .success(let p)): (state, spool) = (s, p)
            case (.failure(let e), _): throw Problem("\(file): state.path: \(e.message)")
            case (_, .failure(let e)): throw Problem("\(file): spool.path: \(e.message)")
            }
            var graph: PipelineGraph?
            if let (plan, _) = try? PipelineLoader.load(path: file, catalog: theCatalog(), environment: environment), let plan {
                graph = PipelineGraph(plan: plan)
            } else {
                warnings.append("\(file): the pipeline does not plan (`host validate \(file)` says why); its graph is the newest recorded run's")
            }
            found.append((spec.name, spec.namespace, state, spool, graph, spec.sla.batchMs))
        }
        var folders = states
        if files.isEmpty && states.isEmpty {
            let out = environment["SLUICE_OUT"].flatMap { $0.isEmpty ? nil : $0 } ?? "out"
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).sorted()
            folders = names.map { "\(out)/\($0)/state" }.filter(isDirectory)
            guard !folders.isEmpty else {
                throw Problem("no state folder under \(out)/*/state/ (SLUICE_OUT=\(environment["SLUICE_OUT"] ?? "unset")); name pipeline files or --state DIR")
            }
        }
        for folder in folders {
            guard isDirectory(folder) else { throw Problem("--state \(folder): no such folder") }
            // Named twice (a pipeline file and its folder): shown once.
            let real = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
            if found.contains(where: { URL(fileURLWithPath: $0.state).resolvingSymlinksInPath().path == real }) { continue }
            // The default layout: <out>/<pipeline>/state beside <out>/<pipeline>/spool.
            let spool = (folder as NSString).deletingLastPathComponent + "/spool"
            let parent = ((folder as NSString).deletingLastPathComponent as NSString).lastPathComponent
            found.append((parent.isEmpty || parent == "." ? folder : parent, "default", folder, isDirectory(spool) ? spool : nil, nil, nil))
        }
        // What the history says: the newest run's name, and its graph when none is known.
        for i in found.indices where found[i].graph == nil || i >= files.count {
            let path = HistoryDatabase.path(stateFolder: found[i].state)
            guard FileManager.default.fileExists(atPath: path) else { continue }
            do {
                let reader = try HistoryReader(readingOnly: path)
                if i >= files.count, let run = try reader.runs(limit: 1).first {
                    found[i].name = run.pipeline
                    found[i].namespace = run.namespace
                }
                if found[i].graph == nil { found[i].graph = try reader.newestGraph()?.graph }
            } catch {
                warnings.append("\(error)")
            }
        }
        let ids = Dashboard.ids(for: found.map(\.name))
        return zip(ids, found).enumerated().map { i, pair in
            let (id, f) = pair
            var p = DashboardPipeline(id: id, name: f.name, namespace: f.namespace, stateFolder: f.state, spoolFolder: f.spool, graph: f.graph)
            p.slaBatchMs = f.sla
            // Pipeline files come first: their plans' graphs; the rest are the history's.
            p.graphRecorded = i >= files.count
            return p
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}
