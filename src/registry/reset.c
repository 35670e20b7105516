/* reset.c — a patient resets their own password, through the phone they
 * registered.
 *
 * Patients have no second factor, so a password an administrator was handed
 * would be the whole account: no administrator resets a patient's password
 * (identity.c refuses), and no one but the holder of the patient's phone
 * gets anything that opens the account.
 *
 *   start    POST /password-resets {cert_no, phone}: the same answer (202
 *            with a token) whether or not they match, after the same work;
 *            the SMS to the phone given carries a code only when they match
 *            an active patient account, and otherwise says that nothing
 *            matched (which only the phone's holder learns).
 *   confirm  POST /password-resets/confirm {reset, code, new_password}: the
 *            code is tried (counted, at most CL_CODE_TRIES), then the new
 *            password checked (policy, the current one, the history) and
 *            set with the code used up in one transaction; every session of
 *            the account ends.
 */
#include "registry/clinic_impl.h"

#include "core/clock.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    ih_clinic *c;
    const char *cert_no, *phone;
    int64_t account_id; /* the matching active patient account, or 0 */
} match_arg;

static ih_err match_fn(ih_tx *tx, void *arg)
{
    match_arg *a = arg;
    ih_clinic *c = a->c;
    a->account_id = 0;
    uint8_t idx[32];
    IH_TRY(ih_row_index(c->o.keys, &ih_t_patient, "cert_no", a->cert_no, idx));
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM patient WHERE cert_no_idx = $1", &st));
    ih_stmt_blob(st, 1, idx, sizeof idx);
    IH_TRY(ih_stmt_step(st, &row));
    int64_t pid = row ? ih_col_int(st, 0) : 0;
    IH_TRY(ih_stmt_exec(st));
    if (!pid) return IH_OK;
    ih_row p;
    ih_row_init(&p, &ih_t_patient);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_patient, pid, &p, &found);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "patient", pid);
    int64_t account = 0;
    if (e == IH_OK && found && !strcmp(ih_row_str(&p, "phone"), a->phone)) account = ih_row_int(&p, "account_id");
    ih_row_free(&p);
    IH_TRY(e);
    if (!account) return IH_OK;
    ih_role role;
    bool active;
    IH_TRY(ih_identity_account_tx(c->o.identity, tx, account, &role, &active));
    if (role == IH_ROLE_PATIENT && active) a->account_id = account;
    return IH_OK;
}

static const char *const start_fields[] = {"cert_no", "phone", NULL};

ih_err ih_patient_reset_start(ih_clinic *c, const ih_actor *anon, json_t *body, json_t **out)
{
    IH_TRY(cl_self_service_open(c, anon));
    const char *cert, *phone;
    IH_TRY(ih_json_only(body, start_fields));
    IH_TRY(ih_json_str(body, "cert_no", true, 4, 32, IH_TEXT_LINE, &cert));
    IH_TRY(ih_json_str(body, "phone", true, 7, 16, IH_TEXT_LINE, &phone));
    IH_TRY(cl_check_phone(NULL, "phone", phone));
    char upper[33];
    size_t n = strlen(cert);
    for (size_t i = 0; i <= n; i++) upper[i] = (char)toupper((unsigned char)cert[i]);
    match_arg m = {.c = c, .cert_no = upper, .phone = phone};
    ih_err e = ih_store_read(c->o.store, match_fn, &m);
    ih_wipe(upper, sizeof upper);
    IH_TRY(e);
    cl_code_req q = {.kind = "reset", .phone = phone, .template = m.account_id ? "reset_code" : "reset_unmatched",
                     .with_code = m.account_id != 0, .account_id = m.account_id, .anon = anon,
                     .action = "account.reset_start"};
    char token[64];
    int64_t expires;
    IH_TRY(cl_code_issue(c, &q, token, &expires));
    char at[40];
    ih_time_iso(expires, at, sizeof at);
    *out = json_pack("{s:s, s:s}", "reset", token, "expires_at", at);
    ih_wipe(token, sizeof token);
    return *out ? IH_OK : ih_fail(IH_E_NOMEM, "reset");
}

typedef struct {
    ih_clinic *c;
    const ih_actor *anon;
    const char *token, *code;
    ih_row r;
    bool ok;
    int64_t code_id, account_id;
    const ih_pw_reset *pw;
    bool live;
} confirm_arg;

static ih_err try_fn(ih_tx *tx, void *arg)
{
    confirm_arg *a = arg;
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_sms_code);
    IH_TRY(cl_code_try(a->c, tx, "reset", a->token, a->code, a->anon, "account.reset_verify", &a->r, &a->ok));
    a->code_id = a->ok ? a->r.id : 0;
    a->account_id = a->ok ? ih_row_int(&a->r, "account_id") : 0;
    return IH_OK;
}

static ih_err apply_fn(ih_tx *tx, void *arg)
{
    confirm_arg *a = arg;
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_sms_code);
    IH_TRY(cl_code_live(a->c, tx, a->code_id, "reset", &a->r, &a->live));
    if (!a->live || ih_row_int(&a->r, "account_id") != a->account_id) {
        a->live = false;
        return IH_OK;
    }
    /* the code is used before the event that follows: it carries its version */
    IH_TRY(cl_code_use(a->c, tx, &a->r));
    return ih_identity_reset_apply(a->c->o.identity, tx, a->anon, a->pw);
}

static const char *const confirm_fields[] = {"reset", "code", "new_password", NULL};

ih_err ih_patient_reset_confirm(ih_clinic *c, const ih_actor *anon, json_t *body)
{
    const char *token, *code, *pw;
    IH_TRY(ih_json_only(body, confirm_fields));
    IH_TRY(ih_json_str(body, "reset", true, 43, 43, IH_TEXT_LINE, &token));
    IH_TRY(ih_json_str(body, "code", true, 6, 6, IH_TEXT_LINE, &code));
    IH_TRY(ih_json_str(body, "new_password", true, 1, 128, IH_TEXT_LINE, &pw));
    confirm_arg a = {.c = c, .anon = anon, .token = token, .code = code};
    ih_row_init(&a.r, &ih_t_sms_code);
    ih_err e = ih_store_write(c->o.store, try_fn, &a);
    /* a code nobody was sent (no account matched) opens nothing */
    if (e == IH_OK && (!a.ok || !a.account_id)) e = cl_code_wrong();
    ih_pw_reset *r = NULL;
    if (e == IH_OK) {
        r = malloc(sizeof *r);
        e = r ? ih_identity_reset_prepare(c->o.identity, a.account_id, pw, r) : ih_fail(IH_E_NOMEM, "reset");
    }
    if (e == IH_OK) {
        a.pw = r;
        e = ih_store_write(c->o.store, apply_fn, &a);
        if (e == IH_OK && !a.live) e = cl_code_wrong(); /* used or expired meanwhile */
    }
    if (r) {
        ih_wipe(r, sizeof *r);
        free(r);
    }
    ih_row_free(&a.r);
    return e;
}
