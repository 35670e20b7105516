/* notify.c — live updates after a change to a visit or prescription
 * (core/bus.h): who should hear of it, read in the change's transaction
 * from MAC-checked rows, and the event published once it has committed.
 * Events carry ids only. */
#include "care/care_impl.h"

#include <stdio.h>

ih_err cl_visit_audience(ih_clinic *c, ih_tx *tx, const ih_row *visit, ih_bus_audience *to)
{
    return cl_visit_audience_of(c, tx, visit, NULL, to);
}

ih_err cl_visit_audience_of(ih_clinic *c, ih_tx *tx, const ih_row *visit, const ih_viewer *party, ih_bus_audience *to)
{
    return cl_visit_audience_known(c, tx, visit, party, NULL, to);
}

ih_err cl_visit_audience_known(ih_clinic *c, ih_tx *tx, const ih_row *visit, const ih_viewer *party,
                               const cl_parties *p, ih_bus_audience *to)
{
    *to = (ih_bus_audience){0};
    if (!c->o.bus) return IH_OK;
    if (party && party->role == IH_ROLE_PATIENT) to->accounts[0] = party->actor.id;
    else IH_TRY(cl_visit_patient_account(c, tx, visit, p, &to->accounts[0]));
    int64_t doctor = ih_row_int(visit, "doctor_id");
    if (!doctor) return IH_OK;
    if (party && party->role == IH_ROLE_DOCTOR) {
        to->accounts[1] = party->actor.id;
        return IH_OK;
    }
    if (p) { /* read with the visit: none there, no doctor's row */
        if (p->has_doctor) to->accounts[1] = ih_row_int(&p->doctor, "account_id");
        return IH_OK;
    }
    ih_row s;
    ih_row_init(&s, &ih_t_staff);
    bool found;
    ih_err e = ih_row_load_opt(tx, c->o.keys, &ih_t_staff, doctor, &s, &found, false);
    if (e == IH_OK && found) to->accounts[1] = ih_row_int(&s, "account_id");
    ih_row_free(&s);
    return e;
}

void cl_notify(ih_clinic *c, const ih_bus_audience *to, const char *event, int64_t visit, int64_t rx)
{
    if (!c->o.bus) return;
    char data[96];
    if (rx) snprintf(data, sizeof data, "{\"visit\":%lld,\"prescription\":%lld}", (long long)visit, (long long)rx);
    else snprintf(data, sizeof data, "{\"visit\":%lld}", (long long)visit);
    ih_bus_publish(c->o.bus, to, event, data);
}

typedef struct {
    ih_clinic *c;
    int64_t visit;
    ih_bus_audience to;
} aud_arg;

static ih_err aud_fn(ih_tx *tx, void *arg)
{
    aud_arg *a = arg;
    ih_row v;
    ih_row_init(&v, &ih_t_visit);
    ih_err e = cl_visit_load(a->c, tx, a->visit, &v, false);
    if (e == IH_OK) e = cl_visit_audience(a->c, tx, &v, &a->to);
    ih_row_free(&v);
    return e;
}

void cl_notify_after(ih_clinic *c, int64_t visit, unsigned roles, const char *event, int64_t rx)
{
    if (!c->o.bus) return;
    aud_arg a = {.c = c, .visit = visit};
    ih_err_text saved;
    ih_err_save(&saved);
    if (ih_store_read(c->o.store, aud_fn, &a) != IH_OK) a.to = (ih_bus_audience){0}; /* roles still hear */
    ih_err_load(&saved);
    a.to.roles = roles;
    cl_notify(c, &a.to, event, visit, rx);
}
