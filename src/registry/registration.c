/* registration.c — patients register themselves: real name, consent, and a
 * phone they prove they hold.
 *
 * Over the network registration takes two steps, so that an anonymous
 * request learns nothing about who is registered (neither an ID number nor
 * a username, staff usernames included):
 *
 *   start   POST /patients: the details are validated, the name checked
 *           against the certificate (real-name service), the password
 *           checked against the policy and hashed, and a code sent by SMS to
 *           the phone given (smscode.c).  Every valid request gets the same
 *           answer, 202 with a token, after the same work.
 *   verify  POST /patients/verify: with the token and the code, the account,
 *           patient and consents are created in one transaction.  Only now,
 *           and only to whoever holds the phone, is a taken username told
 *           (another may be sent with the same code) or an ID number that is
 *           already registered (the code is used up, and the registered
 *           patient's phone gets a notice).
 *
 * Limits: registrations per source address per minute, codes per phone per
 * hour and tries per code.  ih_patient_register does it in one step for
 * local seeding (the demo), where there is no phone to prove.
 */
#include "registry/clinic_impl.h"

#include "core/clock.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>

static const char *const reg_extra[] = {"username", "password", "consents", NULL};
/* what a registration waiting for its code keeps besides the patient's fields */
static const char *const pending_extra[] = {"username", "consents", "pw_hash", "realname", NULL};

static ih_err check_consents(ih_clinic *c, json_t *body)
{
    json_t *cs = json_object_get(body, "consents");
    static const char *const docs[] = {"privacy", "agreement", NULL};
    if (!json_is_object(cs))
        return ih_reject(IH_E_INVALID, "consents",
                         "Field 'consents' must be {\"privacy\": \"%s\", \"agreement\": \"%s\"}: the versions accepted.",
                         c->o.privacy_version, c->o.agreement_version);
    IH_TRY(ih_json_only(cs, docs));
    const char *p, *g;
    IH_TRY(ih_json_str(cs, "privacy", true, 1, 32, IH_TEXT_LINE, &p));
    IH_TRY(ih_json_str(cs, "agreement", true, 1, 32, IH_TEXT_LINE, &g));
    if (strcmp(p, c->o.privacy_version))
        return ih_reject(IH_E_INVALID, "privacy", "The current privacy policy is version %s.", c->o.privacy_version);
    if (strcmp(g, c->o.agreement_version))
        return ih_reject(IH_E_INVALID, "agreement", "The current user agreement is version %s.", c->o.agreement_version);
    return IH_OK;
}

/* The patient already registered with r's certificate number (0: none). */
static ih_err registered(ih_clinic *c, ih_tx *tx, const ih_row *r, int64_t *patient_id)
{
    uint8_t idx[32];
    IH_TRY(ih_row_index(c->o.keys, &ih_t_patient, "cert_no", ih_row_str(r, "cert_no"), idx));
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM patient WHERE cert_no_idx = $1", &st));
    ih_stmt_blob(st, 1, idx, sizeof idx);
    IH_TRY(ih_stmt_step(st, &row));
    *patient_id = row ? ih_col_int(st, 0) : 0;
    return ih_stmt_exec(st);
}

static ih_err throttle(ih_clinic *c, const ih_actor *anon)
{
    /* Requests from the network always carry their address; only local
     * seeding (ihos demo seed) has none. */
    if (!anon->ip) return IH_OK;
    int64_t now = ih_now_ms();
    if (ih_throttle_blocked(c->registrations, anon->ip, now))
        return ih_reject(IH_E_RATE_LIMITED, NULL, "Too many requests from this address; try again in a minute.");
    ih_throttle_failure(c->registrations, anon->ip, now); /* counts every attempt */
    return IH_OK;
}

static bool sms_configured(const ih_clinic *c)
{
    return (c->o.sms_command && *c->o.sms_command) || (c->o.sms_url && *c->o.sms_url);
}

ih_err cl_self_service_open(ih_clinic *c, const ih_actor *anon)
{
    if (!sms_configured(c))
        return ih_reject(IH_E_UNAVAILABLE, NULL,
                         "This needs the SMS gateway, which is not configured ([registry] sms_command or sms_url).");
    return throttle(c, anon);
}

/* A registration: the patient row, the prepared account, the versions
 * consented to.  On the heap (the prepared account holds a hash). */
typedef struct {
    ih_row r;
    ih_account_prep prep;
    char privacy[33], agreement[33];
} reg;

static reg *reg_new(void)
{
    reg *g = calloc(1, sizeof *g);
    if (g) ih_row_init(&g->r, &ih_t_patient);
    return g;
}

static void reg_free(reg *g)
{
    if (!g) return;
    ih_row_free(&g->r);
    ih_wipe(g, sizeof *g);
    free(g);
}

/* Everything that needs no transaction: validation, real name, the hash. */
static ih_err reg_prepare(ih_clinic *c, json_t *body, reg *g)
{
    const char *username, *password;
    IH_TRY(ih_row_from_json(&g->r, body, true, reg_extra));
    IH_TRY(cl_check_patient(c, &g->r));
    IH_TRY(check_consents(c, body));
    IH_TRY(ih_json_str(body, "username", true, 3, 64, IH_TEXT_LINE, &username));
    IH_TRY(ih_json_str(body, "password", true, 1, 128, IH_TEXT_LINE, &password));
    snprintf(g->privacy, sizeof g->privacy, "%s", c->o.privacy_version);
    snprintf(g->agreement, sizeof g->agreement, "%s", c->o.agreement_version);
    bool verified = false;
    IH_TRY(cl_realname_verify(c, ih_row_str(&g->r, "name"), ih_row_str(&g->r, "cert_type"),
                              ih_row_str(&g->r, "cert_no"), &verified));
    IH_TRY(ih_row_set_str(&g->r, "realname", verified ? "verified" : "unverified"));
    ih_account_new n = {.username = username, .role = IH_ROLE_PATIENT, .active = true, .password = password};
    return ih_identity_prepare(c->o.identity, &n, NULL, &g->prep);
}

/* Account, patient and consents in the caller's transaction, audited. */
static ih_err reg_create(ih_clinic *c, ih_tx *tx, const ih_actor *anon, reg *g, int64_t *account_id)
{
    IH_TRY(ih_identity_create_prepared(c->o.identity, tx, anon, &g->prep, account_id));
    ih_row_set_int(&g->r, "account_id", *account_id);
    IH_TRY(ih_tx_next_id(tx, "patient", &g->r.id));
    int64_t now = ih_now_ms();
    ih_row_set_int(&g->r, "created_at", now);
    ih_row_set_int(&g->r, "updated_at", now);
    ih_err e = ih_row_insert(tx, c->o.keys, &g->r);
    if (e == IH_E_EXISTS)
        return ih_reject(IH_E_EXISTS, "cert_no", "A patient with this certificate number is already registered.");
    IH_TRY(e);
    IH_TRY(cl_insert_consent(c, tx, g->r.id, "privacy", g->privacy));
    IH_TRY(cl_insert_consent(c, tx, g->r.id, "agreement", g->agreement));
    ih_viewer v = {.actor = *anon, .role = IH_ROLE_PATIENT};
    v.actor.id = *account_id;
    v.actor.role = "patient";
    return cl_audit(c, tx, &v, "patient.register", "patient", g->r.id, ih_row_str(&g->r, "realname"));
}

static ih_err reg_answer(reg *g, int64_t account_id, json_t **out)
{
    json_t *p;
    IH_TRY(ih_row_json(&g->r, IH_ROLE_PATIENT, IH_REL_SELF, &p));
    *out = json_pack("{s:o, s:I, s:s}", "patient", p, "account_id", (json_int_t)account_id, "username",
                     g->prep.username);
    return *out ? IH_OK : ih_fail(IH_E_NOMEM, "register");
}

/* ---- in one step (local seeding) ------------------------------------------------------ */

typedef struct {
    ih_clinic *c;
    const ih_actor *anon;
    reg *g;
    int64_t account_id;
} one_arg;

static ih_err one_fn(ih_tx *tx, void *arg)
{
    one_arg *a = arg;
    int64_t existing;
    IH_TRY(registered(a->c, tx, &a->g->r, &existing));
    if (existing) return ih_reject(IH_E_EXISTS, "cert_no", "A patient with this certificate number is already registered.");
    return reg_create(a->c, tx, a->anon, a->g, &a->account_id);
}

ih_err ih_patient_register(ih_clinic *c, const ih_actor *anon, json_t *body, json_t **out)
{
    IH_TRY(throttle(c, anon));
    one_arg a = {.c = c, .anon = anon, .g = reg_new()};
    IH_CHECK_ALLOC(a.g);
    ih_err e = reg_prepare(c, body, a.g);
    if (e == IH_OK) e = ih_store_write(c->o.store, one_fn, &a);
    if (e == IH_OK) e = reg_answer(a.g, a.account_id, out);
    reg_free(a.g);
    return e;
}

/* ---- step 1: details, and a code to the phone ------------------------------------------- */

ih_err ih_patient_register_start(ih_clinic *c, const ih_actor *anon, json_t *body, json_t **out)
{
    IH_TRY(cl_self_service_open(c, anon));
    reg *g = reg_new();
    IH_CHECK_ALLOC(g);
    json_t *pending = NULL;
    ih_buf text = IH_BUF_INIT;
    ih_err e = reg_prepare(c, body, g);
    if (e == IH_OK) {
        pending = json_deep_copy(body);
        if (!pending || json_object_del(pending, "password") ||
            json_object_set_new(pending, "pw_hash", json_string(g->prep.hash)) ||
            json_object_set_new(pending, "realname", json_string(ih_row_str(&g->r, "realname"))))
            e = ih_fail(IH_E_NOMEM, "register");
    }
    if (e == IH_OK) e = ih_json_dump(pending, JSON_COMPACT, &text);
    char token[64];
    int64_t expires = 0;
    if (e == IH_OK) {
        cl_code_req q = {.kind = "register", .phone = ih_row_str(&g->r, "phone"), .template = "register_code",
                         .with_code = true, .body = text.p, .anon = anon, .action = "patient.register_start"};
        e = cl_code_issue(c, &q, token, &expires);
    }
    if (pending) {
        json_t *h = json_object_get(pending, "pw_hash");
        if (h) json_string_set(h, "");
        json_decref(pending);
    }
    ih_buf_wipe(&text);
    reg_free(g);
    if (e == IH_OK) {
        char at[40];
        ih_time_iso(expires, at, sizeof at);
        *out = json_pack("{s:s, s:s}", "registration", token, "expires_at", at);
        if (!*out) e = ih_fail(IH_E_NOMEM, "register");
    }
    ih_wipe(token, sizeof token);
    return e;
}

/* ---- step 2: the code, and the account ------------------------------------------------------ */

typedef enum { V_WRONG, V_REGISTERED, V_NAME_TAKEN, V_DONE } verify_outcome;

typedef struct {
    ih_clinic *c;
    const ih_actor *anon;
    const char *token, *code, *username; /* username: NULL = the one given at the start */
    ih_row code_row;
    reg *g;
    int64_t account_id;
    verify_outcome outcome;
    char owner_phone[40]; /* V_REGISTERED: where the registered patient gets the notice */
} verify_arg;

/* The registration that waited for the code, back into a->g. */
static ih_err pending_load(verify_arg *a)
{
    const char *text = ih_row_str(&a->code_row, "body");
    json_t *p = NULL;
    if (!text || ih_json_parse_object(text, strlen(text), &p) != IH_OK)
        return ih_fail(IH_E_INTEGRITY, "sms_code %lld: the registration it holds is unreadable",
                       (long long)a->code_row.id);
    reg *g = a->g;
    const char *hash = json_string_value(json_object_get(p, "pw_hash"));
    const char *realname = json_string_value(json_object_get(p, "realname"));
    const char *username = a->username ? a->username : json_string_value(json_object_get(p, "username"));
    json_t *cs = json_object_get(p, "consents");
    const char *privacy = json_string_value(json_object_get(cs, "privacy"));
    const char *agreement = json_string_value(json_object_get(cs, "agreement"));
    ih_err e = hash && realname && username && privacy && agreement
                   ? IH_OK
                   : ih_fail(IH_E_INTEGRITY, "sms_code %lld: the registration it holds is incomplete",
                             (long long)a->code_row.id);
    if (e == IH_OK) e = ih_row_from_json(&g->r, p, true, pending_extra);
    if (e == IH_OK) e = ih_row_set_str(&g->r, "realname", realname);
    if (e == IH_OK) e = ih_identity_prep_hashed(username, IH_ROLE_PATIENT, hash, &g->prep);
    if (e == IH_OK) {
        snprintf(g->privacy, sizeof g->privacy, "%s", privacy);
        snprintf(g->agreement, sizeof g->agreement, "%s", agreement);
    }
    json_t *h = json_object_get(p, "pw_hash");
    if (h) json_string_set(h, "");
    json_decref(p);
    return e;
}

static ih_err verify_fn(ih_tx *tx, void *arg)
{
    verify_arg *a = arg;
    ih_clinic *c = a->c;
    /* a transaction may be retried: start clean */
    a->outcome = V_WRONG;
    ih_row_free(&a->code_row);
    ih_row_init(&a->code_row, &ih_t_sms_code);
    ih_row_free(&a->g->r);
    ih_row_init(&a->g->r, &ih_t_patient);
    bool ok;
    IH_TRY(cl_code_try(c, tx, "register", a->token, a->code, a->anon, "patient.register_verify", &a->code_row, &ok));
    if (!ok) return IH_OK; /* the try is counted */
    IH_TRY(pending_load(a));
    int64_t existing;
    IH_TRY(registered(c, tx, &a->g->r, &existing));
    if (existing) {
        ih_row owner;
        ih_row_init(&owner, &ih_t_patient);
        bool found;
        ih_err e = ih_row_load(tx, c->o.keys, &ih_t_patient, existing, &owner, &found);
        if (e == IH_OK && found) snprintf(a->owner_phone, sizeof a->owner_phone, "%s", ih_row_str(&owner, "phone"));
        ih_row_free(&owner);
        IH_TRY(e);
        IH_TRY(cl_code_use(c, tx, &a->code_row));
        ih_viewer v = {.actor = *a->anon};
        IH_TRY(cl_audit(c, tx, &v, "patient.register_refused", "patient", existing, "already registered"));
        a->outcome = V_REGISTERED;
        return IH_OK;
    }
    bool taken;
    IH_TRY(ih_identity_username_taken(c->o.identity, tx, a->g->prep.username, &taken));
    if (taken) {
        a->outcome = V_NAME_TAKEN;
        return IH_OK;
    }
    /* the code is used before the events that follow: they carry its version */
    IH_TRY(cl_code_use(c, tx, &a->code_row));
    IH_TRY(reg_create(c, tx, a->anon, a->g, &a->account_id));
    a->outcome = V_DONE;
    return IH_OK;
}

static const char *const verify_fields[] = {"registration", "code", "username", NULL};

ih_err ih_patient_register_verify(ih_clinic *c, const ih_actor *anon, json_t *body, json_t **out)
{
    const char *token, *code, *username = NULL;
    IH_TRY(ih_json_only(body, verify_fields));
    IH_TRY(ih_json_str(body, "registration", true, 43, 43, IH_TEXT_LINE, &token));
    IH_TRY(ih_json_str(body, "code", true, 6, 6, IH_TEXT_LINE, &code));
    IH_TRY(ih_json_str(body, "username", false, 3, 64, IH_TEXT_LINE, &username));
    if (username) {
        ih_account_prep *chk = malloc(sizeof *chk);
        IH_CHECK_ALLOC(chk);
        ih_err e = ih_identity_prep_hashed(username, IH_ROLE_PATIENT, "", chk);
        free(chk);
        IH_TRY(e);
    }
    verify_arg a = {.c = c, .anon = anon, .token = token, .code = code, .username = username, .g = reg_new()};
    IH_CHECK_ALLOC(a.g);
    ih_row_init(&a.code_row, &ih_t_sms_code);
    ih_err e = ih_store_write(c->o.store, verify_fn, &a);
    if (e == IH_OK) switch (a.outcome) {
        case V_WRONG: e = cl_code_wrong(); break;
        case V_REGISTERED: {
            json_t *none = json_object();
            if (none && a.owner_phone[0]) cl_sms_send(c, a.owner_phone, "register_attempt", none);
            json_decref(none);
            e = ih_reject(IH_E_EXISTS, "cert_no",
                          "This ID number is already registered. If it is yours, reset the password with the phone "
                          "number it was registered with.");
            break;
        }
        case V_NAME_TAKEN:
            e = ih_reject(IH_E_EXISTS, "username", "That username is taken: send the code again with another username.");
            break;
        case V_DONE: e = reg_answer(a.g, a.account_id, out); break;
        }
    ih_wipe(a.owner_phone, sizeof a.owner_phone);
    ih_row_free(&a.code_row);
    reg_free(a.g);
    return e;
}
