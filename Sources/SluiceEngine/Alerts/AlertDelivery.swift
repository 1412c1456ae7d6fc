import SluicePluginABI

/// What became of the alerts handed to one publisher in one batch.
struct DeliveryOutcome {
    /// For each alert handed over, whether it was delivered.
    var delivered: [Bool] = []
    var published: Int { delivered.filter { $0 }.count }
    var failed: Int { delivered.count - published }
    /// Publish calls beyond the first.
    var retries = 0
    /// The reasons given for failures, first ones first.
    var reasons: [String] = []
}

/// Hands a batch's alert envelopes to one publisher in one publish call, then again —
/// with backoff, within the retry bound — for the alerts it answered "retry" for.
/// Per-alert outcomes (alert_outcome) win over the call's status.
struct AlertDelivery {
    let retrying: Retrying

    func deliver(_ alerts: [UnsafePointer<sluice_alert>], to publisher: StageInstance) -> DeliveryOutcome {
        var outcome = DeliveryOutcome()
        outcome.delivered = Array(repeating: false, count: alerts.count)
        var pending = Array(alerts.indices)
        var attempt = 1
        while !pending.isEmpty {
            let out = publisher.publish(pending.count == alerts.count ? alerts : pending.map { alerts[$0] })
            var again: [Int] = []
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
                if status == SLUICE_RETRY && attempt >= retrying.settings.maxAttempts {
                    status = SLUICE_ERROR
                    message = "still failing after \(attempt) attempts: \(message)"
                }
                switch status {
                case SLUICE_OK: outcome.delivered[index] = true
                case SLUICE_RETRY: again.append(index)
                default:
                    if outcome.reasons.count < 5, !outcome.reasons.contains(message) { outcome.reasons.append(message) }
                }
            }
            pending = again
            if !pending.isEmpty {
                attempt += 1
                outcome.retries += 1
                retrying.sleep(retrying.settings.backoffMs(beforeAttempt: attempt))
            }
        }
        return outcome
    }
}
