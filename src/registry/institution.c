/* institution.c — the one institution an instance serves: names, codes,
 * licence and internet-hospital approval (shown on the 亮证 page).  Edited
 * by sysadmin; the row carries a MAC; every change is audited. */
#include "registry/clinic_impl.h"

#include "core/clock.h"

#define REQ (IH_FF_REQUIRED | IH_FF_MAC)

static const ih_field fields[] = {
    {"name", IH_F_TEXT, REQ, 1, 64, NULL, 0, IH_MASK_NONE, NULL},
    {"ih_name", IH_F_TEXT, REQ, 1, 64, NULL, 0, IH_MASK_NONE, NULL},
    {"organ_id", IH_F_TEXT, REQ | IH_FF_UPPER, 9, 18, NULL, 0, IH_MASK_NONE, cl_check_organ_id},
    {"unit_id", IH_F_TEXT, REQ, 1, 32, NULL, 0, IH_MASK_NONE, cl_check_token},
    {"licence_no", IH_F_TEXT, REQ, 1, 64, NULL, 0, IH_MASK_NONE, NULL},
    {"licence_valid_until", IH_F_DATE, IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, cl_check_future_date},
    {"ih_approval", IH_F_TEXT, REQ, 1, 128, NULL, 0, IH_MASK_NONE, NULL},
    {"entity_hospital", IH_F_TEXT, REQ, 1, 64, NULL, 0, IH_MASK_NONE, NULL},
    {"address", IH_F_TEXT, REQ, 1, 128, NULL, 0, IH_MASK_NONE, NULL},
    {"phone", IH_F_TEXT, REQ, 1, 16, NULL, 0, IH_MASK_NONE, cl_check_phone},
    {"intro", IH_F_TEXT, IH_FF_MAC | IH_FF_MULTILINE, 0, 1000, NULL, 0, IH_MASK_NONE, NULL},
    {"updated_at", IH_F_TIME, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"updated_by", IH_F_INT, IH_FF_SERVER | IH_FF_MAC | IH_FF_PRIVATE, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_institution = IH_TABLE("institution", fields, true, "机构存续期间（亮证公示信息）");

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body;
    ih_row r;
    bool found;
} inst_arg;

static ih_err get_fn(ih_tx *tx, void *arg)
{
    inst_arg *a = arg;
    return ih_row_load(tx, a->c->o.keys, &ih_t_institution, 1, &a->r, &a->found);
}

ih_err ih_institution_get(ih_clinic *c, json_t **out)
{
    inst_arg a = {.c = c};
    ih_row_init(&a.r, &ih_t_institution);
    ih_err e = ih_store_read(c->o.store, get_fn, &a);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "institution", 1);
    if (e == IH_OK && !a.found)
        e = ih_reject(IH_E_NOT_FOUND, NULL, "The institution has not been set up yet (PUT /api/v1/institution).");
    if (e == IH_OK) e = ih_row_json(&a.r, IH_ROLE_NONE, IH_REL_OTHER, out);
    ih_row_free(&a.r);
    return e;
}

static ih_err put_fn(ih_tx *tx, void *arg)
{
    inst_arg *a = arg;
    IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_institution, 1, &a->r, &a->found));
    if (!a->found) ih_row_init(&a->r, &ih_t_institution);
    a->r.id = 1;
    IH_TRY(ih_row_from_json(&a->r, a->body, true, NULL)); /* PUT: the whole record */
    ih_row_set_int(&a->r, "updated_at", ih_now_ms());
    ih_row_set_int(&a->r, "updated_by", a->v->actor.id);
    IH_TRY(a->found ? ih_row_update(tx, a->c->o.keys, &a->r) : ih_row_insert(tx, a->c->o.keys, &a->r));
    return cl_audit(a->c, tx, a->v, a->found ? "institution.update" : "institution.create", "institution", 1, NULL);
}

ih_err ih_institution_put(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out)
{
    inst_arg a = {.c = c, .v = v, .body = body};
    ih_row_init(&a.r, &ih_t_institution);
    ih_err e = ih_store_write(c->o.store, put_fn, &a);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "institution", 1);
    if (e == IH_OK) e = ih_row_json(&a.r, IH_ROLE_NONE, IH_REL_OTHER, out);
    ih_row_free(&a.r);
    return e;
}
