/* service.c — the clinic service object as a whole (registry and care): its
 * creation, the one list of every table it describes (key rotation,
 * integrity scans and upgrades walk it), and the timeouts that move rows on
 * by time. */
#include "care/care_impl.h"

#include "core/clock.h"
#include "core/log.h"
#include "keys/protected.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every table the clinic describes, registry and care: the one list that
 * key rotation and integrity scans walk.  A table left out here is caught by
 * the schema check (keys/protected.h): tests, and key retirement itself. */
static ih_table *const all_tables[] = {
    &ih_t_institution, &ih_t_department, &ih_t_staff,   &ih_t_drug,    &ih_t_schedule,    &ih_t_patient,
    &ih_t_consent,     &ih_t_visit,      &ih_t_message, &ih_t_media,   &ih_t_emr,         &ih_t_rx,
    &ih_t_payment,     &ih_t_evaluation, &ih_t_adverse, &ih_t_break_glass, &ih_t_stats,
    &ih_t_sms_code,    &ih_t_his_link,   &ih_t_his_inbound, &ih_t_his_result, &ih_t_his_encounter,
    &ih_t_his_order,   &ih_t_his_outbox, &ih_t_call, &ih_t_call_signal, &ih_t_call_recording,
    &ih_t_agreement,   &ih_t_consult, &ih_t_consult_expert, &ih_t_consult_material,
};
#define NTABLES (sizeof all_tables / sizeof all_tables[0])
_Static_assert(NTABLES <= sizeof ((ih_clinic *)0)->tables / sizeof ((ih_clinic *)0)->tables[0],
               "ih_clinic.tables holds a context per table");

ih_err ih_clinic_new(const ih_clinic_opts *o, ih_clinic **out)
{
    ih_clinic *c = calloc(1, sizeof *c);
    IH_CHECK_ALLOC(c);
    c->o = *o;
    for (size_t i = 0; i < NTABLES; i++) c->tables[i] = (ih_table_ctx){all_tables[i], o->keys, c};
    c->relation = care_patient_relation; /* the registry asks care who may see a patient */
    c->visible = care_patients_visible;
    c->registrations = ih_throttle_new(o->registrations_per_minute > 0 ? o->registrations_per_minute : 5, o->store,
                                       "self_service");
    if (!c->registrations) {
        free(c);
        return ih_fail(IH_E_NOMEM, "clinic");
    }
    *out = c;
    return IH_OK;
}

void ih_clinic_free(ih_clinic *c)
{
    if (!c) return;
    ih_throttle_free(c->registrations);
    free(c);
}

ih_table *const *ih_clinic_tables(size_t *n)
{
    *n = NTABLES;
    return all_tables;
}

static void upgraded(const char *what, int n)
{
    if (!n) return;
    char k[24];
    snprintf(k, sizeof k, "%d", n);
    ih_log(IH_LOG_INFO, "upgrade.rows", "what", what, "rows", k, NULL);
}

ih_err ih_clinic_upgrade(ih_clinic *c)
{
    int n = 0;
    IH_TRY(cl_staff_upgrade(c, &n));
    upgraded("staff departments into the MAC'd row", n);
    /* free text typed before migration 14: into its sealed column */
    for (size_t i = 0; i < NTABLES; i++) {
        IH_TRY(ih_row_upgrade(c->o.store, c->o.keys, c->o.audit, all_tables[i], ih_row_move_legacy, "record.seal_text",
                              &n));
        upgraded(all_tables[i]->name, n);
    }
    return IH_OK;
}

size_t ih_clinic_sealed_columns(ih_clinic *c, ih_sealed_column *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < NTABLES; i++) n += ih_table_sealed_columns(&c->tables[i], out + n, cap - n);
    return n;
}

static void on_bad(void *ctx, const ih_table *t, int64_t id) { cl_integrity_alert(ctx, t->name, id); }

static ih_err scan_one(void *ctx, uint64_t *rows, uint64_t *bad)
{
    ih_table_ctx *tc = ctx;
    ih_clinic *c = tc->owner;
    return ih_table_scan(c->o.store, tc->k, tc->t, rows, bad, on_bad, c);
}

size_t ih_clinic_mac_scans(ih_clinic *c, ih_mac_scan *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < NTABLES && n < cap; i++)
        if (all_tables[i]->mac) out[n++] = (ih_mac_scan){all_tables[i]->name, scan_one, &c->tables[i]};
    return n;
}
