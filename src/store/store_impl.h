/* store_impl.h — the contract between store.c and a backend (internal).
 *
 * A backend embeds `struct ih_store` as the first member of its store,
 * `struct ih_tx` of its transaction and `struct ih_stmt` of its statement,
 * and fills a store_ops table.  store.c owns the shared semantics: a failed
 * statement poisons the transaction (tx->failed), statistics, id allocation
 * and migrations.
 */
#ifndef IH_STORE_IMPL_H
#define IH_STORE_IMPL_H

#include "store/store.h"

#include <stdatomic.h>

typedef struct store_ops {
    ih_err (*write)(ih_store *s, ih_tx_fn fn, void *arg);
    ih_err (*read)(ih_store *s, ih_tx_fn fn, void *arg);
    ih_err (*read_one)(ih_store *s, ih_tx_fn fn, void *arg);
    ih_err (*scan)(ih_store *s, ih_tx_fn fn, void *arg);
    void (*close)(ih_store *s);
    ih_err (*prepare)(ih_tx *tx, const char *sql, ih_stmt **out);
    void (*bind_int)(ih_stmt *st, int idx, int64_t v);
    void (*bind_text)(ih_stmt *st, int idx, const char *s, size_t n);
    void (*bind_blob)(ih_stmt *st, int idx, const void *p, size_t n);
    void (*bind_null)(ih_stmt *st, int idx);
    ih_err (*step)(ih_stmt *st, bool *row);
    ih_err (*exec_later)(ih_stmt *st); /* NULL: ih_stmt_exec */
    int64_t (*changes)(ih_stmt *st);
    bool (*col_null)(ih_stmt *st, int col);
    int64_t (*col_int)(ih_stmt *st, int col);
    const char *(*col_text)(ih_stmt *st, int col);
    const char *(*col_textn)(ih_stmt *st, int col, size_t *n);
    const uint8_t *(*col_blob)(ih_stmt *st, int col, size_t *n);
    ih_err (*exec_script)(ih_tx *tx, const char *sql);
    ih_err (*snapshot)(ih_store *s, const char *path);
    ih_err (*next_id)(ih_tx *tx, const char *name, int64_t *id);
} store_ops;

struct ih_store {
    const store_ops *ops;
    ih_store_kind kind;
    _Atomic uint64_t write_txns, write_failed, batches, read_txns;
    int readers; /* connections reads may hold at once (ih_store_readers) */
};

typedef struct tx_undo {
    ih_undo_fn fn[IH_TX_UNDO];
    void *arg[IH_TX_UNDO];
    int n;
} tx_undo;

typedef struct tx_precommit {
    ih_tx_fn fn[IH_TX_UNDO];
    ih_tx_done_fn done[IH_TX_UNDO];
    void *arg[IH_TX_UNDO];
    int n;
} tx_precommit;

struct ih_tx {
    ih_store *store;
    bool write;
    bool failed;
    ih_err fail_code;
    uint64_t physical; /* ih_tx_physical */
    tx_undo undo; /* ih_tx_on_rollback */
    tx_precommit pre; /* ih_tx_before_commit */
    ih_row_note rows[IH_TX_ROWS]; /* ih_tx_note_row */
    int nrows;
};

struct ih_stmt {
    ih_tx *tx;
};

/* Mark tx failed with e (first failure wins) and return e. */
ih_err store_tx_fail(ih_tx *tx, ih_err e);
/* The transaction's changes were rolled back: run and forget its hooks. */
void store_undo_run(tx_undo *u);
/* Run tx's before-commit hooks in order (the first error stops them and
 * fails tx); then, or when they never run, store_precommit_done runs each
 * done function once and forgets them. */
ih_err store_precommit_run(ih_tx *tx);
void store_precommit_done(tx_precommit *p);

ih_err store_sqlite_open(const ih_store_opts *o, ih_store **out);
ih_err store_pg_open(const ih_store_opts *o, ih_store **out);
/* The PostgreSQL store's conninfo (store/watch.c connects with it); NULL on
 * SQLite. */
const char *store_pg_conninfo(ih_store *s);

/* ih_tx_next_id by one upsert of the counter row (which stays locked to the
 * end of the transaction). */
ih_err store_next_id_upsert(ih_tx *tx, const char *name, int64_t *id);

/* Translate SQLite DDL to PostgreSQL (INTEGER->BIGINT, BLOB->BYTEA,
 * WITHOUT ROWID dropped).  Caller frees. */
char *store_translate_ddl(const char *sql);

#endif
