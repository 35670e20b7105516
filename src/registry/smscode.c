/* smscode.c — one-time codes sent by SMS: the proof that someone holds a
 * phone, for self-registration and a patient's own password reset.
 *
 * A request gets a token (32 random bytes; only their digest is stored) and
 * a six-digit code goes to the phone by SMS; both are needed to go on.  A
 * code lives `code_minutes`, takes at most CL_CODE_TRIES tries (each counts,
 * right or wrong, and is written before the answer), and is used once.  A
 * phone gets at most `codes_per_phone_hour` messages.  Rows are MAC'd and
 * versioned; the phone, the code and what waits for the code (a
 * registration's details) are sealed under the personal key, and the code
 * and details are cleared once used or expired.
 *
 * A request whose phone does not match anything still gets a token and a
 * row with a code nobody was sent: its tries fail exactly like a wrong code,
 * so neither the answer nor its timing says whether a match existed. */
#include "registry/clinic_impl.h"

#include "core/clock.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>

#define SM (IH_FF_SERVER | IH_FF_MAC)

static const ih_field fields[] = {
    {"kind", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"token_hash", IH_F_BLOB, SM | IH_FF_PRIVATE, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"phone", IH_F_SEALED, SM | IH_FF_INDEX | IH_FF_PRIVATE, 0, 0, NULL, IH_KP_PERSONAL, IH_FIELD_PHONE, NULL},
    {"code", IH_F_SEALED, SM | IH_FF_PRIVATE, 0, 0, NULL, IH_KP_PERSONAL, IH_MASK_NONE, NULL},
    {"body", IH_F_SEALED, SM | IH_FF_PRIVATE, 0, 0, NULL, IH_KP_PERSONAL, IH_MASK_NONE, NULL},
    {"account_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"attempts", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"expires_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"used_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_sms_code = IH_TABLE("sms_code", fields, true, "验证码有效期内（过期作废）");

static ih_err token_digest(ih_clinic *c, const char *token, uint8_t out[IH_HASH_LEN])
{
    return ih_digest(ih_suite_md(ih_keyring_suite(c->o.keys)), token, strlen(token), out);
}

/* Six decimal digits, uniform (rejection sampling). */
static ih_err six_digits(char out[7])
{
    uint32_t v;
    do IH_TRY(ih_random(&v, sizeof v));
    while (v >= 4294000000u);
    snprintf(out, 7, "%06u", (unsigned)(v % 1000000u));
    return IH_OK;
}

static int code_minutes(const ih_clinic *c) { return c->o.code_minutes > 0 ? c->o.code_minutes : 10; }

typedef struct {
    ih_clinic *c;
    const cl_code_req *q;
    ih_row r;
    uint8_t phone_idx[32];
} issue_arg;

static ih_err issue_fn(ih_tx *tx, void *arg)
{
    issue_arg *a = arg;
    ih_clinic *c = a->c;
    int64_t now = ih_now_ms();
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT count(*) FROM sms_code WHERE phone_idx = $1 AND created_at > $2", &st));
    ih_stmt_blob(st, 1, a->phone_idx, sizeof a->phone_idx);
    ih_stmt_int(st, 2, now - 3600000);
    IH_TRY(ih_stmt_step(st, &row));
    int64_t sent = row ? ih_col_int(st, 0) : 0;
    IH_TRY(ih_stmt_exec(st));
    int limit = c->o.codes_per_phone_hour > 0 ? c->o.codes_per_phone_hour : 5;
    if (sent >= limit)
        return ih_reject(IH_E_RATE_LIMITED, "phone", "Too many codes sent to this phone number; try again in an hour.");
    IH_TRY(ih_tx_next_id(tx, "sms_code", &a->r.id));
    ih_row_set_int(&a->r, "created_at", now);
    IH_TRY(ih_row_insert(tx, c->o.keys, &a->r));
    ih_viewer v = {.actor = *a->q->anon};
    return cl_audit(c, tx, &v, a->q->action, "sms_code", a->r.id, a->q->kind);
}

ih_err cl_code_issue(ih_clinic *c, const cl_code_req *q, char token[64], int64_t *expires_at)
{
    uint8_t raw[32], th[IH_HASH_LEN];
    char code[7];
    issue_arg a = {.c = c, .q = q};
    ih_row_init(&a.r, &ih_t_sms_code);
    ih_err e = ih_random(raw, sizeof raw);
    if (e == IH_OK) {
        ih_b64url_encode(raw, sizeof raw, token);
        e = token_digest(c, token, th);
    }
    ih_wipe(raw, sizeof raw);
    if (e == IH_OK) e = six_digits(code);
    int64_t expires = ih_now_ms() + (int64_t)code_minutes(c) * 60000;
    if (e == IH_OK) e = ih_row_set_str(&a.r, "kind", q->kind);
    if (e == IH_OK) e = ih_row_set_blob(&a.r, "token_hash", th, sizeof th);
    if (e == IH_OK) e = ih_row_set_str(&a.r, "phone", q->phone);
    if (e == IH_OK) e = ih_row_set_str(&a.r, "code", code);
    if (e == IH_OK && q->body) e = ih_row_set_str(&a.r, "body", q->body);
    if (q->account_id) ih_row_set_int(&a.r, "account_id", q->account_id);
    ih_row_set_int(&a.r, "attempts", 0);
    ih_row_set_int(&a.r, "expires_at", expires);
    if (e == IH_OK) e = ih_row_index(c->o.keys, &ih_t_sms_code, "phone", q->phone, a.phone_idx);
    if (e == IH_OK) e = ih_store_write(c->o.store, issue_fn, &a);
    ih_row_free(&a.r);
    if (e == IH_OK) {
        /* after the commit: a code that was sent is always on record */
        char minutes[12];
        snprintf(minutes, sizeof minutes, "%d", code_minutes(c));
        json_t *params = q->with_code ? json_pack("{s:s, s:s}", "code", code, "minutes", minutes) : json_object();
        e = params ? cl_sms_send(c, q->phone, q->template, params) : ih_fail(IH_E_NOMEM, "sms");
        json_decref(params);
        if (e != IH_OK)
            e = ih_reject(IH_E_UNAVAILABLE, NULL, "The text message could not be sent; please try again later.");
    }
    ih_wipe(code, sizeof code);
    if (e == IH_OK) *expires_at = expires;
    return e;
}

/* The row `id` into r; *live: of this kind, unused, unexpired, and (tries)
 * with tries left. */
static ih_err load_live(ih_clinic *c, ih_tx *tx, int64_t id, const char *kind, bool tries, ih_row *r, bool *live)
{
    *live = false;
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_sms_code, id, r, &found);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "sms_code", id);
    IH_TRY(e);
    *live = found && !strcmp(ih_row_str(r, "kind"), kind) && !ih_row_has(r, "used_at") &&
            ih_row_int(r, "expires_at") > ih_now_ms() && (!tries || ih_row_int(r, "attempts") < CL_CODE_TRIES) &&
            ih_row_has(r, "code");
    return IH_OK;
}

ih_err cl_code_try(ih_clinic *c, ih_tx *tx, const char *kind, const char *token, const char *code,
                   const ih_actor *who, const char *action, ih_row *r, bool *ok)
{
    *ok = false;
    uint8_t th[IH_HASH_LEN];
    IH_TRY(token_digest(c, token, th));
    ih_stmt *st;
    bool row, live = false;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM sms_code WHERE token_hash = $1", &st));
    ih_stmt_blob(st, 1, th, sizeof th);
    IH_TRY(ih_stmt_step(st, &row));
    int64_t id = row ? ih_col_int(st, 0) : 0;
    IH_TRY(ih_stmt_exec(st));
    if (id) IH_TRY(load_live(c, tx, id, kind, true, r, &live));
    if (live) {
        ih_row_set_int(r, "attempts", ih_row_int(r, "attempts") + 1);
        IH_TRY(ih_row_update(tx, c->o.keys, r));
        const char *want = ih_row_str(r, "code");
        *ok = strlen(code) == strlen(want) && ih_ct_equal(code, want, strlen(want));
    }
    char oid[24] = "";
    if (id) snprintf(oid, sizeof oid, "%lld", (long long)id);
    ih_audit_event ev = {.action = action, .object_type = "sms_code", .object_id = id ? oid : NULL,
                         .result = *ok ? IH_OK : IH_E_INVALID, .reason = *ok ? NULL : "wrong or expired code"};
    return ih_audit_append(c->o.audit, tx, who, &ev);
}

ih_err cl_code_live(ih_clinic *c, ih_tx *tx, int64_t id, const char *kind, ih_row *r, bool *live)
{
    return load_live(c, tx, id, kind, false, r, live);
}

ih_err cl_code_use(ih_clinic *c, ih_tx *tx, ih_row *r)
{
    ih_row_set_int(r, "used_at", ih_now_ms());
    ih_row_unset(r, "code");
    ih_row_unset(r, "body");
    return ih_row_update(tx, c->o.keys, r);
}

ih_err cl_code_wrong(void)
{
    return ih_reject(IH_E_INVALID, "code", "The code is wrong or has expired; ask for a new one if it keeps failing.");
}

/* ---- expiry ------------------------------------------------------------------------------ */

static ih_err expire_change(ih_row *r, int64_t now)
{
    (void)now;
    ih_row_unset(r, "code");
    ih_row_unset(r, "body");
    return IH_OK;
}

ih_err ih_sms_codes_expire_due(ih_clinic *c, int *n)
{
    return cl_timeout_run(c, &ih_t_sms_code,
                          "SELECT id FROM sms_code WHERE expires_at < $1 AND code_enc IS NOT NULL ORDER BY id LIMIT 200",
                          expire_change, "sms_code.expire", "sms_code", NULL, n);
}
