#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRDB
import SluiceSQLite

/// A pipeline's history database, `<state folder>/history.sqlite`: SQLite in WAL mode
/// (one writer, readers that never wait for it), synchronous=NORMAL (a commit survives a
/// crash or `kill -9` of the process), a busy timeout (a reader and the run's writer share
/// the file), and the schema of HistorySchema, migrated on open.
///
/// Where the disk is waited for: when it opens the database, not when it closes it. Opening
/// checkpoints what the WAL holds into the database (SQLite syncs the WAL, then the
/// database); closing leaves the WAL in place (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE). A run
/// opens its history on the history's own thread while its plan is made, so the run's end
/// never waits for those syncs. So a power loss may take back what was written since the
/// history was last opened (the last run's rows), never what came before. Between opens
/// SQLite's automatic checkpoint (past 1,000 pages, during a commit on the writer's
/// thread) keeps the WAL at about 4 MiB (`journal_size_limit`).
///
/// A file that does not exist yet is made and given its tables with synchronous=OFF (the
/// switch to WAL mode then skips the rollback journal's three syncs), then set to NORMAL
/// and checkpointed like any other: until that checkpoint a power loss can only take an
/// empty history back.
public enum HistoryDatabase {
    /// The file in a state folder.
    public static func path(stateFolder: String) -> String { stateFolder + "/history.sqlite" }

    /// Whether `path` is a file (a history, or what a run's open says is not one).
    static func isFile(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// A new history as `make` left it: the folders made for it (the outermost first) and
    /// the lock it is made under — an exclusive `flock` on `<file>-making`, never on the
    /// database itself (closing any descriptor of the database would drop SQLite's own locks
    /// on it in this process) — held until the run takes the history (`release`) or it is
    /// taken back (`takeBack`). Another host that finds that lock waits for it (`waitForItsMaker`).
    final class Made: @unchecked Sendable {
        let folders: [String]
        let lockPath: String
        private var fd: Int32
        init(folders: [String], lockPath: String, fd: Int32) {
            self.folders = folders
            self.lockPath = lockPath
            self.fd = fd
        }
        /// The lock removed (while held: a host waiting on it goes on), then let go.
        func release() {
            guard fd >= 0 else { return }
            _ = unlink(lockPath)
            close(fd)
            fd = -1
        }
        deinit { release() }
    }

    /// Where the lock a new history is made under lies.
    static func makingLock(_ path: String) -> String { path + "-making" }

    /// Makes the file of a new history, empty, and the folders it needs, under its lock
    /// (see `Made`); nil when the file was there already, another host is making it, or it
    /// cannot be made (then nothing made is left behind).
    static func make(_ path: String) -> Made? {
        var folders: [String] = []
        var missing: [String] = []
        var folder = (path as NSString).deletingLastPathComponent
        var st = stat()
        while !folder.isEmpty, folder != "/", lstat(folder, &st) != 0 {
            missing.append(folder)
            folder = (folder as NSString).deletingLastPathComponent
        }
        for f in missing.reversed() {
            guard mkdir(f, 0o777) == 0 else {
                removeFolders(folders)
                return nil
            }
            folders.append(f)
        }
        let lockPath = makingLock(path)
        let lock = Glibc.open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard lock >= 0 else {
            removeFolders(folders)
            return nil
        }
        // Taken before the file is made: a host that finds the file finds it held.
        var held = stat(), there = stat()
        guard flock(lock, LOCK_EX | LOCK_NB) == 0, fstat(lock, &held) == 0, lstat(lockPath, &there) == 0,
              held.st_dev == there.st_dev, held.st_ino == there.st_ino else {
            close(lock)  // another host's (making, or waiting on it): theirs to remove
            removeFolders(folders)
            return nil
        }
        let made = Made(folders: folders, lockPath: lockPath, fd: lock)
        // (Closed at once: no SQLite connection of this process has the file yet.)
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            made.release()
            removeFolders(folders)
            return nil
        }
        close(fd)
        return made
    }

    /// Removes a history `make` made (its file, WAL and shared memory, SQLite's journal)
    /// while still holding its lock, then the lock and the folders made for it, the
    /// innermost first, each only while it is empty. Not when a run was recorded in it or
    /// it cannot be read to tell (some other program opened it): what cannot be removed stays.
    static func takeBack(_ path: String, _ made: Made) {
        defer {
            made.release()
            removeFolders(made.folders)
        }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(busySeconds)
        guard let runs = try? DatabaseQueue(path: path, configuration: config).read({ db in
            try db.tableExists("runs") ? Int.fetchOne(db, sql: "SELECT count(*) FROM runs") ?? 0 : 0
        }), runs == 0 else { return }
        for suffix in ["", "-wal", "-shm", "-journal"] { _ = unlink(path + suffix) }
    }

    private static func removeFolders(_ folders: [String]) {
        for f in folders.reversed() { _ = rmdir(f) }
    }

    /// Waits (at most `seconds`) while another host makes the history at `path` (`make`):
    /// until its run takes it, or it is taken back (then this one makes its own).
    static func waitForItsMaker(_ path: String, seconds: Double = 10) {
        let fd = Glibc.open(makingLock(path), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return }  // none being made
        defer { close(fd) }
        // (The monotonic clock: a step of the wall clock neither cuts the wait short nor stretches it.)
        let deadline = DispatchTime.now() + seconds
        while flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK && DispatchTime.now() < deadline { usleep(1000) }
    }

    /// How long a statement waits for another connection's lock.
    static let busySeconds: TimeInterval = 5

    /// Opens (creating it and its folder when `create`) and migrates. Throws a HistoryError
    /// that names the file and why.
    public static func open(_ path: String, create: Bool) throws -> DatabaseQueue {
        var st = stat()
        let found = lstat(path, &st) == 0
        if found {
            guard (st.st_mode & S_IFMT) == S_IFREG else { throw HistoryError("\(path) is not a regular file") }
        } else if !create {
            throw HistoryError("\(path): no history here (no run with history has used this state folder)")
        } else {
            let folder = (path as NSString).deletingLastPathComponent
            do {
                try FileManager.default.createDirectory(atPath: folder.isEmpty ? "." : folder, withIntermediateDirectories: true)
            } catch {
                throw HistoryError("cannot create the folder of \(path): \(error.localizedDescription)")
            }
        }
        // A file of no bytes is a new database to SQLite (`make` leaves one): made as one.
        let exists = found && st.st_size > 0
        var config = Configuration()
        config.busyMode = .timeout(busySeconds)
        config.label = "history"
        config.prepareDatabase { db in
            try db.execute(sql: exists ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = OFF")
            guard try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") == "wal" else {
                throw HistoryError("\(path): SQLite could not put it in WAL mode")
            }
            // The WAL file shrinks back to this after a checkpoint (it never grows unbounded).
            try db.execute(sql: "PRAGMA journal_size_limit = 4194304")
            // (Speed only: should SQLite refuse, closing checkpoints as it does by default.)
            _ = sluice_sqlite_keep_wal_on_close(db.sqliteConnection)
        }
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            try HistorySchema.migrator.migrate(queue)
            try queue.writeWithoutTransaction { db in
                if !exists { try db.execute(sql: "PRAGMA synchronous = NORMAL") }
                // What earlier opens left in the WAL, into the database, synced (see above).
                // Not a condition of opening: a checkpoint that cannot write (a full disk)
                // leaves the WAL as it was, every commit still read from it.
                _ = try? db.execute(sql: "PRAGMA wal_checkpoint(PASSIVE)")
            }
            return queue
        } catch let error as HistoryError {
            throw error
        } catch let error as DatabaseError {
            throw HistoryError(describing: error, path: path)
        } catch {
            throw HistoryError("\(path): \(error)")
        }
    }

    /// Opens an existing history to read only (`host serve`: another host may be writing
    /// it): SQLite's read-only mode, no migration, no change of any kind. A reader of a WAL
    /// database needs the `-shm` index beside it: SQLite uses the writer's, or makes one
    /// (the only file such a reader may create; never the database or its `-wal`). A
    /// history older than this host reads as far as its columns go (HistoryReader).
    public static func openReadOnly(_ path: String) throws -> DatabaseQueue {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            var e = HistoryError("\(path): no history here (no run with history has used this state folder)")
            e.missing = true
            throw e
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw HistoryError("\(path) is not a regular file") }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(busySeconds)
        config.label = "history (read-only)"
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            // Opening reads nothing: this makes a file that is not SQLite fail here.
            let (hasRuns, tables) = try queue.read { db in
                // (GRDB's migrator makes its grdb_migrations table before the first migration.)
                (try db.tableExists("runs"),
                 try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE tbl_name != 'grdb_migrations'") ?? 0)
            }
            guard hasRuns else {
                // Nothing in it yet: a run is creating it (its first milliseconds) — no
                // history yet, as when there is no file. Tables of something else: not ours.
                var e = HistoryError(tables == 0 ? "\(path): no history yet (a run is creating it)"
                                     : "\(path) is not a history database (it has no runs table)")
                if tables == 0 { e.missing = true } else { e.damaged = true }
                throw e
            }
            return queue
        } catch let error as HistoryError {
            throw error
        } catch let error as DatabaseError where [.SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_PERM].contains(error.resultCode) {
            throw HistoryError("\(path) cannot be read (\(error.message ?? "\(error.resultCode)")): a reader needs its -shm file, or the right to make it beside the file")
        } catch let error as DatabaseError {
            throw HistoryError(describing: error, path: path)
        } catch {
            throw HistoryError("\(path): \(error)")
        }
    }
}

/// A history problem, said in one line that names the file.
public struct HistoryError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The file is not a sound SQLite database (SQLite's words: `detail`).
    public var damaged = false
    public var detail = ""
    /// Another connection held the file longer than the busy timeout: asking again may work.
    public var busy = false
    /// There is no history file (no run with history used the state folder).
    public var missing = false
    /// A run's id was asked for by a beginning that several ids share.
    public var ambiguous = false
    public init(_ description: String) { self.description = description }

    /// SQLite's errors in words an operator can act on.
    init(describing error: DatabaseError, path: String) {
        switch error.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            description = "\(path) is damaged or not a history database (\(error.message ?? "\(error.resultCode)")); the next run moves it aside and starts a new one"
            damaged = true
            detail = error.message ?? "\(error.resultCode)"
        case .SQLITE_FULL:
            description = "\(path): the disk is full"
        case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH:
            description = "\(path) cannot be written (\(error.message ?? "\(error.resultCode)"))"
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            description = "\(path) is busy (another process holds it longer than \(Int(HistoryDatabase.busySeconds)) s)"
            busy = true
        default:
            description = "\(path): \(error.message ?? "\(error.resultCode)")"
        }
    }
}

/// The tables (docs/history.md says what each column holds).
enum HistorySchema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE runs(
                  id TEXT PRIMARY KEY, namespace TEXT NOT NULL, pipeline TEXT NOT NULL,
                  started_ms INTEGER NOT NULL, ended_ms INTEGER, last_batch_ms INTEGER,
                  status TEXT NOT NULL, exit_code INTEGER,
                  batches INTEGER NOT NULL DEFAULT 0, records_in INTEGER NOT NULL DEFAULT 0,
                  records_out INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
                  alerts_json TEXT, summary_json TEXT, failure TEXT, resumed_after TEXT, host_version TEXT,
                  alerts_unrecorded INTEGER NOT NULL DEFAULT 0,
                  history_dropped INTEGER NOT NULL DEFAULT 0, history_note TEXT);
                CREATE INDEX runs_by_start ON runs(started_ms);
                CREATE INDEX runs_running ON runs(status) WHERE status = 'running';
                CREATE TABLE batches(
                  id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, batch INTEGER NOT NULL,
                  ended_ms INTEGER NOT NULL, duration_ms REAL NOT NULL, records INTEGER NOT NULL,
                  errors INTEGER NOT NULL, alerts_json TEXT, phases_json TEXT, durations_json TEXT,
                  UNIQUE(run_id, batch));
                CREATE INDEX batches_by_time ON batches(ended_ms);
                -- A run's batches go with it.
                CREATE TRIGGER run_removed AFTER DELETE ON runs BEGIN DELETE FROM batches WHERE run_id = old.id; END;
                CREATE TABLE alerts(
                  id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, batch INTEGER NOT NULL, at_ms INTEGER NOT NULL,
                  stage TEXT NOT NULL, key TEXT NOT NULL, alert_id TEXT NOT NULL, status TEXT, notification TEXT,
                  severity TEXT, incident TEXT, publisher TEXT NOT NULL, outcome TEXT NOT NULL,
                  attempts INTEGER NOT NULL, reason TEXT, envelope TEXT NOT NULL);
                CREATE INDEX alerts_by_time ON alerts(at_ms);
                CREATE TABLE incidents(
                  stage TEXT NOT NULL, incident TEXT NOT NULL, key TEXT NOT NULL, subject TEXT NOT NULL,
                  severity TEXT NOT NULL, opened_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,
                  resolved_ms INTEGER, notifications INTEGER NOT NULL DEFAULT 0,
                  first_run TEXT NOT NULL, last_run TEXT NOT NULL,
                  PRIMARY KEY(stage, incident));
                CREATE INDEX incidents_open ON incidents(last_seen_ms) WHERE resolved_ms IS NULL;
                CREATE INDEX incidents_by_seen ON incidents(last_seen_ms);
                """)
        }
        // The plan each run ran, as a PipelineGraph (JSON; secrets already masked): what
        // `host serve` draws for a pipeline it does not run.
        // The dashboard's (0.23): each run's graph; each batch's input rate as the runner
        // measured it (from the previous batch's start, in nanoseconds: ended_ms alone
        // cannot tell batches apart that end in one millisecond).
        m.registerMigration("v2-dashboard") { db in
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN graph_json TEXT")
            try db.execute(sql: "ALTER TABLE batches ADD COLUMN input_rows_per_second REAL")
        }
        return m
    }
}
