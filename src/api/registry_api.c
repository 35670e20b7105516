/* registry_api.c — institution, departments, staff, drugs, schedules.
 * The route table holds each route's permission; the clinic service checks
 * the rest and writes the audit events. */
#include "api/api.h"

#include "core/clock.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- institution ------------------------------------------------------------------ */

ih_err ih_api_institution_get(ih_app *app, ih_req *req, ih_resp *resp)
{
    (void)req;
    json_t *out;
    IH_TRY(ih_institution_get(app->clinic, &out));
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_institution_put(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_body(app, req, resp, 200, ih_institution_put);
}

/* ---- departments ------------------------------------------------------------------ */

ih_err ih_api_departments_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    (void)req;
    json_t *out;
    IH_TRY(ih_department_list(app->clinic, false, &out));
    return ih_api_json(resp, 200, json_pack("{s:o}", "departments", out));
}

ih_err ih_api_departments_create(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_body(app, req, resp, 201, ih_department_create);
}

ih_err ih_api_department_update(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 200, ih_department_update, false);
}

/* ---- staff ---------------------------------------------------------------------- */

/* ?kind=doctor|pharmacist|nurse&dept_id=&after=&limit= */
ih_err ih_api_staff_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t after, limit, dept;
    IH_TRY(ih_api_query_int(req, "after", 0, INT64_MAX, 0, &after));
    IH_TRY(ih_api_query_int(req, "limit", 1, 500, 100, &limit));
    IH_TRY(ih_api_query_int(req, "dept_id", 1, INT64_MAX, 0, &dept));
    char kind[16] = "";
    if (ih_api_query(req, "kind", kind, sizeof kind) && strcmp(kind, "doctor") && strcmp(kind, "pharmacist") &&
        strcmp(kind, "nurse"))
        return ih_reject(IH_E_INVALID, "kind", "Query 'kind' is one of doctor, pharmacist, nurse.");
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(ih_staff_list(app->clinic, &v, kind, dept, after, (int)limit, &out));
    return ih_api_list_page(resp, "staff", out, limit, "id", false);
}

/* ?before=&limit=: the clinical accounts 登记医务人员 may still register */
ih_err ih_api_staff_candidates(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t before, limit;
    IH_TRY(ih_api_query_int(req, "before", 0, INT64_MAX, 0, &before));
    IH_TRY(ih_api_query_int(req, "limit", 1, 500, 100, &limit));
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(ih_staff_candidates(app->clinic, &v, before, (int)limit, &out));
    return ih_api_list_page(resp, "accounts", out, limit, "id", true);
}

ih_err ih_api_staff_create(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_body(app, req, resp, 201, ih_staff_create);
}

ih_err ih_api_staff_get(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(ih_staff_get(app->clinic, &v, id, &out));
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_staff_update(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 200, ih_staff_update, false);
}

static const char *const online_fields[] = {"online", "reason", NULL};
static const char *const status_fields[] = {"status", "reason", NULL};

ih_err ih_api_staff_online(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    json_t *b, *out = NULL;
    IH_TRY(ih_api_body(req, &b));
    bool online = false;
    const char *reason = NULL;
    ih_err e = ih_json_only(b, online_fields);
    if (e == IH_OK) e = ih_json_bool(b, "online", true, &online);
    if (e == IH_OK) e = ih_json_str(b, "reason", false, 0, 200, IH_TEXT_LINE, &reason);
    ih_viewer v;
    ih_api_viewer(req, &v);
    if (e == IH_OK) e = ih_staff_set_online(app->clinic, &v, id, online, reason, &out);
    json_decref(b);
    IH_TRY(e);
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_staff_status(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    json_t *b, *out = NULL;
    IH_TRY(ih_api_body(req, &b));
    const char *status = NULL, *reason = NULL;
    ih_err e = ih_json_only(b, status_fields);
    if (e == IH_OK) e = ih_json_str(b, "status", true, 1, 16, IH_TEXT_LINE, &status);
    if (e == IH_OK) e = ih_json_str(b, "reason", false, 0, 200, IH_TEXT_LINE, &reason);
    ih_viewer v;
    ih_api_viewer(req, &v);
    if (e == IH_OK) e = ih_staff_set_status(app->clinic, &v, id, status, reason, &out);
    json_decref(b);
    IH_TRY(e);
    return ih_api_json(resp, 200, out);
}

typedef struct {
    ih_app *app;
    int64_t account, staff;
} me_staff_arg;

static ih_err me_staff_fn(ih_tx *tx, void *arg)
{
    me_staff_arg *a = arg;
    return ih_staff_of_account(a->app->clinic, tx, a->account, &a->staff);
}

ih_err ih_api_me_staff(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_viewer v;
    ih_api_viewer(req, &v);
    me_staff_arg a = {app, v.actor.id, 0};
    IH_TRY(ih_store_read(app->store, me_staff_fn, &a));
    json_t *out;
    IH_TRY(ih_staff_get(app->clinic, &v, a.staff, &out));
    return ih_api_json(resp, 200, out);
}

/* ---- drugs ------------------------------------------------------------------------ */

ih_err ih_api_drugs_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t after, limit, all;
    char q[64] = "";
    IH_TRY(ih_api_query_int(req, "after", 0, INT64_MAX, 0, &after));
    IH_TRY(ih_api_query_int(req, "limit", 1, 500, 100, &limit));
    IH_TRY(ih_api_query_int(req, "all", 0, 1, 0, &all));
    ih_api_query(req, "q", q, sizeof q);
    json_t *out;
    IH_TRY(ih_drug_list(app->clinic, q, all != 0, after, (int)limit, &out));
    return ih_api_list_page(resp, "drugs", out, limit, "id", false);
}

ih_err ih_api_drugs_create(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_body(app, req, resp, 201, ih_drug_create);
}

ih_err ih_api_drug_get(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    json_t *out;
    IH_TRY(ih_drug_get(app->clinic, id, &out));
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_drug_update(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 200, ih_drug_update, false);
}

ih_err ih_api_drugs_import(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_csv(app, req, resp, "catalogue", ih_drug_import_csv);
}

/* ---- schedules -------------------------------------------------------------------- */

ih_err ih_api_schedules_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    char from[16] = "", to[16] = "";
    int64_t staff;
    IH_TRY(ih_api_query_int(req, "staff_id", 0, INT64_MAX, 0, &staff));
    if (!ih_api_query(req, "from", from, sizeof from)) {
        time_t t = (time_t)((ih_now_ms() + (int64_t)app->conf->utc_offset_minutes * 60000) / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(from, sizeof from, "%Y-%m-%d", &tm);
    }
    if (!ih_api_query(req, "to", to, sizeof to)) snprintf(to, sizeof to, "9999-12-31");
    json_t *out;
    IH_TRY(ih_schedule_list(app->clinic, from, to, staff, &out));
    return ih_api_json(resp, 200, json_pack("{s:o}", "schedules", out));
}

ih_err ih_api_schedules_create(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_body(app, req, resp, 201, ih_schedule_create);
}

ih_err ih_api_schedule_cancel(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(ih_schedule_cancel(app->clinic, &v, id, &out));
    return ih_api_json(resp, 200, out);
}
