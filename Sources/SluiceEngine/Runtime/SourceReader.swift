import Foundation
import Logging
import SluicePluginABI

/// Reads the source on a thread of its own, one batch ahead of the other stages, so that
/// reading and parsing batch N+1 overlaps with transforming, writing and publishing batch N.
///
/// Each batch is read into an arena of its own; there are two, used in turn, so the arena
/// of batch N is reset only after the stages finished with it. (What the stages emit
/// and raise goes to the runner's own arena, not this one.) The source instance is only ever
/// called from the reader's thread (read, then commit): `commit(N)` follows the stages'
/// `done(N)` and may come after `read(N+1)`, which the ABI allows.
final class SourceReader: @unchecked Sendable {
    /// One batch as read: its records, and the source's errors and alerts, in `arena`.
    struct Batch {
        let id: UInt64
        let arena: RecordArena
        let records: RecordList
        /// Records the source sent to its extra output ports (OutputPorts' order).
        let portRecords: [RecordList]
        let errors: [EmittedError]
        let alerts: [RawAlertRef]
        let readMs: Double
        /// Input is exhausted: this is the last batch.
        let ended: Bool
        /// The source said its inputs changed (a rebalance) since the batch before.
        var inputsChanged = false
        /// The position the source saved during the batch (nil: none).
        var position: [UInt8]?
        /// How far behind its input the source said it is after the batch (report_lag).
        var lag: [SourceLag] = []

        var ports: [UnsafeBufferPointer<sluice_record>] { portRecords.map(\.buffer) }
        var memory: Memory { Memory(arena: arena, records: records, ports: portRecords) }
    }

    /// What one batch is read into; two of them are used in turn.
    struct Memory {
        let arena: RecordArena
        let records: RecordList
        let ports: [RecordList]
    }

    /// Where committed positions are saved, and in whose name.
    struct PositionSaving {
        let store: SourcePositions
        let plugin: String
        let run: String
        /// The position the source resumed from (kept with an alert state when a batch
        /// saved none).
        var resumedFrom: [UInt8] = []
    }

    private let source: any SourceStage
    private let name: String
    private let batchSettings: BatchSettings
    /// Commits and position saves: retried until they land or the attempts run out.
    private let retry: RetryPolicy
    /// Reads: the same policy, but no wait begins once the run is asked to stop (reader
    /// thread only).
    private lazy var readRetry = RetryPolicy(retry.settings, sleep: retry.sleep,
                                             stop: { [unowned self] in self.shouldStop() || self.isStopping })
    private let shouldStop: () -> Bool
    private let logger: Logger
    private let failureText: (String, String) -> String
    /// Batch id → the position its reads saved; reader thread only.
    private var positions: [UInt64: [UInt8]] = [:]
    /// The position the source resumed from, then the last one submitted; reader thread only.
    private var lastPosition: [UInt8] = []
    /// Batch id → the alert state after it; guarded by `condition`.
    private var alertStates: [UInt64: [UInt8]] = [:]
    /// The pipeline has alerts with a life: a position is saved only with its alert state.
    private var withAlerts = false

    /// What `done` is given of the alert state after a batch.
    enum AlertStateToSave {
        /// The pipeline has no alerts with a life.
        case none
        /// Not made for this batch (`wantsAlertState` said no).
        case skipped
        /// The state after the batch, encoded (AlertState's binary form).
        case state([UInt8])
    }
    /// The last batch whose position is saved (0: none yet); guarded by `condition`.
    private(set) var savedThrough: UInt64 = 0

    /// Whether a commit failed (the source's commit, or its position not saved), from any
    /// thread.
    var commitFailedNow: Bool {
        condition.lock()
        defer { condition.unlock() }
        return commitFailed
    }

    /// `savedThrough`, from any thread.
    var savedThroughNow: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return savedThrough
    }
    /// Writes positions off the reader's thread.
    private var writer: PositionWriter?

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var free: [Memory]
    private var ready: [Batch] = []
    private var commits: [UInt64] = []
    private var outstanding = 0       // batches read (ready or with the stages), not yet done
    private var readingOver = false   // no more batches will come
    private var stopping = false      // the stages ended the run: read and commit no more
    private var commitFailed = false  // a commit failed: commit no more
    private var failure: String?
    private var thread: Thread?
    private var finished = false
    /// Nanoseconds the reader's thread spent committing (positions saved, the source's
    /// commit) since `takeCommitMs` was last called.
    private var commitNs: UInt64 = 0

    /// The milliseconds the reader's thread spent committing finished batches since the
    /// last call: what committing costs, off the runner's thread (progress' phasesMs.commit).
    func takeCommitMs() -> Double {
        condition.lock()
        defer { condition.unlock() }
        let ns = commitNs
        commitNs = 0
        return Double(ns) / 1e6
    }

    /// How long a source with nothing to give may wait per read, at least, even when
    /// `maxDelayMs` is 0 — and at most: between two such reads the batches the stages
    /// finished are committed and a stop request is seen, so an idle source (follow mode,
    /// a quiet topic) has its last batch committed and stops at once, whatever `maxDelayMs`.
    static let idleWaitMs: UInt32 = 100

    init(source: any SourceStage, name: String, batch: BatchSettings, retry: RetryPolicy,
         shouldStop: @escaping () -> Bool, logger: Logger, ports: Int = 0,
         positions: PositionSaving? = nil, failureText: @escaping (String, String) -> String) {
        if let positions {
            lastPosition = positions.resumedFrom
            writer = PositionWriter(store: positions.store, plugin: positions.plugin, run: positions.run, retry: retry,
                                    log: RetryLog(logger: logger, subject: "stage '\(name)'", call: "saving its position"))
        }
        self.source = source
        self.name = name
        batchSettings = batch
        self.retry = retry
        self.shouldStop = shouldStop
        self.logger = logger
        self.failureText = failureText
        free = (0..<2).map { _ in
            Memory(arena: RecordArena(chunkBytes: 4 << 20), records: RecordList(capacity: min(batch.maxRecords, 1 << 16)),
                   ports: (0..<ports).map { _ in RecordList(capacity: 16) })
        }
    }

    func start() {
        let t = Thread { [self] in self.loop() }
        t.name = "sluice-source"
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    /// The next batch, or nil when there is none (input ended, the run was stopped, or the
    /// source failed: see `finish()`).
    /// The next batch, or nil when reading is over. While it waits, `onIdle` runs every
    /// `idleEveryMs` (0: never), outside the lock: the runner's chance to retry spools
    /// when no input comes.
    func next(idleEveryMs: Int = 0, onIdle: () -> Void = {}) -> Batch? {
        condition.lock()
        while ready.isEmpty && !readingOver {
            if idleEveryMs <= 0 {
                condition.wait()
            } else if !condition.wait(until: Date(timeIntervalSinceNow: Double(idleEveryMs) / 1000)), ready.isEmpty, !readingOver {
                condition.unlock()
                onIdle()
                condition.lock()
            }
        }
        defer { condition.unlock() }
        guard !ready.isEmpty else { return nil }
        return ready.removeFirst()
    }

    /// Whether the alert state after `batch` is to be saved with its position (a pipeline
    /// with alerts with a life saves a position only with its alert state): once the saved
    /// position is two batches behind — as far as it may fall — so that it is written
    /// while the next batches run (a source with a commit of its own: always). Copying and
    /// encoding the windows of every key after every batch cost more than the batch.
    func wantsAlertState(after batch: UInt64) -> Bool {
        guard let writer else { return false }
        return source.hasCommit || batch >= writer.state.saved + 2
    }

    /// The stages are done with `batch`: commit it and reuse its memory. `alerts`: the
    /// alert state after it, saved with its position; `.skipped`: this batch's position is
    /// not saved on its own (a later one, with its state, covers it).
    func done(_ batch: Batch, alerts: AlertStateToSave = .none) {
        condition.lock()
        commits.append(batch.id)
        switch alerts {
        case .none: break
        case .skipped: withAlerts = true
        case .state(let s):
            withAlerts = true
            alertStates[batch.id] = s
        }
        outstanding -= 1
        free.append(batch.memory)
        condition.broadcast()
        condition.unlock()
    }

    /// The alert state after batch `id` (already done: its state was skipped, or time moved
    /// the state on since), to be saved with that batch's position at the next commit.
    func saveAlertState(_ state: [UInt8], after id: UInt64) {
        condition.lock()
        alertStates[id] = state
        commits.append(id)
        condition.broadcast()
        condition.unlock()
    }

    /// Stops reading, waits for the thread (which commits what is done) and returns the
    /// source's failure, if any.
    func finish() -> String? {
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        condition.broadcast()
        while !finished { condition.wait() }
        return failure
    }

    // MARK: the reader's thread

    private func loop() {
        var batchID: UInt64 = 1
        // Said during a read that made no batch: told with the next batch.
        var inputsChanged = false
        reading: while true {
            guard let memory = takeFreeMemory() else { break }
            memory.arena.reset()
            source.arena = memory.arena
            source.beginBatch()
            let read = readBatch(batchID, into: memory)
            if source.inputsChanged { inputsChanged = true }
            if let error = read.error {
                // The batches already read are still processed and committed.
                fail(error)
                free(memory)
                break
            }
            let alerts = source.batchAlerts
            let hasContent = !memory.records.isEmpty || memory.ports.contains { !$0.isEmpty } || !source.batchErrors.isEmpty
                || !alerts.isEmpty
            if !hasContent {
                free(memory)
                if read.ended || read.stopped { break reading }
                continue  // nothing arrived within maxDelayMs: no batch
            }
            if let position = source.batchPosition { positions[batchID] = position }
            var batch = Batch(id: batchID, arena: memory.arena, records: memory.records, portRecords: memory.ports,
                              errors: source.batchErrors, alerts: alerts, readMs: read.ms, ended: read.ended)
            batch.inputsChanged = inputsChanged
            batch.position = source.batchPosition
            batch.lag = source.batchLag
            inputsChanged = false
            condition.lock()
            ready.append(batch)
            outstanding += 1  // counted from here, so the end waits for it to be done
            condition.broadcast()
            condition.unlock()
            if read.ended || read.stopped { break }
            batchID += 1
        }
        condition.lock()
        readingOver = true
        condition.broadcast()
        condition.unlock()
        // Commit the batches the stages still finish, then end.
        while true {
            condition.lock()
            while commits.isEmpty && outstanding > 0 && !stopping && !commitFailed { condition.wait() }
            let pending = commitFailed ? [] : commits
            commits.removeAll()
            let more = outstanding > 0 && !stopping && !commitFailed
            condition.unlock()
            commit(pending)
            if !more {
                condition.lock()
                let last = commitFailed ? [] : commits
                commits.removeAll()
                condition.unlock()
                commit(last)
                break
            }
        }
        if let writer {
            writer.drain()
            let (saved, error) = writer.state
            if let error { fail(failureText("commit", error)) }
            condition.lock()
            if saved > 0 { savedThrough = saved }
            condition.unlock()
        }
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for free memory, committing finished batches meanwhile; nil when stopping.
    private func takeFreeMemory() -> Memory? {
        while true {
            condition.lock()
            while free.isEmpty && commits.isEmpty && !stopping { condition.wait() }
            if stopping { condition.unlock(); return nil }
            let pending = commits
            commits.removeAll()
            let memory = pending.isEmpty ? free.removeFirst() : nil
            condition.unlock()
            if !pending.isEmpty {
                if !commit(pending) { return nil }
                continue
            }
            return memory
        }
    }

    /// Commits the batches the stages finished; false after a failure.
    private func commitFinished() -> Bool {
        condition.lock()
        let pending = commitFailed ? [] : commits
        commits.removeAll()
        let failed = commitFailed
        condition.unlock()
        return !failed && commit(pending)
    }

    private func free(_ memory: Memory) {
        condition.lock()
        free.append(memory)
        condition.unlock()
    }

    /// Commits batches in order; false after a failure.
    @discardableResult
    private func commit(_ ids: [UInt64]) -> Bool {
        guard let last = ids.max() else { return true }
        let started = ResourceUsage.nowNanoseconds()
        defer {
            let spent = ResourceUsage.nowNanoseconds() - started
            condition.lock()
            commitNs += spent
            condition.unlock()
        }
        // The position first. It is written on the writer's thread, so reading goes on
        // meanwhile, at most two batches behind; a source with a commit function of its own
        // gets commit(N) only once N's position is on disk.
        condition.lock()
        let stateBatch = alertStates.keys.filter { $0 <= last }.max()
        let alertState = stateBatch.flatMap { alertStates[$0] }
        alertStates = alertStates.filter { $0.key > last }
        let onlyWithState = withAlerts
        condition.unlock()
        // The alert state goes with its batch's position: with the position saved last
        // when that batch saved none (a source without positions: empty). With alerts with
        // a life, a batch without a state saves no position of its own.
        var submitted: (batch: UInt64, bytes: [UInt8])?
        if let stateBatch, alertState != nil {
            submitted = (stateBatch, positions[stateBatch] ?? positions.filter { $0.key <= stateBatch }.max { $0.key < $1.key }?.value ?? lastPosition)
        } else if !onlyWithState, let newest = positions.keys.filter({ $0 <= last }).max(), let position = positions[newest] {
            submitted = (newest, position)
        }
        if let writer, let (newest, position) = submitted {
            positions = positions.filter { $0.key > newest }
            lastPosition = position
            writer.submit(batch: newest, bytes: position, alerts: alertState)
            writer.wait(for: newest, lag: source.hasCommit ? 0 : 2)
            let (saved, error) = writer.state
            if let error { return commitFailure(error) }
            condition.lock()
            savedThrough = saved
            condition.unlock()
        }
        // Committing the newest covers the older ones: "everything up to and including".
        let stage = name
        let (outcome, status) = retry.call(RetryLog(logger: logger, subject: "stage '\(stage)'", call: "commit of batch \(last)")) {
            source.commit(batch: last).status
        }
        if case .error(let why) = status { return commitFailure(why) }
        if let why = outcome.failure { return commitFailure(why) }
        return true
    }

    private func commitFailure(_ why: String) -> Bool {
        condition.lock()
        commitFailed = true
        condition.unlock()
        fail(failureText("commit", why))
        return false
    }

    /// Whether the stages ended the run (no more reading).
    private var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    /// Records the source's failure; reading stops, the stages finish what was read.
    private func fail(_ message: String) {
        condition.lock()
        if failure == nil { failure = message }
        condition.broadcast()
        condition.unlock()
    }

    /// Reads until the batch is full, `maxDelayMs` passed, input ended, or the source has
    /// nothing more right now: once the batch holds records, the source is asked again
    /// without waiting, and a read that brings nothing closes the batch (as Spark's
    /// trigger takes what is available) — a file dropped into a followed folder is
    /// processed at once, not when `maxDelayMs` runs out.
    private func readBatch(_ batchID: UInt64, into memory: Memory) -> (ended: Bool, stopped: Bool, error: String?, ms: Double) {
        let maxRecords = batchSettings.maxRecords
        let maxDelayNs = UInt64(batchSettings.maxDelayMs) * 1_000_000
        let started = ResourceUsage.nowNanoseconds()
        var readNs: UInt64 = 0
        let records = memory.records
        records.removeAll()
        memory.ports.forEach { $0.removeAll() }
        func result(_ ended: Bool, _ stopped: Bool, _ error: String?) -> (Bool, Bool, String?, Double) {
            (ended, stopped, error, Double(readNs) / 1e6)
        }
        // Records on the source's extra output ports count toward the batch as its main
        // records do.
        func taken() -> Int { memory.ports.reduce(records.count) { $0 + $1.count } }
        while taken() < maxRecords {
            if shouldStop() || isStopping { return result(false, true, nil) }
            let elapsed = ResourceUsage.nowNanoseconds() - started
            let before = taken()
            if elapsed >= maxDelayNs && (maxDelayNs > 0 || before > 0) { break }
            // Nothing yet: let an idle source wait a while rather than call it in a busy loop,
            // committing meanwhile what the stages finished. Something already: only what is
            // there right now.
            if before == 0 && !commitFinished() { return result(false, true, nil) }
            let waitMs = before == 0 ? SourceReader.idleWaitMs : 0
            var out: StageOutput?
            // A read that keeps asking to retry ends the batch as stopped when the run is
            // asked to stop meanwhile (the next run reads it).
            let stage = name
            let (outcome, _) = readRetry.call(RetryLog(logger: logger, subject: "stage '\(stage)'", call: "read of batch \(batchID)")) {
                let t0 = ResourceUsage.nowNanoseconds()
                let read = source.read(batch: batchID, maxRecords: maxRecords - before, maxWaitMs: waitMs)
                readNs += ResourceUsage.nowNanoseconds() - t0  // the waits between attempts are not the plugin's time
                out = read
                return read.status
            }
            if case .stopped = outcome { return result(false, true, nil) }
            if let failure = outcome.failure { return result(false, false, failureText("read", failure)) }
            guard let out else { continue }
            if case .error(let why) = out.status { return result(false, false, failureText("read", why)) }
            records.append(contentsOf: out.records)
            for (port, sent) in zip(memory.ports, out.ports) { port.append(contentsOf: sent) }
            if out.status == .end { return result(true, false, nil) }
            // Something already, and nothing more right now: the batch closes.
            if before > 0 && taken() == before { return result(false, false, nil) }
        }
        return result(false, false, nil)
    }
}
