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

/// Hands alerts to one publisher in one publish call, then again — after an exponential
/// backoff with jitter, or the service's Retry-After when it is longer — for the alerts
/// it answered "retry" for, within the pipeline's retry bound. Per-alert outcomes
/// (alert_outcome) win over the call's status. A Retry-After longer than the bound's
/// longest wait ends the attempts at once: those alerts are deferred to the spool rather
/// than holding up the batch.
struct AlertDelivery {
    let settings: RetrySettings
    /// How to wait (milliseconds).
    let sleep: (Int) -> Void
    /// A number in 0..<1, for jitter.
    var random: () -> Double = { Double.random(in: 0..<1) }

    /// The wait before attempt `attempt` (2, 3, …): half the exponential backoff plus a
    /// random part of the other half ("equal jitter"), so that publishers retrying after
    /// the same outage do not all come back at the same moment.
    func backoffMs(beforeAttempt attempt: Int) -> Int {
        let full = settings.backoffMs(beforeAttempt: attempt)
        return full / 2 + Int(Double(full - full / 2) * random())
    }

    func deliver(_ alerts: [UnsafePointer<sluice_alert>], to publisher: any PluginStage) -> DeliveryOutcome {
        var outcome = DeliveryOutcome()
        outcome.fates = Array(repeating: .deferred("not attempted", notBeforeMs: 0), count: alerts.count)
        var pending = Array(alerts.indices)
        var attempt = 1
        while !pending.isEmpty {
            let out = publisher.publish(pending.count == alerts.count ? alerts : pending.map { alerts[$0] })
            var again: [(index: Int, message: String)] = []
            var retryAfter = 0
            for (position, index) in pending.enumerated() {
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
            guard !again.isEmpty else { break }
            if attempt >= settings.maxAttempts || retryAfter > settings.maxBackoffMs {
                let why = retryAfter > settings.maxBackoffMs
                    ? "the service asked to wait \(retryAfter) ms (Retry-After)"
                    : "still failing after \(attempt) attempt\(attempt == 1 ? "" : "s")"
                for (index, message) in again {
                    outcome.fates[index] = .deferred("\(why): \(message)", notBeforeMs: retryAfter)
                }
                break
            }
            attempt += 1
            outcome.retries += 1
            sleep(max(backoffMs(beforeAttempt: attempt), retryAfter))
        }
        return outcome
    }
}
