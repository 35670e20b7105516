/* reseal.c — see reseal.h. */
#include "keys/reseal.h"

#include "core/clock.h"
#include "core/log.h"
#include "crypto/protect.h"
#include "keys/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN 1000

/* How many names a comma-separated column list holds. */
static int count_columns(const char *list)
{
    int n = 1;
    for (const char *p = list; *p; p++) n += *p == ',';
    return n;
}

typedef struct {
    const ih_sealed_column *c;
    uint32_t current;
    int64_t after;
    int64_t ids[SCAN];
    int nids, scanned;
    int64_t last;
} scan_arg;

static ih_err scan_fn(ih_tx *tx, void *arg)
{
    scan_arg *s = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, s->c->scan_sql, &st));
    ih_stmt_int(st, 1, s->after);
    ih_stmt_int(st, 2, SCAN);
    s->nids = s->scanned = 0;
    int ncols = count_columns(s->c->columns);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        s->scanned++;
        s->last = ih_col_int(st, 0);
        for (int c = 1; c <= ncols; c++) {
            size_t n;
            const uint8_t *ct = ih_col_blob(st, c, &n);
            if (!ct) continue; /* NULL: nothing sealed */
            int64_t v = ih_aead_version(ct, n);
            if (v > 0 && (uint32_t)v < s->current) {
                s->ids[s->nids++] = s->last;
                break;
            }
        }
    }
    return e;
}

typedef struct {
    const ih_sealed_column *c;
    const int64_t *ids;
    int n;
    ih_audit *a;
} reseal_arg;

static ih_err reseal_fn(ih_tx *tx, void *arg)
{
    reseal_arg *r = arg;
    for (int i = 0; i < r->n; i++) IH_TRY(r->c->reseal(r->c->ctx, tx, r->ids[i]));
    char n[32];
    snprintf(n, sizeof n, "%d rows", r->n);
    ih_audit_event ev = {.action = "key.reencrypt", .object_type = "table", .object_id = r->c->table, .reason = n};
    return ih_audit_append(r->a, tx, &(ih_actor){.id = 0, .role = "system"}, &ev);
}

typedef struct {
    ih_key_purpose p;
    uint32_t current;
    int64_t current_created;
    uint32_t old[IH_KEY_MAX_VERSIONS];
    int nold;
    ih_audit *a;
    const ih_sealed_column *cols;
    size_t ncols;
} retire_arg;

static ih_err created_fn(ih_tx *tx, void *arg)
{
    retire_arg *r = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT created_at FROM dek WHERE purpose = $1 AND version = $2", &st));
    ih_stmt_int(st, 1, r->p);
    ih_stmt_int(st, 2, r->current);
    IH_TRY(ih_stmt_step(st, &row));
    r->current_created = row ? ih_col_int(st, 0) : INT64_MAX;
    return IH_OK;
}

/* Rows of entry c under a version below `current`. */
static ih_err count_old(ih_tx *tx, const ih_sealed_column *c, uint32_t current, int64_t *n)
{
    uint8_t v[4] = {(uint8_t)(current >> 24), (uint8_t)(current >> 16), (uint8_t)(current >> 8), (uint8_t)current};
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, c->count_sql, &st));
    ih_stmt_blob(st, 1, v, sizeof v);
    IH_TRY(ih_stmt_step(st, &row));
    *n = row ? ih_col_int(st, 0) : 0;
    return ih_stmt_exec(st);
}

static ih_err retire_fn(ih_tx *tx, void *arg)
{
    retire_arg *r = arg;
    /* The last word, in the retiring transaction: no row of any entry of
     * this purpose may still need an old version. */
    for (size_t i = 0; i < r->ncols; i++) {
        if (r->cols[i].purpose != r->p) continue;
        int64_t n;
        IH_TRY(count_old(tx, &r->cols[i], r->current, &n));
        if (n)
            return ih_fail(IH_E_STATE, "%lld rows of %s still use a %s key older than v%u", (long long)n,
                           r->cols[i].table, ih_key_purpose_name(r->p), r->current);
    }
    for (int i = 0; i < r->nold; i++) {
        IH_TRY(ih_keys_retire(tx, r->p, r->old[i], ih_now_ms()));
        char oid[48];
        snprintf(oid, sizeof oid, "%s/v%u", ih_key_purpose_name(r->p), r->old[i]);
        ih_audit_event ev = {.action = "key.retire", .object_type = "key", .object_id = oid};
        IH_TRY(ih_audit_append(r->a, tx, &(ih_actor){.id = 0, .role = "system"}, &ev));
    }
    return IH_OK;
}

ih_err ih_reseal_pass(ih_store *s, ih_keyring *k, ih_audit *a, const ih_sealed_column *cols, size_t n, int64_t grace_ms,
                      ih_reseal_report *r)
{
    memset(r, 0, sizeof *r);
    int64_t started = ih_now_ms();
    uint64_t remaining[IH_KP__COUNT] = {0};
    bool touched[IH_KP__COUNT] = {false};
    scan_arg *sa = malloc(sizeof *sa);
    IH_CHECK_ALLOC(sa);
    ih_err e = IH_OK;
    for (size_t i = 0; e == IH_OK && i < n; i++) {
        const ih_dek *cur = ih_keyring_current(k, cols[i].purpose);
        if (!cur) continue;
        touched[cols[i].purpose] = true;
        *sa = (scan_arg){.c = &cols[i], .current = cur->version, .after = 0};
        for (;;) {
            if ((e = ih_store_read(s, scan_fn, sa)) != IH_OK) break;
            if (sa->nids) {
                reseal_arg ra = {&cols[i], sa->ids, sa->nids, a};
                ih_err re = ih_store_write(s, reseal_fn, &ra);
                if (re == IH_OK) r->resealed += (uint64_t)sa->nids;
                else { /* leave them for the next pass */
                    remaining[cols[i].purpose] += (uint64_t)sa->nids;
                    ih_log(IH_LOG_WARN, "key.reencrypt_failed", "table", cols[i].table, "detail", ih_err_detail(), NULL);
                }
            }
            if (sa->scanned < SCAN) break;
            sa->after = sa->last;
        }
    }
    free(sa);
    IH_TRY(e);
    for (int p = 1; p < IH_KP__COUNT; p++) r->remaining += remaining[p];
    /* A column no entry names would keep old ciphertexts nobody re-seals:
     * then nothing is retired at all. */
    if (ih_protected_check_schema(s, cols, n, NULL, 0, r->refused, sizeof r->refused) != IH_OK) {
        ih_log(IH_LOG_ERROR, "key.retire_refused", "alert", "true", "detail", r->refused, NULL);
        ih_err_clear();
        return IH_OK;
    }
    for (int p = 1; p < IH_KP__COUNT; p++) {
        if (!touched[p] || remaining[p] || p == IH_KP_INDEX || p == IH_KP_INTEGRITY) continue;
        retire_arg ra = {.p = (ih_key_purpose)p, .a = a, .cols = cols, .ncols = n};
        uint32_t v[IH_KEY_MAX_VERSIONS];
        int nv = ih_keyring_versions(k, (ih_key_purpose)p, v, IH_KEY_MAX_VERSIONS);
        if (nv < 2) continue;
        ra.current = v[nv - 1];
        IH_TRY(ih_store_read(s, created_fn, &ra));
        if (started < ra.current_created + grace_ms) continue; /* too soon: writers may hold the old key */
        for (int i = 0; i < nv - 1; i++) ra.old[ra.nold++] = v[i];
        e = ih_store_write(s, retire_fn, &ra);
        if (e == IH_E_STATE) { /* rows written under an old key meanwhile: the next pass takes them */
            snprintf(r->refused, sizeof r->refused, "%s", ih_err_detail());
            ih_log(IH_LOG_WARN, "key.retire_refused", "detail", r->refused, NULL);
            ih_err_clear();
            continue;
        }
        IH_TRY(e);
        r->retired += ra.nold;
    }
    return IH_OK;
}

/* ---- versions still openable ---------------------------------------------------- */

typedef struct {
    const ih_sealed_column *c;
    ih_keyring *k;
    int64_t after;
    int scanned, nbad;
    int64_t bad[SCAN];
} version_arg;

static ih_err version_fn(ih_tx *tx, void *arg)
{
    version_arg *v = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, v->c->scan_sql, &st));
    ih_stmt_int(st, 1, v->after);
    ih_stmt_int(st, 2, SCAN);
    v->scanned = v->nbad = 0;
    int ncols = count_columns(v->c->columns);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        v->scanned++;
        v->after = ih_col_int(st, 0);
        for (int c = 1; c <= ncols; c++) {
            size_t n;
            const uint8_t *ct = ih_col_blob(st, c, &n);
            if (!ct) continue;
            int64_t ver = ih_aead_version(ct, n);
            if (ver <= 0 || !ih_keyring_get(v->k, v->c->purpose, (uint32_t)ver)) {
                v->bad[v->nbad++] = v->after;
                break;
            }
        }
    }
    return e;
}

ih_err ih_reseal_scan_versions(ih_store *s, ih_keyring *k, const ih_sealed_column *cols, size_t n, uint64_t *rows,
                               uint64_t *nbad, void (*bad)(void *ctx, const char *table, int64_t id), void *ctx)
{
    version_arg *v = malloc(sizeof *v);
    IH_CHECK_ALLOC(v);
    ih_err e = IH_OK;
    for (size_t i = 0; e == IH_OK && i < n; i++) {
        *v = (version_arg){.c = &cols[i], .k = k};
        do {
            if ((e = ih_store_read(s, version_fn, v)) != IH_OK) break;
            *rows += (uint64_t)v->scanned;
            *nbad += (uint64_t)v->nbad;
            for (int j = 0; bad && j < v->nbad; j++) bad(ctx, cols[i].table, v->bad[j]);
        } while (v->scanned == SCAN);
    }
    free(v);
    return e;
}

/* ---- signing_key.private_enc ------------------------------------------------------ */

static ih_err reseal_signing(void *ctx, ih_tx *tx, int64_t id) { return ih_signkey_reseal(tx, ctx, id); }

size_t ih_keys_sealed_columns(ih_keyring *k, ih_sealed_column *out, size_t cap)
{
    if (cap < 1) return 0;
    out[0] = (ih_sealed_column){"signing_key", "private_enc", IH_KP_SIGNING,
                                "SELECT id, private_enc FROM signing_key WHERE id > $1 ORDER BY id LIMIT $2",
                                "SELECT count(*) FROM signing_key WHERE substr(private_enc, 2, 4) < $1", reseal_signing,
                                k, "签名人执业期间及其后至少15年（签名须可核验）"};
    return 1;
}
