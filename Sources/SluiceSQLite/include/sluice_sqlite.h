/* What the history needs of SQLite that Swift cannot call: sqlite3_db_config is variadic,
 * so each setting it uses gets a typed wrapper here. */
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

#endif
