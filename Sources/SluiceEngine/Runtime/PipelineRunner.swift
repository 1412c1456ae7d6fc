import Foundation
import Logging
import SluicePluginABI

/// Runs a planned pipeline batch by batch:
///
///   1. the source is read until the batch has `maxRecords` records, `maxDelayMs` passed,
///      or input ended (SourceReader, on a thread of its own, one batch ahead);
///   2. every other stage runs once, in topological order, on the records of the stages
///      it reads from (fan-in concatenates, fan-out shares: records are never copied);
///      error records and records on extra output ports go to the stages connected to
///      those ports;
///   3. sinks flush;
///   4. the batch's alerts go through the alert flow (AlertFlow: envelopes, routes,
///      publishers, spools), which returns when every publisher is done with them;
///   5. then, and only then, the source commits the batch.
///
/// When the sinks wrote something and no alert has a life, 3 and 4 overlap: the sinks
/// flush on a thread of their own while the alerts are made into envelopes and routed
/// (which keeps nothing but counts: no monitor takes them in); the alerts go out once every
/// sink flushed, and none of them (their counts taken back) when a sink failed, as when
/// one follows the other.
///
/// One instance per stage, built by StageFactory. The source is called from its reader's
/// thread, each publisher from its lane's, every other stage from the thread that calls
/// `run()` (a sink's flush, in the overlap above, from `flushQueue`'s: never two calls of
/// one stage at once).
public final class PipelineRunner {
    public struct Options {
        public var runID: String
        public var logger: Logger
        /// Called after every batch.
        public var onBatch: ((BatchProgress) -> Void)?
        /// Checked between calls; true ends the run after the current batch.
        public var shouldStop: () -> Bool
        /// Why the run was asked to stop, for the summary ("SIGTERM").
        public var stopReason: () -> String = { "a stop request" }
        /// How the runtime waits between retries (milliseconds). Called from the publishers'
        /// threads too, at the same time: make it thread-safe.
        public var sleep: (Int) -> Void
        /// Error records of a stage with no errors connection: how many to log per stage.
        public var errorsToLog: Int
        /// Ignore the source's saved position: read from the beginning (and save anew).
        public var fromStart = false
        /// The executable isolated stages run in (`<it> worker …`); nil: this process's own
        /// executable, which must then be `host`.
        public var workerExecutable: String?
        /// How the source's position files are written (SourcePositions.writeInPlace: over
        /// the older of the two, then fdatasync); tests pass one that fails, as a full disk does.
        public var writePositionFile: (Data, String) throws -> Void = SourcePositions.writeInPlace
        /// Who watches the run (metrics, health, history): called on the runner's thread.
        public var observers: [RunObserver] = []
        /// The alert flow's clock (milliseconds since 1970; called from the publishers'
        /// threads too): alerts with a life, spools' waits, the pipeline's own alerts.
        /// Tests pass one they move.
        public var alertClock: @Sendable () -> Int64 = { Timestamp.nowMilliseconds() }
        /// How the source's batches are parsed (RecordsSetting); nil: as SLUICE_RECORDS says
        /// (auto when it is unset).
        public var records: RecordsSetting?
        /// How many threads parse them (1-64); nil: as SLUICE_PARSE_THREADS says, else every
        /// core but one (ParseThreads). (A source in a worker process parses as the worker's
        /// environment says.)
        public var parseThreads: Int?

        public init(runID: String = PipelineRunner.newRunID(), logger: Logger = Logger(label: "sluice"),
                    onBatch: ((BatchProgress) -> Void)? = nil, shouldStop: @escaping () -> Bool = { false },
                    sleep: @escaping (Int) -> Void = PipelineRunner.sleep, errorsToLog: Int = 5) {
            self.runID = runID
            self.logger = logger
            self.onBatch = onBatch
            self.shouldStop = shouldStop
            self.sleep = sleep
            self.errorsToLog = errorsToLog
        }
    }

    public let plan: PipelinePlan
    public let options: Options
    /// How the source's batches are parsed in this run: lazy only when every stage reading
    /// the source's records directly reads by accessor (or SLUICE_RECORDS says so); stages
    /// that do not read by accessor then get their input materialised.
    public private(set) var recordParsing = RecordParsing.eager
    /// Where the stages allocate: at their creation, then, batch by batch, `batchWork`.
    private var current = RecordArena(chunkBytes: 4096)
    /// What a batch's stages and alerts allocate (the records a stage emits, its alerts,
    /// error records, envelopes): an arena of this thread's own, reset at each batch. Not
    /// the batch's, which the reader fills on the other core: each line this thread wrote
    /// there would have to come back to that core when it fills the arena again, and
    /// this one stays in this core's cache from one batch to the next.
    private let batchWork = RecordArena(chunkBytes: 1 << 20)
    /// The source's error records of the batch being processed (the source itself is
    /// already reading the next batch).
    private var sourceErrors: [EmittedError] = []
    private let stages: [RunningStage]
    private let retry: RetryPolicy
    private let errorRecords = ErrorRecords()
    /// Held for the whole run: the lock, and where the source resumed.
    private let state: PipelineState
    private let alerts: AlertFlow
    /// Progress records and the summary.
    private var tally: RunTally
    /// The summary as of the last batch done, for a stop at once (`summarySoFar`), and the
    /// reader whose saved position it reports; guarded by `snapshotLock`.
    private var snapshot: RunSummary?
    private weak var snapshotReader: SourceReader?
    private var runStart: UInt64 = 0
    private let snapshotLock = NSLock()
    /// For observers that want stage errors (`wantsStageErrors`): the stages' log lines,
    /// and what went wrong in the batch being run (a sample of error records).
    private let errorWatchers: [RunObserver]
    private let logTap: StageLogTap?
    /// Where a batch's sinks flush while its alerts are made (the overlap above), and what
    /// they may allocate in meanwhile (a record rendered from a copy, a worker's repeated
    /// write): the batch's work arena is the alert flow's then. Reset after each such flush.
    private let flushQueue = DispatchQueue(label: "sluice-sink-flush")
    private lazy var flushArena = RecordArena(chunkBytes: 64 << 10)  // (a flush seldom takes any)
    /// Whether a sink was given records in the batch being run.
    private var sinksWrote = false
    private var stageErrors: [StageError] = []

    /// Takes the pipeline's state folder and creates every stage's plugin instance; throws
    /// the first creation error (the ones created before it are destroyed).
    public init(plan: PipelinePlan, options: Options = Options()) throws {
        self.plan = plan
        self.options = options
        retry = RetryPolicy(plan.spec.retry, sleep: options.sleep)
        state = try PipelineState(plan: plan, fromStart: options.fromStart, logger: options.logger,
                                  writeFile: options.writePositionFile)
        // Before any plugin is created: a `when` that cannot be bound stops nothing midway.
        alerts = try AlertFlow(plan: plan, run: options.runID, sleep: options.sleep, stop: options.shouldStop, logger: options.logger,
                               clock: options.alertClock)
        alerts.observers = options.observers
        errorWatchers = options.observers.filter(\.wantsStageErrors)
        logTap = errorWatchers.isEmpty ? nil : StageLogTap()
        let factory = StageFactory(functions: plan.functions, logger: logTap?.wrap(options.logger) ?? options.logger,
                                   workerExecutable: options.workerExecutable ?? "/proc/self/exe")
        var built: [RunningStage] = []
        do {
            for (i, planned) in plan.stages.enumerated() {
                // Only now, and only for the plugins the pipeline uses, is a library loaded.
                let blueprint = planned.blueprint(namespace: plan.spec.namespace, pipeline: plan.spec.name,
                                                  position: i == plan.source ? state.position : [])
                built.append(RunningStage(planned, try factory.make(blueprint, arena: current)))
            }
            var publishers: [Int: any PublisherStage] = [:]
            for (i, s) in built.enumerated() { if case .publisher(let p) = s.stage { publishers[i] = p } }
            try alerts.connect(publishers)
            // A stage on the runner's thread whose alerts are aggregated folds them in as
            // it raises them (the source raises its on the reader's thread: copied).
            for (i, s) in built.enumerated() where i != plan.source && !s.isPublisher {
                if let aggregator = alerts.aggregator(ofStage: i) { _ = s.live.foldAlerts(into: aggregator) }
            }
            if let saved = try state.resumedFrom?.alerts() { alerts.restore(saved) }
        } catch {
            built.reversed().forEach { $0.live.destroy() }
            throw error
        }
        stages = built
        tally = RunTally(run: options.runID, namespace: plan.spec.namespace, pipeline: plan.spec.name,
                         resumedAfter: state.resumedFrom.map { "batch \($0.batch) of run \($0.run)" }, position: state.position)
        chooseRecordParsing()
    }

    deinit {
        for s in stages { s.live.destroy() }
    }

    /// Waits `ms` milliseconds (the default way to wait between retries).
    public static func sleep(_ ms: Int) { RetryPolicy.sleep(ms) }

    /// A new run id: the start time and a random suffix, e.g. "20261121T060041Z-3fa2".
    public static func newRunID() -> String {
        let ms = Timestamp.nowMilliseconds()
        let iso = Timestamp.iso8601(milliseconds: ms)
        let compact = iso.prefix(19).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
        return compact + "Z-" + String(UInt16.random(in: 0...UInt16.max), radix: 16)
    }

    /// How often an idle run gives the alert flow the clock (spools due for a retry).
    static let idleTickMs = 200

    // MARK: the run

    /// Runs batches until input ends, a stage fails or `shouldStop` says so.
    public func run() -> RunSummary {
        let start = ResourceUsage.nowNanoseconds()
        runStart = start
        var previousBatchStart = start
        var failure: String?
        var failedBatch: UInt64?
        var inputEnded = false
        // Every stage created, every publisher connected: the run began (before the spools'
        // replay, whose alerts belong to it).
        if !options.observers.isEmpty {
            let begun = RunStart(run: options.runID, namespace: plan.spec.namespace, pipeline: plan.spec.name,
                                 startedMs: Timestamp.nowMilliseconds(), resumedAfter: state.resumedFrom.map { "batch \($0.batch) of run \($0.run)" },
                                 stages: stages.map { .init(name: $0.planned.name, plugin: $0.planned.entry.name,
                                                            version: "\($0.planned.entry.version)", kind: $0.planned.type.rawValue) })
            for o in options.observers { o.runStarted(begun) }
        }
        addTimes(alerts.start())
        let source = stages[plan.source]
        guard case .source(let sourceStage) = source.stage else {
            return tally.finish(stages: stages, alerts: alerts, durationMs: 0, failure: "no source stage", stoppedBy: nil,
                                positionSavedAfterBatch: nil)
        }
        let reader = SourceReader(
            source: sourceStage, name: source.planned.name, batch: plan.spec.batch, retry: retry,
            shouldStop: options.shouldStop, logger: options.logger, ports: source.planned.entry.extraPorts.count,
            positions: .init(store: state.positions, plugin: source.planned.entry.name, run: options.runID, resumedFrom: state.position),
            failureText: { [unowned self] call, why in self.failureText(source, call, why) })
        reader.start()
        takeSnapshot(reader: reader)
        // The last batch done, and whether its alert state was saved with its position.
        var lastDone: UInt64 = 0, lastSaved = true
        while let batch = reader.next(idleEveryMs: PipelineRunner.idleTickMs, onIdle: { [unowned self] in
            self.addTimes(self.alerts.idle())
            if !self.options.observers.isEmpty {
                let now = Timestamp.nowMilliseconds()
                let totals = self.snapshotNow()
                for o in self.options.observers { o.idle(atMs: now, totals: totals) }
                self.tellStageErrors()
            }
            // Time moved incidents on (fired, resolved): saved with the last batch's position,
            // so a restart does not make them again.
            if lastDone > 0, self.alerts.takeIdleChange(), let state = self.alerts.encodedState() {
                reader.saveAlertState(state, after: lastDone)
                lastSaved = true
            }
        }) {
            // A source that could not commit (its position not saved: a full disk) stops
            // the run before another batch is written: what follows would be read again.
            if reader.commitFailedNow { break }
            let batchStart = ResourceUsage.nowNanoseconds()
            var observed: RunSummary?  // the summary the observers got: the snapshot too
            if !options.observers.isEmpty {
                let now = Timestamp.nowMilliseconds()
                for o in options.observers { o.batchStarted(batch.id, atMs: now) }
            }
            logTap?.batch = batch.id
            batchWork.reset()  // the batch before is done with it
            current = batchWork
            for s in stages where s !== source {
                s.beginBatch()
                if !s.isPublisher { s.live.arena = batchWork }  // the alert flow gives publishers theirs
            }
            source.beginBatch(resetInstance: false)  // the reader's thread owns the source instance
            source.output = batch.records.buffer
            source.ports = batch.ports
            source.summary.recordsOut += batch.records.count
            source.summary.durationMs += batch.readMs
            sourceErrors = batch.errors
            // The batch's phases, for progress (phasesMs): a clock read between each.
            var phases = RunTally.Phases(read: batch.readMs)
            var phaseStart = ResourceUsage.nowNanoseconds()
            func endPhase(_ ms: inout Double) {
                let now = ResourceUsage.nowNanoseconds()
                ms = Double(now - phaseStart) / 1e6
                phaseStart = now
            }
            sinksWrote = false
            if let error = runStages(batch.id) { failure = error; failedBatch = batch.id; break }
            endPhase(&phases.process)
            // (A sink's flush raises no alert: the batch's are all here, or folded into their
            // stages' aggregators.)
            var raised: [Int: [RawAlertRef]] = [:]
            for (i, s) in stages.enumerated() where !s.isPublisher {
                raised[i] = s === source ? batch.alerts : s.live.batchAlerts
            }
            if sinksWrote && !alerts.hasLife && alerts.anyRaised(raised) {
                // The sinks flush while the alerts are made; the alerts go out once they did.
                let flushed = FlushResult()
                let group = DispatchGroup()
                let id = batch.id
                for s in stages { if case .sink = s.stage { s.live.arena = flushArena } }
                // flushSinks touches only the sinks (and their arena) until the wait below.
                nonisolated(unsafe) let runner = self
                flushQueue.async(group: group) { flushed.error = runner.flushSinks(id) }
                if batch.inputsChanged { alerts.inputsChanged() }
                let prepared = alerts.prepare(batch.id, raised: raised, arena: batchWork)
                let made = ResourceUsage.nowNanoseconds()
                group.wait()
                flushArena.reset()
                let waited = ResourceUsage.nowNanoseconds()
                // The runner's own time: the wait is the flush's, the rest the alerts'.
                phases.flush = Double(waited - made) / 1e6
                if let error = flushed.error {
                    alerts.withdraw(prepared)
                    failure = error
                    failedBatch = batch.id
                    break
                }
                addTimes(alerts.deliver(prepared))
                let now = ResourceUsage.nowNanoseconds()
                phases.alerts = Double((made - phaseStart) + (now - waited)) / 1e6
                phaseStart = now
            } else {
                if let error = flushSinks(batch.id) { failure = error; failedBatch = batch.id; break }
                endPhase(&phases.flush)
                if batch.inputsChanged { alerts.inputsChanged() }
                addTimes(alerts.batch(batch.id, raised: raised, arena: batchWork) { [unowned self] i in
                    i == plan.source ? stages[i].output : gather(stages[i])
                })
                endPhase(&phases.alerts)
            }
            tally.batchDone(records: batch.records.count)
            if options.onBatch != nil || !options.observers.isEmpty || alerts.watchesPipeline {
                phases.commit = reader.takeCommitMs()
                let progress = tally.progress(batch.id, run: options.runID, rows: batch.records.count, start: batchStart,
                                              previousStart: previousBatchStart, stages: stages, alerts: alerts,
                                              sourceErrors: sourceErrors.count, phases: phases,
                                              source: .init(position: batch.position, lag: batch.lag))
                options.onBatch?(progress)
                // The pipeline's own alerts judge the batch (its time, the source's lag,
                // worker restarts) before it commits. (The source's instance is its
                // reader's: its restarts are not read here.)
                addTimes(alerts.pipelineBatchDone(progress, restarts: stages.compactMap { s in
                    s === source ? nil : s.live.workerRestarts.map { (s.planned.name, $0) }
                }))
                // Watchers see the counts with the pipeline's own alerts of this batch.
                if !options.observers.isEmpty {
                    let totals = snapshotNow()
                    observed = totals
                    for o in options.observers { o.batchDone(progress, totals: totals) }
                }
            }
            logTap?.batch = nil
            tellStageErrors()
            previousBatchStart = batchStart
            if !alerts.hasLife {
                reader.done(batch)
            } else if batch.ended || options.shouldStop() || reader.wantsAlertState(after: batch.id), let state = alerts.encodedState() {
                // The last batch's always: a run that ends leaves its position saved.
                reader.done(batch, alerts: .state(state))
                lastSaved = true
            } else {
                reader.done(batch, alerts: .skipped)
                lastSaved = false
            }
            lastDone = batch.id
            takeSnapshot(reader: reader, observed)
            if batch.ended { inputEnded = true }
            if options.shouldStop() { break }
        }
        // However the loop ended (input over after a full batch, a stop while idle, a
        // failure), the last batch done leaves its position saved with its alert state.
        if !lastSaved, lastDone > 0, let state = alerts.encodedState() { reader.saveAlertState(state, after: lastDone) }
        if let sourceFailure = reader.finish(), failure == nil { failure = sourceFailure }
        let stopped = failure == nil && !inputEnded && options.shouldStop()
        // The pipeline's own alerts hear how the run ended while the publishers are open.
        addTimes(alerts.pipelineRunEnded(failedStage: failedStage(failure), failure: failure, stoppedBy: stopped ? options.stopReason() : nil))
        let summary = tally.finish(stages: stages, alerts: alerts, durationMs: Double(ResourceUsage.nowNanoseconds() - start) / 1e6,
                                   failure: failure, stoppedBy: stopped ? options.stopReason() : nil,
                                   positionSavedAfterBatch: reader.savedThrough > 0 ? reader.savedThrough : nil)
        if logTap != nil, let failure, let stage = failedStage(failure) {
            stageErrors.append(StageError(stage: stage, kind: .failure, atMs: Timestamp.nowMilliseconds(), batch: failedBatch,
                                          message: StageError.cut(failure)))
        }
        tellStageErrors()
        for o in options.observers { o.runEnded(summary) }
        return summary
    }

    /// The summary of the batches done so far, as a run stopped at once by `reason` ("a
    /// second SIGTERM") would end: status stopped, the batch in flight not counted (it is
    /// not committed: the next run reads it again). Any thread may call it while `run()`
    /// runs; nil before the run began.
    public func summarySoFar(stoppedBy reason: String) -> RunSummary? {
        snapshotLock.lock()
        defer { snapshotLock.unlock() }
        guard var s = snapshot else { return nil }
        s.durationMs = Double(ResourceUsage.nowNanoseconds() - runStart) / 1e6
        s.recordsPerSecond = s.durationMs > 0 ? Double(s.records) / (s.durationMs / 1000) : 0
        s.status = .stopped
        s.stoppedBy = reason
        s.peakRSSBytes = ResourceUsage.peakRSSBytes
        let saved = snapshotReader?.savedThroughNow ?? 0
        s.positionSavedAfterBatch = saved > 0 ? saved : nil
        return s
    }

    @discardableResult
    private func takeSnapshot(reader: SourceReader, _ made: RunSummary? = nil) -> RunSummary {
        let s = made ?? snapshotNow()
        snapshotLock.lock()
        snapshot = s
        snapshotReader = reader
        snapshotLock.unlock()
        return s
    }

    /// The run's counts so far (the source's own left out: its reader holds it).
    private func snapshotNow() -> RunSummary {
        var s = tally.finish(stages: stages, alerts: alerts, durationMs: Double(ResourceUsage.nowNanoseconds() - runStart) / 1e6,
                             failure: nil, stoppedBy: nil, positionSavedAfterBatch: nil, sourceRunning: true)
        s.status = .completed
        return s
    }

    /// Sets the source's parse mode (RecordParsing) and which stages get their input
    /// materialised: those that do not read by accessor, when records are lazy.
    private func chooseRecordParsing() {
        var setting = options.records ?? .auto
        if options.records == nil {
            let (fromEnvironment, warning) = RecordsSetting.from(environment: ProcessInfo.processInfo.environment)
            setting = fromEnvironment
            if let warning { options.logger.warning("\(warning)") }
        }
        guard case .source(let source) = stages[plan.source].stage else { return }
        source.recordParsing = plan.recordParsing(setting) { stages[$0].live.readsRecordsByAccessor }
        recordParsing = source.recordParsing  // a source in a worker stays eager
        if let threads = options.parseThreads {
            if (1...ParseThreads.most).contains(threads) {
                source.parseThreads = threads
            } else {
                options.logger.warning("\(threads) parsing threads is not a number from 1 to \(ParseThreads.most): lines are parsed on \(source.parseThreads)")
            }
        } else if let warning = ParseThreads.from(environment: ProcessInfo.processInfo.environment).warning {
            options.logger.warning("\(warning)")
        }
        // A transform whose output nobody reads (its alerts, errors or extra ports may be)
        // only counts what it builds on its input records.
        for (i, s) in stages.enumerated() {
            guard case .transform(let transform) = s.stage else { continue }
            transform.discardsRecords = !stages.contains { $0.planned.recordInputs.contains(i) }
        }
        var materialising: [String] = []
        for s in stages where !s.isSource && !s.isPublisher {
            s.materialisesInput = recordParsing == .lazy && !s.live.readsRecordsByAccessor
            if s.materialisesInput { materialising.append(s.planned.name) }
        }
        let materialised = materialising.isEmpty ? "" : "; materialised for \(materialising.joined(separator: ", "))"
        options.logger.debug("records: \(recordParsing.rawValue) (\(RecordsSetting.variable)=\(setting.rawValue))\(materialised); JSON lines parsed on \(source.parseThreads) thread\(source.parseThreads == 1 ? "" : "s")")
    }

    /// The records stage `s` reads this batch (gather), materialised when it does not read
    /// by accessor and some are lazy; throws when memory ran out.
    private func input(of s: RunningStage) throws(OutOfMemory) -> UnsafeBufferPointer<sluice_record> {
        let records = gather(s)
        return s.materialisesInput ? try s.materialised.materialised(records, in: current) : records
    }

    /// Runs every stage after the source, in topological order.
    private func runStages(_ batchID: UInt64) -> String? {
        routeErrors(of: stages[plan.source], batch: batchID)
        for (i, s) in stages.enumerated() where i != plan.source {
            let input: UnsafeBufferPointer<sluice_record>
            let t0 = ResourceUsage.nowNanoseconds()
            let failed: String?
            switch s.stage {
            case .transform(let transform):
                do { input = try self.input(of: s) } catch { return failureText(s, "process", error.description) }
                failed = call(s, "process", batchID) {
                    let out = transform.process(batch: batchID, records: input)
                    s.output = out.records
                    s.discarded = out.discarded
                    s.ports = out.ports
                    return out.status
                }
                if failed == nil { s.summary.recordsOut += s.output.count + s.discarded }
            case .sink(let sink):
                do { input = try self.input(of: s) } catch { return failureText(s, "write", error.description) }
                failed = call(s, "write", batchID) { sink.write(batch: batchID, records: input).status }
                if failed == nil { s.summary.recordsOut += input.count }
                if input.count > 0 { sinksWrote = true }
            case .source, .publisher:
                continue
            }
            s.summary.recordsIn += input.count
            s.summary.durationMs += Double(ResourceUsage.nowNanoseconds() - t0) / 1e6
            if let failed { return failed }
            routeErrors(of: s, batch: batchID)
        }
        return nil
    }

    private func flushSinks(_ batchID: UInt64) -> String? {
        for s in stages {
            guard case .sink(let sink) = s.stage else { continue }
            let t0 = ResourceUsage.nowNanoseconds()
            let failed = call(s, "flush", batchID) { sink.flush().status }
            s.summary.durationMs += Double(ResourceUsage.nowNanoseconds() - t0) / 1e6
            if let failed { return failed }
        }
        return nil
    }

    /// Calls a stage under the pipeline's retry policy; the run's failure text when the call
    /// failed for good (an error, or still "retry" when the attempts ran out).
    private func call(_ s: RunningStage, _ call: String, _ batchID: UInt64, _ body: () -> CallStatus) -> String? {
        let log = RetryLog(logger: options.logger, subject: "stage '\(s.planned.name)'", call: "\(call) of batch \(batchID)")
        let (outcome, last) = retry.call(log, body)
        if last == .end {
            // A source's status: from a transform or a sink it would drop every later
            // record without a word (issue 21), so it stops the run instead.
            return failureText(s, call, "it returned SLUICE_END, which only a source's read may return (return SLUICE_OK; "
                               + "records not emitted are dropped)")
        }
        switch (outcome, last) {
        case (.gaveUp(let why, let attempts, _), _), (.stopped(let why, let attempts), _):
            return failureText(s, call, "still asking to retry after \(attempts) attempts: \(why)")
        case (_, .error(let why)):
            return failureText(s, call, why)
        default:
            if outcome.attempts > 1, let done = ["write": "wrote", "flush": "flushed"][call] {
                options.logger.warning("stage '\(s.planned.name)' \(done) batch \(batchID) after \(outcome.attempts) attempts")
            }
            return nil
        }
    }

    /// The records a stage reads: its inputs' records, then its error inputs' error
    /// records, then the records of the extra output ports it reads.
    private func gather(_ s: RunningStage) -> UnsafeBufferPointer<sluice_record> {
        let inputs = s.planned.recordInputs, errorInputs = s.planned.errorInputs, portInputs = s.planned.portInputs
        if portInputs.isEmpty {
            if inputs.count == 1 && errorInputs.isEmpty { return stages[inputs[0]].output }
            if inputs.isEmpty && errorInputs.count == 1 { return stages[errorInputs[0]].errorRecords.buffer }
        } else if inputs.isEmpty && errorInputs.isEmpty && portInputs.count == 1 {
            return stages[portInputs[0].stage].records(onPort: portInputs[0].port)
        }
        s.scratch.removeAll()
        for i in inputs { s.scratch.append(contentsOf: stages[i].output) }
        for i in errorInputs { s.scratch.append(contentsOf: stages[i].errorRecords.buffer) }
        for p in portInputs { s.scratch.append(contentsOf: stages[p.stage].records(onPort: p.port)) }
        return s.scratch.buffer
    }

    /// Turns a stage's error port output of this batch into records for the stages that
    /// read it, or counts and logs the first few when none does.
    private func routeErrors(of s: RunningStage, batch batchID: UInt64) {
        let errors = s.isSource ? sourceErrors : s.live.batchErrors
        s.summary.errors += errors.count
        guard !errors.isEmpty else { return }
        if logTap != nil {
            let now = Timestamp.nowMilliseconds()
            for e in errors.prefix(StageError.recordsPerBatch) {
                stageErrors.append(StageError(stage: s.planned.name, kind: .record, atMs: now, batch: batchID,
                                              message: StageError.cut(e.message)))
            }
        }
        if s.planned.hasErrorConsumers {
            for e in errors {
                if let r = errorRecords.wrap(e, stage: s.planned.name, arena: current) { s.errorRecords.append(r) }
            }
            return
        }
        for e in errors where s.loggedErrors < options.errorsToLog {
            s.loggedErrors += 1
            var text = e.record.map(RecordJSON.render) ?? "(no record)"
            if text.count > 300 { text = String(text.prefix(300)) + "…" }
            options.logger.warning("stage '\(s.planned.name)' error record (code \(e.code)): \(e.message): \(text)")
            if s.loggedErrors == options.errorsToLog {
                options.logger.warning("stage '\(s.planned.name)': further error records are counted, not logged (connect its errors port to keep them)")
            }
        }
    }

    /// Hands what went wrong since the last call (error records sampled in the batch, log
    /// lines the tap noted) to the observers that want it.
    private func tellStageErrors() {
        guard let logTap else { return }
        var all = stageErrors
        stageErrors.removeAll(keepingCapacity: true)
        let logged = logTap.take()
        // In time order; within a millisecond a stage's log lines first (logged during its
        // call, its error records are taken after it).
        if all.isEmpty { all = logged } else if !logged.isEmpty { all = (logged + all).sorted { $0.atMs < $1.atMs } }
        guard !all.isEmpty else { return }
        for o in errorWatchers { o.stageErrors(all) }
    }

    /// Adds the publishers' time in an alert flow step to their stages'.
    private func addTimes(_ durations: AlertFlow.Durations) {
        for (position, ms) in durations { stages[position].summary.durationMs += ms }
    }

    /// The stage a failure text names (failureText's form), if any.
    private func failedStage(_ failure: String?) -> String? {
        guard let failure else { return nil }
        return plan.stages.first { failure.hasPrefix("stage '\($0.name)' (") }?.name
    }

    private func failureText(_ s: RunningStage, _ call: String, _ why: String) -> String {
        "stage '\(s.planned.name)' (\(s.planned.entry.name) \(s.planned.entry.version)) failed in \(call): \(why)"
    }
}

/// What a batch's flush on `flushQueue` ended with: read after its group's wait.
private final class FlushResult: @unchecked Sendable {
    var error: String?
}
