/* department.c — departments: internal code and name, national 诊疗科目
 * (subject) code, 科室类别 (the subject's first level), kind.  Public. */
#include "registry/clinic_impl.h"

#include "core/clock.h"

#include <stdio.h>
#include <string.h>


static ih_err check_category(const ih_row *r, const char *field, const char *v)
{
    (void)r;
    if (strlen(v) != 2)
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be a first-level 诊疗科目 code such as \"03\".", field);
    return IH_OK;
}

static const ih_field fields[] = {
    {"code", IH_F_TEXT, IH_FF_REQUIRED | IH_FF_FIXED, 1, 32, NULL, 0, IH_MASK_NONE, cl_check_token},
    {"name", IH_F_TEXT, IH_FF_REQUIRED, 1, 64, NULL, 0, IH_MASK_NONE, NULL},
    {"subject_code", IH_F_TEXT, IH_FF_REQUIRED, 2, 5, &ih_codes_subject, 0, IH_MASK_NONE, NULL},
    {"category_code", IH_F_TEXT, IH_FF_REQUIRED, 2, 2, &ih_codes_subject, 0, IH_MASK_NONE, check_category},
    {"kind", IH_F_TEXT, IH_FF_REQUIRED, 1, 16, &ih_codes_department_kind, 0, IH_MASK_NONE, NULL},
    {"active", IH_F_BOOL, 0, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"intro", IH_F_TEXT, IH_FF_MULTILINE, 0, 500, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, IH_FF_SERVER, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_department = IH_TABLE("department", fields, false, "机构存续期间（非个人信息）");

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body, *list;
    int64_t id;
    bool inactive;
    ih_row r;
} dep_arg;

/* All departments, ordered by code, read in pages of ids (a statement is not
 * stepped while rows load) so the list is never cut short. */
static ih_err list_fn(ih_tx *tx, void *arg)
{
    dep_arg *a = arg;
    enum { PAGE = 256 };
    char after[64] = "";
    for (;;) {
        ih_stmt *st;
        bool row;
        ih_err e;
        int64_t ids[PAGE];
        int n = 0;
        IH_TRY(ih_tx_prepare(tx, "SELECT id, code FROM department WHERE code > $1 ORDER BY code LIMIT 256", &st));
        ih_stmt_text(st, 1, after);
        while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
            ids[n++] = ih_col_int(st, 0);
            snprintf(after, sizeof after, "%s", ih_col_text(st, 1));
        }
        IH_TRY(e);
        for (int i = 0; i < n; i++) {
            bool found;
            IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_department, ids[i], &a->r, &found));
            if (!found || (!a->inactive && !ih_row_int(&a->r, "active"))) continue;
            json_t *j;
            IH_TRY(ih_row_json(&a->r, IH_ROLE_NONE, IH_REL_OTHER, &j));
            json_array_append_new(a->list, j);
        }
        if (n < PAGE) return IH_OK;
    }
}

ih_err ih_department_list(ih_clinic *c, bool include_inactive, json_t **out)
{
    dep_arg a = {.c = c, .list = json_array(), .inactive = include_inactive};
    IH_CHECK_ALLOC(a.list);
    ih_row_init(&a.r, &ih_t_department);
    ih_err e = ih_store_read(c->o.store, list_fn, &a);
    ih_row_free(&a.r);
    if (e != IH_OK) {
        json_decref(a.list);
        return e;
    }
    *out = a.list;
    return IH_OK;
}

static ih_err unique_code(ih_tx *tx, const char *code, int64_t self)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM department WHERE code = $1", &st));
    ih_stmt_text(st, 1, code);
    IH_TRY(ih_stmt_step(st, &row));
    if (row && ih_col_int(st, 0) != self)
        return ih_reject(IH_E_EXISTS, "code", "A department with code '%s' exists.", code);
    return IH_OK;
}

static ih_err check_rows(const ih_row *r)
{
    char top[3];
    ih_subject_top(ih_row_str(r, "subject_code"), top);
    if (strcmp(top, ih_row_str(r, "category_code")))
        return ih_reject(IH_E_INVALID, "category_code",
                         "Field 'category_code' must be the first level of 'subject_code' (%s).", top);
    return IH_OK;
}

static ih_err create_fn(ih_tx *tx, void *arg)
{
    dep_arg *a = arg;
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_department);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, NULL));
    if (!ih_row_has(&a->r, "active")) ih_row_set_int(&a->r, "active", 1);
    IH_TRY(check_rows(&a->r));
    IH_TRY(unique_code(tx, ih_row_str(&a->r, "code"), 0));
    IH_TRY(ih_tx_next_id(tx, "department", &a->r.id));
    ih_row_set_int(&a->r, "created_at", ih_now_ms());
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    return cl_audit(a->c, tx, a->v, "department.create", "department", a->r.id, NULL);
}

static ih_err update_fn(ih_tx *tx, void *arg)
{
    dep_arg *a = arg;
    bool found;
    IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_department, a->id, &a->r, &found));
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No department %lld.", (long long)a->id);
    IH_TRY(ih_row_from_json(&a->r, a->body, false, NULL));
    IH_TRY(check_rows(&a->r));
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    return cl_audit(a->c, tx, a->v, "department.update", "department", a->id, NULL);
}

static ih_err run(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, ih_tx_fn fn, json_t **out)
{
    dep_arg a = {.c = c, .v = v, .body = body, .id = id};
    ih_row_init(&a.r, &ih_t_department);
    ih_err e = ih_store_write(c->o.store, fn, &a);
    if (e == IH_OK) e = ih_row_json(&a.r, IH_ROLE_NONE, IH_REL_OTHER, out);
    ih_row_free(&a.r);
    return e;
}

ih_err ih_department_create(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out)
{
    return run(c, v, 0, body, create_fn, out);
}

ih_err ih_department_update(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    return run(c, v, id, body, update_fn, out);
}
