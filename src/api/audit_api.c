/* audit_api.c — the auditadmin's view of the journal.
 *   GET  /api/v1/audit/events       filters: from, to (ISO time), actor
 *                                   (account id) or actor_username, action, object_type, object_id,
 *                                   outcome; order (oldest, newest), after / before (seq), limit
 *   GET  /api/v1/audit/checkpoints  order, after / before (size), limit
 *   POST /api/v1/audit/verify       the same checks as `ihos audit verify`
 *   GET  /api/v1/audit/export       events as JSON lines (same filters)
 * Every one of these accesses is itself an audit event (L3 8.1.4.3a). */
#include "api/api.h"

#include "core/clock.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    char action[64], object_type[32], object_id[64], outcome[16];
} filter_text;

static ih_err time_param(const ih_req *req, const char *key, int64_t *out)
{
    char buf[40];
    *out = 0;
    if (!ih_api_query(req, key, buf, sizeof buf)) return IH_OK;
    if (ih_time_parse_iso(buf, out) != 0 && ih_date_parse(buf, out) != 0)
        return ih_reject(IH_E_INVALID, key, "Query parameter '%s' must be a date (YYYY-MM-DD) or UTC time "
                                            "(YYYY-MM-DDTHH:MM:SSZ).", key);
    return IH_OK;
}

static ih_err parse_filter(ih_app *app, const ih_req *req, ih_audit_filter *f, filter_text *t, int max_limit)
{
    memset(f, 0, sizeof *f);
    IH_TRY(time_param(req, "from", &f->from_ms));
    IH_TRY(time_param(req, "to", &f->to_ms));
    IH_TRY(ih_api_query_int(req, "actor", 0, INT64_MAX, -1, &f->actor_id));
    char user[80];
    if (ih_api_query(req, "actor_username", user, sizeof user)) {
        if (f->actor_id >= 0)
            return ih_reject(IH_E_INVALID, "actor_username", "Give either 'actor' or 'actor_username', not both.");
        IH_TRY(ih_identity_account_id(app->identity, user, &f->actor_id));
        if (!f->actor_id) f->actor_id = INT64_MAX; /* nobody: an empty answer, as for an unknown id */
    }
    IH_TRY(ih_api_query_int(req, "after", -1, INT64_MAX, -1, &f->after_seq));
    IH_TRY(ih_api_query_int(req, "before", 1, INT64_MAX, 0, &f->before_seq));
    IH_TRY(ih_api_query_order(req, &f->newest_first));
    int64_t limit;
    IH_TRY(ih_api_query_int(req, "limit", 1, max_limit, max_limit < 1000 ? max_limit : 1000, &limit));
    f->limit = (int)limit;
    if (ih_api_query(req, "action", t->action, sizeof t->action)) f->action = t->action;
    if (ih_api_query(req, "object_type", t->object_type, sizeof t->object_type)) f->object_type = t->object_type;
    if (ih_api_query(req, "object_id", t->object_id, sizeof t->object_id)) f->object_id = t->object_id;
    if (ih_api_query(req, "outcome", t->outcome, sizeof t->outcome)) {
        if (strcmp(t->outcome, "success") && strcmp(t->outcome, "failure"))
            return ih_reject(IH_E_INVALID, "outcome", "Query parameter 'outcome' must be success or failure.");
        f->outcome = t->outcome;
    }
    return IH_OK;
}

ih_err ih_api_audit_events(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_audit_filter f;
    filter_text t;
    IH_TRY(parse_filter(app, req, &f, &t, 1000));
    /* Record the access first: it is part of what the auditor reads. */
    IH_TRY(ih_api_audit(app, req, "audit.query", "audit_journal", NULL, IH_OK, NULL));
    json_t *events;
    int64_t next;
    IH_TRY(ih_audit_query(app->store, &f, &events, &next));
    ih_err e = ih_identity_name_actors(app->identity, events);
    if (e != IH_OK) {
        json_decref(events);
        return e;
    }
    return ih_api_page_json(resp, "events", events, f.newest_first, next);
}

ih_err ih_api_audit_checkpoints(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t after, before, limit;
    bool newest;
    IH_TRY(ih_api_query_int(req, "after", 0, INT64_MAX, 0, &after));
    IH_TRY(ih_api_query_int(req, "before", 1, INT64_MAX, 0, &before));
    IH_TRY(ih_api_query_int(req, "limit", 1, 1000, 100, &limit));
    IH_TRY(ih_api_query_order(req, &newest));
    IH_TRY(ih_api_audit(app, req, "audit.read", "audit_checkpoint", NULL, IH_OK, NULL));
    json_t *list;
    IH_TRY(ih_audit_list_checkpoints(app->store, after, before, newest, (int)limit, &list));
    return ih_api_list_page(resp, "checkpoints", list, limit, "size", newest);
}

/* The whole journal recomputed (audit.h): a long operation (ops_api.c), its
 * outcome audited as audit.verify in the name of who asked. */
static ih_err verify_op(void *arg, const ih_actor *who, int *status, json_t **body)
{
    ih_app *app = arg;
    char cp[PATH_MAX];
    IH_TRY(ih_instance_path(app->inst, "audit/checkpoints", cp, sizeof cp));
    ih_audit_report r;
    IH_TRY(ih_audit_verify(app->store, app->inst->suite, app->inst->origin, app->inst->audit_pub, cp, &r));
    ih_audit_event ev = {.action = "audit.verify", .object_type = "audit_journal",
                         .result = r.problem[0] ? IH_E_INTEGRITY : IH_OK};
    IH_TRY(ih_audit_record(app->audit, who, &ev));
    *status = 200;
    *body = json_pack("{s:b, s:I, s:I, s:I, s:I, s:s?, s:o, s:o}", "ok", r.problem[0] == '\0', "events",
                      (json_int_t)r.events, "checkpoints", (json_int_t)r.checkpoints, "unsealed",
                      (json_int_t)r.unsealed, "archived", (json_int_t)r.purged, "problem",
                      r.problem[0] ? r.problem : NULL, "bad_event",
                      r.bad_event >= 0 ? json_integer(r.bad_event) : json_null(), "bad_checkpoint",
                      r.bad_checkpoint >= 0 ? json_integer(r.bad_checkpoint) : json_null());
    return *body ? IH_OK : ih_fail(IH_E_NOMEM, "out of memory");
}

ih_err ih_api_audit_verify(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_op_begin(app, req, resp, "audit.verify", "/api/v1/audit/verify", verify_op, app, NULL);
}

ih_err ih_api_audit_verify_run(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_op_get(app, req, resp, "audit.verify", "/api/v1/audit/verify");
}

ih_err ih_api_audit_export(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_audit_filter f;
    filter_text t;
    IH_TRY(parse_filter(app, req, &f, &t, 100000));
    IH_TRY(ih_api_audit(app, req, "audit.export", "audit_journal", NULL, IH_OK, NULL));
    json_t *events;
    int64_t next;
    IH_TRY(ih_audit_query(app->store, &f, &events, &next));
    ih_err e = ih_identity_name_actors(app->identity, events);
    ih_buf_reset(&resp->body);
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        if (e != IH_OK) break;
        if ((e = ih_json_dump(ev, JSON_COMPACT, &resp->body)) != IH_OK || (e = ih_buf_puts(&resp->body, "\n")) != IH_OK)
            break;
    }
    json_decref(events);
    IH_TRY(e);
    resp->status = 200;
    resp->content_type = "application/x-ndjson";
    if (next >= 0) { /* more may follow: the same export again with after= (before=) this */
        char n[24];
        snprintf(n, sizeof n, "%lld", (long long)next);
        IH_TRY(ih_resp_header(resp, f.newest_first ? "X-Ihos-Next-Before" : "X-Ihos-Next-After", n));
    }
    return ih_resp_header(resp, "Content-Disposition", "attachment; filename=\"ihos-audit.ndjson\"");
}
