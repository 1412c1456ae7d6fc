import Foundation
import Logging
import SluicePluginABI

/// One alert on its way to a publisher: its envelope, the name of the stage that raised it
/// and the repeat interval of that alerts connection (0: no suppression).
struct RoutedAlert: @unchecked Sendable {
    let alert: UnsafePointer<sluice_alert>
    let stage: String
    let repeatIntervalMs: Int
}

/// What a lane did in one step, merged into the run's counts by the runner.
struct LaneReport {
    /// Stage name → what became of its alerts at this publisher.
    var perStage: [String: AlertCounts] = [:]
    /// Failed alerts no stage can be named for (unreadable spool lines).
    var unattributedFailed = 0
    var publisher = PublisherSummary(name: "", plugin: "")
    /// Each alert's outcome, when the lane keeps them (`PublisherLane.sentBudget`), and
    /// how many it left out past the budget's rate.
    var sent: [AlertSent] = []
    var unrecorded = 0

    mutating func count(_ stage: String, _ change: (inout AlertCounts) -> Void) {
        change(&perStage[stage, default: AlertCounts()])
    }
}

/// Everything between a batch's alerts and one publisher: repeat suppression, delivery
/// with retries, and the publisher's durable spool.
///
///   1. What waits in the spool goes first (at the start of a run, then at a batch once the
///      wait after the last failure has passed), in chunks, oldest first; delivered alerts
///      are *replayed*, refused ones *failed*, and what still fails stays, in order.
///   2. New alerts whose key this publisher delivered (or spooled, to deliver later) less
///      than the connection's `repeatIntervalMs` ago are *suppressed*.
///   3. While older alerts wait in the spool, new ones join them there (*spooled*) so that
///      nothing overtakes them; otherwise they are delivered (*published*), refused
///      (*failed*) or, still failing when the retry bound runs out, *spooled*.
///      Past `spool.maxBytes` a failing alert is *failed* and logged.
///
/// One lane per publisher; the lanes of a batch run at the same time, each on a thread of
/// its own, and each calls only its own plugin instance.
final class PublisherLane: @unchecked Sendable {
    let name: String
    let plugin: String
    let instance: any PublisherStage
    private let delivery: AlertDelivery
    private let spool: AlertSpool
    private let folder: String
    private var state: PublisherState
    private var stateChanged = false
    private let logger: Logger
    private let arena = RecordArena(chunkBytes: 64 << 10)
    private let reader = SpooledAlertReader()
    /// The longest repeat interval of the connections into this publisher (0: none).
    private let longestRepeatMs: Int
    private let retry: RetrySettings
    /// Whether the publisher was built against ABI 1.5 or later: only then is it handed
    /// resolves and refreshes (an older one could take a resolve for a new alert).
    private let knowsLife: Bool
    /// Milliseconds since 1970: when alerts were sent, when the spool is due.
    private let clock: () -> Int64

    /// Whether each alert's outcome goes into the step's report (for the history), and how
    /// many a second (shared by the lanes).
    var sentBudget: SentBudget?
    /// Alerts this lane may still copy (taken from the budget a few at a time), and whether
    /// the budget said no in this step (it is not asked again until the next).
    private var allowance = 0
    private var budgetDry = false

    /// Spooled alerts handed over per publish call when replaying.
    static let replayChunk = 1000

    /// Alerts waiting in the spool.
    var waiting: Int { spool.count }

    /// What the lane is like now, for a summary: its spool, and whether it is failing —
    /// while alerts wait in its spool, or while its last failure is less than
    /// `failureMemoryMs` old (a refusal with nothing to retry is forgotten by then: one bad
    /// alert does not make a working service "failing" for ever).
    func condition(into s: inout PublisherSummary) {
        s.waiting = spool.count
        s.spoolBytes = spool.bytes
        s.spoolLimitBytes = spool.maxBytes
        let recent = state.lastFailureMs.map { clock() - $0 < PublisherLane.failureMemoryMs } ?? false
        s.failingSinceMs = spool.count > 0 || recent ? state.failingSinceMs : nil
        s.lastError = state.lastError
        s.nextRetryMs = spool.count > 0 && state.nextAttemptMs > 0 ? state.nextAttemptMs : nil
    }

    /// How long a failure keeps a publisher failing when nothing waits to be retried.
    static let failureMemoryMs: Int64 = 300_000

    init(name: String, plugin: String, instance: any PublisherStage, folder: String, maxBytes: Int,
         longestRepeatMs: Int, retry: RetrySettings, knowsLife: Bool = true, sleep: @escaping (Int) -> Void, stop: @escaping () -> Bool = { false },
         logger: Logger, clock: @escaping () -> Int64 = Timestamp.nowMilliseconds) throws {
        self.clock = clock
        self.name = name
        self.plugin = plugin
        self.instance = instance
        self.folder = folder
        self.longestRepeatMs = longestRepeatMs
        self.retry = retry
        self.knowsLife = knowsLife
        self.logger = logger
        delivery = AlertDelivery(settings: retry, sleep: sleep, stop: stop,
                                 log: RetryLog(logger: logger, subject: "publisher '\(name)'", call: "publish"))
        do {
            spool = try AlertSpool(folder: folder, publisher: name, maxBytes: maxBytes)
        } catch {
            throw SpoolError("publisher '\(name)': cannot open its spool in \(folder): \(error)")
        }
        state = PublisherState.load(folder: folder, publisher: name, logger: logger)
        if spool.count > 0 {
            logger.notice("publisher '\(name)': \(spool.count) alert(s) wait in its spool \(spool.path); they are delivered first")
        }
    }

    private func emptyReport() -> LaneReport {
        var r = LaneReport()
        r.publisher = PublisherSummary(name: name, plugin: plugin)
        return r
    }

    // MARK: replay

    /// Delivers what waits in the spool: always when `force` (a new run), else once the
    /// wait after the last failure has passed.
    func replay(force: Bool, batch: UInt64 = 0) -> LaneReport {
        budgetDry = false
        var report = emptyReport()
        let now = clock()
        guard spool.count > 0, force || now >= state.nextAttemptMs else { return report }
        let lines: [Data]
        do {
            lines = try spool.lines()
        } catch {
            logger.error("publisher '\(name)': cannot read its spool: \(error)")
            return report
        }
        arena.reset()
        var decoded: [(alert: UnsafePointer<sluice_alert>, line: Int)] = []
        var unreadable: [Data] = []
        for (i, line) in lines.enumerated() {
            if let a = reader.alert(line, arena: arena) { decoded.append((a, i)) } else { unreadable.append(line) }
        }
        var kept: [Data] = []
        if !unreadable.isEmpty && !setAside(unreadable, &report) { kept += unreadable }

        var reason = "", notBefore = 0
        var start = 0
        // Why alerts were refused (a few reasons).
        var refused: [String] = []
        while start < decoded.count {
            let chunk = decoded[start..<min(decoded.count, start + PublisherLane.replayChunk)]
            start += chunk.count
            if !reason.isEmpty {  // the service is still failing: the rest waits, untried
                kept += chunk.map { lines[$0.line] }
                continue
            }
            let outcome = delivery.deliver(chunk.map(\.alert), to: instance)
            report.publisher.retries += outcome.retries
            let refusedBefore = refused.count
            for (n, (item, fate)) in zip(chunk, outcome.fates).enumerated() {
                let stage = String(item.alert.pointee.stage)
                switch fate {
                case .delivered:
                    report.publisher.replayed += 1
                    report.count(stage) { $0.replayed += 1 }
                    noteSent(item.alert, clock())
                    if keeps(item.alert, &report) { keep(item.alert, stage, .replayed, outcome.attempts[n], batch, &report) }
                case .failed(let why):
                    report.publisher.failed += 1
                    report.count(stage) { $0.failed += 1 }
                    if keeps(item.alert, &report) { keep(item.alert, stage, .failed, outcome.attempts[n], batch, &report, why) }
                    if !refused.contains(why) && refused.count < 5 { refused.append(why) }
                case .deferred(let why, let wait):
                    kept.append(lines[item.line])
                    reason = why
                    notBefore = max(notBefore, wait)
                }
            }
            if refused.count > refusedBefore {
                logger.error("publisher '\(name)': spooled alerts refused, not retried: \(refused[refusedBefore...].joined(separator: "; "))")
            }
        }
        let after = clock()
        do {
            try spool.rewrite(keeping: kept)
        } catch {
            // The delivered alerts stay in the file and will be sent again (at least once):
            // not at every batch, though.
            logger.error("publisher '\(name)': cannot rewrite its spool (its alerts stay there and may be sent again): \(error)")
            noteFailure("cannot rewrite the spool: \(error)", now: after, notBeforeMs: 0, replay: true)
            saveState(now: after)
            return report
        }
        if kept.isEmpty && report.publisher.replayed == 0 && !refused.isEmpty {
            // The service answered, but took none of them: still failing (nothing is left
            // to replay, so the spool's wait is not changed).
            noteRefused(refused.joined(separator: "; "), now: after)
        } else if kept.isEmpty {
            if report.publisher.replayed > 0 {
                logger.notice("publisher '\(name)': delivered \(report.publisher.replayed) spooled alert(s)")
            }
            if state.failedReplays != 0 || state.nextAttemptMs != 0 || state.lastError != nil || state.failingSinceMs != nil {
                state.failedReplays = 0
                state.nextAttemptMs = 0
                state.lastError = nil
                state.failingSinceMs = nil
                stateChanged = true
            }
        } else {
            noteFailure(reason.isEmpty ? "unreadable lines could not be set aside" : reason, now: after, notBeforeMs: notBefore, replay: true)
            logger.warning("publisher '\(name)': \(kept.count) alert(s) still wait in its spool: \(reason)")
        }
        saveState(now: after)
        return report
    }

    /// Lines that are not spool lines (a damaged file) are moved to `<publisher>.spool.bad`,
    /// never dropped, and counted as failed. False when they could not be written there:
    /// then they stay in the spool.
    private func setAside(_ lines: [Data], _ report: inout LaneReport) -> Bool {
        let path = spool.path.replacingOccurrences(of: ".spool.jsonl", with: ".spool.bad")
        var data = Data()
        for l in lines { data.append(l); data.append(UInt8(ascii: "\n")) }
        do {
            try AlertSpool.appendDurably(data, to: path)
        } catch {
            logger.error("publisher '\(name)': \(lines.count) unreadable spool line(s) stay in the spool: \(error)")
            return false
        }
        report.publisher.failed += lines.count
        report.unattributedFailed += lines.count
        logger.error("publisher '\(name)': \(lines.count) spool line(s) could not be read; moved to \(path)")
        return true
    }

    // MARK: a batch

    /// Replays the spool if due, then handles the batch's alerts (see the type's comment).
    func publish(_ alerts: [RoutedAlert], batch: UInt64) -> LaneReport {
        budgetDry = false
        var report = replay(force: false, batch: batch)
        let now = clock()
        report.publisher.received += alerts.count
        var toSend: [RoutedAlert] = []
        toSend.reserveCapacity(alerts.count)
        var sentThisBatch = Set<String>(), refreshedThisBatch = Set<String>()
        for r in alerts {
            let notification = r.alert.pointee.notification
            if notification.len > 0 {
                // A notification of an alert's life: never held back as a repeat; a
                // resolve or a refresh only for a publisher that knows what it is.
                if !knowsLife && (String(notification) == "resolved" || String(notification) == "refresh") {
                    report.publisher.withheld += 1
                    report.count(r.stage) { $0.withheld += 1 }
                    continue
                }
                // Made again after a restart, and already delivered: not twice.
                if let mark = Self.mark(r.alert), state.notified?[String(r.alert.pointee.key)]?.mark == mark {
                    report.publisher.suppressed += 1
                    report.count(r.stage) { $0.suppressed += 1 }
                    continue
                }
            } else if r.repeatIntervalMs > 0 {
                let key = String(r.alert.pointee.key)
                let recent = state.sent[key].map { now.subtractingReportingOverflow($0).partialValue < Int64(r.repeatIntervalMs) && $0 <= now } ?? false
                if recent || !sentThisBatch.insert(key).inserted {
                    report.publisher.suppressed += 1
                    report.count(r.stage) { $0.suppressed += 1 }
                    // Held back, but a service that forgets alerts not sent again
                    // (Alertmanager's endsAt) hears it is still firing, at most once a
                    // refresh interval: a repeat interval never makes a false resolve.
                    if recent && knowsLife && refreshedThisBatch.insert(key).inserted
                        && state.refreshDue(key, now: now, every: AlertMonitor.refreshMs) {
                        stateChanged = true
                        toSend.append(RoutedAlert(alert: UnsafePointer(refresh(of: r.alert)), stage: r.stage, repeatIntervalMs: 0))
                    }
                    continue
                }
            }
            toSend.append(r)
        }
        guard !toSend.isEmpty else {
            saveState(now: now)
            return report
        }
        if spool.count > 0 {
            // Older alerts wait in the spool: nothing overtakes them.
            toSpool(toSend, reason: state.lastError ?? "older alerts wait in the spool", batch: batch, now: now, &report)
            saveState(now: now)
            return report
        }
        let outcome = delivery.deliver(toSend.map(\.alert), to: instance)
        report.publisher.retries += outcome.retries
        let after = clock()
        var deferred: [RoutedAlert] = []
        var reason = "", notBefore = 0
        var refused = 0
        var refreshFailed = false
        var tried: [Int] = []  // the deferred alerts' publish calls (kept for the history)
        // Published alerts are counted per run of one stage's (a step's alerts come stage by
        // stage): one look-up per run, not one per alert.
        var publishedStage: String?, publishedRun = 0
        for (n, (r, fate)) in zip(toSend, outcome.fates).enumerated() {
            switch fate {
            case .delivered where Self.isRefresh(r.alert):
                report.publisher.refreshed += 1
                report.count(r.stage) { $0.refreshed += 1 }
            case .delivered:
                report.publisher.published += 1
                if r.stage != publishedStage {
                    if let stage = publishedStage { report.count(stage) { $0.published += publishedRun } }
                    publishedStage = r.stage
                    publishedRun = 0
                }
                publishedRun += 1
                noteSent(r.alert, after)
                if keeps(r.alert, &report) { keep(r.alert, r.stage, .published, outcome.attempts[n], batch, &report) }
            case .failed(let why):
                refused += 1
                report.publisher.failed += 1
                report.count(r.stage) { $0.failed += 1 }
                if keeps(r.alert, &report) { keep(r.alert, r.stage, .failed, outcome.attempts[n], batch, &report, why) }
            case .deferred where Self.isRefresh(r.alert):
                // Nothing new to keep: the next refresh goes out in its time.
                refreshFailed = true
                continue
            case .deferred(let why, let wait):
                deferred.append(r)
                if sentBudget != nil { tried.append(n < outcome.attempts.count ? outcome.attempts[n] : 1) }
                reason = why
                notBefore = max(notBefore, wait)
            }
        }
        if let stage = publishedStage { report.count(stage) { $0.published += publishedRun } }
        if refused > 0 {
            logger.error("publisher '\(name)' refused \(refused) alert(s) of batch \(batch), not retried: \(outcome.reasons.joined(separator: "; "))")
        }
        if !deferred.isEmpty {
            noteFailure(reason, now: after, notBeforeMs: notBefore, replay: false)
            toSpool(deferred, reason: reason, batch: batch, now: after, &report, attempts: tried)
        } else if refused == toSend.count {
            // Every alert refused: the service answers, but delivers nothing.
            noteRefused(outcome.reasons.joined(separator: "; "), now: after)
        } else if !refreshFailed && spool.count == 0 && (state.failingSinceMs != nil || state.lastError != nil) {
            // Delivered, and nothing waits: the publisher works again.
            state.failingSinceMs = nil
            state.lastError = nil
            stateChanged = true
        }
        saveState(now: after)
        return report
    }

    private func toSpool(_ alerts: [RoutedAlert], reason: String, batch: UInt64, now: Int64, _ report: inout LaneReport,
                         attempts: [Int] = []) {
        var spooled = 0
        var why = "the spool is full (spool.maxBytes \(spool.maxBytes))"
        do {
            spooled = try spool.append(alerts.map(\.alert), error: reason, now: now)
        } catch {
            why = "\(error)"
        }
        for (i, r) in alerts.enumerated() {
            if i < spooled {
                report.publisher.spooled += 1
                report.count(r.stage) { $0.spooled += 1 }
                if keeps(r.alert, &report) { keep(r.alert, r.stage, .spooled, i < attempts.count ? attempts[i] : 0, batch, &report, reason) }
                // On its way: copies within the repeat interval are not spooled again, nor a
                // notification made again after a restart.
                if r.repeatIntervalMs > 0 || Self.mark(r.alert) != nil { noteSent(r.alert, now) }
            } else {
                report.publisher.failed += 1
                report.count(r.stage) { $0.failed += 1 }
                if keeps(r.alert, &report) {
                    keep(r.alert, r.stage, .failed, i < attempts.count ? attempts[i] : 0, batch, &report, "\(reason); not spooled: \(why)")
                }
            }
        }
        if spooled > 0 {
            logger.warning("publisher '\(name)': \(spooled) alert(s) of batch \(batch) spooled to \(spool.path), to be sent again: \(reason)")
        }
        if spooled < alerts.count {
            logger.error("publisher '\(name)': \(alerts.count - spooled) alert(s) of batch \(batch) are lost: they failed (\(reason)) and could not be spooled: \(why)")
        }
    }

    /// A copy of a plain alert marked as a refresh (in the lane's arena, until its next
    /// step).
    private func refresh(of alert: UnsafePointer<sluice_alert>) -> UnsafeMutablePointer<sluice_alert> {
        var copy = alert.pointee
        copy.notification = arena.string("refresh")
        // Its JSON says so too: `"notification":"refresh"` before the payload (the first
        // `,"payload":` is the member: the strings before it have their quotes escaped).
        let json = String(alert.pointee.json)
        if let at = json.range(of: ",\"payload\":") {
            copy.json = arena.string(json[..<at.lowerBound] + ",\"notification\":\"refresh\"" + json[at.lowerBound...])
        }
        let p = arena.allocate(sluice_alert.self, count: 1, for: "an alert's refresh")
        p.initialize(to: copy)
        return p
    }

    /// Whether an alert's outcome is kept for the run's observers: with a `sentBudget`,
    /// within its rate (a notification of an alert's life always); an alert left out is
    /// counted. Cheap when it says no (it runs for every alert).
    @inline(__always)
    private func keeps(_ alert: UnsafePointer<sluice_alert>, _ report: inout LaneReport) -> Bool {
        guard sentBudget != nil else { return false }
        if alert.pointee.notification.len > 0 { return true }
        if allowance == 0 && !budgetDry, let budget = sentBudget {
            allowance = budget.take(upTo: 64)
            budgetDry = allowance == 0
        }
        guard allowance > 0 else {
            report.unrecorded += 1
            return false
        }
        allowance -= 1
        return true
    }

    /// Keeps one alert's outcome in the report: its envelope copied out of the arena, made
    /// into rows by the history's own thread. `attempts`: the publish calls it was in.
    private func keep(_ alert: UnsafePointer<sluice_alert>, _ stage: String, _ outcome: AlertSent.Outcome, _ attempts: Int,
                      _ batch: UInt64, _ report: inout LaneReport, _ reason: String? = nil) {
        let a = alert.pointee
        let envelope = a.json.ptr.map { Array(UnsafeRawBufferPointer(start: $0, count: a.json.len)) } ?? []
        let life = a.notification.len > 0 ? (String(a.status), String(a.notification), String(a.severity), String(a.incident)) : nil
        report.sent.append(AlertSent(publisher: name, stage: stage, outcome: outcome, attempts: attempts, atMs: clock(), batch: batch,
                                     reason: reason, id: String(a.id), key: String(a.key), life: life, envelope: envelope))
    }

    // MARK: state

    /// What the notification log keeps of a firing or a resolve (nil: another notification).
    static func mark(_ alert: UnsafePointer<sluice_alert>) -> String? {
        guard alert.pointee.notification.len > 0 else { return nil }  // a plain alert (most)
        let kind = String(alert.pointee.notification)
        guard kind == "firing" || kind == "resolved" else { return nil }
        return String(alert.pointee.incident) + ":" + kind
    }

    /// Whether an alert is a refresh of one still firing (checked for every alert: a plain
    /// one, with no notification, is told at once).
    static func isRefresh(_ alert: UnsafePointer<sluice_alert>) -> Bool {
        alert.pointee.notification.len == 7 && String(alert.pointee.notification) == "refresh"
    }

    private func noteSent(_ alert: UnsafePointer<sluice_alert>, _ now: Int64) {
        if let mark = Self.mark(alert) {
            state.notified = (state.notified ?? [:]).merging([String(alert.pointee.key): .init(mark: mark, at: now)]) { $1 }
            stateChanged = true
            return
        }
        guard longestRepeatMs > 0 else { return }
        state.sent[String(alert.pointee.key)] = now
        stateChanged = true
    }

    /// After a failure: when the spool may be tried again. Replays that keep failing wait
    /// longer each time (from `retry.maxBackoffMs`, doubling, at most 16 times it), and
    /// never less than the service's Retry-After.
    private func noteFailure(_ reason: String, now: Int64, notBeforeMs: Int, replay: Bool) {
        state.lastError = reason
        state.lastFailureMs = now
        if state.failingSinceMs == nil { state.failingSinceMs = now }
        state.failedReplays = replay ? min(state.failedReplays, 1_000_000) + 1 : max(1, state.failedReplays)
        let wait = RetryPolicy(retry).spoolWaitMs(afterFailedReplays: state.failedReplays)
        state.nextAttemptMs = now + Int64(max(wait, notBeforeMs))
        stateChanged = true
    }

    /// Every alert of a call was refused: the publisher counts as failing (since when it
    /// began), though nothing waits to be tried again.
    private func noteRefused(_ reason: String, now: Int64) {
        state.lastError = "refused: " + reason
        state.lastFailureMs = now
        if state.failingSinceMs == nil { state.failingSinceMs = now }
        stateChanged = true
    }

    private func saveState(now: Int64) {
        guard stateChanged else { return }
        stateChanged = false
        // A resolve is remembered a day (a restart re-reads minutes, not days); a firing
        // until its resolve replaces it.
        state.notified = state.notified?.filter { !$0.value.mark.hasSuffix(":resolved") || now - $0.value.at < 86_400_000 }
        if longestRepeatMs > 0 {
            state.sent = state.sent.filter { $0.value <= now && now - $0.value < Int64(longestRepeatMs) }
            state.refreshed = state.refreshed?.filter { state.sent[$0.key] != nil }
        } else if !state.sent.isEmpty {
            state.sent = [:]
        }
        do {
            try state.save(folder: folder, publisher: name)
        } catch {
            logger.error("publisher '\(name)': cannot save its state in \(folder): \(error)")
        }
    }
}

/// How many alerts a second the lanes copy for the run's observers (a token bucket: at most
/// `perSecond` at once, refilled at that rate); shared by the lanes, which run at once.
final class SentBudget: @unchecked Sendable {
    private let perSecond: Int64
    private let clock: () -> Int64
    private let lock = NSLock()
    private var tokens: Int64
    private var lastMs: Int64

    init(perSecond: Int, clock: @escaping () -> Int64) {
        self.perSecond = Int64(max(perSecond, 1))
        self.clock = clock
        tokens = self.perSecond
        lastMs = clock()
    }

    /// How many more alerts (at most `n`) may be copied now.
    func take(upTo n: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        if tokens == 0 {
            let now = clock()
            let earned = max(0, now - lastMs) * perSecond / 1000
            guard earned > 0 else { return 0 }
            tokens = min(perSecond, earned)
            lastMs = now
        }
        let k = min(Int64(n), tokens)
        tokens -= k
        return Int(k)
    }
}
