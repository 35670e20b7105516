/* maintenance.c — the report module's rows under key rotation and
 * integrity scans (keys/protected.h): outbox payloads and MACs, the
 * platform's appSecret. */
#include "report/report_impl.h"

#include "core/log.h"
#include "crypto/protect.h"
#include "keys/keys.h"
#include "keys/protected.h"

#include <stdio.h>
#include <string.h>

/* ---- outbox --------------------------------------------------------------------- */

static ih_err reseal_outbox(void *ctx, ih_tx *tx, int64_t id)
{
    ih_report *r = ctx;
    ob_row row = {0};
    bool found;
    ih_buf pt = IH_BUF_INIT;
    ih_err e = ob_load(r, tx, id, &row, &found);
    if (e == IH_OK && found) e = ob_open_payload(r, tx, &row, &pt);
    if (e == IH_OK && found) {
        ih_buf_reset(&row.payload_ct);
        e = ih_field_seal(r->o.keys, IH_KP_CLINICAL, "outbox", "payload", id, pt.p, pt.len, &row.payload_ct);
    }
    if (e == IH_OK && found) e = ob_save(r, tx, &row, false);
    ih_buf_wipe(&pt);
    ob_row_free(&row);
    return e;
}

typedef struct {
    ih_report *r;
    int64_t after;
    int got;
    uint64_t rows, bad;
    int64_t bad_ids[64];
    int nbad;
} scan_arg;

static ih_err outbox_fn(ih_tx *tx, void *arg)
{
    scan_arg *s = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    int64_t ids[500];
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM outbox WHERE id > $1 ORDER BY id LIMIT 500", &st));
    ih_stmt_int(st, 1, s->after);
    s->got = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) ids[s->got++] = ih_col_int(st, 0);
    IH_TRY(e);
    ob_row r = {0};
    for (int i = 0; i < s->got; i++) {
        bool found;
        s->rows++;
        s->after = ids[i];
        e = ob_load(s->r, tx, ids[i], &r, &found);
        if (e == IH_E_INTEGRITY) {
            s->bad++;
            if (s->nbad < 64) s->bad_ids[s->nbad++] = ids[i];
            ih_err_clear();
        } else if (e != IH_OK) {
            break;
        }
    }
    ob_row_free(&r);
    return e == IH_E_INTEGRITY ? IH_OK : e;
}

static ih_err scan_outbox(void *ctx, uint64_t *rows, uint64_t *bad)
{
    scan_arg s = {.r = ctx};
    do {
        IH_TRY(ih_store_read(s.r->o.store, outbox_fn, &s));
    } while (s.got == 500);
    for (int i = 0; i < s.nbad; i++) {
        char oid[24];
        snprintf(oid, sizeof oid, "%lld", (long long)s.bad_ids[i]);
        ih_log(IH_LOG_ERROR, "integrity.violation", "alert", "true", "table", "outbox", "row", oid, NULL);
        ih_audit_event ev = {.action = "integrity.violation", .object_type = "outbox", .object_id = oid,
                             .result = IH_E_INTEGRITY};
        ih_audit_record(s.r->o.audit, &(ih_actor){.id = 0, .role = "system"}, &ev);
    }
    *rows += s.rows;
    *bad += s.bad;
    return IH_OK;
}

/* ---- the platform secret: one row per profile, bound to the profile's name ---------- */

static ih_err reseal_secret(void *ctx, ih_tx *tx, int64_t n)
{
    ih_report *r = ctx;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT profile, secret_enc FROM (SELECT row_number() OVER (ORDER BY profile) AS n, "
                             "profile, secret_enc FROM report_secret) x WHERE n = $1", &st));
    ih_stmt_int(st, 1, n);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return IH_OK;
    char profile[64];
    snprintf(profile, sizeof profile, "%s", ih_col_text(st, 0));
    size_t len;
    const uint8_t *ct = ih_col_blob(st, 1, &len);
    ih_buf pt = IH_BUF_INIT, sealed = IH_BUF_INIT;
    ih_err e = ih_keys_field_open(tx, r->o.keys, IH_KP_SECRET, "report_secret", profile, 0, ct, len, &pt);
    if (e == IH_OK) e = ih_stmt_exec(st);
    if (e == IH_OK) e = ih_field_seal(r->o.keys, IH_KP_SECRET, "report_secret", profile, 0, pt.p, pt.len, &sealed);
    ih_buf_wipe(&pt);
    if (e == IH_OK) e = ih_tx_prepare(tx, "UPDATE report_secret SET secret_enc = $2 WHERE profile = $1", &st);
    if (e == IH_OK) {
        ih_stmt_text(st, 1, profile);
        ih_stmt_blob(st, 2, sealed.p, sealed.len);
        e = ih_stmt_exec(st);
    }
    ih_buf_free(&sealed);
    return e;
}

size_t ih_report_sealed_columns(ih_report *r, ih_sealed_column *out, size_t cap)
{
    if (cap < 2) return 0;
    out[0] = (ih_sealed_column){"outbox", "payload_enc", IH_KP_CLINICAL,
                                "SELECT id, payload_enc FROM outbox WHERE id > $1 ORDER BY id LIMIT $2",
                                "SELECT count(*) FROM outbox WHERE substr(payload_enc, 2, 4) < $1", reseal_outbox, r,
                                "至少6个月（上报凭证，可追溯）"};
    /* keyed by profile name: numbered in name order for the pass */
    out[1] = (ih_sealed_column){"report_secret", "secret_enc", IH_KP_SECRET,
                                "SELECT n, secret_enc FROM (SELECT row_number() OVER (ORDER BY profile) AS n, "
                                "secret_enc FROM report_secret) x WHERE n > $1 ORDER BY n LIMIT $2",
                                "SELECT count(*) FROM report_secret WHERE substr(secret_enc, 2, 4) < $1",
                                reseal_secret, r, "配置存续期间（平台接入凭据）"};
    return 2;
}

size_t ih_report_mac_scans(ih_report *r, ih_mac_scan *out, size_t cap)
{
    if (cap < 1) return 0;
    out[0] = (ih_mac_scan){"outbox", scan_outbox, r};
    return 1;
}
