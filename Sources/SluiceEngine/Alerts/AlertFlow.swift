import Foundation
import Logging
import SluicePluginABI

/// Everything that happens to alerts between the stages that raise them and the services
/// that receive them, for one run of a pipeline:
///
///     raw alerts of a batch, per stage (those of an aggregated stage in the host's process
///     folded into their groups as it raised them: AlertAggregator)
///       ─► envelopes: one per group of the stage's `alerts` section (aggregated), or one per
///          alert; each with its stable key (Alerts/AlertEnvelope.swift)
///       ─► routes: the alerts connections whose `when` the envelope makes true (none:
///          unrouted; a stage with no alerts connection at all: dropped)
///       ─► publisher lanes, each on a thread of its own: the spool first, repeat
///          suppression, delivery with retries, the durable spool (PublisherLane)
///
/// The runner makes it before any plugin is created (the routes' `when` are compiled then,
/// so a bad one stops nothing midway), `connect`s the publishers once they exist, and calls
/// `start()` once, `batch(…)` once per batch — after its sinks flushed (or `prepare(…)`
/// while they flush, then `deliver` once they did, or `withdraw` when one failed) and
/// before its commit, which waits for the lanes — and `idle()` while no input comes. Counts
/// per stage and per publisher are read at the end. One thread calls it at a time (the
/// runner's); the lanes of one step run on threads of their own and are waited for (the
/// `clock` and `sleep` it is given are called from those threads).
///
/// Steps that outlive a batch (windows, incidents firing and resolving, silences) go
/// between the envelopes and the routes; `idle()` is where they hear the clock when no
/// batch comes.
final class AlertFlow {
    /// What the flow did to one step's time, by publisher position (each lane's time).
    typealias Durations = [Int: Double]

    private let plan: PipelinePlan
    private let run: String
    private let logger: Logger
    private let clock: () -> Int64
    /// The stages that can raise alerts, by position.
    private let raisers: [Int: Raiser]
    /// Publisher position → its lane.
    private var lanes: [Int: PublisherLane] = [:]
    private var publishers: [Int: any PublisherStage] = [:]
    private let router: AlertRouter
    /// The pipeline's silences (`host silence`), read again when the file changes.
    private let silences: SilenceWatcher
    private let sleep: (Int) -> Void
    private let stop: () -> Bool
    /// Publishers hold this arena between batches (spool replays while idle), never a
    /// batch's arena once the reader has it back.
    private let idleArena = RecordArena(chunkBytes: 64 << 10)

    // What happened, for the summary.
    private(set) var stageCounts: [Int: AlertCounts] = [:]
    /// Stage position → aggregate name → alerts whose field was not a number.
    private(set) var invalidAggregateValues: [Int: [String: Int]] = [:]
    private var publisherCounts: [Int: PublisherSummary] = [:]
    /// Counts for stages a spool names but the pipeline no longer has.
    private(set) var formerStages = AlertCounts()

    /// One stage that raises alerts: how its alerts become envelopes and where they go.
    private struct Raiser {
        let name: String
        let aggregator: AlertAggregator?
        /// A stage whose alerts have a life: its windows and keys.
        let monitor: AlertMonitor?
        let keyFields: [String]?
        let routes: [AlertRoute]
        /// Its notifications' payload, when not the monitor's (the pipeline's own alerts).
        var payload: ((AlertKeyTable.Notice, RecordArena) -> UnsafeBufferPointer<sluice_kv>)? = nil
    }
    /// The pipeline's own alerts (`@pipeline`, PipelineAlerts): nil when no connection
    /// takes them. Their position: after every stage's.
    private let pipelineAlerts: PipelineAlerts?
    private let pipelineRaiser: Raiser?
    private var pipelinePosition: Int { plan.stages.count }
    /// The last batch's id (notifications made while idle are logged with it).
    private var lastBatch: UInt64 = 0
    /// Who hears of each alert sent and each incident's change (the run's observers: the
    /// history). Set before `connect`.
    var observers: [RunObserver] = [] {
        didSet {
            let rate = observers.map(\.alertsSentPerSecond).max() ?? 0
            sentBudget = rate > 0 ? SentBudget(perSecond: rate, clock: clock) : nil
        }
    }
    private var sentBudget: SentBudget?

    /// Compiles the alerts connections' `when`. `stop`: whether the run was asked to stop
    /// (publishers then spool rather than wait to retry). `clock` (milliseconds since 1970)
    /// is called from the lanes' threads too.
    init(plan: PipelinePlan, run: String, sleep: @escaping (Int) -> Void, stop: @escaping () -> Bool = { false },
         logger: Logger, clock: @escaping () -> Int64 = Timestamp.nowMilliseconds) throws {
        self.plan = plan
        self.run = run
        self.logger = logger
        self.clock = clock
        self.sleep = sleep
        self.stop = stop
        router = try AlertRouter(plan: plan)
        silences = SilenceWatcher(folder: plan.stateFolder)
        var raisers: [Int: Raiser] = [:]
        for (i, s) in plan.stages.enumerated() where s.type != .alertpublisher {
            var monitor: AlertMonitor?
            if let alerts = s.alerts, let life = alerts.lifecycle {
                do {
                    monitor = try AlertMonitor(stage: s.name, alerts: alerts, life: life, functions: plan.functions)
                } catch {
                    throw StageCreateError(stage: s.name, plugin: s.entry.name, message: "\(error)")
                }
            }
            raisers[i] = Raiser(name: s.name,
                                aggregator: monitor == nil ? s.alerts.flatMap { $0.isAggregating ? AlertAggregator($0) : nil } : nil,
                                monitor: monitor, keyFields: monitor?.keyFieldNames ?? s.alerts?.keyFields, routes: s.alertRoutes)
        }
        self.raisers = raisers
        do {
            pipelineAlerts = try PipelineAlerts(plan: plan)
        } catch {
            throw StageCreateError(stage: PipelinePlan.pipelineAlerts, plugin: "", message: "\(error)")
        }
        if let p = pipelineAlerts {
            p.load(logger: logger)
            pipelineRaiser = Raiser(name: PipelinePlan.pipelineAlerts, aggregator: nil, monitor: p.monitor,
                                    keyFields: PipelineAlerts.keyFields, routes: p.routes, payload: { p.payload($0, in: $1) })
        } else {
            pipelineRaiser = nil
        }
    }

    /// The pipeline's alert publishers, by position in `plan.stages`, once they are created:
    /// each gets its lane, with its spool (which may not open: then this throws).
    func connect(_ publishers: [Int: any PublisherStage]) throws {
        self.publishers = publishers
        for (i, publisher) in publishers {
            let s = plan.stages[i]
            publisherCounts[i] = PublisherSummary(name: s.name, plugin: s.entry.name)
            let longest = (plan.stages.flatMap(\.alertRoutes) + plan.pipelineAlertRoutes).filter { $0.publisher == i }.map(\.repeatIntervalMs).max() ?? 0
            lanes[i] = try PublisherLane(name: s.name, plugin: s.entry.name, instance: publisher, folder: plan.spoolFolder,
                                         maxBytes: plan.spec.spool.maxBytes, longestRepeatMs: longest, retry: plan.spec.retry,
                                         knowsLife: s.entry.abiMinor >= 5, sleep: sleep, stop: stop, logger: logger, clock: clock)
            publisher.arena = idleArena
            lanes[i]?.sentBudget = sentBudget
        }
    }

    // MARK: the runner's calls

    /// Whether an idle step changed a key's life since the last call (then its state is
    /// saved: see PipelineRunner).
    func takeIdleChange() -> Bool {
        defer { changedWhileIdle = false }
        return changedWhileIdle
    }
    private var changedWhileIdle = false

    /// The aggregator of stage `position`'s alerts, when they are aggregated and go
    /// somewhere: a stage in the host's process folds them into it as it raises them
    /// (LiveStage.foldAlerts), and `prepare` finds them there.
    func aggregator(ofStage position: Int) -> AlertAggregator? {
        guard let raiser = raisers[position], !raiser.routes.isEmpty else { return nil }
        return raiser.aggregator
    }

    /// Whether the stages raised any alert this batch: `raised` (copied) or folded into an
    /// aggregator.
    func anyRaised(_ raised: [Int: [RawAlertRef]]) -> Bool {
        raised.values.contains { !$0.isEmpty } || raisers.values.contains { ($0.aggregator?.pending ?? 0) > 0 }
    }

    /// Whether some stage has alerts with a life (a condition).
    var hasLife: Bool { raisers.values.contains { $0.monitor != nil } }

    /// The earliest watermark (ms since 1970) among the stages whose windows keep event
    /// time and have seen one: progress' eventTime.watermark. nil: none has.
    var watermark: Int64? {
        raisers.values.compactMap(\.monitor).filter(\.isEventTime).compactMap { $0.time(0) }.min()
    }

    /// The state of the stages with a condition after the last step (nil: the pipeline has
    /// none), to be saved with the source's position.
    func state() -> AlertState? {
        let monitors = raisers.values.compactMap(\.monitor)
        guard !monitors.isEmpty else { return nil }
        var s = AlertState()
        for m in monitors { s.stages[m.stage] = m.state }
        return s
    }

    /// The source's inputs changed (a Kafka rebalance moved partitions): every open
    /// incident may now be read by another host. None is resolved here for lack of data;
    /// one whose key gets data here again is this host's again (docs/scaling.md).
    func inputsChanged() {
        for m in raisers.values.compactMap(\.monitor) { m.handOver() }
    }

    /// The same, encoded at once (no copy of the keys is kept: the next batch changes them
    /// in place).
    func encodedState() -> [UInt8]? {
        let monitors = raisers.values.compactMap(\.monitor)
        guard !monitors.isEmpty else { return nil }
        return AlertState.encode(monitors.map { ($0.stage, $0.signature, $0.table, $0.watermark, $0.untimedAlerts) })
    }

    /// Takes back the state a previous run saved with the position it resumes from.
    func restore(_ saved: AlertState) {
        for m in raisers.values.compactMap(\.monitor) {
            guard let stage = saved.stages[m.stage] else { continue }
            if m.restore(stage) {
                logger.info("stage '\(m.stage)': \(stage.table.entries.count) alert key(s) taken back from the saved state (\(stage.table.openKeys.count) firing)")
            } else {
                logger.warning("stage '\(m.stage)': its window or life settings changed since the state was saved: its alert keys start afresh (open incidents are not resolved by this run)")
            }
        }
    }

    /// A run begins: the keys expected from the start are followed from now; what earlier
    /// runs left in the spools goes before anything new.
    func start() -> Durations {
        for m in raisers.values.compactMap(\.monitor) { m.expect(plan.expectedKeys[m.stage] ?? [], now: clock()) }
        pipelineAlerts?.start(now: clock())
        return step(lanes.keys.map { ($0, []) }, .start)
    }

    /// The alerts the stages raised in batch `id` (stage position → its raw alerts, in
    /// `arena`, the batch's; and those folded into their stage's aggregator):
    /// made into envelopes, routed and published. Returns when every
    /// publisher is done with them (delivered, refused or spooled).
    /// `records(position)`: the records a stage took in (event-time windows read their
    /// times too).
    func batch(_ id: UInt64, raised: [Int: [RawAlertRef]], arena: RecordArena,
               records: (Int) -> UnsafeBufferPointer<sluice_record> = { _ in .init(start: nil, count: 0) }) -> Durations {
        deliver(prepare(id, raised: raised, arena: arena, records: records))
    }

    /// A batch's alerts made into envelopes and routed, not handed to the publishers yet:
    /// `deliver` hands them over, `withdraw` takes them back.
    struct Prepared {
        fileprivate let id: UInt64
        fileprivate let pending: [Int: [RoutedAlert]]
        fileprivate let arena: RecordArena
        // What the counts were before: what `withdraw` puts back.
        fileprivate let counts: [Int: AlertCounts]
        fileprivate let invalid: [Int: [String: Int]]
        fileprivate let lastBatch: UInt64
    }

    /// The first half of `batch`: envelopes and routes, nothing published.
    func prepare(_ id: UInt64, raised: [Int: [RawAlertRef]], arena: RecordArena,
                 records: (Int) -> UnsafeBufferPointer<sluice_record> = { _ in .init(start: nil, count: 0) }) -> Prepared {
        let before = (stageCounts, invalidAggregateValues, lastBatch)
        let now = clock()
        router.setNow(now)
        lastBatch = id
        if let warning = silences.refresh(now: now) { logger.warning("silences: \(warning)") }
        // Publisher position → its alerts of this batch.
        var pending: [Int: [RoutedAlert]] = [:]
        for (position, raiser) in raisers.sorted(by: { $0.key < $1.key }) {
            let alerts = raised[position] ?? []
            // (Those a stage folded into its aggregator as it raised them are there.)
            let count = alerts.count + (raiser.aggregator?.pending ?? 0)
            guard count > 0 || raiser.monitor != nil else { continue }
            stageCounts[position, default: AlertCounts()].emitted += count
            if raiser.routes.isEmpty {
                stageCounts[position, default: AlertCounts()].dropped += count
                continue
            }
            let envelopes: [UnsafePointer<sluice_alert>]
            if let monitor = raiser.monitor {
                let before = (monitor.lateAlerts, monitor.untimedAlerts, monitor.overflowKeys)
                monitor.ingest(alerts, now: now)
                if monitor.isEventTime { monitor.observe(records(position), now: now) }
                stageCounts[position, default: AlertCounts()].late += monitor.lateAlerts - before.0
                stageCounts[position, default: AlertCounts()].untimed += monitor.untimedAlerts - before.1
                stageCounts[position, default: AlertCounts()].overflowKeys += monitor.overflowKeys - before.2
                envelopes = notifications(monitor.evaluate(now: now), of: monitor, raisedBy: position, raiser, batch: id, at: now, in: arena)
            } else {
                envelopes = unsilenced(self.envelopes(of: alerts, raisedBy: position, raiser, batch: id, at: now, in: arena),
                                       raisedBy: position, at: now)
            }
            route(envelopes, raisedBy: position, raiser, in: arena, into: &pending)
        }
        return Prepared(id: id, pending: pending, arena: arena, counts: before.0, invalid: before.1, lastBatch: before.2)
    }

    /// The second half of `batch`: the prepared alerts handed to their publishers; returns
    /// when every publisher is done with them.
    func deliver(_ prepared: Prepared) -> Durations {
        deliver(prepared.pending, step: .batch(prepared.id), arena: prepared.arena)
    }

    /// The batch failed before its prepared alerts went out: none goes out, and the counts
    /// are as if it had never been prepared. Only for alerts without a life (`hasLife`
    /// false): a monitor's keys and windows take a batch's alerts in for good.
    func withdraw(_ prepared: Prepared) {
        precondition(!hasLife, "withdraw: a monitor took the batch's alerts in")
        stageCounts = prepared.counts
        invalidAggregateValues = prepared.invalid
        lastBatch = prepared.lastBatch
    }

    /// Hands each publisher its alerts of one step (with a spool whose wait is over).
    private func deliver(_ pending: [Int: [RoutedAlert]], step: Step, arena: RecordArena) -> Durations {
        var work = pending.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        // A publisher with nothing new may still have a spool to try again.
        work += lanes.filter { pending[$0.key] == nil && $0.value.waiting > 0 }.map { ($0.key, []) }
        guard !work.isEmpty else { return [:] }
        for (position, _) in work { publishers[position]?.arena = arena }
        defer { for (position, _) in work { publishers[position]?.arena = idleArena } }
        return self.step(work, step)
    }

    /// No batch for a while (`PipelineRunner.idleTickMs`): time moves the alerts with a
    /// life on (windows slide, `forMs`, `keepFiringMs` and `renotifyMs` run, open incidents
    /// are refreshed), and spools whose wait is over are tried again.
    func idle() -> Durations {
        let now = clock()
        router.setNow(now)
        if let warning = silences.refresh(now: now) { logger.warning("silences: \(warning)") }
        defer { idleArena.reset() }
        var pending: [Int: [RoutedAlert]] = [:]
        for (position, raiser) in raisers.sorted(by: { $0.key < $1.key }) {
            guard let monitor = raiser.monitor, !raiser.routes.isEmpty else { continue }
            let notices = monitor.idle(now: now)
            if !notices.isEmpty { changedWhileIdle = true }
            let envelopes = notifications(notices, of: monitor, raisedBy: position, raiser, batch: lastBatch, at: now, in: idleArena)
            route(envelopes, raisedBy: position, raiser, in: idleArena, into: &pending)
        }
        judgePipeline(now: now, batch: lastBatch, in: idleArena, into: &pending)
        if pending.isEmpty {
            let due = lanes.filter { $0.value.waiting > 0 }.map { ($0.key, [RoutedAlert]()) }
            guard !due.isEmpty else { return [:] }
            return step(due, .idle)
        }
        return deliver(pending, step: .batch(lastBatch), arena: idleArena)
    }

    // MARK: the pipeline's own alerts

    /// Whether the pipeline's own alerts are connected (then the runner hands them each
    /// batch's progress and the run's end).
    var watchesPipeline: Bool { pipelineAlerts != nil }

    /// Batch `progress.batchId` is done (its alerts published): the checks judge it and
    /// what changed is published now, before the batch commits. `restarts`: the worker
    /// restarts of each isolated stage so far.
    func pipelineBatchDone(_ progress: BatchProgress, restarts: [(stage: String, restarts: Int)]) -> Durations {
        guard let p = pipelineAlerts else { return [:] }
        let now = clock()
        p.checks.batchDone(progress, restarts: restarts, at: now)
        return pipelineStep(now: now, batch: progress.batchId)
    }

    /// The run ends — failed in `failedStage` with `failure`, or stopped by `stoppedBy` —
    /// and the publishers are still open: the checks judge it a last time and what they
    /// notify is published (or spooled) now.
    func pipelineRunEnded(failedStage: String?, failure: String?, stoppedBy: String?) -> Durations {
        guard let p = pipelineAlerts else { return [:] }
        p.checks.runEnded(failedStage: failedStage, failure: failure, stoppedBy: stoppedBy, lastBatch: lastBatch)
        return pipelineStep(now: clock(), batch: lastBatch)
    }

    private func pipelineStep(now: Int64, batch: UInt64) -> Durations {
        router.setNow(now)
        var pending: [Int: [RoutedAlert]] = [:]
        defer { idleArena.reset() }
        judgePipeline(now: now, batch: batch, in: idleArena, into: &pending)
        guard !pending.isEmpty else { return [:] }
        return deliver(pending, step: .batch(batch), arena: idleArena)
    }

    /// What the checks find at `now`, raised as `@pipeline`'s alerts and judged by its
    /// monitor: the notifications go into `pending`; the keys are saved when one changed.
    private func judgePipeline(now: Int64, batch: UInt64, in arena: RecordArena, into pending: inout [Int: [RoutedAlert]]) {
        guard let p = pipelineAlerts, let raiser = pipelineRaiser else { return }
        let raw = p.raw(p.checks.findings(now: now, publishers: publisherSummaries), in: arena)
        p.monitor.ingest(raw, now: now)
        let notices = p.monitor.evaluate(now: now)
        let envelopes = notifications(notices, of: p.monitor, raisedBy: pipelinePosition, raiser, batch: batch, at: now, in: arena)
        route(envelopes, raisedBy: pipelinePosition, raiser, in: arena, into: &pending)
        if !notices.isEmpty { p.save(logger: logger) }
    }

    /// Alert counts of the pipeline's own alerts (`@pipeline`).
    var pipelineCounts: AlertCounts { stageCounts[pipelinePosition] ?? AlertCounts() }

    /// Every publisher's counts, with what waits in its spool now.
    var publisherSummaries: [PublisherSummary] {
        publisherCounts.sorted { $0.key < $1.key }.map { position, summary in
            var s = summary
            lanes[position]?.condition(into: &s)
            return s
        }
    }

    /// Alert counts over the pipeline's stages, as far as the flow knows them (not those of
    /// stages a spool names that the pipeline no longer has: `formerStages`).
    var totals: AlertCounts { stageCounts.values.reduce(AlertCounts(), +) }

    // MARK: envelopes and routes

    private func envelopes(of raw: [RawAlertRef], raisedBy position: Int, _ raiser: Raiser, batch: UInt64, at now: Int64,
                           in arena: RecordArena) -> [UnsafePointer<sluice_alert>] {
        let writer = EnvelopeWriter(arena: arena, namespace: plan.spec.namespace, pipeline: plan.spec.name, stage: raiser.name,
                                    run: run, batch: batch, timestampMs: now, keyFields: raiser.keyFields)
        guard let aggregator = raiser.aggregator else {
            return writer.write(raw.map { EnvelopeWriter.Item(payload: $0.entries, count: 1) })
        }
        let aggregated = aggregator.aggregate(raw, into: arena)
        stageCounts[position, default: AlertCounts()].aggregated += aggregated.count
        return writer.write(aggregated.map { alert in
            if !alert.invalid.isEmpty { invalidAggregateValues[position, default: [:]].merge(alert.invalid, uniquingKeysWith: +) }
            return EnvelopeWriter.Item(payload: alert.payload, count: alert.count, invalid: alert.invalid.sorted { $0.key < $1.key })
        })
    }

    /// The envelopes of what a monitor's keys notify, then of its open incidents due for a
    /// refresh.
    private func notifications(_ notices: [AlertKeyTable.Notice], of monitor: AlertMonitor, raisedBy position: Int,
                               _ raiser: Raiser, batch: UInt64, at now: Int64, in arena: RecordArena) -> [UnsafePointer<sluice_alert>] {
        let writer = EnvelopeWriter(arena: arena, namespace: plan.spec.namespace, pipeline: plan.spec.name, stage: raiser.name,
                                    run: run, batch: batch, timestampMs: monitor.time(now) ?? now, keyFields: raiser.keyFields)
        var out: [UnsafePointer<sluice_alert>] = []
        func count(_ change: (inout AlertCounts) -> Void) { change(&stageCounts[position, default: AlertCounts()]) }
        // A firing that a silence held back goes out once no silence holds it (the same
        // incident, its first startsAt); then what the keys notify now.
        let held = monitor.unannounced.filter { n in !notices.contains { $0.key == n.key } }
        for (n, notice) in (held + notices).enumerated() {
            let isHeld = n < held.count
            if notice.handedOver {
                // Its key may be read by another host now, which tells of it: not this one.
                if !isHeld { count { $0.handedOver += 1 } }
                if case .resolved = notice.notification { monitor.announce(notice.key, false) }
                continue
            }
            let announced = notice.announced
            let life: EnvelopeWriter.Life
            switch notice.notification {
            case let .firing(incident, startsAt):
                life = .init(notification: .firing, severity: notice.severity, incident: incident, startsAtMs: startsAt)
            case let .renotify(incident, startsAt):
                // Renotifying an incident nobody was told of yet tells of it: a firing.
                life = .init(notification: announced ? .renotify : .firing, severity: notice.severity, incident: incident, startsAtMs: startsAt)
            case let .resolved(incident, startsAt, endsAt):
                life = .init(notification: .resolved, severity: notice.severity, incident: incident, startsAtMs: startsAt, endsAtMs: endsAt)
            }
            let envelope = writer.write(payload: raiser.payload?(notice, arena) ?? monitor.payload(notice, in: arena), count: notice.count,
                                        ordinal: out.count, life: life)
            if !isHeld && !observers.isEmpty {
                let kind: IncidentChange.Kind
                switch life.notification {
                case .firing: kind = .opened
                case .renotify: kind = .renotified
                case .refresh: kind = .refreshed
                case .resolved: kind = .resolved
                }
                let told = kind == .resolved ? announced : silence(envelope, at: now) == nil
                tell(kind, envelope, monitor.named(notice.labels), life, notified: told, at: now)
            }
            if case .resolved = notice.notification {
                monitor.announce(notice.key, false)  // the key's next incident is news again
                // The end of an incident nobody was told of is not news; that of one they
                // were told of is, silence or not: no incident is left open at the service.
                guard announced else {
                    count { $0.silenced += 1 }
                    continue
                }
                count { $0.resolved += 1 }
                out.append(UnsafePointer(envelope))
                continue
            }
            if silence(envelope, at: now) != nil {
                monitor.mayHoldUnannounced = true
                if !isHeld { count { $0.silenced += 1 } }  // held back once, not at every step
                continue
            }
            if life.notification == .renotify { count { $0.renotified += 1 } } else { count { $0.firing += 1 } }
            monitor.announce(notice.key, true)
            out.append(UnsafePointer(envelope))
        }
        for notice in monitor.refreshes(now: now) where notice.announced && !notice.handedOver {
            guard case let .firing(incident, startsAt) = notice.notification else { continue }
            let life = EnvelopeWriter.Life(notification: .refresh, severity: notice.severity, incident: incident, startsAtMs: startsAt)
            let envelope = writer.write(payload: raiser.payload?(notice, arena) ?? monitor.payload(notice, in: arena), count: notice.count,
                                        ordinal: out.count, life: life)
            out.append(UnsafePointer(envelope))
            if !observers.isEmpty { tell(.refreshed, envelope, monitor.named(notice.labels), life, notified: true, at: now) }
        }
        return out
    }

    /// Tells the observers of an incident's change.
    private func tell(_ kind: IncidentChange.Kind, _ envelope: UnsafePointer<sluice_alert>, _ labels: [(String, String)],
                      _ life: EnvelopeWriter.Life, notified: Bool, at now: Int64) {
        let a = envelope.pointee
        let change = IncidentChange(kind: kind, stage: String(a.stage), incident: String(a.incident), key: String(a.key),
                                    subject: labels.map { "\($0.0)=\($0.1)" }.joined(separator: " "), severity: life.severity,
                                    startsAtMs: life.startsAtMs, endsAtMs: kind == .resolved ? life.endsAtMs : nil, atMs: now,
                                    run: run, notified: notified)
        for o in observers { o.incidentChanged(change) }
    }

    /// The envelopes no active silence holds back; the others are counted silenced.
    private func unsilenced(_ envelopes: [UnsafePointer<sluice_alert>], raisedBy position: Int, at now: Int64) -> [UnsafePointer<sluice_alert>] {
        guard !silences.current.isEmpty else { return envelopes }
        return envelopes.filter { envelope in
            guard silence(envelope, at: now) != nil else { return true }
            stageCounts[position, default: AlertCounts()].silenced += 1
            return false
        }
    }

    /// The active silence whose matchers an alert's labels match: namespace, pipeline,
    /// stage, key, severity, status, then its payload's fields (a payload field named like
    /// one of those is not a label of its own: the envelope's wins).
    private func silence(_ envelope: UnsafePointer<sluice_alert>, at now: Int64) -> Silence? {
        let a = envelope.pointee
        return silences.silence(for: { name in
            switch name {
            case "namespace": return String(a.namespace_name)
            case "pipeline": return String(a.pipeline)
            case "stage": return String(a.stage)
            case "key": return String(a.key)
            case "severity": return a.severity.len > 0 ? String(a.severity) : nil
            case "status": return a.status.len > 0 ? String(a.status) : nil
            default:
                for i in 0..<Int(a.npayload) where String(a.payload[i].key) == name { return String(a.payload[i].value) }
                return nil
            }
        }, at: now)
    }

    /// Each envelope takes the alerts connections whose `when` it makes true.
    private func route(_ envelopes: [UnsafePointer<sluice_alert>], raisedBy position: Int, _ raiser: Raiser,
                       in arena: RecordArena, into pending: inout [Int: [RoutedAlert]]) {
        let routes = raiser.routes
        if router.isEmpty || routes.allSatisfy({ $0.when == nil }) {
            for route in routes {
                pending[route.publisher, default: []] += envelopes.map {
                    RoutedAlert(alert: $0, stage: raiser.name, repeatIntervalMs: route.repeatIntervalMs)
                }
            }
            return
        }
        for envelope in envelopes {
            var record = router.record(of: envelope, arena: arena)
            var taken = false
            for route in routes where router.takes(route, &record) {
                pending[route.publisher, default: []].append(
                    RoutedAlert(alert: envelope, stage: raiser.name, repeatIntervalMs: route.repeatIntervalMs))
                taken = true
            }
            if !taken { stageCounts[position, default: AlertCounts()].unrouted += 1 }
        }
    }

    // MARK: the lanes

    /// What the lanes are asked to do.
    private enum Step {
        /// A run begins: replay every spool.
        case start
        /// No input for a while: replay spools whose wait is over.
        case idle
        /// A batch's alerts (a spool whose wait is over goes first).
        case batch(UInt64)
    }

    /// Runs the lanes' step, each on a thread of its own (the last on this one), waits for
    /// all of them, and adds what they did to the counts.
    private func step(_ work: [(Int, [RoutedAlert])], _ step: Step) -> Durations {
        guard !work.isEmpty else { return [:] }
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var reports: [(Int, LaneReport)] = []
            func add(_ r: (Int, LaneReport)) { lock.lock(); reports.append(r); lock.unlock() }
        }
        let results = Results()
        let group = DispatchGroup()
        for (n, (position, alerts)) in work.enumerated() {
            guard let lane = lanes[position] else { continue }
            let body: @Sendable () -> Void = { [alerts] in
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
                body()
            } else {
                group.enter()
                Thread { body(); group.leave() }.start()
            }
        }
        group.wait()
        var durations: Durations = [:]
        if !observers.isEmpty {
            let sent = results.reports.flatMap(\.1.sent), unrecorded = results.reports.reduce(0) { $0 + $1.1.unrecorded }
            if !sent.isEmpty || unrecorded > 0 { for o in observers { o.alertsSent(sent, unrecorded: unrecorded) } }
        }
        for (position, report) in results.reports {
            publisherCounts[position]?.add(report.publisher)
            durations[position, default: 0] += report.publisher.durationMs
            formerStages.failed += report.unattributedFailed
            for (stage, counts) in report.perStage {
                if let i = stage == PipelinePlan.pipelineAlerts ? pipelinePosition : plan.stages.firstIndex(where: { $0.name == stage }) {
                    stageCounts[i] = stageCounts[i, default: AlertCounts()] + counts
                } else {
                    formerStages = formerStages + counts
                }
            }
        }
        return durations
    }
}
