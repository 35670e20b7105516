/* store.h — one storage interface over SQLite (embedded) and PostgreSQL.
 *
 * Work is done in transactions: the caller passes a callback that runs
 * statements through the ih_tx it is given.
 *   ih_store_write()  the callback's writes commit atomically, durably
 *                     (fsync) and before the call returns — or not at all.
 *   ih_store_read()   a consistent read-only snapshot.
 *   ih_store_scan()   the same, for a long sequential read through much of
 *                     the database (the audit journal's verification).
 * SQL is written once with $1..$n placeholders and bound parameters only;
 * never concatenate values into SQL.  Schema DDL is written in SQLite's
 * dialect and translated for PostgreSQL by the migration runner.
 *
 * Rules for callbacks:
 *   - no side effects outside the transaction (a callback may run twice:
 *     after a serialization failure, or alone after its group's commit
 *     failed) and no reliance on the caller's thread (writes run on a
 *     writer thread inside a group-commit batch);
 *   - a failed statement fails the whole transaction: every later statement
 *     returns the same error and the callback's work is rolled back;
 *   - never call ih_store_write/read from inside a callback.
 *
 * SQLite: one writer thread takes queued write transactions in batches,
 * wraps each in a savepoint (so one failing callback does not affect its
 * batch-mates) and commits the batch with one fsync (WAL, synchronous=FULL);
 * under load a batch stays open up to commit_delay_us for more.
 * Reads use a pool of query-only connections.
 * PostgreSQL: a pool of libpq connections.  Reads take one each; writes
 * are group-committed the same way by two writer threads, each batch on one
 * connection, its before-commit hooks (ih_tx_before_commit) run just before
 * its one COMMIT.
 */
#ifndef IH_STORE_STORE_H
#define IH_STORE_STORE_H

#include "core/buf.h"
#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ih_store ih_store;
typedef struct ih_tx ih_tx;
typedef struct ih_stmt ih_stmt;

typedef enum { IH_STORE_SQLITE, IH_STORE_PG } ih_store_kind;

typedef struct ih_store_opts {
    ih_store_kind kind;
    const char *sqlite_path; /* SQLite: database file */
    const char *pg_conninfo; /* PostgreSQL: libpq URI or key=value string */
    int pool_size;           /* read connections / pooled connections */
    int batch_max;           /* callbacks per group commit */
    /* SQLite: how long a group commit stays open for callbacks queued
     * after it began (0: it takes what is queued when it begins). */
    int commit_delay_us;
} ih_store_opts;

typedef struct ih_store_stats {
    uint64_t write_txns;   /* callbacks committed */
    uint64_t write_failed; /* callbacks rolled back */
    uint64_t batches;      /* commits (SQLite: group commits) */
    uint64_t read_txns;
} ih_store_stats;

ih_err ih_store_open(const ih_store_opts *o, ih_store **out);
/* Waits for queued writes to finish, then closes every connection. */
void ih_store_close(ih_store *s);
ih_store_kind ih_store_kind_of(const ih_store *s);
/* How many reads (ih_store_read, ih_store_scan) can hold a connection at
 * once: SQLite's read connections, PostgreSQL's pool less its writers.
 * A long job (a verification) takes a share of them, never all. */
int ih_store_readers(const ih_store *s);
void ih_store_get_stats(ih_store *s, ih_store_stats *out);

typedef ih_err (*ih_tx_fn)(ih_tx *tx, void *arg);
ih_err ih_store_write(ih_store *s, ih_tx_fn fn, void *arg);
ih_err ih_store_read(ih_store *s, ih_tx_fn fn, void *arg);
/* A read of one statement (fn runs exactly one; a second fails the read
 * with IH_E_INTERNAL).  PostgreSQL runs it with no BEGIN and COMMIT around
 * it — a statement sees one snapshot by itself — so it costs one round trip
 * instead of three; on SQLite it is ih_store_read.  For the reads every
 * request makes (its session and account, joined). */
ih_err ih_store_read_one(ih_store *s, ih_tx_fn fn, void *arg);
/* A read through much of the database.  SQLite: the connection maps the file
 * into memory for the transaction (pages read in place, no copy each). */
ih_err ih_store_scan(ih_store *s, ih_tx_fn fn, void *arg);
/* Can the database answer a query now?  IH_OK, or why not (on PostgreSQL
 * IH_E_UNAVAILABLE while no server accepts connections). */
ih_err ih_store_ping(ih_store *s);

bool ih_tx_is_pg(const ih_tx *tx);
bool ih_tx_is_write(const ih_tx *tx);

/* State kept outside the database that follows it (a cache of the last row
 * written, say) must not outlive a rollback.  fn(arg) runs once, on the
 * thread that ran the transaction, when tx's changes are rolled back for
 * any reason: the callback failed, a statement failed, the commit (SQLite:
 * the whole group commit) failed, or PostgreSQL retries the callback.  It
 * does not run when the changes commit.  Registering the same fn and arg
 * twice in one transaction registers it once.  At most IH_TX_UNDO hooks. */
#define IH_TX_UNDO 4
typedef void (*ih_undo_fn)(void *arg);
ih_err ih_tx_on_rollback(ih_tx *tx, ih_undo_fn fn, void *arg);

/* Work that must run last in a transaction, just before it commits (the
 * audit journal's PostgreSQL appends: they take the journal's lock, so they
 * wait as late as possible).  fn(tx, arg) runs on the committing thread,
 * in registration order, after the callback returned IH_OK; an error fails
 * the transaction.  done(arg), when given, runs exactly once when the
 * transaction is over (committed, rolled back, or fn never ran).  On
 * PostgreSQL a group of callbacks shares one transaction: each callback's
 * hooks run in the callbacks' order, all before the one COMMIT, and
 * ih_tx_physical() is the same for all of them.  At most IH_TX_UNDO. */
typedef void (*ih_tx_done_fn)(void *arg);
ih_err ih_tx_before_commit(ih_tx *tx, ih_tx_fn fn, ih_tx_done_fn done, void *arg);
/* A number naming the database transaction tx is part of, unique in the
 * process (0 on SQLite, whose writer is one thread anyway). */
uint64_t ih_tx_physical(const ih_tx *tx);
/* The arg of the before-commit hook fn registered last in tx, or NULL. */
void *ih_tx_before_commit_arg(const ih_tx *tx, ih_tx_fn fn);

/* Rows whose new version the audit journal should know (audit/audit.h):
 * a writer of a MAC'd row notes (table, id, version) here, and the next
 * audit event appended in tx names the rows noted since the one before.
 * `table` must outlive tx (a literal or a table descriptor's name).  At
 * most IH_TX_ROWS are kept per event; later ones are dropped, which only
 * means the journal knows an older version of those rows. */
#define IH_TX_ROWS 16
typedef struct ih_row_note {
    const char *table;
    int64_t id, rv;
} ih_row_note;
void ih_tx_note_row(ih_tx *tx, const char *table, int64_t id, int64_t rv);
/* Hand over the rows noted since the last call; returns how many. */
int ih_tx_take_rows(ih_tx *tx, ih_row_note out[IH_TX_ROWS]);

/* Prepare (or fetch from the connection's cache) a statement.  `sql` should
 * be a string literal: the cache is keyed by its address and text.  The
 * statement is valid until the next prepare of the same SQL or the end of
 * the transaction. */
ih_err ih_tx_prepare(ih_tx *tx, const char *sql, ih_stmt **out);

/* The transaction a statement belongs to. */
ih_tx *ih_stmt_tx(ih_stmt *st);

/* Bind parameter $idx (1-based).  Text and blob data are copied. */
void ih_stmt_int(ih_stmt *st, int idx, int64_t v);
void ih_stmt_text(ih_stmt *st, int idx, const char *s); /* NULL binds NULL */
void ih_stmt_textn(ih_stmt *st, int idx, const char *s, size_t n);
void ih_stmt_blob(ih_stmt *st, int idx, const void *p, size_t n); /* NULL binds NULL */
void ih_stmt_null(ih_stmt *st, int idx);

/* Advance: IH_OK with *row true (a row is available) or false (done). */
ih_err ih_stmt_step(ih_stmt *st, bool *row);
/* Run a statement that returns no rows (or ignore them). */
ih_err ih_stmt_exec(ih_stmt *st);
/* Run a statement whose outcome only matters to the commit: an INSERT or
 * UPDATE whose changed-row count nobody reads.  During a PostgreSQL group
 * commit's before-commit hooks it is sent without waiting for its answer
 * (libpq pipeline mode), and the whole run of them goes out with the COMMIT
 * in one round trip; an error in one fails the commit (the batch rolls back
 * and its callbacks run again alone).  A statement that needs its answer
 * (ih_stmt_step) goes out after the ones sent, in the same round trip, and
 * runs after them; an error among those is its error.  Anywhere else,
 * ih_stmt_exec. */
ih_err ih_stmt_exec_later(ih_stmt *st);
/* Rows changed by the last INSERT/UPDATE/DELETE run through this statement. */
int64_t ih_stmt_changes(ih_stmt *st);

/* Column accessors for the current row (0-based). */
bool ih_col_null(ih_stmt *st, int col);
int64_t ih_col_int(ih_stmt *st, int col);
const char *ih_col_text(ih_stmt *st, int col); /* "" for NULL; valid until next step */
/* The text and its length in bytes; NULL (and 0) for NULL. */
const char *ih_col_textn(ih_stmt *st, int col, size_t *n);
const uint8_t *ih_col_blob(ih_stmt *st, int col, size_t *n);

/* Next id for `name` (a table), allocated in this transaction. */
ih_err ih_tx_next_id(ih_tx *tx, const char *name, int64_t *id);

/* A consistent copy of the whole database at `path` (created 0600):
 *   SQLite      a database file, made with the online-backup API from a
 *               read snapshot (writers keep going);
 *   PostgreSQL  a pg_dump custom-format archive (pg_dump takes its own
 *               consistent snapshot; restore with pg_restore).  Chosen over
 *               pg_basebackup: it works against a remote server, restores into
 *               any empty database, and the standby covers physical failover. */
ih_err ih_store_snapshot(ih_store *s, const char *path);
/* Restore a PostgreSQL snapshot into the (empty) database `conninfo`. */
ih_err ih_store_pg_restore(const char *dump, const char *conninfo);

/* How pg_dump and pg_restore are told where to connect: the connection
 * string without its password as the --dbname argument (arguments are
 * visible to every local user), the password as PGPASSWORD in the child's
 * environment (readable only by its owner).  Free wipes the password. */
typedef struct ih_pg_tool_conn {
    ih_buf arg;     /* "host='…' port='…' user='…' dbname='…'" */
    char **env;     /* ihosd's environment, PGPASSWORD replaced when given */
    char *password; /* "PGPASSWORD=…" or NULL (owned; inside env) */
} ih_pg_tool_conn;
ih_err ih_pg_tool_conn_make(const char *conninfo, ih_pg_tool_conn *t);
void ih_pg_tool_conn_free(ih_pg_tool_conn *t);

/* Migrations: applied in version order, each in its own transaction. */
typedef struct ih_migration {
    int version;
    const char *name;
    const char *sql;    /* SQLite dialect; translated for PostgreSQL */
    const char *pg_sql; /* PostgreSQL text when translation is not enough */
} ih_migration;
ih_err ih_store_migrate(ih_store *s, const ih_migration *m, size_t n);
/* Highest applied migration version (0 for an empty database). */
ih_err ih_store_version(ih_store *s, int *version);

#endif
