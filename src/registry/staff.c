/* staff.c — doctors, pharmacists and nurses, each linked 1:1 to an account
 * of the matching role: real name and ID number (sealed, blind-indexed),
 * title, 诊疗科目, qualification and practising certificates, years of
 * independent practice, insurance, departments.  Enabling a doctor for
 * online care is its own audited step and needs >= 3 years of practice.
 * The row MAC covers what decides who may treat: role, status, online flag,
 * years, certificates, departments.  Every access decision reads them from
 * the verified row (cl_staff_load); staff_department is only an index for
 * queries.  Suspension ends the member's sessions and all clinical
 * authority at once. */
#include "registry/clinic_impl.h"

#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RM (IH_FF_REQUIRED | IH_FF_MAC)

static const ih_field fields[] = {
    {"account_id", IH_F_INT, RM | IH_FF_FIXED, 1, INT64_MAX, NULL, 0, IH_MASK_NONE, NULL},
    {"kind", IH_F_TEXT, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"name", IH_F_SEALED, RM, 1, 32, NULL, IH_KP_PERSONAL, IH_MASK_NONE, NULL}, /* public (亮证) */
    {"cert_type", IH_F_TEXT, RM | IH_FF_FIXED, 1, 2, &ih_codes_cert_type, 0, IH_MASK_NONE, NULL},
    {"cert_no", IH_F_SEALED, RM | IH_FF_FIXED | IH_FF_INDEX | IH_FF_UPPER, 4, 32, NULL, IH_KP_PERSONAL,
     IH_FIELD_ID_NUMBER, cl_check_cert_no},
    {"sex", IH_F_TEXT, RM, 1, 1, &ih_codes_sex, 0, IH_MASK_NONE, NULL},
    {"birth_date", IH_F_SEALED, RM, 10, 10, NULL, IH_KP_PERSONAL, IH_FIELD_BIRTH_DATE, cl_check_birth_date},
    {"title_code", IH_F_TEXT, RM, 3, 3, &ih_codes_title, 0, IH_MASK_NONE, NULL},
    {"subject_code", IH_F_TEXT, RM, 2, 5, &ih_codes_subject, 0, IH_MASK_NONE, NULL},
    {"qualification_no", IH_F_TEXT, RM, 1, 32, NULL, 0, IH_MASK_NONE, cl_check_token},
    {"practice_no", IH_F_TEXT, RM, 1, 32, NULL, 0, IH_MASK_NONE, cl_check_token},
    {"practice_years", IH_F_INT, RM, 0, 70, NULL, 0, IH_MASK_NONE, NULL},
    {"insurance_policy", IH_F_TEXT, IH_FF_MAC, 0, 64, NULL, 0, IH_MASK_NONE, NULL},
    {"insurance_until", IH_F_DATE, IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, cl_check_future_date},
    {"intro", IH_F_TEXT, IH_FF_MULTILINE, 0, 500, NULL, 0, IH_MASK_NONE, NULL},
    {"status", IH_F_TEXT, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"online", IH_F_BOOL, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"online_changed_at", IH_F_TIME, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, IH_FF_SERVER, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    /* department ids, ascending, joined by ',' (migration 13) */
    {"departments", IH_F_TEXT, IH_FF_SERVER | IH_FF_MAC | IH_FF_ADDED | IH_FF_PRIVATE, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    /* why suspended or reinstated, why taken off or put on online care (sealed, migration 14) */
    {"status_reason", IH_F_SEALED, IH_FF_SERVER | IH_FF_MAC | IH_FF_ADDED | IH_FF_PRIVATE, 0, 0, NULL, IH_KP_PERSONAL,
     IH_MASK_NONE, NULL},
    {"online_reason", IH_F_SEALED, IH_FF_SERVER | IH_FF_MAC | IH_FF_ADDED | IH_FF_PRIVATE, 0, 0, NULL, IH_KP_PERSONAL,
     IH_MASK_NONE, NULL},
};
ih_table ih_t_staff = IH_TABLE("staff", fields, true, "执业期间及其后至少15年（其签名的病历与处方须可核验）");

static const char *const extra[] = {"departments", NULL};

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body;
    int64_t id, after, dept_id;
    int limit;
    bool online;
    const char *status, *reason, *kind;
    ih_row r;
    json_t *out;
} staff_arg;

ih_err ih_staff_of_account(ih_clinic *c, ih_tx *tx, int64_t account_id, int64_t *staff_id)
{
    (void)c;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM staff WHERE account_id = $1", &st));
    ih_stmt_int(st, 1, account_id);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_reject(IH_E_NOT_FOUND, NULL, "This account has no staff record.");
    *staff_id = ih_col_int(st, 0);
    return ih_stmt_exec(st);
}

/* "3,5,7" into ids (at most 8); -1 if malformed. */
static int parse_departments(const char *s, int64_t *ids)
{
    int n = 0;
    for (const char *p = s; p && *p && n < 8;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v <= 0 || (*end && *end != ',')) return -1;
        ids[n++] = v;
        p = *end ? end + 1 : NULL;
    }
    return n;
}

ih_err cl_staff_of_row(const ih_row *r, cl_staff *out)
{
    memset(out, 0, sizeof *out);
    out->id = r->id;
    out->active = !strcmp(ih_row_str(r, "status"), "active");
    out->online = ih_row_int(r, "online") != 0;
    snprintf(out->kind, sizeof out->kind, "%s", ih_row_str(r, "kind"));
    const char *d = ih_row_str(r, "departments");
    out->ndept = d ? parse_departments(d, out->dept) : 0;
    if (out->ndept < 0) return ih_fail(IH_E_INTEGRITY, "staff %lld: departments malformed", (long long)r->id);
    return IH_OK;
}

ih_err cl_staff_load(ih_clinic *c, ih_tx *tx, int64_t account_id, cl_staff *out)
{
    memset(out, 0, sizeof *out);
    int64_t id;
    IH_TRY(ih_staff_of_account(c, tx, account_id, &id));
    ih_row r;
    ih_row_init(&r, &ih_t_staff);
    bool found;
    ih_err e = ih_row_load_opt(tx, c->o.keys, &ih_t_staff, id, &r, &found, false); /* MAC and version */
    if (e == IH_OK && (!found || ih_row_int(&r, "account_id") != account_id))
        e = ih_fail(IH_E_INTEGRITY, "staff %lld does not belong to account %lld", (long long)id, (long long)account_id);
    if (e == IH_OK) e = cl_staff_of_row(&r, out);
    ih_row_free(&r);
    return e;
}

bool cl_staff_row_in(const ih_row *staff, int64_t department)
{
    int64_t ids[8];
    const char *d = ih_row_str(staff, "departments");
    int n = d ? parse_departments(d, ids) : 0;
    for (int i = 0; i < n; i++)
        if (ids[i] == department) return true;
    return false;
}

bool cl_staff_in(const cl_staff *s, int64_t department)
{
    for (int i = 0; i < s->ndept; i++)
        if (s->dept[i] == department) return true;
    return false;
}

/* The departments of a staff row (its verified list) as [{id, name, code}]. */
static ih_err departments_json(ih_tx *tx, const ih_row *r, json_t **out)
{
    int64_t ids[8];
    const char *d = ih_row_str(r, "departments");
    int n = d ? parse_departments(d, ids) : 0;
    json_t *a = json_array();
    IH_CHECK_ALLOC(a);
    ih_err e = IH_OK;
    for (int i = 0; e == IH_OK && i < n; i++) {
        ih_stmt *st;
        bool row;
        e = ih_tx_prepare(tx, "SELECT id, name, code FROM department WHERE id = $1", &st);
        if (e == IH_OK) {
            ih_stmt_int(st, 1, ids[i]);
            e = ih_stmt_step(st, &row);
        }
        if (e == IH_OK && row) {
            json_array_append_new(a, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)ih_col_int(st, 0), "name",
                                               ih_col_text(st, 1), "code", ih_col_text(st, 2)));
            e = ih_stmt_exec(st);
        }
    }
    if (e != IH_OK) {
        json_decref(a);
        return e;
    }
    *out = a;
    return IH_OK;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The body's "departments" (when given) into the row's MAC'd list: each an
 * active department, sorted, without repeats. */
static ih_err take_departments(ih_tx *tx, ih_row *r, json_t *body)
{
    json_t *d = json_object_get(body, "departments");
    if (!d) return IH_OK;
    if (!json_is_array(d) || json_array_size(d) < 1 || json_array_size(d) > 8)
        return ih_reject(IH_E_INVALID, "departments", "Field 'departments' must be a list of 1 to 8 department ids.");
    int64_t ids[8];
    int n = 0;
    size_t i;
    json_t *x;
    json_array_foreach(d, i, x)
    {
        if (!json_is_integer(x) || json_integer_value(x) <= 0)
            return ih_reject(IH_E_INVALID, "departments", "Field 'departments' must hold department ids.");
        ih_stmt *st;
        bool row;
        IH_TRY(ih_tx_prepare(tx, "SELECT active FROM department WHERE id = $1", &st));
        ih_stmt_int(st, 1, json_integer_value(x));
        IH_TRY(ih_stmt_step(st, &row));
        bool active = row && ih_col_int(st, 0);
        if (row) IH_TRY(ih_stmt_exec(st));
        if (!active)
            return ih_reject(IH_E_INVALID, "departments", "Department %lld does not exist or is inactive.",
                             (long long)json_integer_value(x));
        ids[n++] = json_integer_value(x);
    }
    qsort(ids, (size_t)n, sizeof ids[0], cmp_id);
    char list[8 * 21] = "";
    size_t len = 0;
    for (int k = 0; k < n; k++)
        if (!k || ids[k] != ids[k - 1])
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%lld", len ? "," : "", (long long)ids[k]);
    return ih_row_set_str(r, "departments", list);
}

/* staff_department mirrors the verified list, for queries that join on it. */
static ih_err index_departments(ih_tx *tx, const ih_row *r)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "DELETE FROM staff_department WHERE staff_id = $1", &st));
    ih_stmt_int(st, 1, r->id);
    IH_TRY(ih_stmt_exec(st));
    int64_t ids[8];
    const char *d = ih_row_str(r, "departments");
    int n = d ? parse_departments(d, ids) : 0;
    for (int i = 0; i < n; i++) {
        IH_TRY(ih_tx_prepare(tx, "INSERT INTO staff_department (staff_id, department_id) VALUES ($1, $2) "
                                 "ON CONFLICT DO NOTHING", &st));
        ih_stmt_int(st, 1, r->id);
        ih_stmt_int(st, 2, ids[i]);
        IH_TRY(ih_stmt_exec(st));
    }
    return IH_OK;
}

/* The view of one staff member for viewer v. */
static ih_err view(staff_arg *a, ih_tx *tx, json_t **out)
{
    ih_relation rel = a->v && ih_row_int(&a->r, "account_id") == a->v->actor.id ? IH_REL_SELF : IH_REL_OTHER;
    json_t *j, *deps = NULL;
    IH_TRY(ih_row_json(&a->r, a->v ? a->v->role : IH_ROLE_NONE, rel, &j));
    ih_err e = departments_json(tx, &a->r, &deps);
    if (e != IH_OK) {
        json_decref(j);
        return e;
    }
    json_object_set_new(j, "departments", deps);
    *out = j;
    return IH_OK;
}

static ih_err load(staff_arg *a, ih_tx *tx)
{
    bool found;
    IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_staff, a->id, &a->r, &found));
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No staff member %lld.", (long long)a->id);
    return IH_OK;
}

static ih_err create_fn(ih_tx *tx, void *arg)
{
    staff_arg *a = arg;
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_staff);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, extra));
    if (!json_object_get(a->body, "departments"))
        return ih_reject(IH_E_INVALID, "departments", "Field 'departments' is required.");
    IH_TRY(cl_check_id_consistency(&a->r, "cert_no", "cert_type"));
    /* The account: exists, holds the clinical role the title belongs to. */
    ih_role role;
    int64_t account = ih_row_int(&a->r, "account_id");
    ih_err e = ih_identity_account_tx(a->c->o.identity, tx, account, &role, NULL);
    if (e == IH_E_NOT_FOUND) return ih_reject(IH_E_INVALID, "account_id", "No account %lld.", (long long)account);
    IH_TRY(e);
    const char *kind = ih_role_name(role);
    if (role != IH_ROLE_DOCTOR && role != IH_ROLE_PHARMACIST && role != IH_ROLE_NURSE)
        return ih_reject(IH_E_INVALID, "account_id", "Account %lld is not a doctor, pharmacist or nurse.", (long long)account);
    const char *tk = ih_title_kind(ih_row_str(&a->r, "title_code"));
    if (!tk || strcmp(tk, kind))
        return ih_reject(IH_E_INVALID, "title_code", "Field 'title_code' must be a %s's title.", kind);
    int64_t existing;
    if (ih_staff_of_account(a->c, tx, account, &existing) == IH_OK)
        return ih_reject(IH_E_EXISTS, "account_id", "Account %lld already has a staff record.", (long long)account);
    uint8_t idx[32];
    IH_TRY(ih_row_index(a->c->o.keys, &ih_t_staff, "cert_no", ih_row_str(&a->r, "cert_no"), idx));
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM staff WHERE cert_no_idx = $1", &st));
    ih_stmt_blob(st, 1, idx, 32);
    IH_TRY(ih_stmt_step(st, &row));
    if (row) return ih_reject(IH_E_EXISTS, "cert_no", "A staff member with this certificate number exists.");
    IH_TRY(ih_tx_next_id(tx, "staff", &a->r.id));
    IH_TRY(ih_row_set_str(&a->r, "kind", kind));
    IH_TRY(ih_row_set_str(&a->r, "status", "active"));
    ih_row_set_int(&a->r, "online", 0);
    ih_row_set_int(&a->r, "created_at", ih_now_ms());
    IH_TRY(take_departments(tx, &a->r, a->body));
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    IH_TRY(index_departments(tx, &a->r));
    IH_TRY(cl_audit(a->c, tx, a->v, "staff.create", "staff", a->r.id, kind));
    return view(a, tx, &a->out);
}

static ih_err update_fn(ih_tx *tx, void *arg)
{
    staff_arg *a = arg;
    IH_TRY(load(a, tx));
    IH_TRY(ih_row_from_json(&a->r, a->body, false, extra));
    IH_TRY(cl_check_id_consistency(&a->r, "cert_no", "cert_type"));
    const char *tk = ih_title_kind(ih_row_str(&a->r, "title_code"));
    if (!tk || strcmp(tk, ih_row_str(&a->r, "kind")))
        return ih_reject(IH_E_INVALID, "title_code", "Field 'title_code' must be a %s's title.", ih_row_str(&a->r, "kind"));
    /* Fewer years than the rule needs takes a doctor off online care. */
    if (ih_row_int(&a->r, "online") && ih_row_int(&a->r, "practice_years") < IH_MIN_PRACTICE_YEARS) {
        ih_row_set_int(&a->r, "online", 0);
        ih_row_set_int(&a->r, "online_changed_at", ih_now_ms());
    }
    IH_TRY(take_departments(tx, &a->r, a->body));
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    IH_TRY(index_departments(tx, &a->r));
    IH_TRY(cl_audit(a->c, tx, a->v, "staff.update", "staff", a->r.id, NULL));
    return view(a, tx, &a->out);
}

static ih_err online_fn(ih_tx *tx, void *arg)
{
    staff_arg *a = arg;
    IH_TRY(load(a, tx));
    if (a->online) {
        if (strcmp(ih_row_str(&a->r, "kind"), "doctor"))
            return ih_reject(IH_E_STATE, NULL, "Only doctors are enabled for online care.");
        if (strcmp(ih_row_str(&a->r, "status"), "active"))
            return ih_reject(IH_E_STATE, NULL, "A suspended doctor cannot be enabled for online care.");
        if (ih_row_int(&a->r, "practice_years") < IH_MIN_PRACTICE_YEARS)
            return ih_reject(IH_E_STATE, "practice_years",
                             "Online care needs at least %d years of independent practice (this doctor has %lld).",
                             IH_MIN_PRACTICE_YEARS, (long long)ih_row_int(&a->r, "practice_years"));
        ih_role role;
        bool active;
        IH_TRY(ih_identity_account_tx(a->c->o.identity, tx, ih_row_int(&a->r, "account_id"), &role, &active));
        if (role != IH_ROLE_DOCTOR) return ih_reject(IH_E_STATE, NULL, "The staff member's account is not a doctor's.");
        if (!active) return ih_reject(IH_E_STATE, NULL, "The doctor's account is not active.");
    }
    ih_row_set_int(&a->r, "online", a->online);
    ih_row_set_int(&a->r, "online_changed_at", ih_now_ms());
    IH_TRY(ih_row_set_str(&a->r, "online_reason", a->reason && *a->reason ? a->reason : NULL));
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    IH_TRY(cl_audit(a->c, tx, a->v, a->online ? "staff.online_enable" : "staff.online_disable", "staff", a->r.id,
                    NULL));
    return view(a, tx, &a->out);
}

static ih_err status_fn(ih_tx *tx, void *arg)
{
    staff_arg *a = arg;
    IH_TRY(load(a, tx));
    IH_TRY(ih_row_set_str(&a->r, "status", a->status));
    IH_TRY(ih_row_set_str(&a->r, "status_reason", a->reason && *a->reason ? a->reason : NULL));
    bool suspend = !strcmp(a->status, "suspended");
    if (suspend && ih_row_int(&a->r, "online")) {
        ih_row_set_int(&a->r, "online", 0);
        ih_row_set_int(&a->r, "online_changed_at", ih_now_ms());
    }
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    /* Authority ends now: every request checks the verified staff row, and
     * the member's sessions end with the suspension. */
    if (suspend)
        IH_TRY(ih_identity_end_sessions_tx(a->c->o.identity, tx, ih_row_int(&a->r, "account_id"), "staff suspended"));
    IH_TRY(cl_audit(a->c, tx, a->v, !strcmp(a->status, "active") ? "staff.reinstate" : "staff.suspend", "staff",
                    a->r.id, NULL));
    return view(a, tx, &a->out);
}

static ih_err get_fn(ih_tx *tx, void *arg)
{
    staff_arg *a = arg;
    IH_TRY(load(a, tx));
    return view(a, tx, &a->out);
}

static ih_err list_fn(ih_tx *tx, void *arg)
{
    staff_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    int64_t ids[500];
    int n = 0;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM staff WHERE id > $1 AND ($3 = '' OR kind = $3) AND ($4 = 0 OR id IN "
                             "(SELECT staff_id FROM staff_department WHERE department_id = $4)) ORDER BY id LIMIT $2",
                         &st));
    ih_stmt_int(st, 1, a->after);
    ih_stmt_int(st, 2, a->limit);
    ih_stmt_text(st, 3, a->kind ? a->kind : "");
    ih_stmt_int(st, 4, a->dept_id);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 500) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    for (int i = 0; i < n; i++) {
        a->id = ids[i];
        IH_TRY(load(a, tx));
        json_t *j;
        IH_TRY(view(a, tx, &j));
        json_array_append_new(a->out, j);
    }
    return IH_OK;
}

static ih_err run(staff_arg *a, bool write, ih_tx_fn fn, json_t **out)
{
    ih_row_init(&a->r, &ih_t_staff);
    ih_err e = write ? ih_store_write(a->c->o.store, fn, a) : ih_store_read(a->c->o.store, fn, a);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(a->c, "staff", a->id ? a->id : a->r.id);
    ih_row_free(&a->r);
    if (e != IH_OK) {
        json_decref(a->out);
        return e;
    }
    *out = a->out;
    return IH_OK;
}

ih_err ih_staff_create(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out)
{
    staff_arg a = {.c = c, .v = v, .body = body};
    return run(&a, true, create_fn, out);
}

ih_err ih_staff_update(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    staff_arg a = {.c = c, .v = v, .body = body, .id = id};
    return run(&a, true, update_fn, out);
}

ih_err ih_staff_get(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out)
{
    staff_arg a = {.c = c, .v = v, .id = id};
    IH_TRY(run(&a, false, get_fn, out));
    ih_err e = cl_audit_own(c, v, "staff.read", "staff", id, IH_OK, NULL);
    if (e != IH_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return e;
}

ih_err ih_staff_list(ih_clinic *c, const ih_viewer *v, const char *kind, int64_t dept_id, int64_t after, int limit,
                     json_t **out)
{
    staff_arg a = {.c = c, .v = v, .kind = kind, .dept_id = dept_id, .after = after, .limit = limit, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    IH_TRY(run(&a, false, list_fn, out));
    ih_err e = cl_audit_own(c, v, "staff.list", "staff", 0, IH_OK, NULL);
    if (e != IH_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return e;
}

/* ---- accounts still to register ------------------------------------------------ */

typedef struct {
    ih_clinic *c;
    json_t *page, *free; /* a page of accounts; those of it with no staff record */
    size_t want;
} candidates_arg;

static ih_err candidates_fn(ih_tx *tx, void *arg)
{
    candidates_arg *a = arg;
    json_array_clear(a->free); /* the read may run again */
    size_t i;
    json_t *acct;
    json_array_foreach(a->page, i, acct)
    {
        if (json_array_size(a->free) == a->want) break;
        int64_t staff;
        ih_err e = ih_staff_of_account(a->c, tx, json_integer_value(json_object_get(acct, "id")), &staff);
        if (e == IH_OK) continue;
        if (e != IH_E_NOT_FOUND) return e;
        ih_err_clear();
        if (json_array_append(a->free, acct)) return ih_fail(IH_E_NOMEM, "out of memory");
    }
    return IH_OK;
}

ih_err ih_staff_candidates(ih_clinic *c, const ih_viewer *v, int64_t before, int limit, json_t **out)
{
    candidates_arg a = {.c = c, .free = json_array()};
    json_t *list = json_array();
    ih_err e = a.free && list ? IH_OK : ih_fail(IH_E_NOMEM, "out of memory");
    for (size_t got = 0; e == IH_OK;) {
        ih_account_filter f = {.status = "active", .roles = {"doctor", "pharmacist", "nurse"}, .newest_first = true,
                               .before = before, .limit = limit};
        if ((e = ih_identity_list(c->o.identity, &f, &a.page)) != IH_OK) break;
        size_t n = json_array_size(a.page);
        a.want = (size_t)limit - got;
        e = ih_store_read(c->o.store, candidates_fn, &a);
        if (e == IH_OK && json_array_extend(list, a.free)) e = ih_fail(IH_E_NOMEM, "out of memory");
        got = json_array_size(list);
        if (n) before = json_integer_value(json_object_get(json_array_get(a.page, n - 1), "id"));
        json_decref(a.page);
        if (n < (size_t)limit || got == (size_t)limit) break;
    }
    json_decref(a.free);
    if (e == IH_OK) e = cl_audit_own(c, v, "account.list", "account", 0, IH_OK, NULL);
    if (e != IH_OK) {
        json_decref(list);
        return e;
    }
    *out = list;
    return IH_OK;
}

ih_err ih_staff_set_online(ih_clinic *c, const ih_viewer *v, int64_t id, bool online, const char *reason, json_t **out)
{
    staff_arg a = {.c = c, .v = v, .id = id, .online = online, .reason = reason};
    ih_err e = run(&a, true, online_fn, out);
    if (e == IH_E_STATE) cl_audit_own(c, v, "staff.online_enable", "staff", id, e, ih_err_public());
    return e;
}

ih_err ih_staff_set_status(ih_clinic *c, const ih_viewer *v, int64_t id, const char *status, const char *reason,
                           json_t **out)
{
    if (strcmp(status, "active") && strcmp(status, "suspended"))
        return ih_reject(IH_E_INVALID, "status", "Field 'status' must be 'active' or 'suspended'.");
    staff_arg a = {.c = c, .v = v, .id = id, .status = status, .reason = reason};
    return run(&a, true, status_fn, out);
}

/* ---- upgrade: departments into the staff row ---------------------------------------- */

typedef struct {
    ih_clinic *c;
    int64_t after;
    int got, done;
} upgrade_arg;

static ih_err upgrade_fn(ih_tx *tx, void *arg)
{
    upgrade_arg *u = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    int64_t ids[100];
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM staff WHERE departments IS NULL AND id > $1 ORDER BY id LIMIT 100", &st));
    ih_stmt_int(st, 1, u->after);
    u->got = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) ids[u->got++] = ih_col_int(st, 0);
    IH_TRY(e);
    ih_row r;
    ih_row_init(&r, &ih_t_staff);
    for (int i = 0; e == IH_OK && i < u->got; i++) {
        bool found;
        u->after = ids[i];
        e = ih_row_load(tx, u->c->o.keys, &ih_t_staff, ids[i], &r, &found);
        if (e == IH_E_INTEGRITY) { /* left as it is: the scan reports it */
            ih_err_clear();
            e = IH_OK;
            continue;
        }
        if (e != IH_OK || !found || r.rv != 0) continue; /* only rows from before the list: trusted once */
        char list[8 * 21] = "";
        size_t len = 0;
        int k = 0;
        e = ih_tx_prepare(tx, "SELECT department_id FROM staff_department WHERE staff_id = $1 ORDER BY department_id",
                          &st);
        if (e == IH_OK) {
            ih_stmt_int(st, 1, ids[i]);
            while ((e = ih_stmt_step(st, &row)) == IH_OK && row)
                if (k++ < 8)
                    len += (size_t)snprintf(list + len, sizeof list - len, "%s%lld", len ? "," : "",
                                            (long long)ih_col_int(st, 0));
        }
        if (e == IH_OK) e = ih_row_set_str(&r, "departments", list);
        if (e == IH_OK) e = ih_row_update(tx, u->c->o.keys, &r);
        if (e == IH_OK) e = index_departments(tx, &r);
        if (e == IH_OK) e = cl_audit(u->c, tx, NULL, "staff.upgrade", "staff", ids[i], "departments into the row");
        if (e == IH_OK) u->done++;
    }
    ih_row_free(&r);
    return e;
}

ih_err cl_staff_upgrade(ih_clinic *c, int *n)
{
    upgrade_arg u = {.c = c};
    do {
        IH_TRY(ih_store_write(c->o.store, upgrade_fn, &u));
    } while (u.got == 100);
    *n = u.done;
    return IH_OK;
}
