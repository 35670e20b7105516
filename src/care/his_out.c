/* his_out.c — what ihos tells the hospital: orders placed in a visit, and
 * the outbound outbox the exchange drains (his.h says the states). */
#include "care/his.h"

#include "care/care_impl.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "store/lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SM (IH_FF_SERVER | IH_FF_MAC)

static const ih_field order_fields[] = {
    {"visit_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"patient_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"doctor_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"kind", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL}, /* lab | imaging */
    {"order_no", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"accession", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"modality", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"code", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"name", IH_F_SEALED, SM, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"note", IH_F_SEALED, SM, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    /* placed; imaged (its study arrived); resulted (a result answered it: a lab order at once, an imaging
     * order once its study is here too — care/his.c, imaging.c); cancelled */
    {"status", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"label", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"study_uid", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL}, /* the PACS study (imaging.c) */
    /* the treating doctor withdrew it while placed (ORC-1 CA to the peers) */
    {"cancel_reason", IH_F_SEALED, SM | IH_FF_ADDED, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"cancelled_at", IH_F_TIME, SM | IH_FF_ADDED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_his_order = IH_TABLE("his_order", order_fields, true, "至少15年（检查检验申请，随门诊病历）");

static const ih_field outbox_fields[] = {
    {"peer", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"type", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"control_id", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"patient_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"object", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL}, /* "order-12" */
    {"payload", IH_F_SEALED, SM | IH_FF_PRIVATE, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"state", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"attempts", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"next_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"ack_code", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"error_code", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL}, /* the peer's ERR-3: a token */
    /* the peer's answer or the connection error: may name a patient, so sealed */
    {"detail", IH_F_SEALED, SM, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"created_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"sent_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_his_outbox = IH_TABLE("his_outbox", outbox_fields, true, "至少6个月（接口交换记录，同审计日志）");

static const ih_actor exchange_actor = {.id = 0, .role = "exchange"};

/* ---- writing: one row per peer that takes the message ------------------------------------ */

/* The message type a peer's route gives `what` (of kind, for orders), or NULL. */
static const char *type_for(const ih_his_route *rt, const char *what, const char *kind)
{
    const char *send = rt->send;
    if (!strcmp(what, "order") && (!kind || !strstr(rt->orders, kind))) return NULL;
    static const struct {
        const char *what, *kind, *types[2];
    } t[] = {
        {"order", "lab", {"OML^O21", "ORM^O01"}},
        {"order", "imaging", {"OMG^O19", "ORM^O01"}},
        {"prescription", NULL, {"RDE^O11", NULL}},
        {"charge", NULL, {"DFT^P03", NULL}},
        {"record", NULL, {"MDM^T02", NULL}},
        {"consult", NULL, {"MDM^T02", "ORU^R01"}},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(t[i].what, what) || (t[i].kind && (!kind || strcmp(t[i].kind, kind)))) continue;
        for (int k = 0; k < 2 && t[i].types[k]; k++) {
            const char *p = send;
            size_t n = strlen(t[i].types[k]);
            while ((p = strstr(p, t[i].types[k])) != NULL) {
                if ((p == send || p[-1] == ',') && (p[n] == '\0' || p[n] == ',')) return t[i].types[k];
                p += n;
            }
        }
    }
    return NULL;
}

/* The patient's MRN at this peer (a confirmed link), or "". */
static ih_err mrn_at(ih_clinic *c, ih_tx *tx, const char *peer, int64_t patient, char *mrn, size_t n)
{
    mrn[0] = '\0';
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM his_link WHERE peer = $1 AND patient_id = $2 AND status = 'linked' "
                             "ORDER BY updated_at DESC, id DESC LIMIT 1", &st));
    ih_stmt_text(st, 1, peer);
    ih_stmt_int(st, 2, patient);
    IH_TRY(ih_stmt_step(st, &row));
    int64_t id = row ? ih_col_int(st, 0) : 0;
    IH_TRY(ih_stmt_exec(st));
    if (!id) return IH_OK;
    ih_row l;
    ih_row_init(&l, &ih_t_his_link);
    bool found;
    ih_err e = ih_row_load_opt(tx, c->o.keys, &ih_t_his_link, id, &l, &found, false);
    if (e == IH_OK && found) snprintf(mrn, n, "%s", ih_row_str(&l, "mrn"));
    ih_row_free(&l);
    return e;
}

static ih_err order_fact(ih_clinic *c, ih_tx *tx, int64_t id, json_t *f, char *kind, size_t kn)
{
    ih_row o, v;
    ih_row_init(&o, &ih_t_his_order);
    ih_row_init(&v, &ih_t_visit);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_his_order, id, &o, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_NOT_FOUND, "order %lld", (long long)id);
    if (e == IH_OK) e = cl_visit_load(c, tx, ih_row_int(&o, "visit_id"), &v, false);
    if (e == IH_OK) {
        snprintf(kind, kn, "%s", ih_row_str(&o, "kind"));
        json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "id", (json_int_t)id, "kind", ih_row_str(&o, "kind"),
                              "order_no", ih_row_str(&o, "order_no"), "code", ih_row_str(&o, "code"), "name",
                              ih_row_str(&o, "name"), "created_at", (json_int_t)ih_row_int(&o, "created_at"));
        static const char *const opt[] = {"accession", "modality", "note", "status", "cancel_reason", NULL};
        for (const char *const *k = opt; j && *k; k++)
            if (ih_row_str(&o, *k)) json_object_set_new(j, *k, json_string(ih_row_str(&o, *k)));
        int64_t cancelled = ih_row_int(&o, "cancelled_at");
        if (j && cancelled) json_object_set_new(j, "cancelled_at", json_integer(cancelled));
        json_object_set_new(f, "order", j);
        json_object_set_new(f, "visit_id", json_integer(ih_row_int(&o, "visit_id")));
        e = cl_fact_visit_context(c, tx, &v, f);
    }
    ih_row_free(&o);
    ih_row_free(&v);
    return e;
}

static ih_err charge_fact(ih_clinic *c, ih_tx *tx, int64_t id, json_t *f)
{
    ih_row p, v;
    ih_row_init(&p, &ih_t_payment);
    ih_row_init(&v, &ih_t_visit);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_payment, id, &p, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_NOT_FOUND, "payment %lld", (long long)id);
    if (e == IH_OK) e = cl_visit_load(c, tx, ih_row_int(&p, "visit_id"), &v, false);
    if (e == IH_OK) {
        json_object_set_new(f, "charge",
                            json_pack("{s:I, s:I, s:I, s:s, s:s?, s:s?, s:I}", "id", (json_int_t)id, "amount",
                                      (json_int_t)ih_row_int(&p, "amount"), "prescription_id",
                                      (json_int_t)ih_row_int(&p, "prescription_id"), "channel",
                                      ih_row_str(&p, "channel"), "trade_no", ih_row_str(&p, "trade_no"), "order_no",
                                      ih_row_str(&p, "order_no"), "paid_at", (json_int_t)ih_row_int(&p, "paid_at")));
        json_object_set_new(f, "visit_id", json_integer(ih_row_int(&p, "visit_id")));
        e = cl_fact_visit_context(c, tx, &v, f);
    }
    ih_row_free(&p);
    ih_row_free(&v);
    return e;
}

ih_err ih_his_out_put(ih_clinic *c, ih_tx *tx, const char *peer, const char *type, int64_t patient_id,
                      const char *object, const json_t *fact)
{
    ih_buf text = IH_BUF_INIT;
    ih_err e = ih_json_dump(fact, JSON_COMPACT, &text);
    ih_row r;
    ih_row_init(&r, &ih_t_his_outbox);
    if (e == IH_OK) e = ih_tx_next_id(tx, "his_outbox", &r.id);
    char ctl[24];
    snprintf(ctl, sizeof ctl, "IHOS%lld", (long long)r.id);
    int64_t now = ih_now_ms();
    if (e == IH_OK) e = ih_row_set_str(&r, "peer", peer);
    if (e == IH_OK) e = ih_row_set_str(&r, "type", type);
    if (e == IH_OK) e = ih_row_set_str(&r, "control_id", ctl);
    if (e == IH_OK) e = ih_row_set_str(&r, "object", object);
    if (e == IH_OK) e = ih_row_set_str(&r, "payload", text.p);
    if (e == IH_OK) e = ih_row_set_str(&r, "state", "pending");
    ih_row_set_int(&r, "patient_id", patient_id);
    ih_row_set_int(&r, "attempts", 0);
    ih_row_set_int(&r, "next_at", now);
    ih_row_set_int(&r, "created_at", now);
    if (e == IH_OK) e = ih_row_insert(tx, c->o.keys, &r);
    if (e == IH_OK) {
        char oid[24];
        snprintf(oid, sizeof oid, "%lld", (long long)r.id);
        ih_audit_event ev = {.action = "exchange.queued", .object_type = "his_outbox", .object_id = oid, .reason = type};
        e = ih_audit_append(c->o.audit, tx, &exchange_actor, &ev);
    }
    ih_buf_wipe(&text);
    ih_row_free(&r);
    return e;
}

/* Did the peer take the order whose messages are `object`?  Its first
 * message to the peer (the placing) exists and is not dead: a peer that
 * refused the order, or that was added since, never had it. */
static ih_err peer_had_order(ih_tx *tx, const char *object, const char *peer, bool *yes)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT state FROM his_outbox WHERE object = $1 AND peer = $2 ORDER BY id LIMIT 1", &st));
    ih_stmt_text(st, 1, object);
    ih_stmt_text(st, 2, peer);
    IH_TRY(ih_stmt_step(st, &row));
    *yes = row && strcmp(ih_col_text(st, 0), "dead") != 0;
    return ih_stmt_exec(st);
}

ih_err cl_his_emit(ih_clinic *c, ih_tx *tx, const char *what, int64_t id)
{
    if (!c->o.his_nroutes) return IH_OK;
    char kind[16] = "";
    bool wanted = false; /* gather the fact only when some peer takes it */
    for (int i = 0; i < c->o.his_nroutes && !wanted; i++)
        wanted = type_for(&c->o.his_routes[i], what, "lab") || type_for(&c->o.his_routes[i], what, "imaging");
    if (!wanted) return IH_OK;
    json_t *f = json_object();
    IH_CHECK_ALLOC(f);
    ih_err e;
    if (!strcmp(what, "order")) e = order_fact(c, tx, id, f, kind, sizeof kind);
    else if (!strcmp(what, "record")) e = cl_fact_record(c, tx, id, f);
    else if (!strcmp(what, "prescription")) e = cl_fact_rx(c, tx, id, f);
    else if (!strcmp(what, "charge")) e = charge_fact(c, tx, id, f);
    else if (!strcmp(what, "consult")) e = cl_fact_consult(c, tx, id, f);
    else e = ih_fail(IH_E_INTERNAL, "nothing to tell the hospital of %s", what);
    int64_t patient = json_integer_value(json_object_get(json_object_get(f, "patient"), "id"));
    char object[48];
    snprintf(object, sizeof object, "%s-%lld", what, (long long)id);
    /* a cancel (ORC-1 CA) goes only to the peers that had the order */
    bool cancel = !strcmp(what, "order") &&
                  !strcmp(json_string_value(json_object_get(json_object_get(f, "order"), "status")) ?: "", "cancelled");
    for (int i = 0; e == IH_OK && i < c->o.his_nroutes; i++) {
        const ih_his_route *rt = &c->o.his_routes[i];
        const char *type = type_for(rt, what, kind);
        if (!type) continue;
        bool had = true;
        if (cancel && ((e = peer_had_order(tx, object, rt->peer, &had)) != IH_OK || !had)) continue;
        char mrn[64];
        e = mrn_at(c, tx, rt->peer, patient, mrn, sizeof mrn);
        json_object_set_new(f, "mrn", json_string(mrn));
        if (e == IH_OK) e = ih_his_out_put(c, tx, rt->peer, type, patient, object, f);
    }
    json_decref(f);
    return e;
}

/* ---- delivery ---------------------------------------------------------------------------- */

typedef struct {
    ih_clinic *c;
    const char *peer;
    const ih_lease *fence;
    int64_t now;
    ih_his_out *rows;
    int limit, n;
} claim_arg;

static ih_err claim_fn(ih_tx *tx, void *arg)
{
    claim_arg *a = arg;
    ih_his_out_free(a->rows, a->n);
    a->n = 0;
    if (a->fence) IH_TRY(ih_lease_check(tx, a->fence));
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id, next_at, state FROM his_outbox WHERE peer = $1 AND state IN ('pending', "
                             "'unknown', 'sending') ORDER BY id LIMIT $2", &st));
    ih_stmt_text(st, 1, a->peer);
    ih_stmt_int(st, 2, a->limit);
    int64_t *ids = calloc((size_t)a->limit, sizeof *ids);
    IH_CHECK_ALLOC(ids);
    int k = 0;
    /* in order: the first row not yet due stops the claim, and so does one
     * still `sending` (left by a process that died, until it is recovered) */
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && k < a->limit && ih_col_int(st, 1) <= a->now &&
           strcmp(ih_col_text(st, 2), "sending"))
        ids[k++] = ih_col_int(st, 0);
    if (e == IH_OK) e = ih_stmt_exec(st);
    ih_row r;
    ih_row_init(&r, &ih_t_his_outbox);
    for (int i = 0; e == IH_OK && i < k; i++) {
        bool found;
        e = ih_row_load(tx, a->c->o.keys, &ih_t_his_outbox, ids[i], &r, &found);
        if (e != IH_OK || !found) break;
        ih_his_out *o = &a->rows[a->n];
        memset(o, 0, sizeof *o);
        o->id = r.id;
        snprintf(o->type, sizeof o->type, "%s", ih_row_str(&r, "type"));
        snprintf(o->control_id, sizeof o->control_id, "%s", ih_row_str(&r, "control_id"));
        o->resend = !strcmp(ih_row_str(&r, "state"), "unknown");
        o->attempts = ih_row_int(&r, "attempts") + 1;
        o->fact = json_loads(ih_row_str(&r, "payload"), 0, NULL);
        if (!o->fact) {
            e = ih_fail(IH_E_INTEGRITY, "his_outbox %lld: the payload is not JSON", (long long)r.id);
            break;
        }
        a->n++;
        ih_row_set_int(&r, "attempts", o->attempts);
        e = ih_row_set_str(&r, "state", "sending");
        if (e == IH_OK) e = ih_row_update(tx, a->c->o.keys, &r);
    }
    ih_row_free(&r);
    free(ids);
    return e;
}

void ih_his_out_free(ih_his_out *rows, int n)
{
    for (int i = 0; i < n; i++) {
        json_decref(rows[i].fact);
        rows[i].fact = NULL;
    }
}

ih_err ih_his_out_claim(ih_clinic *c, const char *peer, const ih_lease *fence, int64_t now, ih_his_out *rows,
                        int limit, int *n)
{
    claim_arg a = {c, peer, fence, now, rows, limit, 0};
    ih_err e = ih_store_write(c->o.store, claim_fn, &a);
    if (e != IH_OK) {
        ih_his_out_free(rows, a.n);
        a.n = 0;
    }
    *n = a.n;
    return e;
}

typedef struct {
    ih_clinic *c;
    ih_his_out *rows;
    int n;
    int64_t retry_max_ms;
} finish_arg;

static ih_err finish_fn(ih_tx *tx, void *arg)
{
    finish_arg *a = arg;
    int64_t now = ih_now_ms();
    ih_row r;
    ih_row_init(&r, &ih_t_his_outbox);
    ih_err e = IH_OK;
    for (int i = 0; e == IH_OK && i < a->n; i++) {
        ih_his_out *o = &a->rows[i];
        bool found;
        e = ih_row_load(tx, a->c->o.keys, &ih_t_his_outbox, o->id, &r, &found);
        if (e != IH_OK || !found) break;
        static const char *const states[] = {"sent", "dead", "pending", "unknown"};
        e = ih_row_set_str(&r, "state", states[o->outcome]);
        if (e == IH_OK) e = ih_row_set_str(&r, "ack_code", o->ack_code[0] ? o->ack_code : NULL);
        if (e == IH_OK) e = ih_row_set_str(&r, "error_code", o->error[0] ? o->error : NULL);
        if (e == IH_OK) e = ih_row_set_str(&r, "detail", o->detail[0] ? o->detail : NULL);
        if (o->outcome == IH_HIS_OUT_SENT) ih_row_set_int(&r, "sent_at", now);
        if (o->outcome == IH_HIS_OUT_RETRY || o->outcome == IH_HIS_OUT_UNKNOWN)
            ih_row_set_int(&r, "next_at", now + ih_backoff_ms(o->attempts, a->retry_max_ms));
        if (e == IH_OK) e = ih_row_update(tx, a->c->o.keys, &r);
        if (e == IH_OK && (o->outcome == IH_HIS_OUT_DEAD || o->outcome == IH_HIS_OUT_SENT)) {
            char oid[24];
            snprintf(oid, sizeof oid, "%lld", (long long)o->id);
            ih_audit_event ev = {.action = o->outcome == IH_HIS_OUT_SENT ? "exchange.sent" : "exchange.dead",
                                 .object_type = "his_outbox", .object_id = oid,
                                 .result = o->outcome == IH_HIS_OUT_SENT ? IH_OK : IH_E_INVALID,
                                 .reason = o->ack_code[0] ? o->ack_code : NULL};
            e = ih_audit_append(a->c->o.audit, tx, &exchange_actor, &ev);
        }
    }
    ih_row_free(&r);
    return e;
}

ih_err ih_his_out_finish(ih_clinic *c, ih_his_out *rows, int n, int64_t retry_max_ms)
{
    finish_arg a = {c, rows, n, retry_max_ms < 1000 ? 1000 : retry_max_ms};
    ih_err e = n ? ih_store_write(c->o.store, finish_fn, &a) : IH_OK;
    ih_his_out_free(rows, n);
    return e;
}

typedef struct {
    ih_clinic *c;
    const char *peer;
    int n;
} recover_arg;

static ih_err recover_fn(ih_tx *tx, void *arg)
{
    recover_arg *a = arg;
    a->n = 0;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM his_outbox WHERE peer = $1 AND state = 'sending' ORDER BY id", &st));
    ih_stmt_text(st, 1, a->peer);
    ih_buf ids = IH_BUF_INIT;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        int64_t id = ih_col_int(st, 0);
        if ((e = ih_buf_append(&ids, &id, sizeof id)) != IH_OK) break;
    }
    ih_row r;
    ih_row_init(&r, &ih_t_his_outbox);
    for (size_t i = 0; e == IH_OK && i < ids.len / sizeof(int64_t); i++) {
        int64_t id;
        memcpy(&id, ids.p + i * sizeof id, sizeof id);
        bool found;
        e = ih_row_load(tx, a->c->o.keys, &ih_t_his_outbox, id, &r, &found);
        if (e != IH_OK || !found) continue;
        e = ih_row_set_str(&r, "state", "unknown");
        ih_row_set_int(&r, "next_at", ih_now_ms());
        if (e == IH_OK) e = ih_row_update(tx, a->c->o.keys, &r);
        a->n++;
    }
    ih_row_free(&r);
    ih_buf_free(&ids);
    return e;
}

ih_err ih_his_out_recover(ih_clinic *c, const char *peer, int *n)
{
    recover_arg a = {c, peer, 0};
    ih_err e = ih_store_write(c->o.store, recover_fn, &a);
    *n = e == IH_OK ? a.n : 0;
    return e;
}

typedef struct {
    const char *peer;
    int64_t at;
} due_arg;

static ih_err due_fn(ih_tx *tx, void *arg)
{
    due_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT next_at FROM his_outbox WHERE peer = $1 AND state IN ('pending', 'unknown') "
                             "ORDER BY id LIMIT 1", &st));
    ih_stmt_text(st, 1, a->peer);
    IH_TRY(ih_stmt_step(st, &row));
    a->at = row ? ih_col_int(st, 0) : 0;
    return IH_OK;
}

ih_err ih_his_out_next_due(ih_clinic *c, const char *peer, int64_t *at)
{
    due_arg a = {peer, 0};
    ih_err e = ih_store_read(c->o.store, due_fn, &a);
    *at = a.at;
    return e;
}

/* ---- operators ----------------------------------------------------------------------------- */

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    const char *state;
    int64_t id;
    json_t *out;
} op_arg;

static json_t *out_view(const ih_row *r)
{
    json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", (json_int_t)r->id, "peer",
                          ih_row_str(r, "peer"), "type", ih_row_str(r, "type"), "control_id", ih_row_str(r, "control_id"),
                          "object", ih_row_str(r, "object"), "state", ih_row_str(r, "state"), "attempts",
                          (json_int_t)ih_row_int(r, "attempts"), "created_at", (json_int_t)ih_row_int(r, "created_at"));
    if (!j) return NULL;
    const char *ack = ih_row_str(r, "ack_code"), *err = ih_row_str(r, "error_code"), *detail = ih_row_str(r, "detail");
    json_object_set_new(j, "ack_code", ack ? json_string(ack) : json_null());
    json_object_set_new(j, "error_code", err ? json_string(err) : json_null());
    /* the peer's own words may name the patient: only ihos's delivery errors are shown */
    json_object_set_new(j, "detail", detail && !ack ? json_string(detail) : json_null());
    json_object_set_new(j, "sent_at", ih_row_has(r, "sent_at") ? json_integer(ih_row_int(r, "sent_at")) : json_null());
    return j;
}

static ih_err list_fn(ih_tx *tx, void *arg)
{
    op_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM his_outbox WHERE state = $1 ORDER BY id DESC LIMIT 200", &st));
    ih_stmt_text(st, 1, a->state);
    int64_t ids[200];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 200) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    json_t *arr = json_array();
    IH_CHECK_ALLOC(arr);
    ih_row r;
    ih_row_init(&r, &ih_t_his_outbox);
    for (int i = 0; e == IH_OK && i < n; i++) {
        bool found;
        e = ih_row_load(tx, a->c->o.keys, &ih_t_his_outbox, ids[i], &r, &found);
        if (e == IH_OK && found) json_array_append_new(arr, out_view(&r));
    }
    ih_row_free(&r);
    char why[32];
    snprintf(why, sizeof why, "state %s", a->state);
    if (e == IH_OK) e = cl_audit(a->c, tx, a->v, "exchange.list", "his_outbox", 0, why);
    if (e == IH_OK) a->out = json_pack("{s:o}", "messages", arr);
    else json_decref(arr);
    return e;
}

ih_err ih_his_out_list(ih_clinic *c, const ih_viewer *v, const char *state, json_t **out)
{
    static const char *const states[] = {"pending", "sending", "sent", "dead", "unknown", NULL};
    const char *const *s = states;
    while (*s && (!state || strcmp(*s, state))) s++;
    if (!*s) return ih_reject(IH_E_INVALID, "state", "state: pending, sending, sent, dead or unknown.");
    op_arg a = {c, v, *s, 0, NULL};
    IH_TRY(ih_store_write(c->o.store, list_fn, &a));
    *out = a.out;
    return IH_OK;
}

/* An order's placing that never reached the peer is not sent once the
 * doctor has withdrawn the order (its cancel went to no one: cl_his_emit). */
static ih_err retry_still_true(ih_clinic *c, ih_tx *tx, const ih_row *r)
{
    const char *object = ih_row_str(r, "object");
    if (!object || strncmp(object, "order-", 6)) return IH_OK;
    json_t *fact = json_loads(ih_row_str(r, "payload") ?: "", 0, NULL);
    const char *was = json_string_value(json_object_get(json_object_get(fact, "order"), "status"));
    bool placing = was && strcmp(was, "cancelled") != 0;
    json_decref(fact);
    if (!placing) return IH_OK;
    ih_row o;
    ih_row_init(&o, &ih_t_his_order);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_his_order, strtoll(object + 6, NULL, 10), &o, &found);
    if (e == IH_OK && found && !strcmp(ih_row_str(&o, "status"), "cancelled"))
        e = ih_reject(IH_E_STATE, NULL, "The order was cancelled after this message failed; it is not sent now.");
    ih_row_free(&o);
    return e;
}

static ih_err retry_fn(ih_tx *tx, void *arg)
{
    op_arg *a = arg;
    ih_row r;
    ih_row_init(&r, &ih_t_his_outbox);
    bool found;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_his_outbox, a->id, &r, &found);
    if (e == IH_OK && !found) e = ih_reject(IH_E_NOT_FOUND, NULL, "No outbound message %lld.", (long long)a->id);
    if (e == IH_OK && strcmp(ih_row_str(&r, "state"), "dead"))
        e = ih_reject(IH_E_STATE, NULL, "Only a dead message is retried (this one is %s).", ih_row_str(&r, "state"));
    if (e == IH_OK) e = retry_still_true(a->c, tx, &r);
    if (e == IH_OK) e = ih_row_set_str(&r, "state", "pending");
    ih_row_set_int(&r, "next_at", ih_now_ms());
    if (e == IH_OK) e = ih_row_update(tx, a->c->o.keys, &r);
    if (e == IH_OK) e = cl_audit(a->c, tx, a->v, "exchange.retry", "his_outbox", a->id, NULL);
    if (e == IH_OK) a->out = out_view(&r);
    ih_row_free(&r);
    return e;
}

ih_err ih_his_out_retry(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out)
{
    op_arg a = {c, v, NULL, id, NULL};
    ih_err e = ih_store_write(c->o.store, retry_fn, &a);
    if (e != IH_OK) cl_refused(c, v, "exchange.retry", "his_outbox", id, e);
    else *out = a.out;
    return e;
}

typedef struct {
    ih_buf *out;
} metrics_arg;

static ih_err metrics_fn(ih_tx *tx, void *arg)
{
    metrics_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    /* scraped every few seconds: what is not yet delivered, through the state
     * index — never a count of every message sent */
    IH_TRY(ih_buf_puts(a->out, "# HELP ihos_exchange_outbox Outbound HL7 messages not yet delivered, by peer and "
                               "state.\n# TYPE ihos_exchange_outbox gauge\n"));
    IH_TRY(ih_tx_prepare(tx, "SELECT peer, state, COUNT(*) FROM his_outbox WHERE state IN ('pending', 'sending', "
                             "'unknown', 'dead') GROUP BY peer, state ORDER BY peer, state",
                         &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row)
        IH_TRY(ih_buf_printf(a->out, "ihos_exchange_outbox{peer=\"%s\",state=\"%s\"} %lld\n", ih_col_text(st, 0),
                             ih_col_text(st, 1), (long long)ih_col_int(st, 2)));
    IH_TRY(e);
    IH_TRY(ih_buf_puts(a->out, "# HELP ihos_exchange_outbox_oldest_seconds Age of the oldest message not yet "
                               "delivered, per peer.\n# TYPE ihos_exchange_outbox_oldest_seconds gauge\n"));
    IH_TRY(ih_tx_prepare(tx, "SELECT peer, MIN(created_at) FROM his_outbox WHERE state IN ('pending', 'sending', "
                             "'unknown') GROUP BY peer ORDER BY peer", &st));
    int64_t now = ih_now_ms();
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row)
        IH_TRY(ih_buf_printf(a->out, "ihos_exchange_outbox_oldest_seconds{peer=\"%s\"} %lld\n", ih_col_text(st, 0),
                             (long long)((now - ih_col_int(st, 1)) / 1000)));
    return e;
}

ih_err ih_his_out_metrics(ih_clinic *c, ih_buf *out)
{
    metrics_arg a = {out};
    return ih_store_read(c->o.store, metrics_fn, &a);
}

/* ---- orders ----------------------------------------------------------------------------------- */

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    int64_t id; /* the visit (place, list) or the order (cancel) */
    json_t *body, *out;
} order_arg;

/* One order call in a write transaction; a refusal journaled against
 * object_type id. */
static ih_err order_write(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, ih_tx_fn fn, const char *action,
                          const char *object_type, json_t **out)
{
    order_arg a = {c, v, id, body, NULL};
    ih_err e = ih_store_write(c->o.store, fn, &a);
    if (e != IH_OK) cl_refused(c, v, action, object_type, id, e);
    else *out = a.out;
    return e;
}

static const char *const order_body[] = {"kind", "code", "name", "note", "modality", NULL};
static const char *const modalities[] = {"CT", "MR", "DX", "CR", "US", "MG", "NM", "PT", "XA", "RF", "ECG", "SM", NULL};

static json_t *order_view(const ih_row *r)
{
    json_t *j = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:I}", "id", (json_int_t)r->id, "visit_id",
                          (json_int_t)ih_row_int(r, "visit_id"), "kind", ih_row_str(r, "kind"), "order_no",
                          ih_row_str(r, "order_no"), "code", ih_row_str(r, "code"), "name", ih_row_str(r, "name"),
                          "status", ih_row_str(r, "status"), "created_at", (json_int_t)ih_row_int(r, "created_at"));
    static const char *const opt[] = {"accession", "modality", "note", "study_uid", "cancel_reason", NULL};
    for (const char *const *k = opt; j && *k; k++)
        json_object_set_new(j, *k, ih_row_str(r, *k) ? json_string(ih_row_str(r, *k)) : json_null());
    int64_t at = ih_row_int(r, "cancelled_at");
    if (j) json_object_set_new(j, "cancelled_at", at ? json_integer(at) : json_null());
    return j;
}

static ih_err place_fn(ih_tx *tx, void *arg)
{
    order_arg *a = arg;
    if (!a->v->strong) return ih_reject(IH_E_FORBIDDEN, NULL, "Orders need your full two-factor session.");
    const char *kind, *code, *name, *note = NULL, *modality = NULL;
    IH_TRY(ih_json_only(a->body, order_body));
    IH_TRY(ih_json_str(a->body, "kind", true, 1, 8, IH_TEXT_LINE, &kind));
    if (strcmp(kind, "lab") && strcmp(kind, "imaging"))
        return ih_reject(IH_E_INVALID, "kind", "Field 'kind' must be 'lab' or 'imaging'.");
    IH_TRY(ih_json_str(a->body, "code", true, 1, 32, IH_TEXT_LINE, &code));
    if (strcspn(code, "|^~\\&") != strlen(code))
        return ih_reject(IH_E_INVALID, "code", "Field 'code' holds no HL7 delimiter (| ^ ~ \\ &).");
    IH_TRY(ih_json_str(a->body, "name", true, 1, 64, IH_TEXT_LINE, &name));
    IH_TRY(ih_json_str(a->body, "note", false, 0, 500, IH_TEXT_MULTILINE, &note));
    IH_TRY(ih_json_str(a->body, "modality", false, 0, 3, IH_TEXT_LINE, &modality));
    bool imaging = !strcmp(kind, "imaging");
    if (imaging) {
        const char *const *m = modalities;
        while (*m && (!modality || strcmp(*m, modality))) m++;
        if (!*m)
            return ih_reject(IH_E_INVALID, "modality",
                             "An imaging order names its modality: CT, MR, DX, CR, US, MG, NM, PT, XA, RF, ECG or SM.");
    } else if (modality && *modality)
        return ih_reject(IH_E_INVALID, "modality", "A lab order has no modality.");
    ih_row v;
    ih_row_init(&v, &ih_t_visit);
    ih_err e = cl_visit_load(a->c, tx, a->id, &v, false);
    bool treating = false;
    if (e == IH_OK) e = cl_visit_access(a->c, tx, a->v, &v, true, &treating);
    if (e == IH_OK && !treating) e = ih_reject(IH_E_FORBIDDEN, NULL, "Only the treating doctor orders for a visit.");
    if (e == IH_OK && strcmp(ih_row_str(&v, "status"), V_ACCEPTED))
        e = ih_reject(IH_E_STATE, NULL, "Orders are placed in an accepted visit (this one is %s).",
                      ih_row_str(&v, "status"));
    ih_row r;
    ih_row_init(&r, &ih_t_his_order);
    int64_t now = ih_now_ms();
    if (e == IH_OK) e = ih_tx_next_id(tx, "his_order", &r.id);
    char no[32], acc[32];
    snprintf(no, sizeof no, "IHO%lld", (long long)r.id);
    {
        /* the accession number: A, the local date, the order id — unique and
         * at most 16 characters (DICOM SH) for ids below 10^7 */
        time_t t = (time_t)((now + (int64_t)a->c->o.utc_offset_minutes * 60000) / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(acc, sizeof acc, "A%02d%02d%02d%07lld", tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday,
                 (long long)(r.id % 10000000));
    }
    ih_row_set_int(&r, "visit_id", a->id);
    ih_row_set_int(&r, "patient_id", ih_row_int(&v, "patient_id"));
    ih_row_set_int(&r, "doctor_id", ih_row_int(&v, "doctor_id"));
    ih_row_set_int(&r, "label", ih_row_int(&v, "label"));
    ih_row_set_int(&r, "created_at", now);
    if (e == IH_OK) e = ih_row_set_str(&r, "kind", kind);
    if (e == IH_OK) e = ih_row_set_str(&r, "order_no", no);
    if (e == IH_OK && imaging) e = ih_row_set_str(&r, "accession", acc);
    if (e == IH_OK && imaging) e = ih_row_set_str(&r, "modality", modality);
    if (e == IH_OK) e = ih_row_set_str(&r, "code", code);
    if (e == IH_OK) e = ih_row_set_str(&r, "name", name);
    if (e == IH_OK && note && *note) e = ih_row_set_str(&r, "note", note);
    if (e == IH_OK) e = ih_row_set_str(&r, "status", "placed");
    if (e == IH_OK) e = ih_row_insert(tx, a->c->o.keys, &r);
    if (e == IH_OK) e = cl_audit(a->c, tx, a->v, "order.place", "his_order", r.id, kind);
    if (e == IH_OK) e = cl_his_emit(a->c, tx, "order", r.id);
    if (e == IH_OK) a->out = order_view(&r);
    ih_row_free(&r);
    ih_row_free(&v);
    return e;
}

ih_err ih_his_order_place(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out)
{
    return order_write(c, v, visit_id, body, place_fn, "order.place", "visit", out);
}

static ih_err cancel_fn(ih_tx *tx, void *arg)
{
    order_arg *a = arg;
    if (!a->v->strong) return ih_reject(IH_E_FORBIDDEN, NULL, "Orders need your full two-factor session.");
    static const char *const f[] = {"reason", NULL};
    const char *reason;
    IH_TRY(ih_json_only(a->body, f));
    IH_TRY(ih_json_str(a->body, "reason", true, 2, 200, IH_TEXT_LINE, &reason));
    ih_row r, v;
    ih_row_init(&r, &ih_t_his_order);
    ih_row_init(&v, &ih_t_visit);
    bool found, treating = false;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_his_order, a->id, &r, &found);
    if (e == IH_OK && !found) e = ih_reject(IH_E_NOT_FOUND, NULL, "No such order.");
    if (e == IH_OK) e = cl_visit_load(a->c, tx, ih_row_int(&r, "visit_id"), &v, false);
    if (e == IH_OK) e = cl_visit_access(a->c, tx, a->v, &v, true, &treating);
    if (e == IH_OK && !treating) e = ih_reject(IH_E_FORBIDDEN, NULL, "Only the treating doctor cancels an order.");
    const char *st = e == IH_OK ? ih_row_str(&r, "status") : "";
    if (e == IH_OK && !strcmp(st, "imaged"))
        e = ih_reject(IH_E_STATE, NULL, "The order's study has arrived; it can no longer be cancelled.");
    else if (e == IH_OK && strcmp(st, "placed"))
        e = ih_reject(IH_E_STATE, NULL, "The order is %s; only a placed order is cancelled.", st);
    if (e == IH_OK) e = ih_row_set_str(&r, "status", "cancelled");
    if (e == IH_OK) e = ih_row_set_str(&r, "cancel_reason", reason);
    ih_row_set_int(&r, "cancelled_at", ih_now_ms());
    if (e == IH_OK) e = ih_row_update(tx, a->c->o.keys, &r);
    if (e == IH_OK) e = cl_audit(a->c, tx, a->v, "order.cancel", "his_order", r.id, ih_row_str(&r, "kind"));
    if (e == IH_OK) e = cl_his_emit(a->c, tx, "order", r.id); /* the same routes as its placing, ORC-1 CA */
    if (e == IH_OK) a->out = order_view(&r);
    ih_row_free(&r);
    ih_row_free(&v);
    return e;
}

ih_err ih_his_order_cancel(ih_clinic *c, const ih_viewer *v, int64_t order_id, json_t *body, json_t **out)
{
    return order_write(c, v, order_id, body, cancel_fn, "order.cancel", "his_order", out);
}

/* The results that answer order id of patient (care/his.c), into j as result_ids. */
static ih_err order_results(ih_tx *tx, int64_t id, int64_t patient, json_t *j)
{
    int64_t ids[50];
    int n;
    IH_TRY(cl_order_results(tx, id, patient, ids, 50, &n));
    json_t *arr = json_array();
    IH_CHECK_ALLOC(arr);
    for (int i = 0; i < n; i++) json_array_append_new(arr, json_integer(ids[i]));
    json_object_set_new(j, "result_ids", arr);
    return IH_OK;
}

static ih_err orders_fn(ih_tx *tx, void *arg)
{
    order_arg *a = arg;
    ih_row v;
    ih_row_init(&v, &ih_t_visit);
    ih_err e = cl_visit_load(a->c, tx, a->id, &v, false);
    bool treating;
    if (e == IH_OK) e = cl_visit_access(a->c, tx, a->v, &v, false, &treating);
    ih_row_free(&v);
    IH_TRY(e);
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM his_order WHERE visit_id = $1 ORDER BY id LIMIT 100", &st));
    ih_stmt_int(st, 1, a->id);
    int64_t ids[100];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 100) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    json_t *arr = json_array();
    IH_CHECK_ALLOC(arr);
    ih_row r;
    ih_row_init(&r, &ih_t_his_order);
    for (int i = 0; e == IH_OK && i < n; i++) {
        bool found;
        e = ih_row_load(tx, a->c->o.keys, &ih_t_his_order, ids[i], &r, &found);
        json_t *j = e == IH_OK && found ? order_view(&r) : NULL;
        if (j) e = order_results(tx, r.id, ih_row_int(&r, "patient_id"), j);
        if (j) json_array_append_new(arr, j);
    }
    ih_row_free(&r);
    if (e == IH_OK) e = cl_audit(a->c, tx, a->v, "order.list", "visit", a->id, NULL);
    if (e == IH_OK) a->out = json_pack("{s:o}", "orders", arr);
    else json_decref(arr);
    return e;
}

ih_err ih_his_orders(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t **out)
{
    return order_write(c, v, visit_id, NULL, orders_fn, "order.list", "visit", out);
}
