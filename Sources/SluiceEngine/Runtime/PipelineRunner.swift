import Foundation
import Logging
import SluicePluginABI

/// Runs a planned pipeline batch by batch:
///
///   1. the source is read until the batch has `maxRecords` records, `maxDelayMs` passed,
///      or input ended;
///   2. every other stage runs once, in topological order, on the records of the stages
///      it reads from (fan-in concatenates, fan-out shares: records are never copied);
///      error records go to the stages connected with `port: errors`;
///   3. sinks flush;
///   4. each stage's alerts are aggregated (its `alerts` section), wrapped in envelopes
///      and handed to the publishers it is connected to — each publisher on its own
///      thread, with repeat suppression, retries and its durable spool (PublisherLane);
///   5. then, and only then, the source commits the batch.
///
/// One plugin instance per stage. The source is called from its reader's thread, each
/// publisher from its lane's, every other stage from the thread that calls `run()`.
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
    /// The arena of the batch being processed.
    private var current = RecordArena(chunkBytes: 4096)
    /// The source's error records and alerts of the batch being processed (the source
    /// itself is already reading the next batch).
    private var sourceErrors: [EmittedError] = []
    private var sourceAlerts: [RawAlertRef] = []
    private let stages: [StageState]
    private let retrying: Retrying
    private let errorRecords = ErrorRecords()
    private var summary: RunSummary
    /// Publisher position → its lane.
    private var lanes: [Int: PublisherLane] = [:]
    private var publisherSummaries: [Int: PublisherSummary] = [:]
    /// Counts for stages a spool names but the pipeline no longer has.
    private var formerStages = AlertCounts()
    /// Alert totals at the last progress report.
    private var reportedAlerts = AlertCounts()
    /// The publishers' arena between batches (idle spool replays), so that they never
    /// hold a batch's arena once the reader has it back.
    private let idleArena = RecordArena(chunkBytes: 64 << 10)
    /// Held for the whole run: one host per pipeline state folder.
    private let lock: RunLock
    private let positions: SourcePositions
    /// Alerts connections' `when`.
    private let router: AlertRouter
    /// What the source resumed from.
    private var resumedFrom: SavedPosition?

    /// Creates every stage's plugin instance; throws the first creation error (the ones
    /// created before it are destroyed).
    public init(plan: PipelinePlan, options: Options = Options()) throws {
        self.plan = plan
        self.options = options
        self.retrying = Retrying(plan.spec.retry, sleep: options.sleep)
        // Before any plugin runs (a sink may truncate its file): nobody else runs this pipeline.
        lock = try RunLock(folder: plan.stateFolder)
        let sourceStage = plan.stages[plan.source]
        positions = SourcePositions(folder: plan.stateFolder, stage: sourceStage.name)
        var position: [UInt8] = []
        if options.fromStart {
            options.logger.info("stage '\(sourceStage.name)' starts from the beginning (--from-start)")
        } else if let saved = try positions.load() {
            if saved.plugin == sourceStage.entry.name {
                position = saved.bytes
                resumedFrom = saved
                options.logger.info("stage '\(sourceStage.name)' resumes after batch \(saved.batch) of run \(saved.run) (\(positions.path))")
            } else {
                options.logger.warning("stage '\(sourceStage.name)': the saved position in \(positions.path) belongs to plugin \(saved.plugin), not \(sourceStage.entry.name); starting from the beginning")
            }
        }
        router = try AlertRouter(plan: plan)
        var created: [StageState] = []
        for planned in plan.stages {
            let identity = StageIdentity(namespace: plan.spec.namespace, pipeline: plan.spec.name, stage: planned.name)
            do {
                let instance: any PluginStage
                let resume = planned.name == sourceStage.name ? position : []
                if planned.isolation == .process {
                    // The library is loaded in the worker only: not even its constructor runs here.
                    instance = try IsolatedStage(library: planned.entry.libraryPath, plugin: planned.entry.name,
                                                 version: "\(planned.entry.version)", type: planned.type, identity: identity,
                                                 properties: planned.properties, allowsAlerts: planned.entry.widgets.emitsAlerts,
                                                 arena: current, logger: options.logger, secrets: planned.secretValues,
                                                 position: resume, timeoutMs: planned.timeoutMs,
                                                 executable: options.workerExecutable ?? "/proc/self/exe")
                } else {
                    // Only now, and only for the plugins the pipeline uses, is a library loaded.
                    let descriptor: PluginDescriptor
                    do {
                        descriptor = try planned.entry.load()
                    } catch {
                        throw StageCreateError(stage: planned.name, plugin: "\(planned.entry.name) \(planned.entry.version)",
                                               message: "cannot load \(planned.entry.libraryPath): \(error)")
                    }
                    var made: UnsafeMutableRawPointer?
                    if planned.isRuleStage {
                        made = try Self.makeRuleStage(planned, plan: plan)
                    }
                    instance = try StageInstance(descriptor: descriptor, identity: identity,
                                                 properties: planned.properties,
                                                 allowsAlerts: planned.entry.widgets.emitsAlerts,
                                                 arena: current, logger: options.logger, secrets: planned.secretValues,
                                                 position: resume, made: made)
                }
                instance.alertLimit = planned.alerts?.maxPerBatch ?? AlertSettings.defaultMaxPerBatch
                created.append(StageState(planned, instance))
            } catch {
                created.reversed().forEach { $0.instance.destroy() }
                throw error
            }
        }
        stages = created
        summary = RunSummary(run: options.runID, namespace: plan.spec.namespace, pipeline: plan.spec.name, status: .completed)
        summary.resumedAfter = resumedFrom.map { "batch \($0.batch) of run \($0.run)" }
        do {
            for (i, s) in created.enumerated() where s.planned.type == .alertpublisher {
                publisherSummaries[i] = PublisherSummary(name: s.planned.name, plugin: s.planned.entry.name)
                let longest = plan.stages.flatMap(\.alertRoutes).filter { $0.publisher == i }.map(\.repeatIntervalMs).max() ?? 0
                lanes[i] = try PublisherLane(name: s.planned.name, plugin: s.planned.entry.name, instance: s.instance,
                                             folder: plan.spoolFolder, maxBytes: plan.spec.spool.maxBytes,
                                             longestRepeatMs: longest, retry: plan.spec.retry, sleep: options.sleep,
                                             logger: options.logger)
            }
        } catch {
            created.reversed().forEach { $0.instance.destroy() }
            throw error
        }
    }

    deinit {
        for s in stages { s.instance.destroy() }
    }

    /// A built-in rule stage's instance, from its properties checked and compiled again,
    /// now with its plugin functions prepared for calling.
    static func makeRuleStage(_ planned: PlannedStage, plan: PipelinePlan) throws -> UnsafeMutableRawPointer {
        let made = RuleStages.compile(plugin: planned.entry.name, properties: planned.properties,
                                      path: "stages[\(planned.specIndex)].plugin.properties", functions: plan.functions,
                                      keepRejected: planned.hasRejectedConsumers, bind: FunctionBinder.bind)
        guard let instance = made.instance else {
            throw StageCreateError(stage: planned.name, plugin: "\(planned.entry.name) \(planned.entry.version)",
                                   message: made.problems.errors.map(\.description).joined(separator: "; "))
        }
        return instance
    }

    /// Waits `ms` milliseconds (the default way to wait between retries).
    public static func sleep(_ ms: Int) { Retrying.sleep(ms) }

    /// A new run id: the start time and a random suffix, e.g. "20261121T060041Z-3fa2".
    public static func newRunID() -> String {
        let ms = Timestamp.nowMilliseconds()
        let iso = Timestamp.iso8601(milliseconds: ms)
        let compact = iso.prefix(19).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
        return compact + "Z-" + String(UInt16.random(in: 0...UInt16.max), radix: 16)
    }

    // MARK: the run

    /// Runs batches until input ends, a stage fails or `shouldStop` says so.
    public func run() -> RunSummary {
        let start = ResourceUsage.nowNanoseconds()
        var previousBatchStart = start
        var failure: String?
        var inputEnded = false
        // What a previous run left in the spools goes before anything new.
        merge(runLanes(lanes.map { ($0.key, []) }, step: .start))
        let source = stages[plan.source]
        let reader = SourceReader(
            source: source.instance, name: source.planned.name, batch: plan.spec.batch, retry: plan.spec.retry,
            shouldStop: options.shouldStop, sleep: options.sleep, logger: options.logger,
            positions: .init(store: positions, plugin: source.planned.entry.name, run: options.runID),
            failureText: { [unowned self] call, why in self.failureText(source, call, why) })
        reader.start()
        // With no input coming, spools are still retried when due.
        while let batch = reader.next(idleEveryMs: PipelineRunner.idleTickMs, onIdle: { [unowned self] in
            let due = self.lanes.filter { $0.value.waiting > 0 }.map { ($0.key, [RoutedAlert]()) }
            if !due.isEmpty {
                self.merge(self.runLanes(due, step: .idle))
                self.idleArena.reset()
            }
        }) {
            let batchStart = ResourceUsage.nowNanoseconds()
            current = batch.arena
            for s in stages where s !== source {
                s.beginBatch()
                s.instance.arena = batch.arena
            }
            source.beginBatch(resetInstance: false)  // the reader's thread owns the source instance
            source.output = batch.records.buffer
            source.summary.recordsOut += batch.records.count
            source.summary.durationMs += batch.readMs
            sourceErrors = batch.errors
            sourceAlerts = batch.alerts
            if let error = runStages(batch.id) { failure = error; break }
            if let error = flushSinks(batch.id) { failure = error; break }
            publishAlerts(batch.id)
            summary.batches += 1
            summary.records += batch.records.count
            report(batch.id, rows: batch.records.count, batchStart: batchStart, previousStart: previousBatchStart)
            previousBatchStart = batchStart
            for s in stages where s.planned.type == .alertpublisher { s.instance.arena = idleArena }
            reader.done(batch)
            if batch.ended { inputEnded = true }
            if options.shouldStop() { break }
        }
        if let sourceFailure = reader.finish(), failure == nil { failure = sourceFailure }
        if reader.savedThrough > 0 { summary.positionSavedAfterBatch = reader.savedThrough }
        if failure == nil && !inputEnded && options.shouldStop() { summary.stoppedBy = options.stopReason() }
        return finish(start: start, failure: failure)
    }

    /// Runs every stage after the source, in topological order.
    private func runStages(_ batchID: UInt64) -> String? {
        routeErrors(of: stages[plan.source])
        for (i, s) in stages.enumerated() where i != plan.source {
            switch s.planned.type {
            case .transform:
                let input = gather(s)
                s.summary.recordsIn += input.count
                let t0 = ResourceUsage.nowNanoseconds()
                let (status, _) = retrying.run({ _ in
                    let out = s.instance.process(batch: batchID, records: input)
                    s.output = out.records
                    if s.planned.hasRejectedConsumers { s.rejected = s.instance.rejected }
                    return out.status
                }, onRetry: logRetry(s, "process", batchID))
                s.summary.durationMs += Double(ResourceUsage.nowNanoseconds() - t0) / 1e6
                if let why = failureReason(status) { return failureText(s, "process", why) }
                s.summary.recordsOut += s.output.count
            case .sink:
                let input = gather(s)
                s.summary.recordsIn += input.count
                let t0 = ResourceUsage.nowNanoseconds()
                let (status, attempts) = retrying.run({ _ in s.instance.write(batch: batchID, records: input).status },
                                                      onRetry: logRetry(s, "write", batchID))
                s.summary.durationMs += Double(ResourceUsage.nowNanoseconds() - t0) / 1e6
                if attempts > 1 && status == .ok { options.logger.warning("stage '\(s.planned.name)' wrote batch \(batchID) after \(attempts) attempts") }
                if let why = failureReason(status) { return failureText(s, "write", why) }
                s.summary.recordsOut += input.count
            case .source, .alertpublisher, .functions:
                continue
            }
            routeErrors(of: s)
        }
        return nil
    }

    private func flushSinks(_ batchID: UInt64) -> String? {
        for s in stages where s.planned.type == .sink {
            let t0 = ResourceUsage.nowNanoseconds()
            let (status, attempts) = retrying.run({ _ in s.instance.flush().status }, onRetry: logRetry(s, "flush", batchID))
            s.summary.durationMs += Double(ResourceUsage.nowNanoseconds() - t0) / 1e6
            if attempts > 1 && status == .ok { options.logger.warning("stage '\(s.planned.name)' flushed batch \(batchID) after \(attempts) attempts") }
            if let why = failureReason(status) { return failureText(s, "flush", why) }
        }
        return nil
    }

    /// The records a stage reads: its inputs' records, then its error inputs' error records.
    private func gather(_ s: StageState) -> UnsafeBufferPointer<sluice_record> {
        let inputs = s.planned.recordInputs, errorInputs = s.planned.errorInputs, rejectedInputs = s.planned.rejectedInputs
        if rejectedInputs.isEmpty {
            if inputs.count == 1 && errorInputs.isEmpty { return stages[inputs[0]].output }
            if inputs.isEmpty && errorInputs.count == 1 { return stages[errorInputs[0]].errorRecords.buffer }
        } else if inputs.isEmpty && errorInputs.isEmpty && rejectedInputs.count == 1 {
            return stages[rejectedInputs[0]].rejected
        }
        s.scratch.removeAll()
        for i in inputs { s.scratch.append(contentsOf: stages[i].output) }
        for i in errorInputs { s.scratch.append(contentsOf: stages[i].errorRecords.buffer) }
        for i in rejectedInputs { s.scratch.append(contentsOf: stages[i].rejected) }
        return s.scratch.buffer
    }

    /// Turns a stage's error port output of this batch into records for the stages that
    /// read it, or counts and logs the first few when none does.
    private func routeErrors(of s: StageState) {
        let errors = s.planned.type == .source ? sourceErrors : s.instance.batchErrors
        s.summary.errors += errors.count
        guard !errors.isEmpty else { return }
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

    // MARK: alerts

    private func publishAlerts(_ batchID: UInt64) {
        let timestamp = Timestamp.nowMilliseconds()
        router.setNow(Int64(timestamp))
        // Publisher position → its alerts of this batch.
        var pending: [Int: [RoutedAlert]] = [:]
        for s in stages {
            let raw = s.planned.type == .source ? sourceAlerts : s.instance.batchAlerts
            guard !raw.isEmpty else { continue }
            s.summary.alerts.emitted += raw.count
            if s.planned.alertPublishers.isEmpty {
                s.summary.alerts.dropped += raw.count
                continue
            }
            let writer = EnvelopeWriter(arena: current, namespace: plan.spec.namespace, pipeline: plan.spec.name,
                                        stage: s.planned.name, run: options.runID, batch: batchID, timestampMs: timestamp,
                                        keyFields: s.planned.alerts?.keyFields)
            var envelopes: [UnsafePointer<sluice_alert>] = []
            if let aggregator = s.aggregator {
                let aggregated = aggregator.aggregate(raw, into: current)
                s.summary.alerts.aggregated += aggregated.count
                envelopes.reserveCapacity(aggregated.count)
                for (ordinal, alert) in aggregated.enumerated() {
                    if !alert.invalid.isEmpty { s.summary.invalidAggregateValues.merge(alert.invalid, uniquingKeysWith: +) }
                    envelopes.append(UnsafePointer(writer.write(payload: alert.payload, count: alert.count,
                                                                invalid: alert.invalid.sorted { $0.key < $1.key }, ordinal: ordinal)))
                }
            } else {
                envelopes.reserveCapacity(raw.count)
                for (ordinal, alert) in raw.enumerated() {
                    envelopes.append(UnsafePointer(writer.write(payload: alert.entries, count: 1, ordinal: ordinal)))
                }
            }
            let routes = s.planned.alertRoutes
            if router.isEmpty || routes.allSatisfy({ $0.when == nil }) {
                for route in routes {
                    pending[route.publisher, default: []] += envelopes.map {
                        RoutedAlert(alert: $0, stage: s.planned.name, repeatIntervalMs: route.repeatIntervalMs)
                    }
                }
                continue
            }
            // Each alert takes the connections whose `when` its envelope makes true.
            for envelope in envelopes {
                var record = router.record(of: envelope, arena: current)
                var taken = false
                for route in routes where router.takes(route, &record) {
                    pending[route.publisher, default: []].append(
                        RoutedAlert(alert: envelope, stage: s.planned.name, repeatIntervalMs: route.repeatIntervalMs))
                    taken = true
                }
                if !taken { s.summary.alerts.unrouted += 1 }
            }
        }
        var work: [(Int, [RoutedAlert])] = pending.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        // A publisher with nothing new may still have a spool to try again.
        work += lanes.filter { pending[$0.key] == nil && $0.value.waiting > 0 }.map { ($0.key, []) }
        merge(runLanes(work, step: .batch(batchID)))
    }

    /// What the lanes are asked to do.
    enum LaneStep {
        /// A run begins: replay every spool.
        case start
        /// No input for a while: replay spools whose wait is over.
        case idle
        /// A batch's alerts (a spool whose wait is over goes first).
        case batch(UInt64)
    }

    /// How often an idle run looks whether a spool is due.
    static let idleTickMs = 200

    /// Runs the lanes' step for this batch, each on a thread of its own (the first on this
    /// one), and waits for all of them.
    private func runLanes(_ work: [(Int, [RoutedAlert])], step: LaneStep) -> [(Int, LaneReport)] {
        guard !work.isEmpty else { return [] }
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var reports: [(Int, LaneReport)] = []
            func add(_ r: (Int, LaneReport)) { lock.lock(); reports.append(r); lock.unlock() }
        }
        let results = Results()
        let group = DispatchGroup()
        for (n, (position, alerts)) in work.enumerated() {
            guard let lane = lanes[position] else { continue }
            let step: @Sendable () -> Void = { [alerts] in
                let t0 = ResourceUsage.nowNanoseconds()
                var report: LaneReport
                switch step {
                case .start: report = lane.replay(force: true)
                case .idle: report = lane.replay(force: false)
                case .batch(let id): report = lane.publish(alerts, batch: id)
                }
                report.publisher.durationMs = Double(ResourceUsage.nowNanoseconds() - t0) / 1e6
                results.add((position, report))
            }
            if n == work.count - 1 {
                step()
            } else {
                group.enter()
                let thread = Thread { step(); group.leave() }
                thread.start()
            }
        }
        group.wait()
        return results.reports
    }

    /// Adds what the lanes did to the stages' and publishers' counts.
    private func merge(_ reports: [(Int, LaneReport)]) {
        for (position, report) in reports {
            publisherSummaries[position]?.add(report.publisher)
            stages[position].summary.durationMs += report.publisher.durationMs
            formerStages.failed += report.unattributedFailed
            for (stage, counts) in report.perStage {
                if let s = stages.first(where: { $0.planned.name == stage }) {
                    s.summary.alerts = s.summary.alerts + counts
                } else {
                    formerStages = formerStages + counts
                }
            }
        }
    }

    // MARK: reporting

    private func totals() -> AlertCounts {
        stages.reduce(AlertCounts()) { sum, s in
            var c = s.summary.alerts
            if s.planned.type != .source {  // the source's counts are read when the run ends
                c.rejected = s.instance.rejectedAlerts
                c.overflowed = s.instance.overflowedAlerts
            }
            return sum + c
        }
    }

    private func report(_ batchID: UInt64, rows: Int, batchStart: UInt64, previousStart: UInt64) {
        guard let onBatch = options.onBatch else { return }
        let now = ResourceUsage.nowNanoseconds()
        let seconds = Double(now - batchStart) / 1e9
        let sincePrevious = Double(now - previousStart) / 1e9
        var durations: [String: Double] = ["total": seconds * 1000]
        for s in stages { durations[s.planned.name] = s.batchDurationMs() }
        let after = totals()
        let delta = after - reportedAlerts
        reportedAlerts = after
        onBatch(BatchProgress(
            run: options.runID, batchId: batchID, timestamp: Timestamp.iso8601(milliseconds: Timestamp.nowMilliseconds()),
            numInputRows: rows,
            inputRowsPerSecond: sincePrevious > 0 ? Double(rows) / sincePrevious : 0,
            processedRowsPerSecond: seconds > 0 ? Double(rows) / seconds : 0,
            durationMs: durations, alerts: delta,
            errors: sourceErrors.count + stages.filter { $0.planned.type != .source }.reduce(0) { $0 + $1.instance.batchErrors.count }))
    }

    private func finish(start: UInt64, failure: String?) -> RunSummary {
        var s = summary
        s.durationMs = Double(ResourceUsage.nowNanoseconds() - start) / 1e6
        s.recordsPerSecond = s.durationMs > 0 ? Double(s.records) / (s.durationMs / 1000) : 0
        s.stages = stages.map { st in
            var sum = st.summary
            sum.alerts.rejected = st.instance.rejectedAlerts
            sum.alerts.overflowed = st.instance.overflowedAlerts
            sum.counters = st.instance.counters
            if let isolated = st.instance as? IsolatedStage { sum.workerRestarts = max(0, isolated.workersStarted - 1) }
            return sum
        }
        s.publishers = publisherSummaries.sorted { $0.key < $1.key }.map { p, summary in
            var summary = summary
            summary.waiting = lanes[p]?.waiting ?? 0
            return summary
        }
        s.alerts = s.stages.reduce(formerStages) { $0 + $1.alerts }
        if let failure {
            s.status = .failed
            s.error = failure
        } else if s.stoppedBy != nil {
            s.status = .stopped
        } else if s.alerts.failed > 0 || s.waitingAlerts > 0 {
            s.status = .completedWithFailures
        }
        s.peakRSSBytes = ResourceUsage.peakRSSBytes
        return s
    }

    /// Says, for each "retry" answer, which stage and call asked, why, and when it is called again.
    private func logRetry(_ s: StageState, _ call: String, _ batchID: UInt64) -> (Int, Int, String) -> Void {
        let logger = options.logger, max = plan.spec.retry.maxAttempts
        return { attempt, waitMs, why in
            logger.warning("stage '\(s.planned.name)' asks to retry \(call) of batch \(batchID): \(why) (attempt \(attempt) of \(max) in \(waitMs) ms)")
        }
    }

    private func failureReason(_ status: CallStatus) -> String? {
        switch status {
        case .ok, .end: return nil
        case .retry(let why): return "still asking to retry after \(plan.spec.retry.maxAttempts) attempts: \(why)"
        case .error(let why): return why
        }
    }

    private func failureText(_ s: StageState, _ call: String, _ why: String) -> String {
        "stage '\(s.planned.name)' (\(s.planned.entry.name) \(s.planned.entry.version)) failed in \(call): \(why)"
    }
}

/// One stage during a run: its instance, this batch's output and error records, its counts.
final class StageState {
    let planned: PlannedStage
    let instance: any PluginStage
    let aggregator: AlertAggregator?
    /// Records it emitted this batch (valid until its next call).
    var output = UnsafeBufferPointer<sluice_record>(start: nil, count: 0)
    /// A Filter's records `where` rejected this batch, for its rejected port.
    var rejected = UnsafeBufferPointer<sluice_record>(start: nil, count: 0)
    /// Its error records this batch, for the stages connected to its errors port.
    let errorRecords = RecordList(capacity: 64)
    /// Where fan-in gathers its inputs.
    let scratch = RecordList(capacity: 64)
    var summary: StageSummary
    var loggedErrors = 0
    private var durationAtBatchStart = 0.0

    init(_ planned: PlannedStage, _ instance: any PluginStage) {
        self.planned = planned
        self.instance = instance
        aggregator = planned.alerts.flatMap { $0.isAggregating ? AlertAggregator($0) : nil }
        summary = StageSummary(name: planned.name, plugin: planned.entry.name, version: planned.entry.version.text,
                               type: planned.type.rawValue)
    }

    func beginBatch(resetInstance: Bool = true) {
        if resetInstance { instance.beginBatch() }
        errorRecords.removeAll()
        output = UnsafeBufferPointer(start: nil, count: 0)
        rejected = UnsafeBufferPointer(start: nil, count: 0)
        durationAtBatchStart = summary.durationMs
    }

    func batchDurationMs() -> Double { summary.durationMs - durationAtBatchStart }
}
