/* catalog.c — see catalog.h. */
#include "app/catalog.h"

#include "core/log.h"
#include "keys/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* role_grant rows (policy/perm.h). */
static ih_err scan_grants(void *ctx, uint64_t *rows, uint64_t *bad)
{
    ih_catalog *c = ctx;
    int64_t bad_ids[64];
    int nbad = 0;
    uint64_t n = 0;
    IH_TRY(ih_policy_scan(c->store, c->keys, &n, bad_ids, 64, &nbad));
    for (int i = 0; i < nbad; i++) {
        char row[24];
        snprintf(row, sizeof row, "%lld", (long long)bad_ids[i]);
        ih_log(IH_LOG_ERROR, "integrity.violation", "alert", "true", "table", "role_grant", "row", row, NULL);
    }
    *rows += n;
    *bad += (uint64_t)nbad;
    return IH_OK;
}

/* signing_key rows (keys/keys.h). */
static ih_err scan_signing(void *ctx, uint64_t *rows, uint64_t *bad)
{
    ih_catalog *c = ctx;
    return ih_signkey_scan(c->store, c->keys, rows, bad);
}

void ih_catalog_build(ih_catalog *c, ih_store *s, ih_keyring *k, ih_identity *id, ih_clinic *cl, ih_report *r)
{
    memset(c, 0, sizeof *c);
    c->store = s;
    c->keys = k;
    size_t n = ih_keys_sealed_columns(k, c->sealed, IH_CATALOG_MAX);
    n += ih_identity_sealed_columns(id, c->sealed + n, IH_CATALOG_MAX - n);
    n += ih_clinic_sealed_columns(cl, c->sealed + n, IH_CATALOG_MAX - n);
    if (r) n += ih_report_sealed_columns(r, c->sealed + n, IH_CATALOG_MAX - n);
    c->nsealed = n;
    n = ih_identity_mac_scans(id, c->scans, IH_CATALOG_MAX);
    c->scans[n++] = (ih_mac_scan){"role_grant", scan_grants, c};
    c->scans[n++] = (ih_mac_scan){"signing_key", scan_signing, c};
    n += ih_clinic_mac_scans(cl, c->scans + n, IH_CATALOG_MAX - n);
    if (r) n += ih_report_mac_scans(r, c->scans + n, IH_CATALOG_MAX - n);
    c->nscans = n;
}

ih_err ih_catalog_reseal(ih_catalog *c, ih_audit *a, int64_t grace_ms, ih_reseal_report *r)
{
    return ih_reseal_pass(c->store, c->keys, a, c->sealed, c->nsealed, grace_ms, r);
}

typedef struct {
    ih_audit *a;
} version_ctx;

static void unopenable(void *ctx, const char *table, int64_t id)
{
    version_ctx *v = ctx;
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)id);
    ih_log(IH_LOG_ERROR, "integrity.violation", "alert", "true", "table", table, "row", oid, "detail",
           "sealed under a key version the keyring does not hold", NULL);
    ih_audit_event ev = {.action = "integrity.violation", .object_type = table, .object_id = oid,
                         .result = IH_E_INTEGRITY, .reason = "key version missing"};
    ih_audit_record(v->a, &(ih_actor){.id = 0, .role = "system"}, &ev);
}

/* ---- rows against the journal's versions ----------------------------------------- */

typedef struct {
    const char *table;
    char sql[512];
    uint64_t missing, older;
    int64_t bad[64];
    bool gone[64];
    int nbad;
} journal_arg;

static ih_err journal_fn(ih_tx *tx, void *arg)
{
    journal_arg *j = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, j->sql, &st));
    ih_stmt_text(st, 1, j->table);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        bool gone = ih_col_null(st, 2);
        if (gone) j->missing++;
        else j->older++;
        if (j->nbad < 64) {
            j->gone[j->nbad] = gone;
            j->bad[j->nbad++] = ih_col_int(st, 0);
        }
    }
    return e;
}

/* Rows of `table` the journal names at a version the table no longer has. */
static ih_err journal_check(ih_catalog *c, ih_audit *a, const char *table, ih_integrity_report *r)
{
    journal_arg *j = calloc(1, sizeof *j);
    IH_CHECK_ALLOC(j);
    j->table = table;
    snprintf(j->sql, sizeof j->sql,
             "SELECT a.row_id, a.rv, t.rv FROM (SELECT row_id, max(rv) AS rv FROM audit_version WHERE tbl = $1 "
             "GROUP BY row_id) a LEFT JOIN %s t ON t.id = a.row_id WHERE t.id IS NULL OR t.rv < a.rv ORDER BY a.row_id",
             table);
    ih_err e = ih_store_read(c->store, journal_fn, j);
    for (int i = 0; e == IH_OK && i < j->nbad; i++) {
        char oid[24];
        snprintf(oid, sizeof oid, "%lld", (long long)j->bad[i]);
        const char *why = j->gone[i] ? "deleted: the audit journal recorded it" : "older than the audit journal recorded";
        ih_log(IH_LOG_ERROR, "integrity.violation", "alert", "true", "table", table, "row", oid, "detail", why, NULL);
        ih_audit_event ev = {.action = "integrity.violation", .object_type = table, .object_id = oid,
                             .result = IH_E_INTEGRITY, .reason = j->gone[i] ? "row deleted" : "row rolled back"};
        ih_audit_record(a, &(ih_actor){.id = 0, .role = "system"}, &ev);
    }
    r->missing += j->missing;
    r->older += j->older;
    free(j);
    return e;
}

ih_err ih_catalog_scan(ih_catalog *c, ih_audit *a, ih_integrity_report *r)
{
    memset(r, 0, sizeof *r);
    ih_err e = ih_protected_check_schema(c->store, c->sealed, c->nsealed, c->scans, c->nscans, r->schema_problem,
                                         sizeof r->schema_problem);
    if (e != IH_OK) {
        if (!r->schema_problem[0]) return e; /* the check itself failed */
        ih_log(IH_LOG_ERROR, "integrity.schema", "alert", "true", "detail", r->schema_problem, NULL);
        ih_err_clear();
    }
    for (size_t i = 0; i < c->nscans; i++) {
        uint64_t before = r->bad + r->missing + r->older;
        IH_TRY(c->scans[i].scan(c->scans[i].ctx, &r->rows, &r->bad));
        IH_TRY(journal_check(c, a, c->scans[i].table, r));
        if (r->bad + r->missing + r->older != before) {
            size_t l = strlen(r->bad_tables);
            snprintf(r->bad_tables + l, sizeof r->bad_tables - l, "%s%s", l ? "," : "", c->scans[i].table);
        }
    }
    version_ctx v = {a};
    return ih_reseal_scan_versions(c->store, c->keys, c->sealed, c->nsealed, &r->sealed_rows, &r->unopenable,
                                   unopenable, &v);
}
