/* call_api.c — a visit's audio-video calls (care/call.h) on the hospital's
 * two systems (remote/av.h):
 *   POST /api/v1/visits/{id}/call       treating doctor: open one (or get the open one)
 *   GET  /api/v1/visits/{id}/call       the visit's latest call
 *   POST /api/v1/consults/{id}/call     a remote consultation's requester or lead expert: open one
 *   GET  /api/v1/consults/{id}/call     its latest call
 *   POST /api/v1/calls/{id}/consent     the patient: {consent, recording}
 *   POST /api/v1/calls/{id}/join        a participant: what their browser needs
 *   POST /api/v1/calls/{id}/fallback    a participant lost Janus: system B, once a
 *                                       fresh check confirms Janus is down
 *   POST /api/v1/calls/{id}/leave       a participant left
 *   POST /api/v1/calls/{id}/end         treating doctor: the call ends, its room is closed
 *   POST /api/v1/calls/{id}/signals     system B: {kind, data?} to the other side
 *   GET  /api/v1/calls/{id}/signals?after=N   the other side's signals
 *   GET  /api/v1/recordings/{id}        the treating doctor plays a recording
 * A new call goes to Janus while it answers its health check, else to B;
 * joining a call whose Janus is down moves it to B as well. */
#include "api/api.h"

#include "care/call.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "remote/av.h"
#include "remote/recording.h"

#include <limits.h>
#include <stdlib.h>

#include <stdio.h>
#include <string.h>

#define RECONNECTING 2 /* publishers a room holds beyond its parties: reconnections before Janus drops the old ones */

static ih_err need_av(ih_app *app)
{
    if (!app->av || (!ih_av_has_janus(app->av) && !ih_av_has_turn(app->av)))
        return ih_reject(IH_E_UNAVAILABLE, NULL, "No audio-video system is configured ([av]).");
    return IH_OK;
}

/* Move the call to B (reason a code) when B exists; *g the new grant. */
static ih_err to_b(ih_app *app, const ih_viewer *v, int64_t id, const char *reason, ih_call_grant *g)
{
    if (!ih_av_has_turn(app->av))
        return ih_reject(IH_E_UNAVAILABLE, NULL, "Janus is not answering and no second system is configured.");
    ih_call_grant_wipe(g);
    IH_TRY(ih_call_switch(app->clinic, v, id, reason, g));
    if (g->created) ih_av_count_switch(app->av);
    char cid[24];
    snprintf(cid, sizeof cid, "%lld", (long long)id);
    ih_log(IH_LOG_WARN, "av.switch", "call", cid, "reason", reason, NULL);
    return IH_OK;
}

typedef ih_err (*open_fn)(ih_clinic *c, const ih_viewer *v, int64_t id, const char *system, int minutes,
                          ih_call_grant *g, json_t **out);
typedef ih_err (*get_fn)(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);

/* Open the call of a visit or consultation (path id) on the system that answers. */
static ih_err open_call(ih_app *app, ih_req *req, ih_resp *resp, open_fn open, get_fn get)
{
    int64_t visit;
    IH_TRY(ih_api_param_id(req, 0, &visit));
    IH_TRY(need_av(app));
    ih_viewer v;
    ih_api_viewer(req, &v);
    bool janus = ih_av_janus_up(app->av);
    if (!janus && !ih_av_has_turn(app->av))
        return ih_reject(IH_E_UNAVAILABLE, NULL, "Janus is not answering and no second system is configured.");
    ih_call_grant g;
    json_t *out = NULL;
    IH_TRY(open(app->clinic, &v, visit, janus ? IH_CALL_JANUS : IH_CALL_P2P, app->conf->av_session_minutes, &g, &out));
    bool created = g.created;
    ih_err e = IH_OK;
    if (created) {
        ih_av_count_call(app->av, janus);
        if (janus && ih_av_room_create(app->av, g.room, g.pin, g.secret, g.parties + RECONNECTING) != IH_OK) {
            ih_log(IH_LOG_ERROR, "av.room_failed", "alert", "true", "detail", ih_err_detail(), NULL);
            json_decref(out);
            out = NULL;
            int64_t call = g.session_id;
            e = to_b(app, &v, call, "janus_down", &g);
            if (e != IH_OK) { /* no B either: the call cannot happen (the refusal's message stays the answer) */
                ih_err_text why;
                ih_err_save(&why);
                json_t *ended = NULL;
                ih_call_grant g2;
                if (ih_call_end(app->clinic, &v, call, &g2, &ended) == IH_OK) json_decref(ended);
                ih_call_grant_wipe(&g2);
                ih_err_load(&why);
            }
            if (e == IH_OK) e = get(app->clinic, &v, visit, &out);
            if (e == IH_OK) {
                json_t *now = json_incref(json_object_get(out, "call"));
                json_decref(out);
                out = now;
            }
        }
    }
    ih_call_grant_wipe(&g);
    if (e != IH_OK) {
        json_decref(out);
        return e;
    }
    return ih_api_json(resp, created ? 201 : 200, out);
}

ih_err ih_api_call_open(ih_app *app, ih_req *req, ih_resp *resp)
{
    return open_call(app, req, resp, ih_call_open, ih_call_get);
}

ih_err ih_api_consult_call_open(ih_app *app, ih_req *req, ih_resp *resp)
{
    return open_call(app, req, resp, ih_call_open_consult, ih_call_get_consult);
}

ih_err ih_api_consult_call_get(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id(app, req, resp, ih_call_get_consult);
}

ih_err ih_api_call_get(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id(app, req, resp, ih_call_get);
}

/* The patient's consent; with recording consented on Janus, Janus starts
 * recording the room now (a failure is logged and the call goes on). */
ih_err ih_api_call_consent(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    json_t *body;
    IH_TRY(ih_api_body(req, &body));
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out = NULL;
    ih_call_grant g;
    ih_err e = ih_call_consent(app->clinic, &v, id, body, &g, &out);
    json_decref(body);
    IH_TRY(e);
    if (json_is_true(json_object_get(out, "recording_consent")) &&
        !strcmp(json_string_value(json_object_get(out, "system")) ?: "", IH_CALL_JANUS) && app->av &&
        ih_av_recordings_dir(app->av)[0]) {
        e = ih_av_room_record(app->av, g.room, g.secret);
        if (e == IH_OK) e = ih_call_recording_started(app->clinic, &v, id);
        if (e == IH_OK) json_object_set_new(out, "recording", json_string("pending"));
        else ih_log(IH_LOG_ERROR, "av.record_failed", "alert", "true", "detail", ih_err_detail(), NULL);
    }
    ih_call_grant_wipe(&g);
    return ih_api_json(resp, 200, out);
}

/* GET /api/v1/recordings/{id}: the treating doctor plays a call's
 * recording (audited); opened from its sealed file. */
ih_err ih_api_recording_get(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    ih_viewer v;
    ih_api_viewer(req, &v);
    ih_call_file f;
    IH_TRY(ih_call_recording_get(app->clinic, &v, id, &f));
    char dir[PATH_MAX], path[PATH_MAX], label[64];
    uint8_t root[32];
    size_t n = 0;
    ih_err e = ih_instance_path(app->inst, "recordings", dir, sizeof dir);
    if (e == IH_OK) e = ih_path(path, sizeof path, "%s/%s", dir, f.file);
    if (e == IH_OK && (ih_hex_decode(f.key_hex, strlen(f.key_hex), root, sizeof root, &n) != 0 || n != 32))
        e = ih_fail(IH_E_INTEGRITY, "recording %lld: its key is malformed", (long long)id);
    int idx = 0;
    const char *dash = strrchr(f.file, '-');
    if (dash) idx = atoi(dash + 1);
    snprintf(label, sizeof label, "av_recording:%lld:%d", (long long)f.call, idx);
    if (e == IH_OK) e = ih_rec_open_file(app->inst->suite, path, label, root, &resp->body);
    resp->content_type = !strcmp(f.format, "webm") ? "video/webm" : "audio/ogg";
    ih_wipe(root, sizeof root);
    ih_wipe(&f, sizeof f);
    if (e != IH_OK) {
        ih_buf_wipe(&resp->body);
        return e == IH_E_NOT_FOUND || e == IH_E_IO ? ih_reject(IH_E_UNAVAILABLE, NULL, "The recording's file cannot be read.") : e;
    }
    resp->status = 200;
    return IH_OK;
}

/* The participant's credentials for the call's system. */
static ih_err grant_json(ih_app *app, const ih_call_grant *g, json_t **out)
{
    int64_t exp = g->expires_at / 1000;
    char exp_iso[32], user[64];
    ih_time_iso(g->expires_at, exp_iso, sizeof exp_iso);
    snprintf(user, sizeof user, "call-%lld-%s", (long long)g->session_id, g->role);
    json_t *j = json_pack("{s:I, s:s, s:s, s:s}", "call_id", (json_int_t)g->session_id, "system", g->system, "role",
                          g->role, "expires_at", exp_iso);
    IH_CHECK_ALLOC(j);
    bool janus = !strcmp(g->system, IH_CALL_JANUS);
    char admit[33] = "";
    ih_err e = janus ? ih_av_room_allow(app->av, g->room, g->secret, admit) : IH_OK;
    if (e == IH_OK && janus) e = ih_av_grant_janus(app->av, g->room, g->pin, admit, exp, j);
    ih_wipe(admit, sizeof admit);
    if (e == IH_OK) e = ih_av_grant_turn(app->av, user, exp, !janus, j);
    if (e != IH_OK) {
        json_decref(j);
        return e;
    }
    *out = j;
    return IH_OK;
}

/* Join (after moving the call to B when Janus is down, or when asked). */
static ih_err join(ih_app *app, ih_req *req, ih_resp *resp, bool fallback)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    IH_TRY(need_av(app));
    ih_viewer v;
    ih_api_viewer(req, &v);
    ih_call_grant g;
    IH_TRY(ih_call_join(app->clinic, &v, id, &g));
    ih_err e = IH_OK;
    if (!strcmp(g.system, IH_CALL_JANUS)) {
        bool down = !ih_av_janus_up(app->av) || fallback;
        if (down && ih_av_janus_check(app->av) != IH_OK) {
            e = to_b(app, &v, id, "janus_down", &g);
            if (e == IH_OK) {
                ih_call_grant_wipe(&g);
                e = ih_call_join(app->clinic, &v, id, &g); /* the join on B, audited as such */
            }
        } else if (fallback) {
            e = ih_reject(IH_E_STATE, NULL, "Janus answers its health check; reconnect to it.");
        }
    } else if (!ih_av_has_turn(app->av)) {
        e = ih_reject(IH_E_UNAVAILABLE, NULL, "The call runs on system B, which is not configured.");
    }
    json_t *out = NULL;
    if (e == IH_OK) e = grant_json(app, &g, &out);
    ih_call_grant_wipe(&g);
    IH_TRY(e);
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_call_join(ih_app *app, ih_req *req, ih_resp *resp) { return join(app, req, resp, false); }
ih_err ih_api_call_fallback(ih_app *app, ih_req *req, ih_resp *resp) { return join(app, req, resp, true); }

ih_err ih_api_call_leave(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    ih_viewer v;
    ih_api_viewer(req, &v);
    IH_TRY(ih_call_leave(app->clinic, &v, id));
    return ih_api_no_content(resp);
}

/* End call id and close its Janus room. */
static ih_err end_call(ih_app *app, const ih_viewer *v, int64_t id, json_t **out)
{
    ih_call_grant g;
    IH_TRY(ih_call_end(app->clinic, v, id, &g, out));
    if (!strcmp(g.system, IH_CALL_JANUS) && app->av && ih_av_has_janus(app->av) &&
        ih_av_room_destroy(app->av, g.room, g.secret) != IH_OK) /* the room dies with Janus's restart anyway */
        ih_log(IH_LOG_WARN, "av.room_not_destroyed", "detail", ih_err_detail(), NULL);
    ih_call_grant_wipe(&g);
    return IH_OK;
}

ih_err ih_api_call_end(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(end_call(app, &v, id, &out));
    return ih_api_json(resp, 200, out);
}

void ih_api_visit_call_end(ih_app *app, ih_req *req)
{
    int64_t visit, id;
    if (!app->av || ih_api_param_id(req, 0, &visit) != IH_OK || ih_call_live_of_visit(app->clinic, visit, &id) != IH_OK ||
        !id) {
        ih_err_clear();
        return;
    }
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out = NULL;
    if (end_call(app, &v, id, &out) == IH_OK) json_decref(out);
    else ih_log(IH_LOG_WARN, "av.call_not_ended", "detail", ih_err_detail(), NULL); /* joins are refused anyway */
    ih_err_clear();
}

ih_err ih_api_call_signal(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 201, ih_call_signal, false);
}

ih_err ih_api_call_signals(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id, after;
    IH_TRY(ih_api_param_id(req, 0, &id));
    IH_TRY(ih_api_query_int(req, "after", 0, INT64_MAX, 0, &after));
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(ih_call_signals(app->clinic, &v, id, after, &out));
    return ih_api_json(resp, 200, out);
}
