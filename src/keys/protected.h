/* protected.h — how a module describes the tables whose rows it protects,
 * so that every list that walks them (key rotation, integrity scans) is
 * derived from those descriptions and none can forget a table.
 *
 * A module hands out
 *   ih_sealed_column  per table and key purpose: the sealed columns, how to
 *                     find rows under an old key version and re-seal one
 *                     (keys/reseal.h walks them);
 *   ih_mac_scan       per table with a row MAC: a scan that checks every
 *                     row's MAC (and, where the module can, that each row
 *                     is not older than the journal says), recording and
 *                     alerting each failure.
 * The catalog (app/catalog.h) collects them from every module.
 *
 * ih_protected_check_schema() holds them against the live database: every
 * column that holds sealed values (by convention named `*_enc`) must be
 * named by a sealed-column entry, every table with a `mac` column must
 * have a scan, and every entry must name columns the database has.  Tests
 * run it on a fresh schema; key retirement refuses to proceed without it.
 */
#ifndef IH_KEYS_PROTECTED_H
#define IH_KEYS_PROTECTED_H

#include "crypto/keyring.h"
#include "store/store.h"

typedef struct ih_sealed_column {
    const char *table;     /* "account" */
    const char *columns;   /* its sealed columns of this purpose, comma-separated: "totp_enc,totp_pending" */
    ih_key_purpose purpose;
    const char *scan_sql;  /* "SELECT id, <each column> FROM <table> WHERE id > $1 ORDER BY id LIMIT $2" */
    const char *count_sql; /* rows with any column under a version below $1 (4 bytes, big-endian) */
    ih_err (*reseal)(void *ctx, ih_tx *tx, int64_t id);
    void *ctx;
    const char *retention; /* how long the rows are kept, and why (the filing's data inventory) */
} ih_sealed_column;

typedef struct ih_mac_scan {
    const char *table;
    /* Check every row; count rows and failures (each recorded as
     * integrity.violation and alerted by the module). */
    ih_err (*scan)(void *ctx, uint64_t *rows, uint64_t *bad);
    void *ctx;
} ih_mac_scan;

/* IH_OK, or IH_E_INTEGRITY with the first gap in `problem`.  scans may be
 * NULL (sealed columns only). */
ih_err ih_protected_check_schema(ih_store *s, const ih_sealed_column *cols, size_t ncols, const ih_mac_scan *scans,
                                 size_t nscans, char *problem, size_t len);

#endif
