import SluicePluginABI
import SluiceRecords

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

/// Hands a batch's alert envelopes to one publisher: as C structures in the batch arena,
/// in one publish call, then again — with backoff, within the retry bound — for the alerts
/// it answered "retry" for. Per-alert outcomes (alert_outcome) win over the call's status.
struct AlertDelivery {
    let retrying: Retrying

    func deliver(_ envelopes: [AlertEnvelope], to publisher: StageInstance, arena: RecordArena) -> DeliveryOutcome {
        var outcome = DeliveryOutcome()
        outcome.delivered = Array(repeating: false, count: envelopes.count)
        guard !envelopes.isEmpty else { return outcome }
        let all = envelopes.map { Self.cAlert($0, arena: arena) }
        var pending = Array(all.indices)
        var attempt = 1
        while !pending.isEmpty {
            let out = publisher.publish(pending.map { UnsafePointer(all[$0]) })
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

    /// The envelope as a sluice_alert whose strings live in the batch arena.
    static func cAlert(_ e: AlertEnvelope, arena: RecordArena) -> UnsafeMutablePointer<sluice_alert> {
        func str(_ s: String) -> sluice_str {
            var s = s
            return s.withUTF8 { b in
                let p = sr_arena_strdup(arena.raw, UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), b.count)
                return sluice_str(ptr: p, len: b.count)
            }
        }
        let kvs = sr_arena_alloc(arena.raw, MemoryLayout<sluice_kv>.stride * max(1, e.payload.count), MemoryLayout<sluice_kv>.alignment)!
            .bindMemory(to: sluice_kv.self, capacity: max(1, e.payload.count))
        for (i, p) in e.payload.enumerated() { kvs[i] = sluice_kv(key: str(p.key), value: str(p.value)) }
        let a = sr_arena_alloc(arena.raw, MemoryLayout<sluice_alert>.stride, MemoryLayout<sluice_alert>.alignment)!
            .bindMemory(to: sluice_alert.self, capacity: 1)
        var v = sluice_alert()
        v.size = UInt32(MemoryLayout<sluice_alert>.size)
        v.npayload = UInt32(e.payload.count)
        v.id = str(e.id)
        v.namespace_name = str(e.namespace)
        v.pipeline = str(e.pipeline)
        v.stage = str(e.stage)
        v.run = str(e.run)
        v.batch = e.batch
        v.timestamp_ms = e.timestampMs
        v.count = UInt64(e.count)
        v.payload = UnsafePointer(kvs)
        v.json = str(e.json)
        a.initialize(to: v)
        return a
    }
}
