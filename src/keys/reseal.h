/* reseal.h — moving sealed fields to the current key version, then retiring
 * the old versions (key rotation without downtime, L3 8.1.4.8b).
 *
 * Every sealed column of the database is named by one entry (the catalog,
 * app/catalog.h, derives them from each module's table descriptions): a
 * scan query ("SELECT id, <each of its columns> FROM <table> WHERE id > $1
 * ORDER BY id LIMIT $2"), a count query (rows whose ciphertext in any of
 * the entry's columns names a version below $1, a 4-byte big-endian blob)
 * and a callback that re-seals one row under the current key, refreshing
 * any row MAC that covers it.
 *
 * ih_reseal_pass() walks every entry and re-seals rows whose ciphertext
 * names an older version.  It retires a purpose's old versions only when
 *   - the pass started at least `grace_ms` after the newest version was made
 *     (writers in other processes reload keys every few seconds),
 *   - every column of the database that holds sealed values (named
 *     `*_enc`, or listed by an entry) is named by an entry — a table the
 *     catalog forgot makes the pass refuse to retire anything, and
 *   - inside the retiring transaction, the count query of every entry of
 *     that purpose finds no row left under an old version.
 * A version still in use is never retired: its rows would never open again.
 */
#ifndef IH_KEYS_RESEAL_H
#define IH_KEYS_RESEAL_H

#include "audit/audit.h"
#include "crypto/keyring.h"
#include "keys/protected.h"
#include "store/store.h"

/* Rows of every entry that hold a ciphertext the keyring cannot open (a
 * version it does not have): the integrity scan's check that nothing was
 * left behind by a retirement.  `bad` gets each (table, id). */
ih_err ih_reseal_scan_versions(ih_store *s, ih_keyring *k, const ih_sealed_column *cols, size_t n, uint64_t *rows,
                               uint64_t *nbad, void (*bad)(void *ctx, const char *table, int64_t id), void *ctx);

typedef struct ih_reseal_report {
    uint64_t resealed;
    uint64_t remaining; /* rows still under an old version after the pass */
    int retired;        /* key versions retired */
    char refused[256];  /* why retirement was refused, or "" */
} ih_reseal_report;

ih_err ih_reseal_pass(ih_store *s, ih_keyring *k, ih_audit *a, const ih_sealed_column *cols, size_t n, int64_t grace_ms,
                      ih_reseal_report *r);

/* Sealed columns owned by the keys module (signing_key.private_enc). */
size_t ih_keys_sealed_columns(ih_keyring *k, ih_sealed_column *out, size_t cap);

#endif
