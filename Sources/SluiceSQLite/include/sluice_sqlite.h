/* What the history needs of SQLite that Swift cannot call: sqlite3_db_config is variadic,
 * so each setting it uses gets a typed wrapper here, and SQLITE_TRANSIENT is a cast of -1
 * to a function pointer, which Swift cannot make. */
#ifndef SLUICE_SQLITE_H
#define SLUICE_SQLITE_H

#include <sqlite3.h>

/* Closing the last connection leaves the WAL as it is instead of checkpointing it into the
 * database file and deleting it (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE): the next writer takes
 * it over, and SQLite's automatic checkpoint keeps it bounded. Returns SQLITE_OK or an
 * error code. */
static inline int sluice_sqlite_keep_wal_on_close(sqlite3 *db) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
}

/* sqlite3_bind_text with SQLITE_TRANSIENT: SQLite copies the `bytes` bytes of `text` (UTF-8)
 * before it returns, so they may go away right after. A null `text` is the empty string
 * (SQLite would bind NULL). */
static inline int sluice_sqlite_bind_text(sqlite3_stmt *statement, int index, const char *text, int bytes) {
    return sqlite3_bind_text(statement, index, text ? text : "", bytes, SQLITE_TRANSIENT);
}

#endif
