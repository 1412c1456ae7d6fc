#if canImport(Glibc)
import Glibc
#endif
import GRDB
import SluiceEngine
import SluiceSQLite

/// The alerts publishers handled, as rows of `alerts`: the history's most frequent insert (a
/// row per alert per publisher, each batch). The statement is GRDB's (prepared once, cached
/// by the connection), its values bound with SQLite's own calls: GRDB's arguments box every
/// value and copy every string, about three times the time of the insert itself.
enum AlertRows {
    static let sql = """
        INSERT INTO alerts(run_id, batch, at_ms, stage, key, alert_id, status, notification, severity, incident,
                           publisher, outcome, attempts, reason, envelope)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Inserts `sent` (of run `run`), inside the writer's transaction; throws SQLite's error
    /// as GRDB's DatabaseError, so the writer tells a row's error from the database's as for
    /// any other statement.
    static func insert(_ sent: [AlertSent], run: String, into db: Database) throws {
        // SQLite may have rolled the transaction back (a full disk): these rows must not then
        // go in one by one, each a transaction of its own.
        guard db.isInsideTransaction else {
            throw DatabaseError(resultCode: .SQLITE_ABORT, message: "the alerts' rows are written inside a transaction, and there is none", sql: sql)
        }
        let statement = try db.cachedStatement(sql: sql)
        let s = statement.sqliteStatement
        // Left as GRDB expects a statement it did not run: reset, nothing bound.
        defer {
            sqlite3_reset(s)
            sqlite3_clear_bindings(s)
        }
        for a in sent {
            sqlite3_reset(s)
            // The first error of the row's binds, else the insert's.
            var code = SQLITE_OK
            func bound(_ result: Int32) { if code == SQLITE_OK { code = result } }
            bound(bind(s, 1, run))
            bound(sqlite3_bind_int64(s, 2, Int64(clamping: a.batch)))
            bound(sqlite3_bind_int64(s, 3, a.atMs))
            bound(bind(s, 4, a.stage))
            bound(bind(s, 5, a.key))
            bound(bind(s, 6, a.id))
            bound(bind(s, 7, a.life?.status))
            bound(bind(s, 8, a.life?.notification))
            bound(bind(s, 9, a.life?.severity))
            bound(bind(s, 10, a.life?.incident))
            bound(bind(s, 11, a.publisher))
            bound(bind(s, 12, a.outcome.rawValue))
            bound(sqlite3_bind_int64(s, 13, Int64(a.attempts)))
            bound(bind(s, 14, a.reason))
            bound(bind(s, 15, String(decoding: a.envelope, as: UTF8.self)))
            guard code == SQLITE_OK else {
                // (A later bind that worked reset the connection's message: the code's own.)
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errstr(code)), sql: sql)
            }
            code = sqlite3_step(s)
            guard code == SQLITE_DONE else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
            }
        }
    }

    /// Binds a string (NULL for nil), up to a NUL as GRDB binds strings (so that what GRDB
    /// reads back and matches is what was stored); SQLite copies it.
    private static func bind(_ s: OpaquePointer, _ index: Int32, _ text: String?) -> Int32 {
        guard var text else { return sqlite3_bind_null(s, index) }
        return text.withUTF8 { whole in
            let bytes = UnsafeBufferPointer(rebasing: whole[..<(whole.firstIndex(of: 0) ?? whole.endIndex)])
            guard let count = Int32(exactly: bytes.count) else { return SQLITE_TOOBIG }
            return bytes.withMemoryRebound(to: CChar.self) { chars in
                sluice_sqlite_bind_text(s, index, chars.baseAddress, count)
            }
        }
    }
}
