import GRDB
import SluiceEngine

/// What the history keeps (HistorySettings): the newest `keepBatches` batches, `keepAlerts`
/// alerts sent and resolved incidents, `keepRuns` runs (with their batches), and none of
/// them older than `maxAgeDays` (an incident, open or not, by when it was last heard of) (a run by its start; a run still running is never removed;
/// a run's batches go with it: a trigger of the schema).
/// Applied at a run's start, every 100 batches and at its end, in a transaction of its own
/// (its statements prepared once per connection).
enum HistoryRetention {
    static func apply(_ s: HistorySettings, _ db: Database, now: Int64, keepRun: String) throws {
        let cutoff = now - Int64(s.maxAgeDays) * 86_400_000
        try db.cachedStatement(sql: """
            DELETE FROM runs WHERE status != 'running' AND id != ? AND (started_ms < ?
              OR id IN (SELECT id FROM runs ORDER BY started_ms DESC LIMIT -1 OFFSET ?))
            """).execute(arguments: [keepRun, cutoff, s.keepRuns])
        try db.cachedStatement(sql: """
            DELETE FROM batches WHERE ended_ms < ?
              OR id <= (SELECT id FROM batches ORDER BY id DESC LIMIT 1 OFFSET ?)
            """).execute(arguments: [cutoff, s.keepBatches])
        try db.cachedStatement(sql: """
            DELETE FROM alerts WHERE at_ms < ? OR id <= (SELECT id FROM alerts ORDER BY id DESC LIMIT 1 OFFSET ?)
            """).execute(arguments: [cutoff, s.keepAlerts])
        // An open incident not heard of for maxAgeDays (no firing, reminder or refresh) goes
        // too: one whose key the monitor no longer follows (its settings changed, its stage
        // renamed, a run --from-start) would otherwise stay "open" for ever.
        try db.cachedStatement(sql: """
            DELETE FROM incidents WHERE last_seen_ms < ?
              OR rowid IN (SELECT rowid FROM incidents WHERE resolved_ms IS NOT NULL ORDER BY last_seen_ms DESC LIMIT -1 OFFSET ?)
            """).execute(arguments: [cutoff, s.keepAlerts])
    }
}
