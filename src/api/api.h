/* api.h — the JSON API: route table, dispatcher, shared helpers.
 *
 * ih_api_handle() is the server's request handler.  For each request it
 * finds the route (404/405 otherwise), authenticates (Bearer token or the
 * session cookie), enforces CSRF on cookie-authenticated state changes,
 * keeps restricted sessions to SELF routes, checks the route's declared
 * permission against the caller's role (undeclared = denied; refusals are
 * audited), runs the handler and turns any error into the JSON envelope
 * {"error":{"code","message"}}.  Handlers write only success bodies.
 */
#ifndef IH_API_API_H
#define IH_API_API_H

#include "app/app.h"
#include "app/ops.h"
#include "core/json.h"
#include "net/http.h"
#include "net/router.h"

typedef ih_err (*ih_api_fn)(ih_app *app, ih_req *req, ih_resp *resp);

/* Route flags (ih_route.flags). */
#define IH_API_PASSIVE 1u /* authenticates without counting as the user's activity (event streams) */
#define IH_API_MEMORY 2u  /* public, answered from memory alone: never waits (net/http.h, ih_req_may_wait) */

void ih_api_handle(void *app, ih_req *req, ih_resp *resp);

extern const ih_route ih_api_routes[];
extern const size_t ih_api_nroutes;

/* ---- helpers ---------------------------------------------------------------- */

/* The authenticated caller (NULL on public routes). */
const ih_principal *ih_api_principal(const ih_req *req);
/* The audit actor for this request. */
void ih_api_actor(const ih_req *req, ih_actor *out);
/* Parse the body: Content-Type must be application/json, a JSON object. */
ih_err ih_api_body(const ih_req *req, json_t **out);
/* Respond with j (takes the reference). */
ih_err ih_api_json(ih_resp *resp, int status, json_t *j);
ih_err ih_api_no_content(ih_resp *resp);
/* Path parameter k as a positive id; IH_E_NOT_FOUND if it is not one. */
ih_err ih_api_param_id(const ih_req *req, int k, int64_t *out);
/* URL-decoded query parameter into buf; false if absent. */
bool ih_api_query(const ih_req *req, const char *key, char *buf, size_t n);
/* Query parameter as an integer in [min, max] (default if absent). */
ih_err ih_api_query_int(const ih_req *req, const char *key, int64_t min, int64_t max, int64_t def, int64_t *out);
/* ?order=oldest (the default) or newest: *newest_first */
ih_err ih_api_query_order(const ih_req *req, bool *newest_first);
/* 200 {key: list, next_after (oldest first) | next_before (newest first):
 * where the next page starts (after= / before= it), null at the end}; takes list */
ih_err ih_api_page_json(ih_resp *resp, const char *key, json_t *list, bool newest_first, int64_t next);
/* The same for a page asked for with `limit`: a full page goes on from its
 * last element's integer `field` ("id", or a checkpoint's "size"). */
ih_err ih_api_list_page(ih_resp *resp, const char *key, json_t *list, int64_t limit, const char *field,
                        bool newest_first);
/* The caller as the clinic services see them. */
void ih_api_viewer(const ih_req *req, ih_viewer *v);
/* Like ih_api_body, but an empty body is an empty object. */
ih_err ih_api_body_opt(const ih_req *req, json_t **out);
/* Long operations (ops_api.c, app/ops.h): begin one (or join the one
 * running) and answer for it within ?wait= seconds, or 202 with where to ask
 * again (base + "/runs/ID"); arg is freed with free_arg in every case. */
ih_err ih_api_op_begin(ih_app *app, ih_req *req, ih_resp *resp, const char *kind, const char *base, ih_op_fn fn,
                       void *arg, void (*free_arg)(void *));
ih_err ih_api_op_get(ih_app *app, ih_req *req, ih_resp *resp, const char *kind, const char *base);

/* Record an audit event in its own transaction for the current caller. */
ih_err ih_api_audit(ih_app *app, const ih_req *req, const char *action, const char *object_type,
                    const char *object_id, ih_err result, const char *reason);

/* ---- handlers that only call one clinic service function (clinic_call.c) ----
 * Each unpacks the request (id from path parameter 0, JSON body, CSV body),
 * calls fn as the caller and answers with what it returns. */
typedef ih_err (*ih_body_call)(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);
typedef ih_err (*ih_id_body_call)(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);
typedef ih_err (*ih_id_call)(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);
typedef ih_err (*ih_list_call)(ih_clinic *c, const ih_viewer *v, json_t **out);
typedef ih_err (*ih_csv_call)(ih_clinic *c, const ih_viewer *v, const char *csv, size_t n, json_t **out);
ih_err ih_api_call_body(ih_app *app, ih_req *req, ih_resp *resp, int status, ih_body_call fn);
ih_err ih_api_call_id_body(ih_app *app, ih_req *req, ih_resp *resp, int status, ih_id_body_call fn, bool optional_body);
ih_err ih_api_call_id(ih_app *app, ih_req *req, ih_resp *resp, ih_id_call fn);
/* Answers {key: list}. */
ih_err ih_api_call_list(ih_app *app, ih_req *req, ih_resp *resp, const char *key, ih_list_call fn);
/* The body must be text/csv ("Send the <what> as text/csv." otherwise). */
ih_err ih_api_call_csv(ih_app *app, ih_req *req, ih_resp *resp, const char *what, ih_csv_call fn);

/* The PACS's answers through ihosd (pacs_api.c): a failure as the API says
 * it (what is missing 404, the rest 503), and the series and instance UIDs
 * of an image or waveform request, checked to be UIDs. */
ih_err ih_api_pacs_failed(ih_err e);
ih_err ih_api_instance_params(ih_req *req, char series[72], char sop[72]);
/* A whole slide's series, and a tile's level, x and y; the tile answered. */
ih_err ih_api_series_param(ih_req *req, char series[72]);
ih_err ih_api_tile_params(ih_req *req, char series[72], int *level, int *x, int *y);
ih_err ih_api_wsi_tile(ih_app *app, ih_resp *resp, const char *study, const char *series, int level, int x, int y);
ih_err ih_api_order_pyramid(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_order_tile(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_consult_pyramid(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_consult_tile(ih_app *app, ih_req *req, ih_resp *resp);

/* ---- handlers (one file per resource) -------------------------------------- */

/* The console's Content-Security-Policy for this app (console.c): call
 * once app->av is set. */
void ih_api_console_csp(ih_app *app);
ih_err ih_api_healthz(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_readyz(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_metrics(ih_app *app, ih_req *req, ih_resp *resp);
/* consult_api.c */
ih_err ih_api_agreements(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_agreement_add(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_agreement_revoke(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_consult_experts(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_consult_create(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_consults(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_consult_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_consult_act(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_consult_material(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_consult_image(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_consult_waveform(ih_app *app, ih_req *req, ih_resp *resp);
/* call_api.c */
ih_err ih_api_call_open(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_call_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_consult_call_open(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_consult_call_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_call_consent(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_recording_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_call_join(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_call_fallback(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_call_leave(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_call_end(ih_app *app, ih_req *req, ih_resp *resp);
/* After POST /visits/{id}/close: the visit's call, if still inviting or
 * open, ends (journaled as call.end) and its Janus room is closed, so media
 * still flowing stops; a failure is logged, the close stands. */
void ih_api_visit_call_end(ih_app *app, ih_req *req);
ih_err ih_api_call_signal(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_call_signals(ih_app *app, ih_req *req, ih_resp *resp);

ih_err ih_api_login(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_logout(ih_app *app, ih_req *req, ih_resp *resp);

ih_err ih_api_me(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_events(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_me_results(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_patient_results(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_his_links(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_his_link_resolve(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_orders_post(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_order_cancel(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_orders_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_his_outbox(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_his_outbox_retry(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_rx_dispensing(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_order_study(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_order_image(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_order_waveform(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_visit_evidence(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_break_glass_by_cert(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_console_page(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_console_asset(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_console_redirect(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_me_password(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_me_totp_begin(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_me_totp_confirm(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_me_sessions(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_me_session_revoke(ih_app *app, ih_req *req, ih_resp *resp);

ih_err ih_api_accounts_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_accounts_create(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_account_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_account_activate(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_account_role(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_account_disable(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_account_enable(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_admin_disable(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_admin_enable(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_account_expiry(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_account_password_reset(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_account_unlock(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_account_totp_reset(ih_app *app, ih_req *req, ih_resp *resp);

ih_err ih_api_permissions_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_permission_set(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_approvals_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_approval_decide(ih_app *app, ih_req *req, ih_resp *resp);

ih_err ih_api_audit_events(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_audit_checkpoints(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_audit_verify(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_audit_verify_run(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_audit_export(ih_app *app, ih_req *req, ih_resp *resp);

ih_err ih_api_backups_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_selfcheck(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_selfcheck_run(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_incidents_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_incident_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_incident_ack(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_incident_assign(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_incident_resolve(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_incident_breach(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_incident_reported(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_incident_breach_report(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_backups_create(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_backup_run(ih_app *app, ih_req *req, ih_resp *resp);

ih_err ih_api_institution_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_institution_put(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_departments_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_departments_create(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_department_update(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_staff_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_staff_candidates(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_staff_create(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_staff_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_staff_update(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_staff_online(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_staff_status(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_me_staff(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_drugs_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_drugs_create(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_drugs_import(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_drug_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_drug_update(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_schedules_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_schedules_create(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_schedule_cancel(ih_app *app, ih_req *req, ih_resp *resp);

ih_err ih_api_patients_register(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_codes_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_payment_refund(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_payment_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_payment_notify(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_codes_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_patients_register_verify(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_password_reset_start(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_password_reset_confirm(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_patients_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_patient_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_me_patient(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_me_patient_update(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_me_consents(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_me_consent_accept(ih_app *app, ih_req *req, ih_resp *resp);

ih_err ih_api_public_json(ih_app *app, ih_req *req, ih_resp *resp);

ih_err ih_api_visits_request(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_visits_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_visit_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_visit_accept(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_visit_refuse(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_visit_close(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_visit_cancel(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_visit_label(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_messages_post(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_media_post(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_records_post(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_records_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_payments_post(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_evaluation_post(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_rx_issue(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_rx_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_rx_get(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_rx_review(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_rx_dispense(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_rx_cancel(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_adverse_post(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_adverse_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_break_glass(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_break_glass_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_break_glass_review(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_icd_search(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_icd_import(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_stats_request(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_stats_list(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_stats_decide(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_stats_run(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_public_page(ih_app *app, ih_req *req, ih_resp *resp);

#endif
