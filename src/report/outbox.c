/* outbox.c — outbox rows: reading and writing them (sealed payload, row
 * MAC over everything that decides what is sent and whether it was), and
 * ih_report_put, which runs inside the business transaction. */
#include "report/report_impl.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "crypto/protect.h"
#include "keys/keys.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ob_row_free(ob_row *row) { ih_buf_free(&row->payload_ct); }

static ih_err row_mac(ih_report *r, const ob_row *row, uint8_t mac[IH_MAC_LEN])
{
    ih_canon c = {0};
    ih_canon_text(&c, row->kind);
    ih_canon_text(&c, row->method);
    ih_canon_text(&c, row->key);
    ih_canon_int(&c, row->version);
    ih_canon_blob(&c, row->payload_ct.p, row->payload_ct.len);
    ih_canon_text(&c, row->state);
    ih_canon_int(&c, row->attempts);
    ih_canon_int(&c, row->depends_on);
    ih_canon_int(&c, row->created_at);
    ih_canon_int(&c, row->sent_at);
    if (row->rv > 0) {
        ih_canon_text(&c, "rv");
        ih_canon_int(&c, row->rv);
    }
    ih_err e = ih_row_mac(r->o.keys, "outbox", row->id, &c, mac);
    ih_canon_free(&c);
    return e;
}

ih_err ob_read(ih_report *r, ih_stmt *st, ob_row *row)
{
    ob_row_free(row);
    memset(row, 0, sizeof *row);
    row->id = ih_col_int(st, 0);
    snprintf(row->kind, sizeof row->kind, "%s", ih_col_text(st, 1));
    snprintf(row->method, sizeof row->method, "%s", ih_col_text(st, 2));
    snprintf(row->key, sizeof row->key, "%s", ih_col_text(st, 3));
    row->version = ih_col_int(st, 4);
    size_t n;
    const uint8_t *ct = ih_col_blob(st, 5, &n);
    IH_TRY(ih_buf_append(&row->payload_ct, ct, n));
    snprintf(row->state, sizeof row->state, "%s", ih_col_text(st, 6));
    row->attempts = ih_col_int(st, 7);
    row->next_at = ih_col_int(st, 8);
    row->depends_on = ih_col_null(st, 9) ? 0 : ih_col_int(st, 9);
    snprintf(row->last_error, sizeof row->last_error, "%s", ih_col_text(st, 10));
    row->created_at = ih_col_int(st, 11);
    row->sent_at = ih_col_null(st, 12) ? 0 : ih_col_int(st, 12);
    row->rv = ih_col_int(st, 14);
    const uint8_t *mac = ih_col_blob(st, 13, &n);
    uint8_t want[IH_MAC_LEN];
    IH_TRY(row_mac(r, row, want));
    if (!mac || n != IH_MAC_LEN || CRYPTO_memcmp(mac, want, IH_MAC_LEN))
        return ih_fail(IH_E_INTEGRITY, "outbox %lld: the row MAC does not verify", (long long)row->id);
    return IH_OK;
}

ih_err ob_load(ih_report *r, ih_tx *tx, int64_t id, ob_row *row, bool *found)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT " OB_COLUMNS " FROM outbox WHERE id = $1", &st));
    ih_stmt_int(st, 1, id);
    IH_TRY(ih_stmt_step(st, found));
    return *found ? ob_read(r, st, row) : IH_OK;
}

ih_err ob_save(ih_report *r, ih_tx *tx, ob_row *row, bool insert)
{
    uint8_t mac[IH_MAC_LEN];
    row->rv = insert ? 1 : row->rv + 1;
    IH_TRY(row_mac(r, row, mac));
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, insert ? "INSERT INTO outbox (id, kind, method, business_key, version, payload_enc, state, "
                                      "attempts, next_at, depends_on, last_error, created_at, sent_at, updated_at, mac, "
                                      "rv) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                                    : "UPDATE outbox SET kind = $2, method = $3, business_key = $4, version = $5, "
                                      "payload_enc = $6, state = $7, attempts = $8, next_at = $9, depends_on = $10, "
                                      "last_error = $11, created_at = $12, sent_at = $13, updated_at = $14, mac = $15, "
                                      "rv = $16 WHERE id = $1",
                         &st));
    ih_stmt_int(st, 1, row->id);
    ih_stmt_text(st, 2, row->kind);
    ih_stmt_text(st, 3, row->method);
    ih_stmt_text(st, 4, row->key);
    ih_stmt_int(st, 5, row->version);
    ih_stmt_blob(st, 6, row->payload_ct.p, row->payload_ct.len);
    ih_stmt_text(st, 7, row->state);
    ih_stmt_int(st, 8, row->attempts);
    ih_stmt_int(st, 9, row->next_at);
    if (row->depends_on) ih_stmt_int(st, 10, row->depends_on);
    else ih_stmt_null(st, 10);
    ih_stmt_text(st, 11, row->last_error[0] ? row->last_error : NULL);
    ih_stmt_int(st, 12, row->created_at);
    if (row->sent_at) ih_stmt_int(st, 13, row->sent_at);
    else ih_stmt_null(st, 13);
    ih_stmt_int(st, 14, ih_now_ms());
    ih_stmt_blob(st, 15, mac, IH_MAC_LEN);
    ih_stmt_int(st, 16, row->rv);
    IH_TRY(ih_stmt_exec(st));
    ih_tx_note_row(tx, "outbox", row->id, row->rv);
    return IH_OK;
}

ih_err ob_save_delivery(ih_report *r, ih_tx *tx, ob_row *row, bool *saved)
{
    uint8_t mac[IH_MAC_LEN];
    row->rv++;
    ih_err e = row_mac(r, row, mac);
    ih_stmt *st = NULL;
    if (e == IH_OK)
        e = ih_tx_prepare(tx, "UPDATE outbox SET state = $2, attempts = $3, next_at = $4, last_error = $5, sent_at = $6, "
                              "updated_at = $7, mac = $8, rv = $9 WHERE id = $1 AND rv = $10",
                          &st);
    if (e == IH_OK) {
        ih_stmt_int(st, 1, row->id);
        ih_stmt_text(st, 2, row->state);
        ih_stmt_int(st, 3, row->attempts);
        ih_stmt_int(st, 4, row->next_at);
        ih_stmt_text(st, 5, row->last_error[0] ? row->last_error : NULL);
        if (row->sent_at) ih_stmt_int(st, 6, row->sent_at);
        else ih_stmt_null(st, 6);
        ih_stmt_int(st, 7, ih_now_ms());
        ih_stmt_blob(st, 8, mac, IH_MAC_LEN);
        ih_stmt_int(st, 9, row->rv);
        ih_stmt_int(st, 10, row->rv - 1);
        e = ih_stmt_exec(st);
    }
    *saved = e == IH_OK && ih_stmt_changes(st) == 1;
    if (!*saved) {
        row->rv--;
        return e;
    }
    ih_tx_note_row(tx, "outbox", row->id, row->rv);
    return IH_OK;
}

ih_err ob_claimed(ih_tx *tx, int64_t id, bool *claimed)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT 1 FROM outbox_inflight WHERE outbox_id = $1", &st));
    ih_stmt_int(st, 1, id);
    return ih_stmt_step(st, claimed);
}

ih_err ob_open_payload(ih_report *r, ih_tx *tx, const ob_row *row, ih_buf *out)
{
    return ih_keys_field_open(tx, r->o.keys, IH_KP_CLINICAL, "outbox", "payload", row->id, row->payload_ct.p,
                              row->payload_ct.len, out);
}

static ih_err seal(ih_report *r, ob_row *row, const char *json)
{
    ih_buf_reset(&row->payload_ct);
    return ih_field_seal(r->o.keys, IH_KP_CLINICAL, "outbox", "payload", row->id, json, strlen(json), &row->payload_ct);
}

/* When the next upload is allowed: now (realtime) or the next nightly run. */
static int64_t due_time(ih_report *r, int64_t now)
{
    if (strcmp(r->cadence, "nightly")) return now;
    int hh = atoi(r->nightly_at), mm = atoi(r->nightly_at + 3);
    int64_t off = (int64_t)r->o.utc_offset_minutes * 60000, local = now + off;
    int64_t day = local / 86400000LL * 86400000LL, at = day + ((int64_t)hh * 60 + mm) * 60000;
    if (at <= local) at += 86400000LL;
    return at - off;
}

ih_err ih_report_put(ih_report *r, ih_tx *tx, const char *kind, const char *key, json_t *fact)
{
    const char *method = r->profile->method(kind);
    if (!method) return IH_OK; /* this platform does not ask for it */
    /* The platform record, snapshotted now; a fact that cannot be mapped is
     * kept (dead, with the reason) rather than failing the business change. */
    uint8_t secret_none[1] = {0};
    json_t *org = json_object_get(fact, "_organ"); /* the institution's, where the configuration is silent */
    const char *oid = r->organ_id[0] ? r->organ_id : json_string_value(json_object_get(org, "organ_id"));
    const char *uid = r->unit_id[0] ? r->unit_id : json_string_value(json_object_get(org, "unit_id"));
    const char *oname = r->organ_name[0] ? r->organ_name : json_string_value(json_object_get(org, "name"));
    ih_profile_ctx ctx = {r->app_key, secret_none, 0, oid ? oid : "", uid ? uid : "", oname ? oname : "",
                          r->o.utc_offset_minutes};
    json_t *rec = NULL;
    char map_error[200] = "";
    ih_err me = r->profile->map(kind, fact, &ctx, &rec);
    if (me != IH_OK) {
        snprintf(map_error, sizeof map_error, "not sent: %s", ih_err_public()[0] ? ih_err_public() : ih_err_detail());
        ih_err_clear();
    }
    ih_buf json = IH_BUF_INIT;
    ih_err e = rec ? ih_json_dump(rec, JSON_COMPACT, &json) : ih_buf_puts(&json, "null");
    json_decref(rec);
    int64_t now = ih_now_ms();
    ob_row row = {0}, last = {0};
    /* the latest version of this business key */
    ih_stmt *st;
    bool have = false;
    if (e == IH_OK)
        e = ih_tx_prepare(tx, "SELECT id FROM outbox WHERE method = $1 AND business_key = $2 ORDER BY version DESC LIMIT 1",
                          &st);
    if (e == IH_OK) {
        ih_stmt_text(st, 1, method);
        ih_stmt_text(st, 2, key);
        e = ih_stmt_step(st, &have);
    }
    bool found = false, claimed = false;
    if (e == IH_OK && have) e = ob_load(r, tx, ih_col_int(st, 0), &last, &found);
    if (e == IH_OK && found) e = ob_claimed(tx, last.id, &claimed); /* being sent: its record stays as it went */
    if (e == IH_OK && found && !claimed && (!strcmp(last.state, "pending") || !strcmp(last.state, "dead"))) {
        /* not sent yet: the newer fact replaces the payload */
        e = seal(r, &last, json.p);
        snprintf(last.state, sizeof last.state, "%s", map_error[0] ? "dead" : "pending");
        snprintf(last.last_error, sizeof last.last_error, "%s", map_error);
        last.next_at = due_time(r, now);
        if (e == IH_OK) e = ob_save(r, tx, &last, false);
    } else if (e == IH_OK) {
        snprintf(row.kind, sizeof row.kind, "%s", kind);
        snprintf(row.method, sizeof row.method, "%s", method);
        snprintf(row.key, sizeof row.key, "%s", key);
        row.version = found ? last.version + 1 : 1;
        row.created_at = now;
        row.next_at = due_time(r, now);
        snprintf(row.state, sizeof row.state, "%s", map_error[0] ? "dead" : "pending");
        snprintf(row.last_error, sizeof row.last_error, "%s", map_error);
        if (found && !r->profile->updatable(kind)) {
            /* a final-state record changed after it went out: never a blind re-send */
            snprintf(row.state, sizeof row.state, "dead");
            snprintf(row.last_error, sizeof row.last_error,
                     "changed after version %lld was %s; this platform has no update for %s: check, then "
                     "`ihos report retry` to send it again",
                     (long long)last.version, last.state, kind);
        }
        /* evaluations wait for the visit they evaluate */
        json_t *dep = json_object_get(fact, "_depends");
        if (json_is_object(dep)) {
            const char *dm = r->profile->method(json_string_value(json_object_get(dep, "kind")));
            bool drow = false;
            if (dm && (e = ih_tx_prepare(tx, "SELECT id FROM outbox WHERE method = $1 AND business_key = $2 "
                                             "ORDER BY version LIMIT 1", &st)) == IH_OK) {
                ih_stmt_text(st, 1, dm);
                ih_stmt_text(st, 2, json_string_value(json_object_get(dep, "key")));
                e = ih_stmt_step(st, &drow);
                if (e == IH_OK && drow) row.depends_on = ih_col_int(st, 0);
            }
        }
        if (e == IH_OK) e = ih_tx_next_id(tx, "outbox", &row.id);
        if (e == IH_OK) e = seal(r, &row, json.p);
        if (e == IH_OK) e = ob_save(r, tx, &row, true);
    }
    if (e == IH_OK && (map_error[0] || !strcmp(row.state, "dead")))
        ih_log(IH_LOG_ERROR, "report.dead", "alert", "true", "kind", kind, "key", key, "error",
               map_error[0] ? map_error : row.last_error, NULL);
    ih_buf_wipe(&json);
    ob_row_free(&row);
    ob_row_free(&last);
    return e;
}

typedef struct {
    ih_report *r;
    int n;
    bool more; /* a full page was read: look again */
    int64_t ids[1000];
    char keys[1000][168];
} recover_arg;

/* Rows claimed and not finished: the claims in outbox_inflight, and rows
 * left `sending` by a version before claims had their own table. */
static ih_err recover_fn(ih_tx *tx, void *arg)
{
    recover_arg *a = arg;
    a->n = 0;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT outbox_id, 1 FROM outbox_inflight UNION ALL "
                             "SELECT id, 0 FROM outbox WHERE state = 'sending' ORDER BY 1 LIMIT 1000",
                         &st));
    int64_t ids[1000];
    bool claimed[1000];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 1000) {
        claimed[n] = ih_col_int(st, 1) != 0;
        ids[n++] = ih_col_int(st, 0);
    }
    IH_TRY(e);
    a->more = n == 1000;
    ob_row o = {0};
    for (int i = 0; e == IH_OK && i < n; i++) {
        bool found;
        if (claimed[i] && (e = ih_tx_prepare(tx, "DELETE FROM outbox_inflight WHERE outbox_id = $1", &st)) == IH_OK) {
            ih_stmt_int(st, 1, ids[i]);
            e = ih_stmt_exec(st);
        }
        if (e == IH_OK) e = ob_load(a->r, tx, ids[i], &o, &found);
        if (e != IH_OK || !found || !strcmp(o.state, "sent") || !strcmp(o.state, "dead")) continue;
        snprintf(o.state, sizeof o.state, "unknown");
        snprintf(o.last_error, sizeof o.last_error, "the process stopped while this was being sent");
        if (claimed[i]) o.attempts++; /* a `sending` row counted its attempt when it was claimed */
        e = ob_save(a->r, tx, &o, false);
        a->ids[a->n] = ids[i];
        snprintf(a->keys[a->n++], sizeof a->keys[0], "%s %s", o.method, o.key);
    }
    ob_row_free(&o);
    return e;
}

ih_err ob_recover(ih_report *r, int *n)
{
    recover_arg *a = calloc(1, sizeof *a);
    IH_CHECK_ALLOC(a);
    a->r = r;
    ih_err e;
    *n = 0;
    do { /* the log is written after each commit, once per row */
        e = ih_store_write(r->o.store, recover_fn, a);
        for (int i = 0; e == IH_OK && i < a->n; i++) {
            char id[24];
            snprintf(id, sizeof id, "%lld", (long long)a->ids[i]);
            ih_log(IH_LOG_WARN, "report.possible_duplicate", "outbox", id, "record", a->keys[i], "reason",
                   "interrupted while sending: it is sent again, and the platform may store it twice", NULL);
        }
        *n += a->n;
    } while (e == IH_OK && a->more);
    free(a);
    return e;
}
