/* drug.c — the drug catalogue: hospital and national codes, names,
 * packing, manufacturer, dosage form, platform drug class, price, and the
 * restricted flag (narcotic, psychotropic and other specially managed
 * drugs: never prescribed online).  The row MAC covers every field, so the
 * restricted flag cannot be cleared in the database unseen. */
#include "registry/clinic_impl.h"
#include "registry/drug_impl.h"

#include "core/clock.h"

#include <stdio.h>
#include <string.h>


#define RM (IH_FF_REQUIRED | IH_FF_MAC)

static const ih_field fields[] = {
    {"hosp_code", IH_F_TEXT, RM | IH_FF_FIXED, 1, 32, NULL, 0, IH_MASK_NONE, cl_check_token},
    {"national_code", IH_F_TEXT, IH_FF_MAC, 0, 32, NULL, 0, IH_MASK_NONE, cl_check_token},
    {"name", IH_F_TEXT, RM, 1, 64, NULL, 0, IH_MASK_NONE, NULL},
    {"trade_name", IH_F_TEXT, IH_FF_MAC, 0, 64, NULL, 0, IH_MASK_NONE, NULL},
    {"spec", IH_F_TEXT, RM, 1, 64, NULL, 0, IH_MASK_NONE, NULL},
    {"unit", IH_F_TEXT, RM, 1, 8, NULL, 0, IH_MASK_NONE, NULL},
    {"manufacturer", IH_F_TEXT, RM, 1, 128, NULL, 0, IH_MASK_NONE, NULL},
    {"dosage_form", IH_F_TEXT, RM, 1, 32, NULL, 0, IH_MASK_NONE, NULL},
    {"drug_class", IH_F_TEXT, RM, 1, 1, &ih_codes_drug_class, 0, IH_MASK_NONE, NULL},
    {"price", IH_F_MONEY, RM, 0, 100000000, NULL, 0, IH_MASK_NONE, NULL},
    {"otc", IH_F_BOOL, IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"restricted", IH_F_BOOL, RM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"restricted_class", IH_F_TEXT, IH_FF_MAC, 1, 16, &ih_codes_restricted_class, 0, IH_MASK_NONE, NULL},
    {"active", IH_F_BOOL, IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"updated_at", IH_F_TIME, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    /* the class a patient's recorded allergy is checked against, when its
     * name does not say it (allergy.c) */
    {"allergy_class", IH_F_TEXT, IH_FF_MAC | IH_FF_ADDED, 1, 24, &ih_codes_allergy_class, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_drug = IH_TABLE("drug", fields, true, "机构存续期间（非个人信息）");

ih_err drug_check_row(ih_row *r)
{
    if (!ih_row_has(r, "active")) ih_row_set_int(r, "active", 1);
    bool restricted = ih_row_int(r, "restricted") != 0;
    if (restricted && !ih_row_has(r, "restricted_class"))
        return ih_reject(IH_E_INVALID, "restricted_class", "A restricted drug needs its 'restricted_class'.");
    if (!restricted && ih_row_has(r, "restricted_class"))
        return ih_reject(IH_E_INVALID, "restricted_class", "Field 'restricted_class' applies only to restricted drugs.");
    return IH_OK;
}

ih_err drug_find_code(ih_tx *tx, const char *hosp_code, int64_t *id)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM drug WHERE hosp_code = $1", &st));
    ih_stmt_text(st, 1, hosp_code);
    IH_TRY(ih_stmt_step(st, &row));
    *id = row ? ih_col_int(st, 0) : 0;
    return IH_OK;
}

/* The drug as the supervision platform's catalogue record wants it. */
static ih_err drug_fact(ih_clinic *c, ih_tx *tx, int64_t id, json_t *f)
{
    ih_row d;
    ih_row_init(&d, &ih_t_drug);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_drug, id, &d, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_NOT_FOUND, "drug %lld", (long long)id);
    if (e == IH_OK) {
        json_t *j;
        e = ih_row_json(&d, IH_ROLE_NONE, IH_REL_OTHER, &j);
        if (e == IH_OK) {
            json_object_update(f, j);
            json_object_set_new(f, "price", json_integer(ih_row_int(&d, "price")));
            json_object_set_new(f, "updated_at", json_integer(ih_row_int(&d, "updated_at")));
            json_decref(j);
        }
    }
    ih_row_free(&d);
    return e;
}

ih_err cl_report_drug(ih_clinic *c, ih_tx *tx, int64_t id)
{
    if (!c->o.report) return IH_OK;
    json_t *f = json_object();
    IH_CHECK_ALLOC(f);
    char key[48];
    snprintf(key, sizeof key, "drug-%lld", (long long)id);
    ih_err e = drug_fact(c, tx, id, f);
    if (e == IH_OK) e = cl_report_put(c, tx, "drug", key, f);
    json_decref(f);
    return e;
}

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body, *out;
    int64_t id, after;
    int limit;
    const char *q;
    bool inactive;
    ih_row r;
} drug_arg;

static ih_err create_fn(ih_tx *tx, void *arg)
{
    drug_arg *a = arg;
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_drug);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, NULL));
    IH_TRY(drug_check_row(&a->r));
    int64_t existing;
    IH_TRY(drug_find_code(tx, ih_row_str(&a->r, "hosp_code"), &existing));
    if (existing) return ih_reject(IH_E_EXISTS, "hosp_code", "A drug with this hospital code exists.");
    IH_TRY(ih_tx_next_id(tx, "drug", &a->r.id));
    ih_row_set_int(&a->r, "updated_at", ih_now_ms());
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    IH_TRY(cl_audit(a->c, tx, a->v, "drug.create", "drug", a->r.id, NULL));
    return cl_report_drug(a->c, tx, a->r.id);
}

static ih_err update_fn(ih_tx *tx, void *arg)
{
    drug_arg *a = arg;
    bool found;
    IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_drug, a->id, &a->r, &found));
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No drug %lld.", (long long)a->id);
    IH_TRY(ih_row_from_json(&a->r, a->body, false, NULL));
    IH_TRY(drug_check_row(&a->r));
    ih_row_set_int(&a->r, "updated_at", ih_now_ms());
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    IH_TRY(cl_audit(a->c, tx, a->v, "drug.update", "drug", a->r.id, NULL));
    return cl_report_drug(a->c, tx, a->r.id);
}

static ih_err get_fn(ih_tx *tx, void *arg)
{
    drug_arg *a = arg;
    bool found;
    IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_drug, a->id, &a->r, &found));
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No drug %lld.", (long long)a->id);
    return IH_OK;
}

static ih_err list_fn(ih_tx *tx, void *arg)
{
    drug_arg *a = arg;
    char like[140];
    size_t j = 0;
    like[j++] = '%';
    for (const char *p = a->q ? a->q : ""; *p && j < sizeof like - 3; p++) {
        if (*p == '%' || *p == '_' || *p == '\\') like[j++] = '\\';
        like[j++] = *p;
    }
    like[j++] = '%';
    like[j] = '\0';
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM drug WHERE id > $1 AND ($2 = '' OR hosp_code = $2 OR name LIKE $3 ESCAPE '\\' "
                             "OR trade_name LIKE $3 ESCAPE '\\') AND (active = 1 OR $4 = 1) ORDER BY id LIMIT $5", &st));
    ih_stmt_int(st, 1, a->after);
    ih_stmt_text(st, 2, a->q ? a->q : "");
    ih_stmt_text(st, 3, like);
    ih_stmt_int(st, 4, a->inactive);
    ih_stmt_int(st, 5, a->limit);
    int64_t ids[500];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 500) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    for (int i = 0; i < n; i++) {
        bool found;
        IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_drug, ids[i], &a->r, &found));
        json_t *jd;
        IH_TRY(ih_row_json(&a->r, IH_ROLE_NONE, IH_REL_OTHER, &jd));
        json_array_append_new(a->out, jd);
    }
    return IH_OK;
}

static ih_err run(drug_arg *a, bool write, ih_tx_fn fn, json_t **out)
{
    ih_row_init(&a->r, &ih_t_drug);
    ih_err e = write ? ih_store_write(a->c->o.store, fn, a) : ih_store_read(a->c->o.store, fn, a);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(a->c, "drug", a->id ? a->id : a->r.id);
    if (e == IH_OK && !a->out) e = ih_row_json(&a->r, IH_ROLE_NONE, IH_REL_OTHER, &a->out);
    ih_row_free(&a->r);
    if (e != IH_OK) {
        json_decref(a->out);
        return e;
    }
    *out = a->out;
    return IH_OK;
}

ih_err ih_drug_create(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out)
{
    drug_arg a = {.c = c, .v = v, .body = body};
    return run(&a, true, create_fn, out);
}

ih_err ih_drug_update(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    drug_arg a = {.c = c, .v = v, .body = body, .id = id};
    return run(&a, true, update_fn, out);
}

ih_err ih_drug_get(ih_clinic *c, int64_t id, json_t **out)
{
    drug_arg a = {.c = c, .id = id};
    return run(&a, false, get_fn, out);
}

ih_err ih_drug_list(ih_clinic *c, const char *q, bool include_inactive, int64_t after, int limit, json_t **out)
{
    drug_arg a = {.c = c, .q = q, .inactive = include_inactive, .after = after, .limit = limit, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    return run(&a, false, list_fn, out);
}
