import SluicePluginABI

/// What became of one alert handed to a publisher.
enum AlertFate: Equatable {
    case delivered
    /// Refused for good (the plugin answered "error", e.g. an HTTP 400): not retried.
    case failed(String)
    /// Still "retry" when the bound ran out, or the service asked to wait longer than the
    /// bound allows: the alert goes to the spool. `notBeforeMs`: how long the service asked
    /// to wait (0 if it did not say).
    case deferred(String, notBeforeMs: Int)
}

/// What became of the alerts handed to one publisher in one delivery.
struct DeliveryOutcome {
    /// For each alert handed over, in order.
    var fates: [AlertFate] = []
    /// Publish calls beyond the first.
    var retries = 0
    /// For each alert, the publish calls it was handed to.
    var attempts: [Int] = []

    var delivered: Int { fates.filter { $0 == .delivered }.count }

    /// The reasons given for failures (refused or deferred), first ones first, at most five.
    var reasons: [String] {
        var out: [String] = []
        for fate in fates {
            let why: String
            switch fate {
            case .delivered: continue
            case .failed(let m), .deferred(let m, _): why = m
            }
            if !out.contains(why) { out.append(why) }
            if out.count == 5 { break }
        }
        return out
    }
}

/// Hands alerts to one publisher in one publish call, then again — under the pipeline's
/// retry policy (backoff with jitter, at least the service's Retry-After) — for the alerts
/// it answered "retry" for. Per-alert outcomes (alert_outcome) win over the call's status.
/// A Retry-After longer than the bound's longest wait ends the attempts at once, and so
/// does a stop request: those alerts are deferred to the spool rather than holding up the
/// batch.
struct AlertDelivery {
    /// The publishers' policy: with jitter, and no waiting once the run is asked to stop.
    let policy: RetryPolicy
    /// Says which publisher retries, for the log (nil: not logged).
    var log: RetryLog?

    init(settings: RetrySettings, sleep: @escaping (Int) -> Void, stop: @escaping () -> Bool = { false }, log: RetryLog? = nil) {
        policy = RetryPolicy(settings, sleep: sleep, stop: stop, jitter: true)
        self.log = log
    }

    func deliver(_ alerts: [UnsafePointer<sluice_alert>], to publisher: any PublisherStage) -> DeliveryOutcome {
        var outcome = DeliveryOutcome()
        outcome.fates = Array(repeating: .deferred("not attempted", notBeforeMs: 0), count: alerts.count)
        outcome.attempts = Array(repeating: 0, count: alerts.count)
        var pending = Array(alerts.indices)
        var again: [(index: Int, message: String)] = []
        let log = self.log.map { RetryLog(logger: $0.logger, subject: $0.subject(), call: "publish of \(alerts.count) alert\(alerts.count == 1 ? "" : "s")") }
        let ended = policy.run(log) { attempt in
            if attempt > 1 { outcome.retries += 1 }
            let out = publisher.publish(pending.count == alerts.count ? alerts : pending.map { alerts[$0] })
            again = []
            var retryAfter = 0
            for (position, index) in pending.enumerated() {
                outcome.attempts[index] += 1
                var status: sluice_status
                var message = ""
                if let reported = out.outcomes[position] {
                    status = reported.status
                    message = reported.message
                } else {
                    switch out.status {
                    case .ok, .end: status = SLUICE_OK
                    case .retry(let m): status = SLUICE_RETRY; message = m
                    case .error(let m): status = SLUICE_ERROR; message = m
                    }
                }
                switch status {
                case SLUICE_OK: outcome.fates[index] = .delivered
                case SLUICE_RETRY:
                    again.append((index, message))
                    retryAfter = max(retryAfter, out.retryAfterMs[position] ?? 0, out.retryAfterMs[-1] ?? 0)
                default: outcome.fates[index] = .failed(message)
                }
            }
            pending = again.map(\.index)
            guard let first = again.first else { return .done }
            return .retry(first.message, notBeforeMs: retryAfter)
        }
        var why: String?
        var notBefore = 0
        switch ended {
        case .done: break
        case .gaveUp(_, let attempts, let wait):
            why = RetryPolicy.reason(attempts: attempts, notBeforeMs: wait)
            notBefore = wait
        case .stopped(_, let attempts):
            why = RetryPolicy.reason(attempts: attempts, notBeforeMs: 0) + " when the run was asked to stop"
        }
        if let why {
            for (index, message) in again { outcome.fates[index] = .deferred("\(why): \(message)", notBeforeMs: notBefore) }
        }
        return outcome
    }
}
