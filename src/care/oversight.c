/* oversight.c — access outside the usual paths, and how it is watched.
 *
 * Break-glass: a doctor may open a patient's data without a care
 * relationship by giving a real reason (not filler: cl_check_reason); the
 * grant lasts [care] break_glass_hours, is audited, alerts the security
 * administrator, and never opens a level-5 visit.  The reason is sealed.
 * Limits per doctor: break_glass_per_hour and _per_day grants, and no more
 * than break_glass_unreviewed grants the security administrator has not yet
 * reviewed — each grant is reviewed (justified or not, with a sealed note);
 * a refused attempt and an unjustified verdict are alerts.
 *
 * 统方 statistics: no route groups prescriptions by doctor or by drug except
 * this one named report, which a requester (a pharmacist) asks for with a
 * purpose and a time window, a second person (secadmin) approves, and the
 * requester runs once; request, decision, run and result size are audited. */
#include "care/care_impl.h"

#include "core/clock.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SM (IH_FF_SERVER | IH_FF_MAC)
#define RM (IH_FF_REQUIRED | IH_FF_MAC)


static const ih_field bg_fields[] = {
    {"staff_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"patient_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"reason", IH_F_SEALED, RM | IH_FF_MULTILINE, 10, 300, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, cl_check_reason},
    {"granted_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"expires_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    /* the security administrator's review of the grant (migration 14) */
    {"reviewed_by", IH_F_INT, SM | IH_FF_ADDED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"reviewed_at", IH_F_TIME, SM | IH_FF_ADDED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"review_verdict", IH_F_TEXT, SM | IH_FF_ADDED, 0, 0, &ih_codes_bg_verdict, 0, IH_MASK_NONE, NULL},
    {"review_note", IH_F_SEALED, SM | IH_FF_ADDED, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
};
ih_table ih_t_break_glass = IH_TABLE("break_glass", bg_fields, true, "至少6个月（安全记录，同审计日志）");


static const ih_field stats_fields[] = {
    {"requester_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"report", IH_F_TEXT, RM, 1, 32, &ih_codes_stats_report, 0, IH_MASK_NONE, NULL},
    {"purpose", IH_F_SEALED, RM | IH_FF_MULTILINE, 10, 300, NULL, IH_KP_SECRET, IH_FIELD_CLINICAL, NULL},
    {"window_from", IH_F_DATE, RM, 0, 0, NULL, 0, IH_MASK_NONE, cl_check_future_date},
    {"window_to", IH_F_DATE, RM, 0, 0, NULL, 0, IH_MASK_NONE, cl_check_future_date},
    {"status", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"decided_by", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"decided_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"decision_reason_legacy", IH_F_TEXT, SM | IH_FF_LEGACY, 0, 0, NULL, 0, IH_MASK_NONE, NULL, "decision_reason"},
    {"run_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"result_rows", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"decision_reason", IH_F_SEALED, SM | IH_FF_ADDED, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
};
ih_table ih_t_stats = IH_TABLE("stats_request", stats_fields, true, "至少6个月（安全记录，同审计日志）");

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body, *out;
    int64_t id;
    ih_row r;
    const char *refused; /* break-glass: which limit refused it */
    bool pending;        /* lists: only what awaits review */
} ov_arg;

/* ---- break-glass ------------------------------------------------------------------ */

ih_err cl_break_glass_live(ih_clinic *c, ih_tx *tx, int64_t staff, int64_t patient, bool *live)
{
    *live = false;
    int64_t now = ih_now_ms(), ids[16];
    int n = 0;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM break_glass WHERE patient_id = $1 AND staff_id = $2 AND expires_at > $3 "
                             "ORDER BY id DESC LIMIT 16", &st));
    ih_stmt_int(st, 1, patient);
    ih_stmt_int(st, 2, staff);
    ih_stmt_int(st, 3, now);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    ih_row g;
    ih_row_init(&g, &ih_t_break_glass);
    for (int i = 0; e == IH_OK && i < n && !*live; i++) {
        bool found;
        e = ih_row_load_opt(tx, c->o.keys, &ih_t_break_glass, ids[i], &g, &found, false); /* a forged grant fails here */
        if (e == IH_OK && found)
            *live = ih_row_int(&g, "staff_id") == staff && ih_row_int(&g, "patient_id") == patient &&
                    ih_row_int(&g, "expires_at") > now;
    }
    ih_row_free(&g);
    return e;
}

static int64_t count_of(ih_tx *tx, const char *sql, int64_t a, int64_t b, ih_err *e)
{
    ih_stmt *st;
    bool row;
    if ((*e = ih_tx_prepare(tx, sql, &st)) != IH_OK) return 0;
    ih_stmt_int(st, 1, a);
    ih_stmt_int(st, 2, b);
    if ((*e = ih_stmt_step(st, &row)) != IH_OK) return 0;
    int64_t n = row ? ih_col_int(st, 0) : 0;
    *e = ih_stmt_exec(st);
    return n;
}

/* A doctor's grants against the limits; *why (a code for the journal). */
static ih_err within_limits(ov_arg *a, ih_tx *tx, int64_t staff, int64_t now, const char **why)
{
    const ih_clinic_opts *o = &a->c->o;
    int per_hour = o->break_glass_per_hour > 0 ? o->break_glass_per_hour : 3;
    int per_day = o->break_glass_per_day > 0 ? o->break_glass_per_day : 10;
    int unreviewed = o->break_glass_unreviewed > 0 ? o->break_glass_unreviewed : 5;
    ih_err e;
    static const char *const since = "SELECT count(*) FROM break_glass WHERE staff_id = $1 AND granted_at > $2";
    int64_t hour = count_of(tx, since, staff, now - 3600000LL, &e);
    IH_TRY(e);
    int64_t day = count_of(tx, since, staff, now - 86400000LL, &e);
    IH_TRY(e);
    int64_t open = count_of(tx, "SELECT count(*) FROM break_glass WHERE staff_id = $1 AND reviewed_at IS NULL "
                                "AND $2 = $2", staff, 0, &e);
    IH_TRY(e);
    *why = hour >= per_hour ? "hourly limit" : day >= per_day ? "daily limit" : open >= unreviewed ? "unreviewed grants" : NULL;
    if (!*why) return IH_OK;
    return ih_reject(IH_E_RATE_LIMITED, NULL,
                     open >= unreviewed
                         ? "Break-glass refused: %lld of your earlier grants await the security administrator's review; "
                           "ask them to review, or call the duty office."
                         : "Break-glass refused: the limit of %lld grants per %s is reached; call the duty office.",
                     (long long)(open >= unreviewed ? open : hour >= per_hour ? per_hour : per_day),
                     hour >= per_hour ? "hour" : "day");
}

static ih_err bg_fn(ih_tx *tx, void *arg)
{
    ov_arg *a = arg;
    int64_t staff;
    cl_staff s;
    IH_TRY(cl_my_staff_full(a->c, tx, a->v, &s));
    staff = s.id;
    if (!s.online) return ih_reject(IH_E_FORBIDDEN, NULL, "You are not enabled for online care at the moment.");
    ih_row p;
    ih_row_init(&p, &ih_t_patient);
    bool found;
    ih_err e = ih_row_load_opt(tx, a->c->o.keys, &ih_t_patient, a->id, &p, &found, false);
    ih_row_free(&p);
    IH_TRY(e);
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No patient %lld.", (long long)a->id);
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_break_glass);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, NULL));
    int64_t now = ih_now_ms();
    IH_TRY(within_limits(a, tx, staff, now, &a->refused));
    IH_TRY(ih_tx_next_id(tx, "break_glass", &a->r.id));
    ih_row_set_int(&a->r, "staff_id", staff);
    ih_row_set_int(&a->r, "patient_id", a->id);
    ih_row_set_int(&a->r, "granted_at", now);
    ih_row_set_int(&a->r, "expires_at", now + (int64_t)a->c->o.break_glass_hours * 3600000LL);
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    char why[64];
    snprintf(why, sizeof why, "break-glass grant %lld (reason sealed)", (long long)a->r.id);
    return cl_audit(a->c, tx, a->v, "access.break_glass", "patient", a->id, why);
}

ih_err ih_break_glass(ih_clinic *c, const ih_viewer *v, int64_t patient_id, json_t *body, json_t **out)
{
    ov_arg a = {.c = c, .v = v, .body = body, .id = patient_id};
    ih_row_init(&a.r, &ih_t_break_glass);
    ih_err e = ih_store_write(c->o.store, bg_fn, &a);
    if (e == IH_OK) {
        char gid[24], pid[24], acct[24];
        snprintf(gid, sizeof gid, "%lld", (long long)a.r.id);
        snprintf(pid, sizeof pid, "%lld", (long long)patient_id);
        snprintf(acct, sizeof acct, "%lld", (long long)v->actor.id);
        ih_log(IH_LOG_WARN, "access.break_glass", "alert", "true", "notify", "secadmin", "grant", gid, "patient", pid,
               "account", acct, NULL);
        e = ih_row_json_full(&a.r, out);
    } else if (e == IH_E_RATE_LIMITED) { /* a doctor pressing on past the limits: the security office hears */
        char pid[24], acct[24];
        snprintf(pid, sizeof pid, "%lld", (long long)patient_id);
        snprintf(acct, sizeof acct, "%lld", (long long)v->actor.id);
        ih_log(IH_LOG_ERROR, "access.break_glass_refused", "alert", "true", "notify", "secadmin", "patient", pid,
               "account", acct, "limit", a.refused ? a.refused : "", NULL);
        cl_audit_own(c, v, "access.break_glass", "patient", patient_id, e, a.refused);
    }
    ih_row_free(&a.r);
    return e;
}

typedef struct {
    ih_clinic *c;
    const char *cert_no;
    int64_t id;
} by_cert_arg;

static ih_err by_cert_fn(ih_tx *tx, void *arg)
{
    by_cert_arg *a = arg;
    uint8_t idx[32];
    IH_TRY(ih_row_index(a->c->o.keys, &ih_t_patient, "cert_no", a->cert_no, idx));
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM patient WHERE cert_no_idx = $1 ORDER BY id LIMIT 2", &st));
    ih_stmt_blob(st, 1, idx, sizeof idx);
    IH_TRY(ih_stmt_step(st, &row));
    a->id = row ? ih_col_int(st, 0) : 0;
    IH_TRY(ih_stmt_step(st, &row));
    if (row) a->id = -1; /* two records with one number: a person sorts that out first */
    return ih_stmt_exec(st);
}

ih_err ih_break_glass_by_cert(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out)
{
    static const char *const f[] = {"cert_no", "reason", NULL};
    IH_TRY(ih_json_only(body, f));
    const char *cert;
    IH_TRY(ih_json_str(body, "cert_no", true, 4, 32, IH_TEXT_LINE, &cert));
    by_cert_arg a = {.c = c, .cert_no = cert};
    IH_TRY(ih_store_read(c->o.store, by_cert_fn, &a));
    if (a.id <= 0) {
        ih_err e = ih_reject(IH_E_NOT_FOUND, "cert_no", a.id < 0 ? "Several patients have this ID number: ask the "
                                                                    "medical records office."
                                                                  : "No patient has this ID number.");
        ih_err_text saved;
        ih_err_save(&saved);
        cl_audit_own(c, v, "access.break_glass", "patient", 0, e, "no single patient with that ID number");
        ih_err_load(&saved);
        return e;
    }
    json_t *rest = json_pack("{s:O?}", "reason", json_object_get(body, "reason"));
    if (!rest) return ih_fail(IH_E_NOMEM, "break-glass");
    ih_err e = ih_break_glass(c, v, a.id, rest, out);
    json_decref(rest);
    return e;
}

/* ---- review ------------------------------------------------------------------------ */

static const char *const review_fields[] = {"verdict", "note", NULL};

static ih_err bg_review_fn(ih_tx *tx, void *arg)
{
    ov_arg *a = arg;
    const char *verdict, *note = NULL;
    IH_TRY(ih_json_only(a->body, review_fields));
    IH_TRY(ih_json_str(a->body, "verdict", true, 1, 16, IH_TEXT_LINE, &verdict));
    if (!ih_code_name(&ih_codes_bg_verdict, verdict))
        return ih_code_reject(&ih_codes_bg_verdict, "verdict");
    IH_TRY(ih_json_str(a->body, "note", false, 2, 500, IH_TEXT_MULTILINE, &note));
    bool found;
    IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_break_glass, a->id, &a->r, &found));
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No break-glass grant %lld.", (long long)a->id);
    if (ih_row_has(&a->r, "reviewed_at"))
        return ih_reject(IH_E_STATE, NULL, "Grant %lld was reviewed already.", (long long)a->id);
    ih_row_set_int(&a->r, "reviewed_by", a->v->actor.id);
    ih_row_set_int(&a->r, "reviewed_at", ih_now_ms());
    IH_TRY(ih_row_set_str(&a->r, "review_verdict", verdict));
    IH_TRY(ih_row_set_str(&a->r, "review_note", note));
    /* an unjustified grant ends at once */
    if (!strcmp(verdict, "unjustified") && ih_row_int(&a->r, "expires_at") > ih_now_ms())
        ih_row_set_int(&a->r, "expires_at", ih_now_ms());
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    return cl_audit(a->c, tx, a->v, "break_glass.review", "break_glass", a->id, verdict);
}

ih_err ih_break_glass_review(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    ov_arg a = {.c = c, .v = v, .body = body, .id = id};
    ih_row_init(&a.r, &ih_t_break_glass);
    ih_err e = ih_store_write(c->o.store, bg_review_fn, &a);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "break_glass", id);
    if (e == IH_OK && !strcmp(ih_row_str(&a.r, "review_verdict"), "unjustified")) {
        char gid[24], doc[24];
        snprintf(gid, sizeof gid, "%lld", (long long)id);
        snprintf(doc, sizeof doc, "%lld", (long long)ih_row_int(&a.r, "staff_id"));
        ih_log(IH_LOG_ERROR, "access.break_glass_unjustified", "alert", "true", "grant", gid, "staff", doc, NULL);
    }
    if (e == IH_OK) e = ih_row_json_full(&a.r, out);
    ih_row_free(&a.r);
    return e;
}

static ih_err bg_list_fn(ih_tx *tx, void *arg)
{
    ov_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, a->pending ? "SELECT id FROM break_glass WHERE reviewed_at IS NULL ORDER BY id LIMIT 500"
                                        : "SELECT id FROM break_glass ORDER BY id DESC LIMIT 500",
                         &st));
    int64_t ids[500];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 500) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    for (int i = 0; i < n; i++) {
        bool found;
        IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_break_glass, ids[i], &a->r, &found));
        /* the reviewer reads the justification: it is what they review */
        json_t *j;
        IH_TRY(ih_row_json_full(&a->r, &j));
        json_array_append_new(a->out, j);
    }
    return IH_OK;
}

ih_err ih_break_glass_list(ih_clinic *c, const ih_viewer *v, bool pending, json_t **out)
{
    ov_arg a = {.c = c, .v = v, .out = json_array(), .pending = pending};
    IH_CHECK_ALLOC(a.out);
    ih_row_init(&a.r, &ih_t_break_glass);
    ih_err e = ih_store_read(c->o.store, bg_list_fn, &a);
    ih_row_free(&a.r);
    if (e == IH_OK) e = cl_audit_own(c, v, "break_glass.list", "break_glass", 0, IH_OK, NULL);
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    *out = a.out;
    return IH_OK;
}

/* ---- the statistics report ----------------------------------------------------------- */

static ih_err load(ov_arg *a, ih_tx *tx)
{
    bool found;
    IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_stats, a->id, &a->r, &found));
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No statistics request %lld.", (long long)a->id);
    return IH_OK;
}

static ih_err request_fn(ih_tx *tx, void *arg)
{
    ov_arg *a = arg;
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_stats);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, NULL));
    if (strcmp(ih_row_str(&a->r, "window_from"), ih_row_str(&a->r, "window_to")) > 0)
        return ih_reject(IH_E_INVALID, "window_to", "Field 'window_to' must not be before 'window_from'.");
    IH_TRY(ih_tx_next_id(tx, "stats_request", &a->r.id));
    ih_row_set_int(&a->r, "requester_id", a->v->actor.id);
    IH_TRY(ih_row_set_str(&a->r, "status", "pending"));
    ih_row_set_int(&a->r, "created_at", ih_now_ms());
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    char why[96];
    snprintf(why, sizeof why, "%s %s..%s", ih_row_str(&a->r, "report"), ih_row_str(&a->r, "window_from"),
             ih_row_str(&a->r, "window_to"));
    return cl_audit(a->c, tx, a->v, "stats.request", "stats_request", a->r.id, why);
}

static ih_err decide_fn(ih_tx *tx, void *arg)
{
    ov_arg *a = arg;
    static const char *const f[] = {"approve", "reason", NULL};
    bool approve = false;
    const char *reason;
    IH_TRY(ih_json_only(a->body, f));
    IH_TRY(ih_json_bool(a->body, "approve", true, &approve));
    IH_TRY(ih_json_str(a->body, "reason", true, 2, 200, IH_TEXT_LINE, &reason));
    IH_TRY(load(a, tx));
    if (ih_row_int(&a->r, "requester_id") == a->v->actor.id)
        return ih_reject(IH_E_FORBIDDEN, NULL, "A second person decides: not the requester.");
    if (strcmp(ih_row_str(&a->r, "status"), "pending"))
        return ih_reject(IH_E_STATE, NULL, "The request is %s already.", ih_row_str(&a->r, "status"));
    IH_TRY(ih_row_set_str(&a->r, "status", approve ? "approved" : "rejected"));
    ih_row_set_int(&a->r, "decided_by", a->v->actor.id);
    ih_row_set_int(&a->r, "decided_at", ih_now_ms());
    IH_TRY(ih_row_set_str(&a->r, "decision_reason", reason));
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    return cl_audit(a->c, tx, a->v, approve ? "stats.approve" : "stats.reject", "stats_request", a->id, NULL);
}

typedef struct {
    int64_t key;
    int64_t count, quantity, amount;
    char name[80];
} tally;

static tally *find_tally(tally *t, int *n, int cap, int64_t key)
{
    for (int i = 0; i < *n; i++)
        if (t[i].key == key) return &t[i];
    if (*n >= cap) return NULL;
    memset(&t[*n], 0, sizeof t[*n]);
    t[*n].key = key;
    return &t[(*n)++];
}

static ih_err run_fn(ih_tx *tx, void *arg)
{
    ov_arg *a = arg;
    IH_TRY(load(a, tx));
    if (ih_row_int(&a->r, "requester_id") != a->v->actor.id)
        return ih_reject(IH_E_FORBIDDEN, NULL, "Only the requester runs an approved report.");
    if (strcmp(ih_row_str(&a->r, "status"), "approved"))
        return ih_reject(IH_E_STATE, NULL, "The request is %s: only an approved one runs, once.",
                         ih_row_str(&a->r, "status"));
    int64_t from, to;
    ih_date_parse(ih_row_str(&a->r, "window_from"), &from);
    ih_date_parse(ih_row_str(&a->r, "window_to"), &to);
    from -= (int64_t)a->c->o.utc_offset_minutes * 60000;
    to += 86400000LL - (int64_t)a->c->o.utc_offset_minutes * 60000;
    bool by_drug = !strcmp(ih_row_str(&a->r, "report"), "drug_usage");
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM prescription WHERE issued_at >= $1 AND issued_at < $2 AND status IN "
                             "('approved', 'dispensed', 'delivered') ORDER BY id", &st));
    ih_stmt_int(st, 1, from);
    ih_stmt_int(st, 2, to);
    int64_t *ids = NULL;
    int n = 0, cap = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        if (n == cap) {
            int nc = cap ? cap * 2 : 256;
            int64_t *x = realloc(ids, sizeof *x * (size_t)nc);
            if (!x) {
                e = ih_fail(IH_E_NOMEM, "stats");
                break;
            }
            ids = x;
            cap = nc;
        }
        ids[n++] = ih_col_int(st, 0);
    }
    tally *t = calloc(4096, sizeof *t);
    int nt = 0;
    if (!t && e == IH_OK) e = ih_fail(IH_E_NOMEM, "stats");
    ih_row rx;
    ih_row_init(&rx, &ih_t_rx);
    for (int i = 0; e == IH_OK && i < n; i++) {
        bool found;
        e = ih_row_load(tx, a->c->o.keys, &ih_t_rx, ids[i], &rx, &found);
        if (e != IH_OK || !found) continue;
        if (!by_drug) {
            tally *x = find_tally(t, &nt, 4096, ih_row_int(&rx, "doctor_id"));
            if (x) {
                x->count++;
                x->amount += ih_row_int(&rx, "total_fee");
            }
            continue;
        }
        json_t *items = json_loads(ih_row_str(&rx, "items"), 0, NULL);
        size_t k;
        json_t *it;
        json_array_foreach(items, k, it)
        {
            tally *x = find_tally(t, &nt, 4096, json_integer_value(json_object_get(it, "drug_id")));
            if (!x) continue;
            int64_t q = json_integer_value(json_object_get(it, "quantity")), fen = 0;
            ih_json_money(it, "price", false, &fen);
            x->count++;
            x->quantity += q;
            x->amount += q * fen;
            snprintf(x->name, sizeof x->name, "%s %s", json_string_value(json_object_get(it, "name")),
                     json_string_value(json_object_get(it, "spec")));
        }
        json_decref(items);
    }
    ih_row_free(&rx);
    free(ids);
    if (e == IH_OK) {
        for (int i = 0; i < nt; i++) {
            char amount[24];
            ih_money_text(t[i].amount, amount, sizeof amount);
            json_array_append_new(a->out, by_drug ? json_pack("{s:I, s:s, s:I, s:I, s:s}", "drug_id", (json_int_t)t[i].key,
                                                              "drug", t[i].name, "prescriptions", (json_int_t)t[i].count,
                                                              "quantity", (json_int_t)t[i].quantity, "amount", amount)
                                                  : json_pack("{s:I, s:I, s:s}", "doctor_id", (json_int_t)t[i].key,
                                                              "prescriptions", (json_int_t)t[i].count, "amount", amount));
        }
        IH_TRY(ih_row_set_str(&a->r, "status", "used"));
        ih_row_set_int(&a->r, "run_at", ih_now_ms());
        ih_row_set_int(&a->r, "result_rows", nt);
        e = ih_row_update(tx, a->c->o.keys, &a->r);
    }
    free(t);
    IH_TRY(e);
    char why[48];
    snprintf(why, sizeof why, "%d rows", nt);
    return cl_audit(a->c, tx, a->v, "stats.run", "stats_request", a->id, why);
}

static ih_err stats_run(ov_arg *a, ih_tx_fn fn, bool write, const char *action, json_t **out)
{
    ih_row_init(&a->r, &ih_t_stats);
    ih_err e = write ? ih_store_write(a->c->o.store, fn, a) : ih_store_read(a->c->o.store, fn, a);
    cl_refused(a->c, a->v, action, "stats_request", a->id, e);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(a->c, "stats_request", a->id);
    if (e == IH_OK && !a->out) e = ih_row_json_full(&a->r, &a->out);
    ih_row_free(&a->r);
    if (e != IH_OK) {
        json_decref(a->out);
        return e;
    }
    *out = a->out;
    return IH_OK;
}

ih_err ih_stats_request(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out)
{
    ov_arg a = {.c = c, .v = v, .body = body};
    return stats_run(&a, request_fn, true, "stats.request", out);
}

ih_err ih_stats_decide(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    ov_arg a = {.c = c, .v = v, .body = body, .id = id};
    return stats_run(&a, decide_fn, true, "stats.decide", out);
}

ih_err ih_stats_run(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out)
{
    ov_arg a = {.c = c, .v = v, .id = id, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    json_t *rows;
    IH_TRY(stats_run(&a, run_fn, true, "stats.run", &rows));
    *out = json_pack("{s:I, s:o}", "request", (json_int_t)id, "rows", rows);
    return *out ? IH_OK : ih_fail(IH_E_NOMEM, "stats");
}

static ih_err list_fn(ih_tx *tx, void *arg)
{
    ov_arg *a = arg;
    ih_stmt *st;
    /* requesters see theirs; the approver sees all */
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM stats_request WHERE requester_id = $1 OR $2 = 1 ORDER BY id DESC LIMIT 200",
                         &st));
    ih_stmt_int(st, 1, a->v->actor.id);
    ih_stmt_int(st, 2, a->v->role == IH_ROLE_SECADMIN);
    int64_t ids[CL_LIST_MAX];
    int n;
    IH_TRY(cl_list_ids(st, ids, &n));
    for (int i = 0; i < n; i++) {
        a->id = ids[i];
        IH_TRY(load(a, tx));
        json_t *j;
        IH_TRY(ih_row_json_full(&a->r, &j));
        json_array_append_new(a->out, j);
    }
    return IH_OK;
}

ih_err ih_stats_list(ih_clinic *c, const ih_viewer *v, json_t **out)
{
    ov_arg a = {.c = c, .v = v, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    return stats_run(&a, list_fn, false, "stats.list", out);
}
