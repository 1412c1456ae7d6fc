import Foundation
import Hummingbird
import SluiceEngine

/// The dashboard (docs/dashboard.md): its pages and the JSON API under /api/v1/ that backs
/// them (docs/api.md). `host run --http` serves one pipeline, live; `host serve` every
/// pipeline whose state folder it is given, from their history, silences and spools.
///
/// The routes are grouped by what they read, one file each:
///   Dashboard/Pages.swift      the pages (HTML, CSS, JavaScript modules embedded in the binary)
///   API/PipelinesAPI.swift     /api/v1/pipelines, …/graph, /api/v1/session
///   API/LiveAPI.swift          …/status, …/stages/{stage}, …/batches (live), /api/v1/events
///   API/HistoryAPI.swift       …/runs, …/incidents, …/alerts, …/batches (recorded)
///   API/SilencesAPI.swift      …/silences (list, add, expire; CSRF-checked)
///   API/CatalogAPI.swift       /api/v1/catalog
public final class Dashboard: Sendable {
    public enum Mode: String, Sendable { case run, serve }

    public let mode: Mode
    public let pipelines: [DashboardPipeline]
    /// What /api/v1/catalog lists: read at the first request (probing every library takes
    /// a while; a run's start should not wait for it), then kept.
    let catalog: LazyCatalog
    /// The token write requests must carry (X-Sluice-CSRF), new at each start.
    public let csrfToken: String

    public init(mode: Mode, pipelines: [DashboardPipeline], catalog: @escaping @Sendable () -> Catalog) {
        self.mode = mode
        self.pipelines = pipelines
        self.catalog = LazyCatalog(catalog)
        csrfToken = Dashboard.randomToken()
    }

    public func pipeline(id: String) -> DashboardPipeline? { pipelines.first { $0.id == id } }

    public func add(to router: Router<BasicRequestContext>) {
        addPageRoutes(router)
        addPipelineRoutes(router)
        addLiveRoutes(router)
        addHistoryRoutes(router)
        addSilenceRoutes(router)
        addCatalogRoutes(router)
    }

    /// 32 random bytes, hex.
    static func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    /// Ids for pipelines: their names as file names are (Spool.fileName), made unique with
    /// "-2", "-3", … in the order given.
    public static func ids(for names: [String]) -> [String] {
        var seen: [String: Int] = [:]
        return names.map { name in
            let base = Spool.fileName(name.isEmpty ? "pipeline" : name)
            let n = seen[base, default: 0] + 1
            seen[base] = n
            return n == 1 ? base : "\(base)-\(n)"
        }
    }
}

/// One pipeline the dashboard shows.
public struct DashboardPipeline: Sendable {
    /// Its name in the API's paths (docs/api.md).
    public var id: String
    public var name: String
    public var namespace: String
    /// history.sqlite, silences.json and the source's position are here.
    public var stateFolder: String
    /// The publishers' spools are here.
    public var spoolFolder: String?
    /// What runs (run mode: the plan's); nil in serve mode until read from the history.
    public var graph: PipelineGraph?
    /// The run in this process (run mode only).
    public var live: LiveRun?
    /// The graph is the newest recorded run's (serve mode without a pipeline file): read
    /// again at each request, so a run recorded since (or a changed pipeline) shows.
    public var graphRecorded = false
    /// The pipeline's `sla.batchMs` when known (from its plan or pipeline file).
    public var slaBatchMs: Int?

    public init(id: String, name: String, namespace: String, stateFolder: String, spoolFolder: String? = nil,
                graph: PipelineGraph? = nil, live: LiveRun? = nil) {
        self.id = id
        self.name = name
        self.namespace = namespace
        self.stateFolder = stateFolder
        self.spoolFolder = spoolFolder
        self.graph = graph
        self.live = live
    }

    /// The pipeline a `host run` runs, with `live` watching it.
    public init(plan: PipelinePlan, live: LiveRun?) {
        self.init(id: Dashboard.ids(for: [plan.spec.name])[0], name: plan.spec.name, namespace: plan.spec.namespace,
                  stateFolder: plan.stateFolder, spoolFolder: plan.spoolFolder, graph: PipelineGraph(plan: plan), live: live)
        slaBatchMs = plan.spec.sla.batchMs
    }

    public var historyPath: String { (stateFolder as NSString).appendingPathComponent("history.sqlite") }
}

/// The catalog, read once, when first asked for.
final class LazyCatalog: @unchecked Sendable {
    private let lock = NSLock()
    private let load: @Sendable () -> Catalog
    private var loaded: Catalog?

    init(_ load: @escaping @Sendable () -> Catalog) { self.load = load }

    var value: Catalog {
        lock.lock()
        defer { lock.unlock() }
        if let loaded { return loaded }
        let c = load()
        loaded = c
        return c
    }
}
