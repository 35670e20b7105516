/* care_api.c — visits, messages, media, records, prescriptions, payments,
 * evaluations, adverse events, break-glass, labels, ICD codes and the 统方
 * report.  Permissions are in the route table; relationships, labels and
 * the state machines are the clinic service's (care/care.h). */
#include "api/api.h"

#include "care/care.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- visits ------------------------------------------------------------------------- */

ih_err ih_api_visits_request(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_body(app, req, resp, 201, ih_visit_request);
}

/* ?order=oldest|newest&after=ID|before=ID&limit=N (at most 200, default 50) */
static ih_err page_args(ih_req *req, ih_page *pg)
{
    int64_t limit;
    IH_TRY(ih_api_query_int(req, "after", 0, INT64_MAX, 0, &pg->after));
    IH_TRY(ih_api_query_int(req, "before", 1, INT64_MAX, 0, &pg->before));
    IH_TRY(ih_api_query_int(req, "limit", 1, 200, 50, &limit));
    pg->limit = (int)limit;
    return ih_api_query_order(req, &pg->newest);
}

ih_err ih_api_visits_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    char status[16] = "";
    ih_api_query(req, "status", status, sizeof status);
    ih_page pg;
    IH_TRY(page_args(req, &pg));
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    int64_t next;
    IH_TRY(ih_visit_list(app->clinic, &v, status, &pg, &out, &next));
    return ih_api_page_json(resp, "visits", out, pg.newest, next);
}

ih_err ih_api_visit_get(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id, after, limit;
    IH_TRY(ih_api_param_id(req, 0, &id));
    IH_TRY(ih_api_query_int(req, "after_message", 0, INT64_MAX, 0, &after));
    IH_TRY(ih_api_query_int(req, "limit", 1, 200, 50, &limit));
    ih_viewer v;
    ih_api_viewer(req, &v);
    ih_buf_reset(&resp->body);
    IH_TRY(ih_visit_get(app->clinic, &v, id, after, (int)limit, &resp->body));
    resp->status = 200;
    resp->content_type = "application/json";
    return IH_OK;
}

ih_err ih_api_visit_accept(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 200, ih_visit_accept, true);
}

ih_err ih_api_visit_refuse(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 200, ih_visit_refuse, false);
}

ih_err ih_api_visit_close(ih_app *app, ih_req *req, ih_resp *resp)
{
    IH_TRY(ih_api_call_id(app, req, resp, ih_visit_close));
    ih_api_visit_call_end(app, req); /* its call ends with it */
    return IH_OK;
}
ih_err ih_api_visit_cancel(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id(app, req, resp, ih_visit_cancel);
}

ih_err ih_api_visit_label(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 200, ih_visit_label, false);
}

ih_err ih_api_messages_post(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 201, ih_message_post, false);
}

ih_err ih_api_media_post(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 201, ih_media_record, false);
}

ih_err ih_api_records_post(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 201, ih_record_add, false);
}

ih_err ih_api_records_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(ih_record_list(app->clinic, &v, id, &out));
    return ih_api_json(resp, 200, json_pack("{s:o}", "records", out));
}

ih_err ih_api_payments_post(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 201, ih_payment_order, false);
}

ih_err ih_api_payment_refund(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 200, ih_payment_refund, false);
}

ih_err ih_api_payment_get(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id(app, req, resp, ih_payment_get);
}

/* The channel's notification: public, but nothing happens unless its
 * signature over the raw body verifies (payment.c). */
ih_err ih_api_payment_notify(ih_app *app, ih_req *req, ih_resp *resp)
{
    IH_TRY(ih_payment_notify(app->clinic, req->hdr[IH_HDR_PAY_TIMESTAMP], req->hdr[IH_HDR_PAY_NONCE],
                             req->hdr[IH_HDR_PAY_SIGNATURE], req->body ? req->body : "", req->body_len));
    return ih_api_json(resp, 200, json_pack("{s:s}", "code", "SUCCESS"));
}

ih_err ih_api_evaluation_post(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 201, ih_evaluation_add, false);
}

/* ---- prescriptions ------------------------------------------------------------------- */

ih_err ih_api_rx_issue(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 201, ih_rx_issue, false);
}

ih_err ih_api_rx_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    char status[16] = "";
    ih_api_query(req, "status", status, sizeof status);
    ih_page pg;
    int64_t visit;
    IH_TRY(page_args(req, &pg));
    IH_TRY(ih_api_query_int(req, "visit_id", 1, INT64_MAX, 0, &visit));
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    int64_t next;
    IH_TRY(ih_rx_list(app->clinic, &v, status, visit, &pg, &out, &next));
    return ih_api_page_json(resp, "prescriptions", out, pg.newest, next);
}

ih_err ih_api_rx_get(ih_app *app, ih_req *req, ih_resp *resp) { return ih_api_call_id(app, req, resp, ih_rx_get); }

ih_err ih_api_rx_review(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 200, ih_rx_review, false);
}

ih_err ih_api_rx_dispense(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 200, ih_rx_dispense, false);
}

ih_err ih_api_rx_dispensing(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 200, ih_rx_dispensing, false);
}

ih_err ih_api_rx_cancel(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id(app, req, resp, ih_rx_cancel);
}

/* ---- the rest ---------------------------------------------------------------------------- */

ih_err ih_api_adverse_post(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_body(app, req, resp, 201, ih_adverse_report);
}

ih_err ih_api_adverse_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_list(app, req, resp, "adverse_events", ih_adverse_list);
}

ih_err ih_api_break_glass(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 201, ih_break_glass, false);
}

ih_err ih_api_break_glass_by_cert(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_body(app, req, resp, 201, ih_break_glass_by_cert);
}

ih_err ih_api_break_glass_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    char pending[8] = "";
    ih_api_query(req, "pending", pending, sizeof pending);
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *list;
    IH_TRY(ih_break_glass_list(app->clinic, &v, !strcmp(pending, "true") || !strcmp(pending, "1"), &list));
    return ih_api_json(resp, 200, json_pack("{s:o}", "grants", list));
}

ih_err ih_api_break_glass_review(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 200, ih_break_glass_review, false);
}

ih_err ih_api_icd_search(ih_app *app, ih_req *req, ih_resp *resp)
{
    char q[64] = "";
    ih_api_query(req, "q", q, sizeof q);
    int64_t limit;
    IH_TRY(ih_api_query_int(req, "limit", 1, 200, 50, &limit));
    json_t *out;
    IH_TRY(ih_icd_search(app->clinic, q, (int)limit, &out));
    return ih_api_json(resp, 200, json_pack("{s:o}", "codes", out));
}

ih_err ih_api_icd_import(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_csv(app, req, resp, "code list", ih_icd_import_csv);
}

ih_err ih_api_stats_request(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_body(app, req, resp, 201, ih_stats_request);
}

ih_err ih_api_stats_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_list(app, req, resp, "requests", ih_stats_list);
}

ih_err ih_api_stats_decide(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 200, ih_stats_decide, false);
}

ih_err ih_api_stats_run(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id(app, req, resp, ih_stats_run);
}
