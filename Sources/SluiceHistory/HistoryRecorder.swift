import Foundation
import GRDB
import Logging
import SluiceEngine

/// Records a run in its pipeline's history (`<state folder>/history.sqlite`): the run's
/// row (kept up to date as batches end), a row per batch, per alert a publisher handled,
/// and per incident. A RunObserver: every call, the run's end included, only hands values to
/// the writer's thread (HistoryWriter), where rows and their JSON are made; `close()`
/// waits for them to be written, before the process ends.
public final class HistoryRecorder: RunObserver, @unchecked Sendable {
    public let path: String
    let settings: HistorySettings
    private let writer: HistoryWriter
    private let logger: Logger
    private let clock: @Sendable () -> Int64
    private var run = ""  // written once, at runStarted; read by the stop's thread through runID
    private var runID: String {
        endLock.lock()
        defer { endLock.unlock() }
        return run
    }
    private var batchesSinceRetention = 0
    /// Whether the run's end was recorded (the runner and a stop at once may race).
    private var ended = false
    private let endLock = NSLock()

    /// Retention runs after this many batches (and at a run's start and end).
    static let retentionEvery = 100

    /// The history of a run of `plan`; nil when it keeps none (`history.enabled` false,
    /// `--no-history`). `opened`: the one `open(spec:)` began for the same file, taken when
    /// it is that of the plan's state folder (else closed, and this one opened).
    public static func open(plan: PipelinePlan, opened: HistoryRecorder? = nil, disabled: Bool, logger: Logger) -> HistoryRecorder? {
        guard !disabled, plan.spec.history.enabled else {
            opened?.discard()
            return nil
        }
        let recorder: HistoryRecorder
        if let opened, opened.path == HistoryDatabase.path(stateFolder: plan.stateFolder) {
            recorder = opened
            recorder.taken()
        } else {
            opened?.discard()
            recorder = open(stateFolder: plan.stateFolder, settings: plan.spec.history, logger: logger)
        }
        recorder.graph = keptGraph(PipelineGraph(plan: plan))
        return recorder
    }

    /// The history of the pipeline in `spec` (a file read, its plan not made yet): the
    /// writer's thread opens it (1-2 ms, its WAL checkpointed), or makes it with its tables
    /// (2-3 ms), while the catalog is read and the plan made. Nil when the file keeps none
    /// or its state folder cannot be told (the plan says why). Then `open(plan:opened:)`,
    /// or `discard()` when no run follows: a history made here is taken back with the
    /// folders made for it, so a pipeline whose plan fails is left without a state folder.
    public static func open(spec: PipelineSpec, disabled: Bool, logger: Logger) -> HistoryRecorder? {
        guard !disabled, spec.history.enabled,
              case .success(let folder) = spec.stateFolder(PropertyTemplate(pipelineDirectory: spec.directory)) else { return nil }
        let path = HistoryDatabase.path(stateFolder: folder)
        // None there yet: made now (empty, its tables on the writer's thread) and held until
        // the run takes it, or after the plan as before when it cannot be made here.
        var made: HistoryDatabase.Made?
        if !HistoryDatabase.isFile(path) {
            guard let m = HistoryDatabase.make(path) else { return nil }
            made = m
        }
        return HistoryRecorder(path: path, settings: spec.history, logger: logger, maxPending: 50_000, made: made)
    }

    /// The new history `open(spec:)` made and holds; nil when it was there already (or
    /// once the run took it).
    private var made: HistoryDatabase.Made?

    /// The run takes the history: one made for it is no longer held.
    private func taken() {
        made?.release()
        made = nil
    }

    /// No run follows (its plan failed, it is another state folder's, the history is off,
    /// the HTTP server could not listen): closes the history, and takes back one
    /// `open(spec:)` made — its files, and the folders made for it while they are empty.
    /// One still being written after 2 s is left as it is.
    public func discard() {
        guard writer.close(seconds: 2) else {
            logger.warning("history: \(path) was still being written after 2 s; the rest is left out")
            taken()
            return
        }
        if let made { HistoryDatabase.takeBack(path, made) }
        made = nil
    }

    /// The plan as a graph, kept in the run's row (`host serve` draws it); set before the run starts.
    public var graph: PipelineGraph?

    /// The longest property value a kept graph holds: a property may carry data inline (a
    /// list of records, a script) that each run's row would repeat; it is cut, marked `…`.
    static let graphValueLimit = 1024

    static func keptGraph(_ graph: PipelineGraph) -> PipelineGraph {
        var g = graph
        for i in g.stages.indices {
            for j in g.stages[i].properties.indices where g.stages[i].properties[j].value.utf8.count > graphValueLimit {
                let value = g.stages[i].properties[j].value
                var cut = value.prefix(graphValueLimit)
                while cut.utf8.count > graphValueLimit { cut = cut.dropLast() }
                g.stages[i].properties[j].value = cut + "…"
            }
        }
        return g
    }

    /// The history of a state folder, opened on the writer's thread: when it cannot be
    /// opened, a warning is logged and the run goes on without one.
    public static func open(stateFolder: String, settings: HistorySettings, logger: Logger,
                            maxPending: Int = 50_000) -> HistoryRecorder {
        HistoryRecorder(path: HistoryDatabase.path(stateFolder: stateFolder), settings: settings, logger: logger, maxPending: maxPending)
    }

    /// `open`: how the writer's thread opens the database (tests hold it up); by default
    /// `openOrStartAnew`. `commitEvery`: the shortest time between two commits (seconds).
    /// `made`: the new history `open(spec:)` made and holds for it.
    init(path: String, settings: HistorySettings, logger: Logger, maxPending: Int,
         clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) },
         commitEvery: Double = HistoryWriter.commitEvery, open: (() throws -> DatabaseQueue)? = nil,
         made: HistoryDatabase.Made? = nil) {
        self.path = path
        self.settings = settings
        self.logger = logger
        self.clock = clock
        self.made = made
        let another = made == nil
        writer = HistoryWriter(path: path, logger: logger, maxPending: maxPending, commitEvery: commitEvery,
                               open: open ?? { try Self.openOrStartAnew(path, logger, waitingForItsMaker: another) })
    }

    /// Opens the history; a damaged one is moved aside and a new one begins. First, unless
    /// this recorder made it, waits while another host holds one it is making
    /// (HistoryDatabase.Made): its plan may fail and take it back.
    static func openOrStartAnew(_ path: String, _ logger: Logger, waitingForItsMaker: Bool = true) throws -> DatabaseQueue {
        if waitingForItsMaker { HistoryDatabase.waitForItsMaker(path) }
        do {
            return try HistoryDatabase.open(path, create: true)
        } catch let e as HistoryError where e.damaged {
            // Kept for a look (the last damaged one), never deleted; a new one begins.
            let aside = path + ".damaged"
            for suffix in ["", "-wal", "-shm"] {
                _ = unlink(aside + suffix)
                _ = rename(path + suffix, aside + suffix)
            }
            logger.warning("history: \(path) is damaged or not a history database (\(e.detail)): moved to \(aside); a new history begins")
            return try HistoryDatabase.open(path, create: true)
        }
    }

    static let graphEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    // MARK: RunObserver

    public func runStarted(_ start: RunStart) {
        endLock.lock()
        run = start.run
        endLock.unlock()
        let version = BuildInfo.version, graph = self.graph
        writer.submit(keep: true) { db in
            // Encoded here, on the writer's thread: the run's start does not wait for it.
            let graph = graph.flatMap { g in (try? HistoryRecorder.graphEncoder.encode(g)).map { String(decoding: $0, as: UTF8.self) } }
            // This run holds the pipeline's run lock: a run still "running" ended without
            // saying so (kill -9, a crash, a power loss).
            try HistoryRecorder.markKilled(db, except: start.run)
            try db.execute(sql: """
                INSERT INTO runs(id, namespace, pipeline, started_ms, status, resumed_after, host_version, graph_json)
                VALUES (?, ?, ?, ?, 'running', ?, ?, ?)
                """, arguments: [start.run, start.namespace, start.pipeline, start.startedMs, start.resumedAfter, version, graph])
        }
        retain()
    }

    public func batchDone(_ progress: BatchProgress, totals: RunSummary) {
        let run = self.run, now = clock()
        writer.submit { db in
            try db.cachedStatement(sql: """
                INSERT INTO batches(run_id, batch, ended_ms, duration_ms, records, errors, alerts_json, phases_json, durations_json,
                                    input_rows_per_second)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [run, Int64(progress.batchId), now, progress.durationMs["total"] ?? 0, progress.numInputRows,
                                         progress.errors, HistoryJSON.counts(progress.alerts), HistoryJSON.object(progress.phasesMs),
                                         HistoryJSON.object(progress.durationMs.filter { $0.key != "total" }),
                                         progress.inputRowsPerSecond.isFinite ? progress.inputRowsPerSecond : nil])
        } latest: { [writer] db in
            // The run's counts with the batch's row, in the same commit.
            try HistoryRecorder.update(db, run: run, totals, lastBatchMs: now, dropped: writer.state.dropped)
        }
        batchesSinceRetention += 1
        if batchesSinceRetention >= Self.retentionEvery {
            batchesSinceRetention = 0
            retain()
        }
    }

    public var alertsSentPerSecond: Int { settings.alertsPerSecond }

    public func alertsSent(_ sent: [AlertSent], unrecorded: Int) {
        let run = self.run
        if unrecorded > 0 {
            writer.submit { db in
                try db.cachedStatement(sql: "UPDATE runs SET alerts_unrecorded = alerts_unrecorded + ? WHERE id = ?")
                    .execute(arguments: [unrecorded, run])
            }
        }
        guard !sent.isEmpty else { return }
        writer.submit(weight: sent.count) { db in
            try AlertRows.insert(sent, run: run, into: db)
        }
    }

    public func incidentChanged(_ change: IncidentChange) {
        writer.submit { db in
            let told = change.notified && change.kind != .refreshed ? 1 : 0
            try db.execute(sql: """
                INSERT INTO incidents(stage, incident, key, subject, severity, opened_ms, last_seen_ms, resolved_ms,
                                      notifications, first_run, last_run)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(stage, incident) DO UPDATE SET
                  last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
                  resolved_ms = coalesce(excluded.resolved_ms, resolved_ms),
                  severity = excluded.severity,
                  notifications = notifications + excluded.notifications,
                  last_run = excluded.last_run
                """, arguments: [change.stage, change.incident, change.key, change.subject, change.severity, change.startsAtMs,
                                 change.atMs, change.endsAtMs, told, change.run, change.run])
        }
    }

    /// Hands the run's end to the writer and returns: `close()` waits for it (the host
    /// prints the run's summary meanwhile).
    public func runEnded(_ summary: RunSummary) {
        record(summary, status: summary.status.rawValue, exitCode: Self.exitCode(summary.status), failure: summary.error)
    }

    /// Waits (at most `seconds`) until everything handed to the writer is written, the
    /// run's end included, and closes the database. Before the process ends.
    public func close(seconds: Double = 10) {
        if !writer.close(seconds: seconds) {
            logger.warning("history: \(path) was still being written after \(Int(seconds)) s; the rest is left out")
        }
    }

    // MARK: the ends a run can have besides its own

    /// A run stopped at once (a second signal, or the stop grace over): the process ends
    /// right after this, so the row is written now (waiting for the writer a moment).
    public func stoppedAtOnce(_ summary: RunSummary, why: String) {
        // (After the run's own end, which only handed its row over: that row is written.)
        record(summary, status: RunSummary.Status.stopped.rawValue, exitCode: ExitStatus.stopped.rawValue,
               failure: "stopped at once (\(why)): the batch in flight was not committed; the next run reads it again")
        close(seconds: 2)
    }

    /// Records a run that failed before it began (a plugin that could not be created, a
    /// spool that would not open, another host holding the run lock): its row, with the
    /// failure and the exit code.
    public func failedToStart(run: String, plan: PipelinePlan, failure: String, exitCode: Int32 = ExitStatus.failed.rawValue) {
        endLock.lock()
        let first = !ended
        ended = true
        endLock.unlock()
        guard first else { return }
        let now = clock(), version = BuildInfo.version
        writer.submit(final: true) { db in
            try db.execute(sql: """
                INSERT INTO runs(id, namespace, pipeline, started_ms, ended_ms, status, exit_code, failure, host_version)
                VALUES (?, ?, ?, ?, ?, 'failed', ?, ?, ?)
                """, arguments: [run, plan.spec.namespace, plan.spec.name, now, now, exitCode, failure, version])
        }
        writer.close(seconds: 10)
    }

    // MARK: writing

    /// Hands the run's end to the writer, once (the runner and a stop at once may race).
    private func record(_ summary: RunSummary, status: String, exitCode: Int32, failure: String?) {
        endLock.lock()
        let first = !ended
        ended = true
        endLock.unlock()
        guard first else { return }
        let run = runID.isEmpty ? summary.run : runID, now = clock()
        writer.submit(final: true) { [writer] db in
            let (dropped, stoppedBecause) = writer.state
            try HistoryRecorder.update(db, run: run, summary, lastBatchMs: nil, dropped: dropped)
            try db.execute(sql: """
                UPDATE runs SET status = ?, exit_code = ?, ended_ms = ?, failure = ?, summary_json = ?, history_note = ?
                WHERE id = ?
                """, arguments: [status, exitCode, now, failure, HistoryJSON.summary(summary),
                                 stoppedBecause.map { "the history stopped: \($0)" }, run])
        }
        retain()
    }

    /// The run's counts so far.
    static func update(_ db: Database, run: String, _ s: RunSummary, lastBatchMs: Int64?, dropped: Int) throws {
        let out = s.stages.filter { $0.type == "sink" }.reduce(0) { $0 + $1.recordsOut }
        let errors = s.stages.reduce(0) { $0 + $1.errors }
        try db.cachedStatement(sql: """
            UPDATE runs SET batches = ?, records_in = ?, records_out = ?, errors = ?, alerts_json = ?,
              last_batch_ms = coalesce(?, last_batch_ms), history_dropped = ?
            WHERE id = ?
            """).execute(arguments: [s.batches, s.records, out, errors, HistoryJSON.counts(s.alerts), lastBatchMs, dropped, run])
    }

    /// Every run still "running" but `except` (and begun before `startedBefore`) becomes
    /// "killed", ended at its last batch.
    static func markKilled(_ db: Database, except: String?, startedBefore: Int64 = .max) throws {
        try db.execute(sql: """
            UPDATE runs SET status = 'killed', ended_ms = coalesce(last_batch_ms, started_ms),
              failure = coalesce(failure, ?)
            WHERE status = 'running' AND id IS NOT ? AND started_ms < ?
            """, arguments: [HistoryRecorder.killedText, except, startedBefore])
    }

    static let killedText = "the process ended without recording its end (kill -9, a crash, a power loss, or a history it could not write to: see its log); its last recorded batch is the last it committed, or one that ended up to 0.1 s before it (the history commits at most every 0.1 s)"

    /// Called from the runner's thread and, stopping at once, from the stop's: it touches
    /// nothing the runner's thread changes but `run`, read under the lock.
    private func retain() {
        let settings = self.settings, now = clock(), run = runID
        writer.submit(keep: true, alone: true) { db in try HistoryRetention.apply(settings, db, now: now, keepRun: run) }
    }

    /// Rows dropped (the queue was full or the writer stopped), and why it stopped.
    public var writerState: (dropped: Int, failure: String?) { writer.state }

    static func exitCode(_ status: RunSummary.Status) -> Int32 {
        switch status {
        case .completed: ExitStatus.ok.rawValue
        case .completedWithFailures: ExitStatus.undelivered.rawValue
        case .failed: ExitStatus.failed.rawValue
        case .stopped: ExitStatus.stopped.rawValue
        }
    }
}
