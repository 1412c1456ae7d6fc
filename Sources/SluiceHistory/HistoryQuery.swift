import Foundation
import GRDB
import SluiceEngine

/// Reads histories for `host runs`, `host alerts` and `host incidents`. Each row says which
/// database it came from when several are read.
public struct HistoryReader {
    public let path: String
    private let db: DatabaseQueue

    /// Opens an existing history (never creates one); a missing, damaged or foreign file is
    /// a HistoryError naming it.
    public init(path: String) throws {
        self.path = path
        db = try HistoryDatabase.open(path, create: false)
        readOnly = false
    }

    /// Opens an existing history to read only, never changing it (HistoryDatabase.openReadOnly):
    /// `host serve`, beside a host that may be writing it. `markKilledRuns` does nothing then.
    public init(readingOnly path: String) throws {
        self.path = path
        db = try HistoryDatabase.openReadOnly(path)
        readOnly = true
    }

    private let readOnly: Bool

    /// Runs still "running" whose run lock nobody holds ended without a word: they are
    /// marked "killed" (as the next run would). Nothing is changed when the lock's holder
    /// cannot be told.
    /// Only runs begun before the lock was found free: one that takes the lock right after
    /// began after it, and is left alone.
    public func markKilledRuns() {
        let checked = Int64(Date().timeIntervalSince1970 * 1000)
        guard !readOnly, HistoryLocation.runLockHeld(historyPath: path) == false else { return }
        _ = try? db.write { db in try HistoryRecorder.markKilled(db, except: nil, startedBefore: checked) }
    }

    // MARK: runs

    public struct Run: Sendable {
        public var id, namespace, pipeline, status: String
        public var startedMs: Int64
        public var endedMs: Int64?
        public var exitCode: Int?
        public var batches, recordsIn, recordsOut, errors: Int
        public var alertsJSON, summaryJSON, failure, resumedAfter, hostVersion, historyNote: String?
        public var historyDropped: Int
        /// Alerts sent past `history.alertsPerSecond`: counted, not recorded one by one.
        public var alertsUnrecorded: Int
        public var database: String

        init(_ r: Row, database: String) {
            id = r["id"]; namespace = r["namespace"]; pipeline = r["pipeline"]; status = r["status"]
            startedMs = r["started_ms"]; endedMs = r["ended_ms"]; exitCode = r["exit_code"]
            batches = r["batches"]; recordsIn = r["records_in"]; recordsOut = r["records_out"]; errors = r["errors"]
            alertsJSON = r["alerts_json"]; summaryJSON = r["summary_json"]; failure = r["failure"]
            resumedAfter = r["resumed_after"]; hostVersion = r["host_version"]; historyNote = r["history_note"]
            historyDropped = r["history_dropped"]
            alertsUnrecorded = r["alerts_unrecorded"]
            self.database = database
        }
    }

    /// The newest runs first, at most `limit`.
    public func runs(limit: Int) throws -> [Run] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runs ORDER BY started_ms DESC, rowid DESC LIMIT ?", arguments: [limit])
                .map { Run($0, database: path) }
        }
    }

    /// The run whose id is `id`, or the only one it begins.
    public func run(_ id: String) throws -> Run? {
        try read { db in
            if let r = try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [id]) { return Run(r, database: path) }
            let like = id.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_") + "%"
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 2", arguments: [like])
            if rows.count > 1 {
                var e = HistoryError("'\(id)' begins several runs' ids in \(path): write more of it")
                e.ambiguous = true
                throw e
            }
            return rows.first.map { Run($0, database: path) }
        }
    }

    /// The graph of the newest run that recorded one (runs of hosts before 0.24 did not),
    /// with that run's id; nil when none did.
    public func newestGraph() throws -> (run: String, graph: PipelineGraph)? {
        try read { db in
            // A history from before the column: no graph, not an error.
            guard try db.columns(in: "runs").contains(where: { $0.name == "graph_json" }) else { return nil }
            let rows = try Row.fetchAll(db, sql: """
                SELECT id, graph_json FROM runs WHERE graph_json IS NOT NULL ORDER BY started_ms DESC, rowid DESC LIMIT 5
                """)
            for r in rows {
                let text: String? = r["graph_json"]
                if let text, let graph = try? JSONDecoder().decode(PipelineGraph.self, from: Data(text.utf8)) { return (r["id"], graph) }
            }
            return nil
        }
    }

    public struct Batch: Sendable {
        public var batch: Int64
        public var endedMs: Int64
        public var durationMs: Double
        public var records, errors: Int
        public var alertsJSON, phasesJSON, durationsJSON: String?
        /// As the runner measured it; nil in histories from before 0.23.
        public var inputRowsPerSecond: Double?
    }

    /// A run's batches kept, the newest `limit`, oldest first; and how many are kept in all.
    public func batches(run: String, limit: Int) throws -> (batches: [Batch], kept: Int) {
        try read { db in
            let kept = try Int.fetchOne(db, sql: "SELECT count(*) FROM batches WHERE run_id = ?", arguments: [run]) ?? 0
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM batches WHERE run_id = ? ORDER BY batch DESC LIMIT ?", arguments: [run, limit])
            return (rows.reversed().map { r in
                Batch(batch: r["batch"], endedMs: r["ended_ms"], durationMs: r["duration_ms"], records: r["records"],
                      errors: r["errors"], alertsJSON: r["alerts_json"], phasesJSON: r["phases_json"], durationsJSON: r["durations_json"],
                      inputRowsPerSecond: r.hasColumn("input_rows_per_second") ? r["input_rows_per_second"] : nil)
            }, kept)
        }
    }

    // MARK: alerts

    public struct AlertFilter: Sendable {
        public var sinceMs: Int64?
        public var stage, key, status, publisher, run: String?
        public var limit = 100
        public init(sinceMs: Int64? = nil, stage: String? = nil, key: String? = nil, status: String? = nil,
                    publisher: String? = nil, run: String? = nil, limit: Int = 100) {
            self.sinceMs = sinceMs; self.stage = stage; self.key = key; self.status = status
            self.publisher = publisher; self.run = run; self.limit = limit
        }
    }

    public struct Alert: Sendable {
        public var atMs: Int64
        public var run: String
        public var batch: Int64
        public var stage, key, id, publisher, outcome: String
        public var status, notification, severity, incident, reason: String?
        public var attempts: Int
        public var envelope: String
        public var database: String
    }

    /// Alerts sent, newest first.
    public func alerts(_ f: AlertFilter) throws -> [Alert] {
        var clauses: [String] = [], args: [(any DatabaseValueConvertible)?] = []
        if let v = f.sinceMs { clauses.append("at_ms >= ?"); args.append(v) }
        if let v = f.stage { clauses.append("stage = ?"); args.append(v) }
        // A key as printed (its first digits will do).
        if let v = f.key { clauses.append("key LIKE ?"); args.append(v.filter(\.isHexDigit) + "%") }
        if let v = f.status { clauses.append("status = ?"); args.append(v) }
        if let v = f.publisher { clauses.append("publisher = ?"); args.append(v) }
        if let v = f.run { clauses.append("run_id = ?"); args.append(v) }
        let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        args.append(f.limit)
        return try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM alerts \(whereSQL) ORDER BY at_ms DESC, id DESC LIMIT ?",
                             arguments: StatementArguments(args)).map { r in
                Alert(atMs: r["at_ms"], run: r["run_id"], batch: r["batch"], stage: r["stage"], key: r["key"], id: r["alert_id"],
                      publisher: r["publisher"], outcome: r["outcome"], status: r["status"], notification: r["notification"],
                      severity: r["severity"], incident: r["incident"], reason: r["reason"], attempts: r["attempts"],
                      envelope: r["envelope"], database: path)
            }
        }
    }

    // MARK: incidents

    public struct Incident: Sendable {
        public var stage, incident, key, subject, severity, firstRun, lastRun: String
        public var openedMs, lastSeenMs: Int64
        public var resolvedMs: Int64?
        public var notifications: Int
        public var database: String
    }

    /// Incidents, the most recently seen first.
    public func incidents(openOnly: Bool, stage: String?, limit: Int) throws -> [Incident] {
        var clauses: [String] = [], args: [(any DatabaseValueConvertible)?] = []
        if openOnly { clauses.append("resolved_ms IS NULL") }
        if let stage { clauses.append("stage = ?"); args.append(stage) }
        let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        args.append(limit)
        return try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM incidents \(whereSQL) ORDER BY last_seen_ms DESC LIMIT ?",
                             arguments: StatementArguments(args)).map { r in
                Incident(stage: r["stage"], incident: r["incident"], key: r["key"], subject: r["subject"], severity: r["severity"],
                         firstRun: r["first_run"], lastRun: r["last_run"], openedMs: r["opened_ms"], lastSeenMs: r["last_seen_ms"],
                         resolvedMs: r["resolved_ms"], notifications: r["notifications"], database: path)
            }
        }
    }

    /// SQLite's own check of the file: "ok" when it is sound.
    public func integrityCheck() throws -> String {
        try read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ") }
    }

    /// SQLite's errors as HistoryErrors naming the file.
    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try db.read(body)
        } catch let e as DatabaseError {
            throw HistoryError(describing: e, path: path)
        }
    }
}
