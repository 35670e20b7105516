/* message.c — text messages inside an accepted visit, between the patient
 * and the treating doctor; sealed under the clinical key, kept at least
 * three years (never deleted), each one an audit event.  Also the record of
 * phone and video sessions run by an outside system (start, end, and a
 * reference and hash of the recording). */
#include "care/care_impl.h"

#include "core/clock.h"

#include <stdio.h>
#include <string.h>

static const ih_field msg_fields[] = {
    {"visit_id", IH_F_INT, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"sender_id", IH_F_INT, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"sender_role", IH_F_TEXT, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"body", IH_F_SEALED, IH_FF_REQUIRED | IH_FF_MAC | IH_FF_MULTILINE, 1, 2000, NULL, IH_KP_CLINICAL,
     IH_FIELD_CLINICAL, NULL},
    {"created_at", IH_F_TIME, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_message = IH_TABLE_APPEND_ONLY("message", msg_fields, "至少3年（文字、音视频诊疗记录）");


static ih_err check_iso(const ih_row *r, const char *field, const char *v)
{
    (void)r;
    int64_t ms;
    if (ih_time_parse_iso(v, &ms) != 0)
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be a time like 2026-11-22T08:00:00Z.", field);
    return IH_OK;
}

static ih_err check_hex(const ih_row *r, const char *field, const char *v)
{
    (void)r;
    for (const char *p = v; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return ih_reject(IH_E_INVALID, field, "Field '%s' must be a lowercase hex digest.", field);
    return IH_OK;
}

static const ih_field media_fields[] = {
    {"visit_id", IH_F_INT, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"kind", IH_F_TEXT, IH_FF_REQUIRED | IH_FF_MAC, 1, 8, &ih_codes_media_kind, 0, IH_MASK_NONE, NULL},
    {"started_at", IH_F_TEXT, IH_FF_REQUIRED | IH_FF_MAC, 20, 24, NULL, 0, IH_MASK_NONE, check_iso},
    {"ended_at", IH_F_TEXT, IH_FF_REQUIRED | IH_FF_MAC, 20, 24, NULL, 0, IH_MASK_NONE, check_iso},
    {"recording_ref", IH_F_TEXT, IH_FF_MAC, 1, 256, NULL, 0, IH_MASK_NONE, NULL},
    {"recording_hash", IH_F_TEXT, IH_FF_MAC, 64, 128, NULL, 0, IH_MASK_NONE, check_hex},
    {"created_by", IH_F_INT, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_media = IH_TABLE_APPEND_ONLY("media_session", media_fields, "至少3年（文字、音视频诊疗记录）");

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body;
    int64_t visit;
    ih_row r, visit_row;
    cl_parties parties;
    ih_bus_audience to;
} msg_arg;

/* Just before the commit: the message's id, its row and its audit event.
 * Ids are taken under a counter row's lock held to the commit, so that they
 * follow commit order (a client polling with after_message never misses
 * one); taken here rather than in post_fn, the lock is held only for the
 * commit: in a PostgreSQL group commit, the other messages' reads of the
 * visit, patient and doctor (post_fn) do not run under it, and the insert
 * and the event go out without waiting for an answer, read with the
 * COMMIT's. */
static ih_err place_fn(ih_tx *tx, void *arg)
{
    msg_arg *a = arg;
    IH_TRY(ih_tx_next_id(tx, "message", &a->r.id));
    ih_row_set_int(&a->r, "created_at", ih_now_ms());
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)a->visit);
    return cl_audit(a->c, tx, a->v, "message.create", "message", a->r.id, oid);
}

/* The hot path: the visit, its patient and its doctor read in one
 * statement, their MACs checked without opening their text. */
static ih_err post_fn(ih_tx *tx, void *arg)
{
    msg_arg *a = arg;
    IH_TRY(cl_visit_load_parties(a->c, tx, a->visit, &a->visit_row, false, &a->parties));
    bool treating;
    IH_TRY(cl_visit_access_known(a->c, tx, a->v, &a->visit_row, &a->parties, true, &treating));
    if (!treating && a->v->role != IH_ROLE_PATIENT)
        return ih_reject(IH_E_FORBIDDEN, NULL, "Only the patient and the treating doctor write in a visit.");
    if (strcmp(ih_row_str(&a->visit_row, "status"), V_ACCEPTED))
        return ih_reject(IH_E_STATE, NULL, "Messages are written while the visit is accepted (it is %s).",
                         ih_row_str(&a->visit_row, "status"));
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_message);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, NULL));
    ih_row_set_int(&a->r, "visit_id", a->visit);
    ih_row_set_int(&a->r, "sender_id", a->v->actor.id);
    IH_TRY(ih_row_set_str(&a->r, "sender_role", ih_role_name(a->v->role)));
    IH_TRY(cl_visit_audience_known(a->c, tx, &a->visit_row, a->v, &a->parties, &a->to)); /* the patient or the treating doctor */
    return ih_tx_before_commit(tx, place_fn, NULL, a);
}

ih_err ih_message_post(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out)
{
    msg_arg a = {.c = c, .v = v, .body = body, .visit = visit_id};
    ih_row_init(&a.r, &ih_t_message);
    ih_row_init(&a.visit_row, &ih_t_visit);
    cl_parties_init(&a.parties);
    ih_err e = ih_store_write(c->o.store, post_fn, &a);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "visit", visit_id);
    cl_refused(c, v, "message.create", "visit", visit_id, e);
    if (e == IH_OK) cl_notify(c, &a.to, "message", visit_id, 0);
    if (e == IH_OK) {
        char t[32];
        ih_time_iso(ih_row_int(&a.r, "created_at"), t, sizeof t);
        *out = json_pack("{s:I, s:I, s:s}", "id", (json_int_t)a.r.id, "visit_id", (json_int_t)visit_id, "created_at", t);
        if (!*out) e = ih_fail(IH_E_NOMEM, "message");
    }
    ih_row_free(&a.r);
    ih_row_free(&a.visit_row);
    cl_parties_free(&a.parties);
    return e;
}

static ih_err media_fn(ih_tx *tx, void *arg)
{
    msg_arg *a = arg;
    IH_TRY(cl_visit_load(a->c, tx, a->visit, &a->visit_row, false));
    bool treating;
    IH_TRY(cl_visit_access(a->c, tx, a->v, &a->visit_row, true, &treating));
    if (!treating) return ih_reject(IH_E_FORBIDDEN, NULL, "Only the treating doctor records media sessions.");
    const char *st = ih_row_str(&a->visit_row, "status");
    if (strcmp(st, V_ACCEPTED) && strcmp(st, V_CLOSED))
        return ih_reject(IH_E_STATE, NULL, "Media sessions belong to accepted or closed visits (it is %s).", st);
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_media);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, NULL));
    if (strcmp(ih_row_str(&a->r, "started_at"), ih_row_str(&a->r, "ended_at")) > 0)
        return ih_reject(IH_E_INVALID, "ended_at", "Field 'ended_at' must not be before 'started_at'.");
    IH_TRY(ih_tx_next_id(tx, "media_session", &a->r.id));
    ih_row_set_int(&a->r, "visit_id", a->visit);
    ih_row_set_int(&a->r, "created_by", a->v->actor.id);
    ih_row_set_int(&a->r, "created_at", ih_now_ms());
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    return cl_audit(a->c, tx, a->v, "media.record", "visit", a->visit, ih_row_str(&a->r, "kind"));
}

ih_err ih_media_record(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out)
{
    msg_arg a = {.c = c, .v = v, .body = body, .visit = visit_id};
    ih_row_init(&a.r, &ih_t_media);
    ih_row_init(&a.visit_row, &ih_t_visit);
    ih_err e = ih_store_write(c->o.store, media_fn, &a);
    cl_refused(c, v, "media.record", "visit", visit_id, e);
    if (e == IH_OK) e = ih_row_json(&a.r, v->role, IH_REL_CARE, out);
    ih_row_free(&a.r);
    ih_row_free(&a.visit_row);
    return e;
}
