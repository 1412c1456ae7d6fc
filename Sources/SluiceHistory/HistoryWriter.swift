import Foundation
import GRDB
import Logging

/// Writes to the history database on a thread of its own, so that a batch never waits for
/// the disk: `submit` only appends to a queue (it never blocks on SQLite), and the thread
/// drains everything waiting in one transaction (one commit per drain, however many
/// batches arrived meanwhile; retention in one of its own). The thread opens the database
/// too: a run never waits for a history that is slow to open (another process holding it)
/// or cannot be opened.
///
/// - It drains at most once per `commitEvery` (0.1 s): a commit rewrites the pages it
///   touches (the run's row, the last page of each table), so a commit per batch wrote
///   most pages many times over. It drains at once for the run's end (`final` work, written
///   while the host prints the summary), for a close, and when half of `maxPending` waits.
///
/// - Past `maxPending` waiting rows new work is dropped and counted (`dropped`): the run
///   is never slowed down by its history. Work marked `keep` or `final` (a run's start and
///   end, retention) is never dropped for the bound.
/// - One item that fails (a constraint) is rolled back alone (a savepoint each) and
///   logged; anything else that fails (a full disk, a file that cannot be written) stops
///   the writer: it says why once in the log, counts what it drops from then on, and
///   tries once more at `close` to record its end and why it stopped.
/// - Work marked `alone` (retention) runs in a transaction of its own: a DELETE that fails
///   takes nothing else with it.
final class HistoryWriter: @unchecked Sendable {
    typealias Work = (Database) throws -> Void

    private struct Item {
        let work: Work
        let weight: Int
        let alone: Bool
        var final = false
    }

    let path: String
    /// Opens the database, on the writer's thread.
    private let open: () throws -> DatabaseQueue
    private let logger: Logger
    private let maxPending: Int
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queue: [Item] = []
    private var pendingWeight = 0
    /// The newest of a kind that only its last value matters for (the run's counts so far).
    private var latest: Work?
    private var closed = false
    private var finished = false
    private var droppedCount = 0
    private var failure: String?
    /// The database could not be opened: even kept work is dropped.
    private var unopened = false

    /// The shortest time between two commits while the run goes on (seconds), by default;
    /// a close commits at once.
    static let commitEvery = 0.1
    let commitEvery: Double

    init(path: String, logger: Logger, maxPending: Int = 50_000, commitEvery: Double = HistoryWriter.commitEvery,
         open: @escaping () throws -> DatabaseQueue) {
        self.open = open
        self.commitEvery = commitEvery
        self.path = path
        self.logger = logger
        self.maxPending = maxPending
        let t = Thread { [self] in self.loop() }
        t.name = "sluice-history"
        t.start()
    }

    /// Queues `work` (`weight`: the rows it writes). `keep`: never dropped for the bound
    /// (a run's start, retention); `final`: a run's end, tried even after the writer
    /// stopped. False when it was dropped.
    /// `latest`: also replaces the last value of the run's counts (written by the next drain
    /// in the transaction of its last rows, before any retention step; after the writer
    /// stopped, the run's end carries them), at the same moment as `work` is queued, so that
    /// no commit holds the one without the other.
    @discardableResult
    func submit(weight: Int = 1, keep: Bool = false, final: Bool = false, alone: Bool = false, _ work: @escaping Work,
                latest newest: Work? = nil) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if let newest, failure == nil && !unopened && !closed { latest = newest }
        guard !closed, !unopened, failure == nil || final, keep || final || pendingWeight + weight <= maxPending else {
            droppedCount += weight
            if newest != nil { condition.signal() }
            return false
        }
        queue.append(Item(work: work, weight: weight, alone: alone, final: final))
        pendingWeight += weight
        condition.signal()
        return true
    }

    /// Rows dropped so far, and why the writer stopped (nil: it did not).
    var state: (dropped: Int, failure: String?) {
        condition.lock()
        defer { condition.unlock() }
        return (droppedCount, failure)
    }

    /// Writes what waits (at most `seconds`), then ends the thread.
    @discardableResult
    func close(seconds: Double) -> Bool {
        condition.lock()
        closed = true
        condition.broadcast()
        let deadline = Date(timeIntervalSinceNow: seconds)
        while !finished {
            if !condition.wait(until: deadline) {
                condition.unlock()
                return false
            }
        }
        condition.unlock()
        return true
    }

    private func loop() {
        let db: DatabaseQueue
        do {
            db = try open()
        } catch {
            // Nothing can be written: everything is counted as dropped from here on.
            logger.warning("history: \(error); this run is not recorded")
            condition.lock()
            failure = "\(error)"
            droppedCount += pendingWeight
            queue = []
            latest = nil
            pendingWeight = 0
            unopened = true
            while !closed { condition.wait() }
            finished = true
            condition.broadcast()
            condition.unlock()
            return
        }
        condition.lock()
        // When the last drain began, in DispatchTime's nanoseconds (a monotonic clock). The
        // timed wait below ends at a wall-clock moment: a clock set back while it waits
        // lengthens it, until the next submit or the close wakes the thread.
        var lastDrain: UInt64?
        while true {
            while queue.isEmpty && latest == nil && !closed { condition.wait() }
            // At most one drain per `commitEvery` while the run goes on: what arrives
            // meanwhile joins the next one.
            if let last = lastDrain {
                let due = last &+ UInt64(commitEvery * 1e9)
                while !closed && !queue.contains(where: \.final) && pendingWeight < maxPending / 2 {
                    let now = DispatchTime.now().uptimeNanoseconds
                    if now >= due { break }
                    _ = condition.wait(until: Date(timeIntervalSinceNow: Double(due - now) / 1e9))
                }
            }
            lastDrain = DispatchTime.now().uptimeNanoseconds
            if queue.isEmpty && latest == nil {
                // The WAL stays for the next writer (HistoryDatabase: no checkpoint at close).
                try? db.close()
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let stopped = failure != nil
            var items = queue
            if stopped {
                // Only the run's end is tried again; what came before it is dropped.
                items = queue.filter(\.final)
                droppedCount += queue.filter { !$0.final }.reduce(0) { $0 + $1.weight }
            } else if let latest {
                // With the last rows it counts, in their transaction (not after retention,
                // which has one of its own).
                let at = items.lastIndex(where: { !$0.alone }).map { $0 + 1 } ?? items.count
                items.insert(Item(work: latest, weight: 0, alone: false), at: at)
            }
            queue = []
            latest = nil
            pendingWeight = 0
            condition.unlock()
            let error = stopped ? finalAttempt(items, db) : write(items, db)
            condition.lock()
            if let error, failure == nil {
                failure = error
                condition.unlock()
                logger.error("history: stopped writing to \(path): \(error); the run goes on without it (what it cannot write is counted in the run's row when it can be written)")
                condition.lock()
            }
            condition.broadcast()
        }
    }

    /// Writes items in as few transactions as it can; the error that stops the writer.
    private func write(_ items: [Item], _ db: DatabaseQueue) -> String? {
        var group: [Item] = []
        var written = 0  // the weight committed, of rows not dropped when a later group fails
        func flushGroup() throws {
            guard !group.isEmpty else { return }
            defer { group = [] }
            do {
                // The fast way: one transaction, no savepoints.
                try db.inTransaction { db in
                    for item in group { try item.work(db) }
                    return .commit
                }
            } catch let e as DatabaseError where !Self.isItemError(e) {
                throw e
            } catch {
                // An entry failed and took the group with it: again, each in a savepoint,
                // so that only the entry that fails is left out.
                try db.inTransaction { db in
                    for item in group { try Self.apply(item, db, logger) }
                    return .commit
                }
            }
            written += group.reduce(0) { $0 + $1.weight }
        }
        do {
            for item in items {
                if item.alone {
                    try flushGroup()
                    do {
                        try db.inTransaction { db in try item.work(db); return .commit }
                        written += item.weight
                    } catch let e as DatabaseError where Self.isItemError(e) {
                        logger.warning("history: a retention step failed in \(path): \(e.message ?? "\(e.resultCode)")")
                    }
                } else {
                    group.append(item)
                }
            }
            try flushGroup()
            return nil
        } catch let e as DatabaseError {
            condition.lock()
            droppedCount += items.reduce(0) { $0 + $1.weight } - written
            condition.unlock()
            return HistoryError(describing: e, path: path).description
        } catch {
            return "\(error)"
        }
    }

    /// After the writer stopped, only final work comes (a run's end): tried once more, so
    /// that the run's row can say why its history is short.
    private func finalAttempt(_ items: [Item], _ db: DatabaseQueue) -> String? {
        do {
            try db.inTransaction { db in
                for item in items { try Self.apply(item, db, logger) }
                return .commit
            }
        } catch {
            logger.error("history: cannot record the run's end in \(path) either: \(error)")
        }
        return nil
    }

    private static func apply(_ item: Item, _ db: Database, _ logger: Logger) throws {
        do {
            try db.inSavepoint {
                try item.work(db)
                return .commit
            }
        } catch let e as DatabaseError where isItemError(e) {
            logger.warning("history: one entry not written: \(e.message ?? "\(e.resultCode)")")
        } catch let e as DatabaseError {
            throw e
        } catch {
            logger.warning("history: one entry not written: \(error)")
        }
    }

    /// Errors of one statement (its data), not of the database or the disk.
    private static func isItemError(_ e: DatabaseError) -> Bool {
        [.SQLITE_CONSTRAINT, .SQLITE_MISMATCH, .SQLITE_TOOBIG, .SQLITE_RANGE, .SQLITE_ERROR].contains(e.resultCode)
    }
}
