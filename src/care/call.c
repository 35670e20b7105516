/* call.c — a visit's audio-video calls (call.h): the call record, consent,
 * joining, the switch from system A to B, the end, and system B's
 * signalling mailbox. */
#include "care/call.h"
#include "care/care_impl.h"

#include "core/clock.h"
#include "crypto/suite.h"

#include <stdio.h>
#include <string.h>

#define SM (IH_FF_SERVER | IH_FF_MAC)
#define SMP (IH_FF_SERVER | IH_FF_MAC | IH_FF_PRIVATE)

static const ih_field call_fields[] = {
    {"visit_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"consult_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL}, /* a remote consultation's call */
    {"system", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"state", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"room", IH_F_INT, SMP, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"pin", IH_F_SEALED, SMP, 0, 0, NULL, IH_KP_SECRET, IH_MASK_NONE, NULL},
    {"room_secret", IH_F_SEALED, SMP, 0, 0, NULL, IH_KP_SECRET, IH_MASK_NONE, NULL},
    {"expires_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"opened_by", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"consent_by", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"consent_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"recording_consent", IH_F_BOOL, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"started_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"switched_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"switch_reason", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"ended_by", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"ended_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"media_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"recording", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL}, /* pending, stored, none, failed */
};
ih_table ih_t_call = IH_TABLE("av_session", call_fields, true, "至少3年（文字、音视频诊疗记录）");

static const ih_field signal_fields[] = {
    {"session_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"sender_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"sender_role", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"kind", IH_F_TEXT, IH_FF_REQUIRED | IH_FF_MAC, 1, 8, &ih_codes_av_signal, 0, IH_MASK_NONE, NULL},
    /* an SDP: the browser's addresses and keys' fingerprints */
    {"data", IH_F_SEALED, IH_FF_MAC | IH_FF_MULTILINE, 1, 16000, NULL, IH_KP_PERSONAL, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_call_signal = IH_TABLE_APPEND_ONLY("av_signal", signal_fields, "至少3年（文字、音视频诊疗记录）");

static const ih_field recording_fields[] = {
    {"session_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"visit_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"kind", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"format", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"bytes", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"sha256", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"file", IH_F_TEXT, SMP, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"file_key", IH_F_SEALED, SMP, 0, 0, NULL, IH_KP_CLINICAL, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_call_recording = IH_TABLE_APPEND_ONLY("av_recording", recording_fields, "至少3年（文字、音视频诊疗记录）");

#define S_INVITING "inviting"
#define S_OPEN "open"
#define S_ENDED "ended"
#define S_DECLINED "declined"

void ih_call_grant_wipe(ih_call_grant *g) { ih_wipe(g, sizeof *g); }

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    int64_t visit, id, after;
    const char *system, *reason;
    int minutes;
    json_t *body, *out;
    ih_call_grant *g;
    ih_row call, visit_row;
    bool treating; /* the visit's treating doctor; in a consultation's call its requester or lead expert */
    int64_t consult;
    cl_consult_party party;
    ih_bus_audience to;
} call_arg;

static ih_err consult_live(const call_arg *a);

static void arg_init(call_arg *a) {
    ih_row_init(&a->call, &ih_t_call);
    ih_row_init(&a->visit_row, &ih_t_visit);
}
static void arg_free(call_arg *a) {
    ih_row_free(&a->call);
    ih_row_free(&a->visit_row);
}

static bool is(const ih_row *r, const char *state) { return !strcmp(ih_row_str(r, "state"), state); }

/* The visit (its access checked for v) into a->visit_row. */
static ih_err visit_for(call_arg *a, ih_tx *tx, int64_t visit, bool write)
{
    ih_row_free(&a->visit_row);
    ih_row_init(&a->visit_row, &ih_t_visit);
    IH_TRY(cl_visit_load(a->c, tx, visit, &a->visit_row, false));
    return cl_visit_access(a->c, tx, a->v, &a->visit_row, write, &a->treating);
}

/* A consultation's call: v must be its requester or an invited expert. */
static ih_err consult_party(call_arg *a, ih_tx *tx)
{
    IH_TRY(cl_consult_party_of(a->c, tx, a->v, a->consult, &a->party));
    if (!a->party.in)
        return ih_reject(IH_E_FORBIDDEN, NULL, "Only the requester and the invited experts take part in this call.");
    a->treating = a->party.requester || a->party.lead;
    return IH_OK;
}

/* The call a->id and its visit (or consultation); v must be one of its participants. */
static ih_err participant(call_arg *a, ih_tx *tx)
{
    bool found;
    ih_row_free(&a->call);
    ih_row_init(&a->call, &ih_t_call);
    IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_call, a->id, &a->call, &found));
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No such call.");
    a->consult = ih_row_int(&a->call, "consult_id");
    if (a->consult) return consult_party(a, tx);
    IH_TRY(visit_for(a, tx, ih_row_int(&a->call, "visit_id"), true));
    if (!a->treating && a->v->role != IH_ROLE_PATIENT)
        return ih_reject(IH_E_FORBIDDEN, NULL, "Only the patient and the treating doctor take part in a call.");
    return IH_OK;
}

static void fill_grant(const call_arg *a, ih_call_grant *g)
{
    const ih_row *r = &a->call;
    g->session_id = r->id;
    g->visit_id = ih_row_int(r, "visit_id");
    g->account = a->v ? a->v->actor.id : 0;
    g->expires_at = ih_row_int(r, "expires_at");
    g->room = ih_row_int(r, "room");
    snprintf(g->system, sizeof g->system, "%s", ih_row_str(r, "system"));
    snprintf(g->role, sizeof g->role, "%s",
             a->consult ? (a->party.requester ? "doctor" : "expert") : a->treating ? "doctor" : "patient");
    g->parties = a->consult ? a->party.nexperts + 1 : 2;
    snprintf(g->pin, sizeof g->pin, "%s", ih_row_str(r, "pin") ? ih_row_str(r, "pin") : "");
    snprintf(g->secret, sizeof g->secret, "%s", ih_row_str(r, "room_secret") ? ih_row_str(r, "room_secret") : "");
}

/* The call's view: its state and times, never the room's secrets. */
static ih_err view(const call_arg *a, json_t **out)
{
    json_t *j;
    IH_TRY(ih_row_json(&a->call, a->v->role, IH_REL_CARE, &j));
    if (json_object_set_new(j, "expired", json_boolean(ih_now_ms() >= ih_row_int(&a->call, "expires_at")))) {
        json_decref(j);
        return ih_fail(IH_E_NOMEM, "call");
    }
    *out = j;
    return IH_OK;
}

static ih_err audit(call_arg *a, ih_tx *tx, const char *action, const char *reason)
{
    if (a->consult) IH_TRY(cl_consult_audience(a->c, tx, a->consult, &a->to));
    else IH_TRY(cl_visit_audience(a->c, tx, &a->visit_row, &a->to));
    return cl_audit(a->c, tx, a->v, action, "av_session", a->call.id, reason);
}

/* When credentials end: the visit's shift end (local time), if still at
 * least five minutes away and within 12 hours; else now + minutes. */
static ih_err expiry(call_arg *a, ih_tx *tx, int64_t now, int64_t *out)
{
    *out = now + (int64_t)a->minutes * 60000;
    int64_t sched = ih_row_int(&a->visit_row, "schedule_id");
    if (!sched) return IH_OK;
    ih_row s;
    ih_row_init(&s, &ih_t_schedule);
    bool found;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_schedule, sched, &s, &found);
    int64_t day;
    const char *end = found && e == IH_OK ? ih_row_str(&s, "end_time") : NULL;
    if (end && ih_date_parse(ih_row_str(&s, "day"), &day) == 0) {
        int64_t t = day + ((end[0] - '0') * 10 + (end[1] - '0')) * 3600000LL + ((end[3] - '0') * 10 + (end[4] - '0')) * 60000LL -
                    (int64_t)a->c->o.utc_offset_minutes * 60000;
        if (t >= now + 5 * 60000 && t <= now + 12 * 3600000LL) *out = t;
    }
    ih_row_free(&s);
    return e;
}

/* A random room number (Janus's room ids are 64-bit; kept below 2^53 so
 * browsers' JSON numbers hold it), PIN and secret. */
static ih_err draw_room(ih_row *r)
{
    uint64_t x;
    uint8_t sec[16];
    uint32_t p;
    IH_TRY(ih_random(&x, sizeof x));
    IH_TRY(ih_random(&p, sizeof p));
    IH_TRY(ih_random(sec, sizeof sec));
    ih_row_set_int(r, "room", (int64_t)(x % ((1ULL << 52) - 1000000)) + 1000000);
    char pin[16], hex[40];
    snprintf(pin, sizeof pin, "%08u", (unsigned)(p % 100000000u));
    ih_hex_encode(sec, sizeof sec, hex, 0);
    ih_err e = ih_row_set_str(r, "pin", pin);
    if (e == IH_OK) e = ih_row_set_str(r, "room_secret", hex);
    ih_wipe(pin, sizeof pin);
    ih_wipe(hex, sizeof hex);
    ih_wipe(sec, sizeof sec);
    return e;
}

/* The visit's latest call id (0: none). */
static ih_err latest(ih_tx *tx, int64_t visit, int64_t *id)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM av_session WHERE visit_id = $1 ORDER BY id DESC LIMIT 1", &st));
    ih_stmt_int(st, 1, visit);
    bool row;
    IH_TRY(ih_stmt_step(st, &row));
    *id = row ? ih_col_int(st, 0) : 0;
    return IH_OK;
}

static ih_err load_call(call_arg *a, ih_tx *tx, int64_t id)
{
    bool found;
    ih_row_free(&a->call);
    ih_row_init(&a->call, &ih_t_call);
    a->id = id;
    IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_call, id, &a->call, &found));
    return found ? IH_OK : ih_fail(IH_E_INTEGRITY, "av_session %lld listed but not loaded", (long long)id);
}

/* ---- open --------------------------------------------------------------------------------------- */

static ih_err open_fn(ih_tx *tx, void *arg)
{
    call_arg *a = arg;
    IH_TRY(visit_for(a, tx, a->visit, true));
    if (!a->treating) return ih_reject(IH_E_FORBIDDEN, NULL, "Only the treating doctor opens a call.");
    if (strcmp(ih_row_str(&a->visit_row, "status"), V_ACCEPTED))
        return ih_reject(IH_E_STATE, NULL, "Calls belong to accepted visits (it is %s).",
                         ih_row_str(&a->visit_row, "status"));
    int64_t now = ih_now_ms(), last;
    IH_TRY(latest(tx, a->visit, &last));
    if (last) {
        IH_TRY(load_call(a, tx, last));
        if ((is(&a->call, S_INVITING) || is(&a->call, S_OPEN)) && now < ih_row_int(&a->call, "expires_at")) {
            fill_grant(a, a->g);
            return IH_OK; /* the call already open */
        }
    }
    ih_row_free(&a->call);
    ih_row_init(&a->call, &ih_t_call);
    IH_TRY(ih_tx_next_id(tx, "av_session", &a->call.id));
    ih_row *r = &a->call;
    ih_row_set_int(r, "visit_id", a->visit);
    IH_TRY(ih_row_set_str(r, "system", a->system));
    IH_TRY(ih_row_set_str(r, "state", S_INVITING));
    IH_TRY(draw_room(r));
    int64_t exp;
    IH_TRY(expiry(a, tx, now, &exp));
    ih_row_set_int(r, "expires_at", exp);
    ih_row_set_int(r, "opened_by", a->v->actor.id);
    ih_row_set_int(r, "created_at", now);
    IH_TRY(ih_row_insert(tx, a->c->o.keys, r));
    fill_grant(a, a->g);
    a->g->created = true;
    return audit(a, tx, "call.open", a->system);
}

ih_err ih_call_open(ih_clinic *c, const ih_viewer *v, int64_t visit_id, const char *system, int minutes,
                    ih_call_grant *g, json_t **out)
{
    call_arg a = {.c = c, .v = v, .visit = visit_id, .system = system, .minutes = minutes, .g = g};
    arg_init(&a);
    *g = (ih_call_grant){0};
    ih_err e = ih_store_write(c->o.store, open_fn, &a);
    cl_refused(c, v, "call.open", "visit", visit_id, e);
    if (e == IH_OK) e = view(&a, out);
    if (e == IH_OK && g->created) cl_notify(c, &a.to, "call", visit_id, 0);
    if (e != IH_OK) ih_call_grant_wipe(g);
    arg_free(&a);
    return e;
}

/* ---- a remote consultation's call ------------------------------------------------------------------ */

static ih_err latest_consult(ih_tx *tx, int64_t consult, int64_t *id)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM av_session WHERE consult_id = $1 ORDER BY id DESC LIMIT 1", &st));
    ih_stmt_int(st, 1, consult);
    bool row;
    IH_TRY(ih_stmt_step(st, &row));
    *id = row ? ih_col_int(st, 0) : 0;
    return IH_OK;
}

static ih_err open_consult_fn(ih_tx *tx, void *arg)
{
    call_arg *a = arg;
    IH_TRY(consult_party(a, tx));
    if (!a->treating) return ih_reject(IH_E_FORBIDDEN, NULL, "The requester or the lead expert opens the call.");
    IH_TRY(consult_live(a));
    if (!strcmp(a->system, IH_CALL_P2P) && a->party.nexperts > 1)
        return ih_reject(IH_E_UNAVAILABLE, NULL, "Janus is not answering, and system B carries two participants.");
    int64_t now = ih_now_ms(), last;
    IH_TRY(latest_consult(tx, a->consult, &last));
    if (last) {
        IH_TRY(load_call(a, tx, last));
        if (is(&a->call, S_OPEN) && now < ih_row_int(&a->call, "expires_at")) {
            fill_grant(a, a->g);
            return IH_OK;
        }
    }
    ih_row_free(&a->call);
    ih_row_init(&a->call, &ih_t_call);
    IH_TRY(ih_tx_next_id(tx, "av_session", &a->call.id));
    ih_row *r = &a->call;
    ih_row_set_int(r, "visit_id", a->party.visit_id);
    ih_row_set_int(r, "consult_id", a->consult);
    IH_TRY(ih_row_set_str(r, "system", a->system));
    IH_TRY(ih_row_set_str(r, "state", S_OPEN)); /* the patient's consent is the consultation's */
    IH_TRY(draw_room(r));
    ih_row_set_int(r, "expires_at", now + (int64_t)a->minutes * 60000);
    ih_row_set_int(r, "opened_by", a->v->actor.id);
    ih_row_set_int(r, "created_at", now);
    IH_TRY(ih_row_insert(tx, a->c->o.keys, r));
    fill_grant(a, a->g);
    a->g->created = true;
    return audit(a, tx, "call.open", a->system);
}

ih_err ih_call_open_consult(ih_clinic *c, const ih_viewer *v, int64_t consult_id, const char *system, int minutes,
                            ih_call_grant *g, json_t **out)
{
    call_arg a = {.c = c, .v = v, .consult = consult_id, .system = system, .minutes = minutes, .g = g};
    arg_init(&a);
    *g = (ih_call_grant){0};
    ih_err e = ih_store_write(c->o.store, open_consult_fn, &a);
    cl_refused(c, v, "call.open", "consult", consult_id, e);
    if (e == IH_OK) e = view(&a, out);
    if (e == IH_OK && g->created) cl_notify(c, &a.to, "call", a.party.visit_id, 0);
    if (e != IH_OK) ih_call_grant_wipe(g);
    arg_free(&a);
    return e;
}

static ih_err get_consult_fn(ih_tx *tx, void *arg)
{
    call_arg *a = arg;
    IH_TRY(consult_party(a, tx));
    int64_t last;
    IH_TRY(latest_consult(tx, a->consult, &last));
    if (last) IH_TRY(load_call(a, tx, last));
    return IH_OK;
}

ih_err ih_call_get_consult(ih_clinic *c, const ih_viewer *v, int64_t consult_id, json_t **out)
{
    call_arg a = {.c = c, .v = v, .consult = consult_id};
    arg_init(&a);
    ih_err e = ih_store_read(c->o.store, get_consult_fn, &a);
    cl_refused(c, v, "call.read", "consult", consult_id, e);
    json_t *j = NULL;
    if (e == IH_OK && a.call.id) e = view(&a, &j);
    if (e == IH_OK) e = cl_audit_own(c, v, "call.read", "consult", consult_id, IH_OK, NULL);
    if (e == IH_OK) {
        *out = json_pack("{s:o}", "call", j ? j : json_null());
        j = NULL;
        if (!*out) e = ih_fail(IH_E_NOMEM, "call");
    }
    json_decref(j);
    arg_free(&a);
    return e;
}

/* ---- read --------------------------------------------------------------------------------------- */

/* The call's stored recordings, for its treating doctor: [{id, kind, format, bytes, sha256, created_at}]. */
static ih_err recordings_of(call_arg *a, ih_tx *tx)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM av_recording WHERE session_id = $1 ORDER BY id LIMIT 16", &st));
    ih_stmt_int(st, 1, a->call.id);
    int64_t ids[CL_LIST_MAX];
    int n;
    IH_TRY(cl_list_ids(st, ids, &n));
    a->out = json_array();
    IH_CHECK_ALLOC(a->out);
    for (int i = 0; i < n; i++) {
        ih_row x;
        ih_row_init(&x, &ih_t_call_recording);
        bool found;
        json_t *j = NULL;
        ih_err e = ih_row_load_opt(tx, a->c->o.keys, &ih_t_call_recording, ids[i], &x, &found, false);
        if (e == IH_OK && found) e = ih_row_json(&x, a->v->role, IH_REL_CARE, &j);
        if (e == IH_OK && j && json_array_append_new(a->out, j)) e = ih_fail(IH_E_NOMEM, "call");
        ih_row_free(&x);
        IH_TRY(e);
    }
    return IH_OK;
}

static ih_err get_fn(ih_tx *tx, void *arg)
{
    call_arg *a = arg;
    IH_TRY(visit_for(a, tx, a->visit, false));
    int64_t last;
    IH_TRY(latest(tx, a->visit, &last));
    if (last) IH_TRY(load_call(a, tx, last));
    if (last && a->treating) IH_TRY(recordings_of(a, tx));
    return IH_OK;
}

ih_err ih_call_get(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t **out)
{
    call_arg a = {.c = c, .v = v, .visit = visit_id};
    arg_init(&a);
    ih_err e = ih_store_read(c->o.store, get_fn, &a);
    cl_refused(c, v, "call.read", "visit", visit_id, e);
    json_t *j = NULL;
    if (e == IH_OK && a.call.id) e = view(&a, &j);
    if (e == IH_OK && j && a.out && json_object_set(j, "recordings", a.out)) e = ih_fail(IH_E_NOMEM, "call");
    json_decref(a.out);
    if (e == IH_OK) e = cl_audit_own(c, v, "call.read", "visit", visit_id, IH_OK, NULL);
    if (e == IH_OK) {
        *out = json_pack("{s:o}", "call", j ? j : json_null());
        j = NULL;
        if (!*out) e = ih_fail(IH_E_NOMEM, "call");
    }
    json_decref(j);
    arg_free(&a);
    return e;
}

/* ---- consent ------------------------------------------------------------------------------------- */

static ih_err consent_fn(ih_tx *tx, void *arg)
{
    call_arg *a = arg;
    IH_TRY(participant(a, tx));
    if (a->v->role != IH_ROLE_PATIENT) return ih_reject(IH_E_FORBIDDEN, NULL, "The patient consents to the call.");
    if (!is(&a->call, S_INVITING))
        return ih_reject(IH_E_STATE, NULL, "The call is %s; consent is given once, while it invites.",
                         ih_row_str(&a->call, "state"));
    json_t *yes = json_object_get(a->body, "consent"), *rec = json_object_get(a->body, "recording");
    if (!json_is_boolean(yes)) return ih_reject(IH_E_INVALID, "consent", "Field 'consent' must be true or false.");
    if (rec && !json_is_boolean(rec)) return ih_reject(IH_E_INVALID, "recording", "Field 'recording' must be true or false.");
    const char *k;
    json_t *x;
    json_object_foreach(a->body, k, x) if (strcmp(k, "consent") && strcmp(k, "recording"))
        return ih_reject(IH_E_INVALID, k, "Unknown field '%s'.", k);
    int64_t now = ih_now_ms();
    ih_row_set_int(&a->call, "consent_by", a->v->actor.id);
    ih_row_set_int(&a->call, "consent_at", now);
    if (json_is_true(yes)) {
        IH_TRY(ih_row_set_str(&a->call, "state", S_OPEN));
        ih_row_set_int(&a->call, "recording_consent", json_is_true(rec));
    } else {
        IH_TRY(ih_row_set_str(&a->call, "state", S_DECLINED));
        ih_row_set_int(&a->call, "ended_at", now);
        ih_row_set_int(&a->call, "ended_by", a->v->actor.id);
    }
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->call));
    fill_grant(a, a->g);
    return audit(a, tx, json_is_true(yes) ? "call.consent" : "call.decline",
                 json_is_true(yes) && json_is_true(rec) ? "recording" : NULL);
}

ih_err ih_call_consent(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, ih_call_grant *g, json_t **out)
{
    *g = (ih_call_grant){0};
    call_arg a = {.c = c, .v = v, .id = id, .body = body, .g = g};
    arg_init(&a);
    ih_err e = json_is_object(body) ? ih_store_write(c->o.store, consent_fn, &a)
                                    : ih_reject(IH_E_INVALID, NULL, "The body must be a JSON object.");
    cl_refused(c, v, "call.consent", "av_session", id, e);
    if (e == IH_OK) e = view(&a, out);
    if (e == IH_OK) cl_notify(c, &a.to, "call", g->visit_id, 0);
    else ih_call_grant_wipe(g);
    arg_free(&a);
    return e;
}

/* ---- join, leave ----------------------------------------------------------------------------------- */

/* A consultation talks from its scheduling until its report is signed. */
static ih_err consult_live(const call_arg *a)
{
    static const char *const ok[] = {"scheduled", "in_session", "report_drafted", "signed", NULL};
    for (const char *const *s = ok; *s; s++)
        if (!strcmp(a->party.status, *s)) return IH_OK;
    return ih_reject(IH_E_STATE, NULL, "The consultation is %s; calls belong to it from scheduling to signature.",
                     a->party.status);
}

static ih_err live(call_arg *a, int64_t now)
{
    if (is(&a->call, S_INVITING))
        return ih_reject(IH_E_STATE, NULL, "The patient has not consented to the call yet.");
    if (!is(&a->call, S_OPEN)) return ih_reject(IH_E_STATE, NULL, "The call is %s.", ih_row_str(&a->call, "state"));
    if (now >= ih_row_int(&a->call, "expires_at")) return ih_reject(IH_E_STATE, NULL, "The call's time is over.");
    if (a->consult) return consult_live(a);
    if (strcmp(ih_row_str(&a->visit_row, "status"), V_ACCEPTED))
        return ih_reject(IH_E_STATE, NULL, "The visit is %s.", ih_row_str(&a->visit_row, "status"));
    return IH_OK;
}

static ih_err join_fn(ih_tx *tx, void *arg)
{
    call_arg *a = arg;
    IH_TRY(participant(a, tx));
    int64_t now = ih_now_ms();
    IH_TRY(live(a, now));
    if (!ih_row_has(&a->call, "started_at")) {
        ih_row_set_int(&a->call, "started_at", now);
        IH_TRY(ih_row_update(tx, a->c->o.keys, &a->call));
    }
    fill_grant(a, a->g);
    return audit(a, tx, "call.join", ih_row_str(&a->call, "system"));
}

ih_err ih_call_join(ih_clinic *c, const ih_viewer *v, int64_t id, ih_call_grant *g)
{
    call_arg a = {.c = c, .v = v, .id = id, .g = g};
    arg_init(&a);
    *g = (ih_call_grant){0};
    ih_err e = ih_store_write(c->o.store, join_fn, &a);
    cl_refused(c, v, "call.join", "av_session", id, e);
    if (e == IH_OK) cl_notify(c, &a.to, "call", g->visit_id, 0);
    else ih_call_grant_wipe(g);
    arg_free(&a);
    return e;
}

static ih_err leave_fn(ih_tx *tx, void *arg)
{
    call_arg *a = arg;
    IH_TRY(participant(a, tx));
    return audit(a, tx, "call.leave", NULL);
}

ih_err ih_call_leave(ih_clinic *c, const ih_viewer *v, int64_t id)
{
    call_arg a = {.c = c, .v = v, .id = id};
    arg_init(&a);
    ih_err e = ih_store_write(c->o.store, leave_fn, &a);
    cl_refused(c, v, "call.leave", "av_session", id, e);
    if (e == IH_OK) cl_notify(c, &a.to, "call", ih_row_int(&a.call, "visit_id"), 0);
    arg_free(&a);
    return e;
}

/* ---- switch to B ------------------------------------------------------------------------------------ */

static ih_err switch_fn(ih_tx *tx, void *arg)
{
    call_arg *a = arg;
    IH_TRY(participant(a, tx));
    if (!is(&a->call, S_INVITING)) IH_TRY(live(a, ih_now_ms()));
    if (!strcmp(ih_row_str(&a->call, "system"), IH_CALL_P2P)) {
        fill_grant(a, a->g);
        return IH_OK;
    }
    if (a->consult && a->party.nexperts > 1)
        return ih_reject(IH_E_UNAVAILABLE, NULL, "System B carries two participants; an MDT waits for Janus.");
    IH_TRY(ih_row_set_str(&a->call, "system", IH_CALL_P2P));
    ih_row_set_int(&a->call, "switched_at", ih_now_ms());
    IH_TRY(ih_row_set_str(&a->call, "switch_reason", a->reason));
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->call));
    fill_grant(a, a->g);
    a->g->created = true; /* switched now */
    return audit(a, tx, "call.switch", a->reason);
}

ih_err ih_call_switch(ih_clinic *c, const ih_viewer *v, int64_t id, const char *reason, ih_call_grant *g)
{
    call_arg a = {.c = c, .v = v, .id = id, .reason = reason, .g = g};
    arg_init(&a);
    *g = (ih_call_grant){0};
    ih_err e = ih_store_write(c->o.store, switch_fn, &a);
    cl_refused(c, v, "call.switch", "av_session", id, e);
    if (e == IH_OK && g->created) cl_notify(c, &a.to, "call", g->visit_id, 0);
    if (e != IH_OK) ih_call_grant_wipe(g);
    arg_free(&a);
    return e;
}

/* ---- end -------------------------------------------------------------------------------------------- */

static ih_err end_fn(ih_tx *tx, void *arg)
{
    call_arg *a = arg;
    IH_TRY(participant(a, tx));
    if (!a->treating) return ih_reject(IH_E_FORBIDDEN, NULL, "The treating doctor ends the call.");
    if (!is(&a->call, S_INVITING) && !is(&a->call, S_OPEN))
        return ih_reject(IH_E_STATE, NULL, "The call is %s.", ih_row_str(&a->call, "state"));
    int64_t now = ih_now_ms();
    IH_TRY(ih_row_set_str(&a->call, "state", S_ENDED));
    ih_row_set_int(&a->call, "ended_at", now);
    ih_row_set_int(&a->call, "ended_by", a->v->actor.id);
    if (ih_row_has(&a->call, "started_at")) { /* the visit's media record */
        ih_row m;
        ih_row_init(&m, &ih_t_media);
        char from[32], to[32];
        ih_time_iso(ih_row_int(&a->call, "started_at"), from, sizeof from);
        ih_time_iso(now, to, sizeof to);
        ih_err e = ih_tx_next_id(tx, "media_session", &m.id);
        if (e == IH_OK) e = ih_row_set_str(&m, "kind", "video");
        if (e == IH_OK) e = ih_row_set_str(&m, "started_at", from);
        if (e == IH_OK) e = ih_row_set_str(&m, "ended_at", to);
        ih_row_set_int(&m, "visit_id", ih_row_int(&a->call, "visit_id"));
        ih_row_set_int(&m, "created_by", a->v->actor.id);
        ih_row_set_int(&m, "created_at", now);
        if (e == IH_OK) e = ih_row_insert(tx, a->c->o.keys, &m);
        ih_row_set_int(&a->call, "media_id", m.id);
        ih_row_free(&m);
        IH_TRY(e);
    }
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->call));
    fill_grant(a, a->g);
    return audit(a, tx, "call.end", ih_row_str(&a->call, "system"));
}

ih_err ih_call_end(ih_clinic *c, const ih_viewer *v, int64_t id, ih_call_grant *g, json_t **out)
{
    call_arg a = {.c = c, .v = v, .id = id, .g = g};
    arg_init(&a);
    *g = (ih_call_grant){0};
    ih_err e = ih_store_write(c->o.store, end_fn, &a);
    cl_refused(c, v, "call.end", "av_session", id, e);
    if (e == IH_OK) e = view(&a, out);
    if (e == IH_OK) cl_notify(c, &a.to, "call", g->visit_id, 0);
    else ih_call_grant_wipe(g);
    arg_free(&a);
    return e;
}

/* The visit's call still inviting or open (a->id; 0: none). */
static ih_err live_of_visit_fn(ih_tx *tx, void *arg)
{
    call_arg *a = arg;
    int64_t last;
    IH_TRY(latest(tx, a->visit, &last));
    if (last) IH_TRY(load_call(a, tx, last));
    if (!last || !(is(&a->call, S_INVITING) || is(&a->call, S_OPEN))) a->id = 0;
    return IH_OK;
}

ih_err ih_call_live_of_visit(ih_clinic *c, int64_t visit_id, int64_t *id)
{
    call_arg a = {.c = c, .visit = visit_id};
    arg_init(&a);
    ih_err e = ih_store_read(c->o.store, live_of_visit_fn, &a);
    *id = e == IH_OK ? a.id : 0;
    arg_free(&a);
    return e;
}

/* ---- system B's signalling ------------------------------------------------------------------------------ */

static ih_err signal_fn(ih_tx *tx, void *arg)
{
    call_arg *a = arg;
    IH_TRY(participant(a, tx));
    IH_TRY(live(a, ih_now_ms()));
    if (strcmp(ih_row_str(&a->call, "system"), IH_CALL_P2P))
        return ih_reject(IH_E_STATE, NULL, "The call runs on Janus; browsers signal there.");
    ih_row s;
    ih_row_init(&s, &ih_t_call_signal);
    ih_err e = ih_row_from_json(&s, a->body, true, NULL);
    const char *kind = e == IH_OK ? ih_row_str(&s, "kind") : "";
    if (e == IH_OK && (!strcmp(kind, "offer") || !strcmp(kind, "answer")) && !ih_row_has(&s, "data"))
        e = ih_reject(IH_E_INVALID, "data", "An offer or answer carries its SDP in 'data'.");
    if (e == IH_OK) e = ih_tx_next_id(tx, "av_signal", &s.id);
    ih_row_set_int(&s, "session_id", a->id);
    ih_row_set_int(&s, "sender_id", a->v->actor.id);
    if (e == IH_OK) e = ih_row_set_str(&s, "sender_role", a->treating ? "doctor" : "patient");
    ih_row_set_int(&s, "created_at", ih_now_ms());
    if (e == IH_OK) e = ih_row_insert(tx, a->c->o.keys, &s);
    if (e == IH_OK) a->after = s.id;
    char kd[16];
    snprintf(kd, sizeof kd, "%s", kind);
    ih_row_free(&s);
    IH_TRY(e);
    return audit(a, tx, "call.signal", kd);
}

ih_err ih_call_signal(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    call_arg a = {.c = c, .v = v, .id = id, .body = body};
    arg_init(&a);
    ih_err e = json_is_object(body) ? ih_store_write(c->o.store, signal_fn, &a)
                                    : ih_reject(IH_E_INVALID, NULL, "The body must be a JSON object.");
    cl_refused(c, v, "call.signal", "av_session", id, e);
    if (e == IH_OK) {
        cl_notify(c, &a.to, "call", ih_row_int(&a.call, "visit_id"), 0);
        *out = json_pack("{s:I}", "id", (json_int_t)a.after);
        if (!*out) e = ih_fail(IH_E_NOMEM, "call");
    }
    arg_free(&a);
    return e;
}


static ih_err signals_fn(ih_tx *tx, void *arg)
{
    call_arg *a = arg;
    IH_TRY(participant(a, tx));
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM av_signal WHERE session_id = $1 AND id > $2 AND sender_id <> $3 "
                             "ORDER BY id LIMIT 50",
                         &st));
    ih_stmt_int(st, 1, a->id);
    ih_stmt_int(st, 2, a->after);
    ih_stmt_int(st, 3, a->v->actor.id);
    int64_t ids[CL_LIST_MAX];
    int n;
    IH_TRY(cl_list_ids(st, ids, &n));
    json_t *list = json_array();
    IH_CHECK_ALLOC(list);
    a->out = list;
    for (int i = 0; i < n; i++) {
        ih_row s;
        ih_row_init(&s, &ih_t_call_signal);
        bool found;
        ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_call_signal, ids[i], &s, &found);
        json_t *j = NULL;
        if (e == IH_OK && found) e = ih_row_json_full(&s, &j);
        if (e == IH_OK && j && json_array_append_new(list, j)) e = ih_fail(IH_E_NOMEM, "call");
        ih_row_free(&s);
        IH_TRY(e);
    }
    return IH_OK;
}

ih_err ih_call_signals(ih_clinic *c, const ih_viewer *v, int64_t id, int64_t after, json_t **out)
{
    call_arg a = {.c = c, .v = v, .id = id, .after = after};
    arg_init(&a);
    ih_err e = ih_store_read(c->o.store, signals_fn, &a);
    cl_refused(c, v, "call.signal_read", "av_session", id, e);
    if (e == IH_OK) e = cl_audit_own(c, v, "call.signal_read", "av_session", id, IH_OK, NULL);
    if (e == IH_OK) {
        *out = json_pack("{s:O}", "signals", a.out);
        if (!*out) e = ih_fail(IH_E_NOMEM, "call");
    }
    json_decref(a.out);
    arg_free(&a);
    return e;
}

/* ---- recordings ------------------------------------------------------------------------------------ */

static ih_err rec_start_fn(ih_tx *tx, void *arg)
{
    call_arg *a = arg;
    IH_TRY(participant(a, tx));
    if (!ih_row_int(&a->call, "recording_consent"))
        return ih_reject(IH_E_FORBIDDEN, NULL, "The patient has not consented to recording.");
    if (strcmp(ih_row_str(&a->call, "system"), IH_CALL_JANUS))
        return ih_reject(IH_E_STATE, NULL, "Only calls on Janus are recorded.");
    if (ih_row_has(&a->call, "recording")) return IH_OK;
    IH_TRY(ih_row_set_str(&a->call, "recording", "pending"));
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->call));
    return audit(a, tx, "call.record_start", NULL);
}

ih_err ih_call_recording_started(ih_clinic *c, const ih_viewer *v, int64_t id)
{
    call_arg a = {.c = c, .v = v, .id = id};
    arg_init(&a);
    ih_err e = ih_store_write(c->o.store, rec_start_fn, &a);
    arg_free(&a);
    return e;
}

typedef struct {
    ih_clinic *c;
    ih_call_due *due;
    int max, n;
    int64_t call;
    const ih_call_file *files;
    int nfiles;
    const char *state;
    int64_t rec;
    const ih_viewer *v;
    ih_call_file *out;
} rec_arg;

static ih_err due_fn(ih_tx *tx, void *arg)
{
    rec_arg *a = arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM av_session WHERE recording = 'pending' AND (state = 'ended' OR "
                             "expires_at < $1) ORDER BY id LIMIT 20",
                         &st));
    ih_stmt_int(st, 1, ih_now_ms());
    int64_t ids[CL_LIST_MAX];
    int k;
    IH_TRY(cl_list_ids(st, ids, &k));
    for (int i = 0; i < k && a->n < a->max; i++) {
        ih_row r;
        ih_row_init(&r, &ih_t_call);
        bool found;
        ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_call, ids[i], &r, &found);
        if (e == IH_OK && found) a->due[a->n++] = (ih_call_due){ids[i], ih_row_int(&r, "room")};
        ih_row_free(&r);
        IH_TRY(e);
    }
    return IH_OK;
}

ih_err ih_call_recordings_due(ih_clinic *c, ih_call_due *out, int max, int *n)
{
    rec_arg a = {.c = c, .due = out, .max = max};
    ih_err e = ih_store_read(c->o.store, due_fn, &a);
    *n = a.n;
    return e;
}

static ih_err saved_fn(ih_tx *tx, void *arg)
{
    rec_arg *a = arg;
    ih_row r;
    ih_row_init(&r, &ih_t_call);
    bool found;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_call, a->call, &r, &found);
    if (e == IH_OK && (!found || !ih_row_str(&r, "recording") || strcmp(ih_row_str(&r, "recording"), "pending")))
        e = ih_fail(IH_E_STATE, "call %lld has no recording waiting", (long long)a->call);
    int64_t now = ih_now_ms();
    for (int i = 0; e == IH_OK && i < a->nfiles; i++) {
        const ih_call_file *f = &a->files[i];
        ih_row x;
        ih_row_init(&x, &ih_t_call_recording);
        e = ih_tx_next_id(tx, "av_recording", &x.id);
        ih_row_set_int(&x, "session_id", a->call);
        ih_row_set_int(&x, "visit_id", ih_row_int(&r, "visit_id"));
        if (e == IH_OK) e = ih_row_set_str(&x, "kind", f->kind);
        if (e == IH_OK) e = ih_row_set_str(&x, "format", f->format);
        ih_row_set_int(&x, "bytes", f->bytes);
        if (e == IH_OK) e = ih_row_set_str(&x, "sha256", f->sha256);
        if (e == IH_OK) e = ih_row_set_str(&x, "file", f->file);
        if (e == IH_OK) e = ih_row_set_str(&x, "file_key", f->key_hex);
        ih_row_set_int(&x, "created_at", now);
        if (e == IH_OK) e = ih_row_insert(tx, a->c->o.keys, &x);
        ih_row_free(&x);
    }
    if (e == IH_OK) e = ih_row_set_str(&r, "recording", a->state);
    if (e == IH_OK) e = ih_row_update(tx, a->c->o.keys, &r);
    char why[48];
    snprintf(why, sizeof why, "%s, %d files", a->state, a->nfiles);
    if (e == IH_OK) e = cl_audit(a->c, tx, NULL, "call.recording_stored", "av_session", a->call, why);
    ih_row_free(&r);
    return e;
}

ih_err ih_call_recordings_saved(ih_clinic *c, int64_t call, const ih_call_file *files, int n, const char *state)
{
    rec_arg a = {.c = c, .call = call, .files = files, .nfiles = n, .state = state};
    return ih_store_write(c->o.store, saved_fn, &a);
}

static ih_err rec_get_fn(ih_tx *tx, void *arg)
{
    rec_arg *a = arg;
    ih_row x;
    ih_row_init(&x, &ih_t_call_recording);
    bool found;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_call_recording, a->rec, &x, &found);
    if (e == IH_OK && !found) e = ih_reject(IH_E_NOT_FOUND, NULL, "No such recording.");
    if (e == IH_OK) {
        /* the visit's treating doctor only (cl_visit_access: theirs, never by break-glass to write) */
        call_arg c = {.c = a->c, .v = a->v};
        arg_init(&c);
        e = visit_for(&c, tx, ih_row_int(&x, "visit_id"), true);
        if (e == IH_OK && !c.treating) e = ih_reject(IH_E_FORBIDDEN, NULL, "Only the treating doctor plays recordings.");
        arg_free(&c);
    }
    if (e == IH_OK) {
        ih_call_file *f = a->out;
        snprintf(f->kind, sizeof f->kind, "%s", ih_row_str(&x, "kind"));
        snprintf(f->format, sizeof f->format, "%s", ih_row_str(&x, "format"));
        snprintf(f->file, sizeof f->file, "%s", ih_row_str(&x, "file"));
        snprintf(f->sha256, sizeof f->sha256, "%s", ih_row_str(&x, "sha256"));
        snprintf(f->key_hex, sizeof f->key_hex, "%s", ih_row_str(&x, "file_key"));
        f->bytes = ih_row_int(&x, "bytes");
        f->call = ih_row_int(&x, "session_id");
        char why[24];
        snprintf(why, sizeof why, "recording %lld", (long long)a->rec);
        e = cl_audit(a->c, tx, a->v, "call.recording_open", "av_session", f->call, why);
    }
    ih_row_free(&x);
    return e;
}

ih_err ih_call_recording_get(ih_clinic *c, const ih_viewer *v, int64_t rec, ih_call_file *out)
{
    rec_arg a = {.c = c, .v = v, .rec = rec, .out = out};
    *out = (ih_call_file){0};
    ih_err e = ih_store_write(c->o.store, rec_get_fn, &a);
    cl_refused(c, v, "call.recording_open", "av_recording", rec, e);
    if (e != IH_OK) ih_wipe(out, sizeof *out);
    return e;
}
