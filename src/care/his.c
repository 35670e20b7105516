/* his.c — patients and results from the hospital's HIS/LIS (his.h). */
#include "care/his.h"

#include "care/care_impl.h"
#include "core/clock.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>

#define SM (IH_FF_SERVER | IH_FF_MAC)

static const ih_field link_fields[] = {
    {"peer", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"mrn", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"patient_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"status", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL}, /* linked held unmatched merged rejected */
    {"reason", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL}, /* a fixed phrase: why it waits */
    {"name", IH_F_SEALED, SM, 0, 0, NULL, IH_KP_PERSONAL, IH_FIELD_NAME, NULL},
    {"cert_no", IH_F_SEALED, SM | IH_FF_INDEX | IH_FF_UPPER, 0, 0, NULL, IH_KP_PERSONAL, IH_FIELD_ID_NUMBER, NULL},
    {"merged_to", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, IH_FF_SERVER, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"updated_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_his_link = IH_TABLE("his_link", link_fields, true, "至少15年（随门诊病历）");

static const ih_field inbound_fields[] = {
    {"peer", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"control_id", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"type", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"ack_code", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"ack_text", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"received_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_his_inbound = IH_TABLE_APPEND_ONLY("his_inbound", inbound_fields, "至少6个月（接口交换记录，同审计日志）");

static const ih_field result_fields[] = {
    {"link_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"peer", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"order_no", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"kind", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"title", IH_F_SEALED, SM, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"content", IH_F_SEALED, SM | IH_FF_MULTILINE, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"observed_at", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"label", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"received_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    /* the order of ihos's it answers (OBR-2 placer IHO<id>, the same patient), or absent */
    {"order_id", IH_F_INT, SM | IH_FF_ADDED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    /* the order it names when its link was not yet confirmed for anyone: it
     * answers the order once a person links it to the order's patient */
    {"placer_no", IH_F_TEXT, SM | IH_FF_ADDED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_his_result = IH_TABLE_APPEND_ONLY("his_result", result_fields, "至少15年（检查检验报告，随门诊病历）");

static const ih_field encounter_fields[] = {
    {"link_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"peer", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"visit_no", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"department", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"doctor", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"encounter_at", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"diagnoses", IH_F_SEALED, SM, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"received_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_his_encounter = IH_TABLE_APPEND_ONLY("his_encounter", encounter_fields, "至少15年（门诊病历，自最后一次就诊）");

static const ih_actor exchange_actor = {.id = 0, .role = "exchange"};

/* ---- receiving ------------------------------------------------------------------------ */

typedef struct {
    ih_clinic *c;
    const ih_his_msg *m;
    ih_his_ack *ack;
    int64_t link_id;
    int64_t link_patient; /* the link's patient while it is confirmed (linked), else 0 */
} recv_arg;

static void set_ack(ih_his_ack *a, const char *code, const char *text, const char *detail)
{
    snprintf(a->code, sizeof a->code, "%s", code);
    snprintf(a->text, sizeof a->text, "%s%s", text, detail ? detail : "");
}

static ih_err audit(recv_arg *a, ih_tx *tx, const char *action, const char *object_type, int64_t id, const char *reason)
{
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)id);
    ih_audit_event ev = {.action = action, .object_type = object_type, .object_id = oid, .reason = reason};
    return ih_audit_append(a->c->o.audit, tx, &exchange_actor, &ev);
}

/* The link of (peer, mrn): loaded (opened) into r; *found false leaves r new. */
static ih_err link_find(ih_clinic *c, ih_tx *tx, const char *peer, const char *mrn, ih_row *r, bool *found)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM his_link WHERE peer = $1 AND mrn = $2", &st));
    ih_stmt_text(st, 1, peer);
    ih_stmt_text(st, 2, mrn);
    IH_TRY(ih_stmt_step(st, &row));
    int64_t id = row ? ih_col_int(st, 0) : 0;
    IH_TRY(ih_stmt_exec(st));
    *found = false;
    if (!id) return IH_OK;
    return ih_row_load(tx, c->o.keys, &ih_t_his_link, id, r, found);
}

/* Which ihos patient the ID number names, and whether the name agrees:
 * status and reason for the link. */
static ih_err match(ih_clinic *c, ih_tx *tx, const char *cert_no, const char *name, int64_t *patient,
                    const char **status, const char **reason)
{
    *patient = 0;
    if (!cert_no || !*cert_no) {
        *status = "held", *reason = "no ID number in PID-3 (type NI) or PID-19";
        return IH_OK;
    }
    uint8_t idx[32];
    IH_TRY(ih_row_index(c->o.keys, &ih_t_patient, "cert_no", cert_no, idx));
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM patient WHERE cert_no_idx = $1 ORDER BY id LIMIT 2", &st));
    ih_stmt_blob(st, 1, idx, sizeof idx);
    int64_t ids[2];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 2) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    if (n == 0) {
        *status = "unmatched", *reason = "no ihos patient has this ID number";
        return IH_OK;
    }
    if (n > 1) {
        *status = "held", *reason = "several ihos patients have this ID number";
        return IH_OK;
    }
    ih_row p;
    ih_row_init(&p, &ih_t_patient);
    bool found;
    e = ih_row_load(tx, c->o.keys, &ih_t_patient, ids[0], &p, &found);
    bool same = e == IH_OK && found && name && ih_row_str(&p, "name") && !strcmp(ih_row_str(&p, "name"), name);
    ih_row_free(&p);
    IH_TRY(e);
    if (!same) {
        *status = "held", *reason = "the name differs from the ihos patient with this ID number";
        return IH_OK;
    }
    *patient = ids[0];
    *status = "linked", *reason = NULL;
    return IH_OK;
}

/* The outpatient encounter the message carries, once per peer and visit
 * number (a later A08 for the same visit changes nothing). */
static ih_err encounter_fn(recv_arg *a, ih_tx *tx)
{
    const ih_his_msg *m = a->m;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM his_encounter WHERE peer = $1 AND visit_no = $2", &st));
    ih_stmt_text(st, 1, m->peer);
    ih_stmt_text(st, 2, m->visit_no);
    IH_TRY(ih_stmt_step(st, &row));
    IH_TRY(ih_stmt_exec(st));
    if (row) return IH_OK;
    ih_row r;
    ih_row_init(&r, &ih_t_his_encounter);
    ih_row_set_int(&r, "link_id", a->link_id);
    ih_err e = ih_row_set_str(&r, "peer", m->peer);
    if (e == IH_OK) e = ih_row_set_str(&r, "visit_no", m->visit_no);
    if (e == IH_OK) e = ih_row_set_str(&r, "department", m->department);
    if (e == IH_OK) e = ih_row_set_str(&r, "doctor", m->doctor);
    if (e == IH_OK) e = ih_row_set_str(&r, "encounter_at", m->encounter_at);
    if (e == IH_OK) e = ih_row_set_str(&r, "diagnoses", m->diagnoses ? m->diagnoses : "[]");
    ih_row_set_int(&r, "received_at", ih_now_ms());
    if (e == IH_OK) e = ih_tx_next_id(tx, "his_encounter", &r.id);
    if (e == IH_OK) e = ih_row_insert(tx, a->c->o.keys, &r);
    if (e == IH_OK) e = audit(a, tx, "his.encounter", "his_encounter", r.id, NULL);
    ih_row_free(&r);
    return e;
}

/* Create or update the link of the message's patient; its id in a->link_id. */
static ih_err patient_fn(recv_arg *a, ih_tx *tx, bool from_result)
{
    const ih_his_msg *m = a->m;
    ih_row r;
    ih_row_init(&r, &ih_t_his_link);
    bool found;
    ih_err e = link_find(a->c, tx, m->peer, m->mrn, &r, &found);
    int64_t now = ih_now_ms(), patient = 0;
    const char *status = NULL, *reason = NULL;
    if (e == IH_OK && found && from_result) { /* a result only attaches to a link it finds */
        a->link_id = r.id;
        a->link_patient = !strcmp(ih_row_str(&r, "status"), "linked") ? ih_row_int(&r, "patient_id") : 0;
        ih_row_free(&r);
        return IH_OK;
    }
    if (e == IH_OK) e = match(a->c, tx, m->cert_no, m->name, &patient, &status, &reason);
    if (e == IH_OK && found) {
        const char *was = ih_row_str(&r, "status");
        if (!strcmp(was, "rejected") || !strcmp(was, "merged")) { /* a person's decision, a merge: they stand */
            status = was;
            reason = ih_row_str(&r, "reason");
            patient = ih_row_int(&r, "patient_id");
        } else if (!strcmp(was, "linked") && ih_row_int(&r, "patient_id") != patient) {
            status = "held", reason = "the ID number now points to another patient";
            patient = ih_row_int(&r, "patient_id");
        }
    }
    char why[96];
    snprintf(why, sizeof why, "%s", reason ? reason : "");
    if (e == IH_OK && !found) {
        e = ih_row_set_str(&r, "peer", m->peer);
        if (e == IH_OK) e = ih_row_set_str(&r, "mrn", m->mrn);
        ih_row_set_int(&r, "created_at", now);
    }
    if (e == IH_OK) e = ih_row_set_str(&r, "status", status);
    if (e == IH_OK) e = ih_row_set_str(&r, "reason", why[0] ? why : NULL);
    if (e == IH_OK && m->name && *m->name) e = ih_row_set_str(&r, "name", m->name);
    if (e == IH_OK && m->cert_no && *m->cert_no) e = ih_row_set_str(&r, "cert_no", m->cert_no);
    if (patient) ih_row_set_int(&r, "patient_id", patient);
    ih_row_set_int(&r, "updated_at", now);
    if (e == IH_OK && !found) e = ih_tx_next_id(tx, "his_link", &r.id);
    if (e == IH_OK) e = found ? ih_row_update(tx, a->c->o.keys, &r) : ih_row_insert(tx, a->c->o.keys, &r);
    if (e == IH_OK) e = audit(a, tx, found ? "his.link_update" : "his.link_create", "his_link", r.id, status);
    a->link_id = r.id;
    a->link_patient = e == IH_OK && status && !strcmp(status, "linked") ? patient : 0;
    if (e == IH_OK && !from_result && m->visit_no && m->encounter_at) e = encounter_fn(a, tx);
    if (e == IH_OK && !from_result) {
        if (!strcmp(status, "linked")) set_ack(a->ack, "AA", "patient linked", NULL);
        else set_ack(a->ack, "AA", "accepted; the link waits for review: ", why);
    }
    ih_row_free(&r);
    return e;
}

static ih_err merge_fn(recv_arg *a, ih_tx *tx)
{
    const ih_his_msg *m = a->m;
    ih_row prior, surv;
    ih_row_init(&prior, &ih_t_his_link);
    ih_row_init(&surv, &ih_t_his_link);
    bool pf, sf;
    ih_err e = link_find(a->c, tx, m->peer, m->prior_mrn, &prior, &pf);
    if (e == IH_OK && !pf) {
        set_ack(a->ack, "AE", "MRG-1 names an MRN ihos has not been told of", NULL);
        goto out;
    }
    if (e == IH_OK) e = link_find(a->c, tx, m->peer, m->mrn, &surv, &sf);
    int64_t now = ih_now_ms();
    if (e == IH_OK && !sf) { /* the survivor takes over the prior's link */
        e = ih_row_set_str(&surv, "peer", m->peer);
        if (e == IH_OK) e = ih_row_set_str(&surv, "mrn", m->mrn);
        if (e == IH_OK) e = ih_row_set_str(&surv, "status", ih_row_str(&prior, "status"));
        if (e == IH_OK) e = ih_row_set_str(&surv, "reason", ih_row_str(&prior, "reason"));
        if (e == IH_OK) e = ih_row_set_str(&surv, "name", m->name && *m->name ? m->name : ih_row_str(&prior, "name"));
        if (e == IH_OK)
            e = ih_row_set_str(&surv, "cert_no", m->cert_no && *m->cert_no ? m->cert_no : ih_row_str(&prior, "cert_no"));
        if (ih_row_int(&prior, "patient_id")) ih_row_set_int(&surv, "patient_id", ih_row_int(&prior, "patient_id"));
        ih_row_set_int(&surv, "created_at", now);
        ih_row_set_int(&surv, "updated_at", now);
        if (e == IH_OK) e = ih_tx_next_id(tx, "his_link", &surv.id);
        if (e == IH_OK) e = ih_row_insert(tx, a->c->o.keys, &surv);
        if (e == IH_OK) e = audit(a, tx, "his.link_create", "his_link", surv.id, ih_row_str(&surv, "status"));
    } else if (e == IH_OK && ih_row_int(&prior, "patient_id") && ih_row_int(&surv, "patient_id") &&
               ih_row_int(&prior, "patient_id") != ih_row_int(&surv, "patient_id")) {
        set_ack(a->ack, "AE", "the two MRNs are linked to different ihos patients: a person must look", NULL);
        goto out;
    }
    /* the prior's results stay visible through its patient */
    if (e == IH_OK) e = ih_row_set_str(&prior, "status", "merged");
    if (e == IH_OK) e = ih_row_set_str(&prior, "merged_to", m->mrn);
    if (e == IH_OK && !ih_row_int(&prior, "patient_id") && ih_row_int(&surv, "patient_id"))
        ih_row_set_int(&prior, "patient_id", ih_row_int(&surv, "patient_id"));
    ih_row_set_int(&prior, "updated_at", now);
    if (e == IH_OK) e = ih_row_update(tx, a->c->o.keys, &prior);
    if (e == IH_OK) e = audit(a, tx, "his.link_merge", "his_link", prior.id, m->mrn);
    if (e == IH_OK) set_ack(a->ack, "AA", "merged", NULL);
out:
    ih_row_free(&prior);
    ih_row_free(&surv);
    return e;
}

/* The order of ihos's a placer number (OBR-2) names: IHO<id>, else 0. */
static int64_t placer_order(const char *p)
{
    if (!p || strncmp(p, "IHO", 3) || !p[3] || strspn(p + 3, "0123456789") != strlen(p + 3) || strlen(p + 3) > 18)
        return 0;
    return strtoll(p + 3, NULL, 10);
}

/* A result for patient answers order id when the order exists and is the
 * patient's (*mine; a result is never attached to another patient's
 * order).  A lab order still placed becomes `resulted`; so does an imaging
 * order whose study has arrived (`imaged`) — one still waiting for its
 * study stays `placed`, so the PACS is still asked for it, and becomes
 * `resulted` when the study is linked (imaging.c). */
static ih_err order_answered(ih_clinic *c, ih_tx *tx, int64_t id, int64_t patient, const ih_actor *who, bool *mine)
{
    *mine = false;
    ih_row o;
    ih_row_init(&o, &ih_t_his_order);
    bool of;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_his_order, id, &o, &of);
    if (e == IH_OK && of && ih_row_int(&o, "patient_id") == patient) {
        *mine = true;
        const char *st = ih_row_str(&o, "status");
        if ((!strcmp(ih_row_str(&o, "kind"), "lab") && !strcmp(st, "placed")) || !strcmp(st, "imaged")) {
            e = ih_row_set_str(&o, "status", "resulted");
            if (e == IH_OK) e = ih_row_update(tx, c->o.keys, &o);
            char oid[24];
            snprintf(oid, sizeof oid, "%lld", (long long)id);
            ih_audit_event ev = {.action = "order.resulted", .object_type = "his_order", .object_id = oid};
            if (e == IH_OK) e = ih_audit_append(c->o.audit, tx, who, &ev);
        }
    }
    ih_row_free(&o);
    return e;
}

/* The order of ihos's an arriving result answers (0: none, or its link is
 * not confirmed for the order's patient). */
static ih_err result_order(recv_arg *a, ih_tx *tx, int64_t *order_id)
{
    *order_id = 0;
    int64_t id = placer_order(a->m->placer_no);
    if (!a->link_patient || !id) return IH_OK;
    bool mine;
    IH_TRY(order_answered(a->c, tx, id, a->link_patient, &exchange_actor, &mine));
    if (mine) *order_id = id;
    return IH_OK;
}

static ih_err result_fn(recv_arg *a, ih_tx *tx)
{
    const ih_his_msg *m = a->m;
    IH_TRY(patient_fn(a, tx, true));
    int64_t order_id;
    IH_TRY(result_order(a, tx, &order_id));
    ih_row r;
    ih_row_init(&r, &ih_t_his_result);
    ih_err e = ih_row_set_str(&r, "peer", m->peer);
    ih_row_set_int(&r, "link_id", a->link_id);
    if (order_id) ih_row_set_int(&r, "order_id", order_id);
    char placer[24];
    if (!a->link_patient && placer_order(m->placer_no)) { /* it may answer the order once linked */
        snprintf(placer, sizeof placer, "IHO%lld", (long long)placer_order(m->placer_no));
        if (e == IH_OK) e = ih_row_set_str(&r, "placer_no", placer);
    }
    if (e == IH_OK) e = ih_row_set_str(&r, "order_no", m->order_no);
    if (e == IH_OK) e = ih_row_set_str(&r, "kind", m->result_kind);
    if (e == IH_OK) e = ih_row_set_str(&r, "title", m->title && *m->title ? m->title : "检验/检查报告");
    if (e == IH_OK) e = ih_row_set_str(&r, "content", m->content);
    if (e == IH_OK) e = ih_row_set_str(&r, "observed_at", m->observed_at);
    ih_row_set_int(&r, "label", 3); /* GB/T 39725: personal health information, moderately sensitive */
    ih_row_set_int(&r, "received_at", ih_now_ms());
    if (e == IH_OK) e = ih_tx_next_id(tx, "his_result", &r.id);
    if (e == IH_OK) e = ih_row_insert(tx, a->c->o.keys, &r);
    if (e == IH_OK) e = audit(a, tx, "his.result", "his_result", r.id, m->result_kind);
    if (e == IH_OK) set_ack(a->ack, "AA", "result stored", NULL);
    ih_row_free(&r);
    return e;
}

static ih_err receive_fn(ih_tx *tx, void *arg)
{
    recv_arg *a = arg;
    const ih_his_msg *m = a->m;
    /* seen before: the same answer, nothing applied */
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM his_inbound WHERE peer = $1 AND control_id = $2", &st));
    ih_stmt_text(st, 1, m->peer);
    ih_stmt_text(st, 2, m->control_id);
    IH_TRY(ih_stmt_step(st, &row));
    int64_t seen = row ? ih_col_int(st, 0) : 0;
    IH_TRY(ih_stmt_exec(st));
    if (seen) {
        ih_row r;
        ih_row_init(&r, &ih_t_his_inbound);
        bool found;
        ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_his_inbound, seen, &r, &found);
        if (e == IH_OK && found) {
            snprintf(a->ack->code, sizeof a->ack->code, "%s", ih_row_str(&r, "ack_code"));
            snprintf(a->ack->text, sizeof a->ack->text, "%s", ih_row_str(&r, "ack_text"));
            a->ack->duplicate = true;
        }
        ih_row_free(&r);
        return e;
    }
    ih_err e = IH_OK;
    if (!m->mrn || !*m->mrn) set_ack(a->ack, "AE", "PID-3 holds no medical record number", NULL);
    else if (m->kind == IH_HIS_MERGE && (!m->prior_mrn || !*m->prior_mrn))
        set_ack(a->ack, "AE", "MRG-1 holds no prior medical record number", NULL);
    else if (m->kind == IH_HIS_RESULT && (!m->content || !m->result_kind))
        set_ack(a->ack, "AE", "the result holds no observations", NULL);
    else if (m->kind == IH_HIS_PATIENT)
        e = patient_fn(a, tx, false);
    else if (m->kind == IH_HIS_MERGE)
        e = merge_fn(a, tx);
    else
        e = result_fn(a, tx);
    IH_TRY(e);
    ih_row r;
    ih_row_init(&r, &ih_t_his_inbound);
    e = ih_row_set_str(&r, "peer", m->peer);
    if (e == IH_OK) e = ih_row_set_str(&r, "control_id", m->control_id);
    if (e == IH_OK) e = ih_row_set_str(&r, "type", m->type);
    if (e == IH_OK) e = ih_row_set_str(&r, "ack_code", a->ack->code);
    if (e == IH_OK) e = ih_row_set_str(&r, "ack_text", a->ack->text);
    ih_row_set_int(&r, "received_at", ih_now_ms());
    if (e == IH_OK) e = ih_tx_next_id(tx, "his_inbound", &r.id);
    if (e == IH_OK) e = ih_row_insert(tx, a->c->o.keys, &r);
    if (e == IH_OK) e = audit(a, tx, "his.receive", "his_inbound", r.id, m->type);
    ih_row_free(&r);
    return e;
}

ih_err ih_his_receive(ih_clinic *c, const ih_his_msg *m, ih_his_ack *ack)
{
    memset(ack, 0, sizeof *ack);
    if (!m->peer || !m->control_id || !*m->control_id || !m->type)
        return ih_reject(IH_E_INVALID, "control_id", "The message has no control id (MSH-10).");
    recv_arg a = {.c = c, .m = m, .ack = ack};
    ih_err e = ih_store_write(c->o.store, receive_fn, &a);
    if (e == IH_E_CONFLICT) { /* the same message on two connections at once: the other won */
        ih_err_clear();
        memset(ack, 0, sizeof *ack);
        e = ih_store_write(c->o.store, receive_fn, &a);
    }
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "his_link", a.link_id);
    return e;
}

/* ---- for people: links waiting for review, results ----------------------------------- */

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    int64_t id, patient;
    json_t *body, *out;
} view_arg;

static ih_err pending_fn(ih_tx *tx, void *arg)
{
    view_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM his_link WHERE status IN ('held', 'unmatched') ORDER BY id LIMIT 200",
                         &st));
    int64_t ids[200];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 200) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    for (int i = 0; i < n; i++) {
        ih_row r;
        ih_row_init(&r, &ih_t_his_link);
        bool found;
        e = ih_row_load(tx, a->c->o.keys, &ih_t_his_link, ids[i], &r, &found);
        json_t *j = NULL;
        if (e == IH_OK && found) e = ih_row_json(&r, a->v->role, IH_REL_OTHER, &j);
        if (j) {
            json_object_set_new(j, "id", json_integer(r.id));
            json_array_append_new(a->out, j);
        }
        ih_row_free(&r);
        IH_TRY(e);
    }
    return IH_OK;
}

ih_err ih_his_links_pending(ih_clinic *c, const ih_viewer *v, json_t **out)
{
    view_arg a = {.c = c, .v = v, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    ih_err e = ih_store_read(c->o.store, pending_fn, &a);
    if (e == IH_OK) e = cl_audit_own(c, v, "his.link_list", "his_link", 0, IH_OK, NULL);
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    *out = json_pack("{s:o}", "links", a.out);
    return IH_OK;
}

/* Link id was just confirmed for patient: the results that came on it
 * naming an order of ihos's (placer_no) now answer it, if it is the
 * patient's. */
static ih_err answer_waiting(ih_clinic *c, ih_tx *tx, int64_t link, int64_t patient, const ih_actor *who)
{
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM his_result WHERE link_id = $1 AND placer_no IS NOT NULL ORDER BY id "
                             "LIMIT 200",
                         &st));
    ih_stmt_int(st, 1, link);
    int64_t ids[200];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 200) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    ih_row r;
    ih_row_init(&r, &ih_t_his_result);
    for (int i = 0; e == IH_OK && i < n; i++) {
        bool found, mine;
        e = ih_row_load(tx, c->o.keys, &ih_t_his_result, ids[i], &r, &found); /* its MAC checked */
        int64_t order = e == IH_OK && found ? placer_order(ih_row_str(&r, "placer_no")) : 0;
        if (order) e = order_answered(c, tx, order, patient, who, &mine);
    }
    ih_row_free(&r);
    return e;
}

ih_err cl_order_results(ih_tx *tx, int64_t order, int64_t patient, int64_t *ids, int max, int *n)
{
    char placer[24];
    snprintf(placer, sizeof placer, "IHO%lld", (long long)order);
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM his_result WHERE order_id = $1 UNION "
                             "SELECT r.id FROM his_result r JOIN his_link l ON l.id = r.link_id WHERE r.placer_no = $2 "
                             "AND l.patient_id = $3 AND l.status IN ('linked', 'merged') ORDER BY 1 LIMIT $4",
                         &st));
    ih_stmt_int(st, 1, order);
    ih_stmt_text(st, 2, placer);
    ih_stmt_int(st, 3, patient);
    ih_stmt_int(st, 4, max);
    *n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && *n < max) ids[(*n)++] = ih_col_int(st, 0);
    return e;
}

static ih_err resolve_fn(ih_tx *tx, void *arg)
{
    view_arg *a = arg;
    static const char *const f[] = {"patient_id", "reason", NULL};
    IH_TRY(ih_json_only(a->body, f));
    ih_row r;
    ih_row_init(&r, &ih_t_his_link);
    bool found;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_his_link, a->id, &r, &found);
    if (e == IH_OK && !found) e = ih_reject(IH_E_NOT_FOUND, NULL, "No HIS link %lld.", (long long)a->id);
    const char *st = e == IH_OK ? ih_row_str(&r, "status") : "";
    if (e == IH_OK && strcmp(st, "held") && strcmp(st, "unmatched"))
        e = ih_reject(IH_E_STATE, NULL, "The link is %s: only held or unmatched links wait for review.", st);
    json_t *pid = json_object_get(a->body, "patient_id");
    if (e == IH_OK && json_is_integer(pid)) {
        /* linking needs the ID numbers to agree: a name is never enough */
        int64_t patient = json_integer_value(pid);
        ih_row p;
        ih_row_init(&p, &ih_t_patient);
        bool pf;
        e = ih_row_load(tx, a->c->o.keys, &ih_t_patient, patient, &p, &pf);
        if (e == IH_OK && !pf) e = ih_reject(IH_E_NOT_FOUND, "patient_id", "No patient %lld.", (long long)patient);
        const char *mine = e == IH_OK ? ih_row_str(&r, "cert_no") : NULL;
        if (e == IH_OK && (!mine || !ih_row_str(&p, "cert_no") || strcmp(mine, ih_row_str(&p, "cert_no"))))
            e = ih_reject(IH_E_INVALID, "patient_id", "That patient's ID number is not the one the HIS sent: not linked.");
        ih_row_free(&p);
        if (e == IH_OK) e = ih_row_set_str(&r, "status", "linked");
        if (e == IH_OK) e = ih_row_set_str(&r, "reason", NULL);
        ih_row_set_int(&r, "patient_id", patient);
    } else if (e == IH_OK && json_is_null(pid)) {
        const char *why;
        e = ih_json_str(a->body, "reason", true, 4, 200, IH_TEXT_LINE, &why);
        if (e == IH_OK) e = ih_row_set_str(&r, "status", "rejected");
        if (e == IH_OK) e = ih_row_set_str(&r, "reason", "rejected after review");
        (void)why; /* its text stays out of the journal: the event records the decision */
    } else if (e == IH_OK)
        e = ih_reject(IH_E_INVALID, "patient_id", "Give 'patient_id' (a patient id, or null to reject the link).");
    ih_row_set_int(&r, "updated_at", ih_now_ms());
    if (e == IH_OK) e = ih_row_update(tx, a->c->o.keys, &r);
    if (e == IH_OK) e = cl_audit(a->c, tx, a->v, "his.link_resolve", "his_link", r.id, ih_row_str(&r, "status"));
    if (e == IH_OK && !strcmp(ih_row_str(&r, "status"), "linked"))
        e = answer_waiting(a->c, tx, r.id, ih_row_int(&r, "patient_id"), &a->v->actor);
    if (e == IH_OK) e = ih_row_json(&r, a->v->role, IH_REL_OTHER, &a->out);
    if (e == IH_OK) json_object_set_new(a->out, "id", json_integer(r.id));
    ih_row_free(&r);
    return e;
}

ih_err ih_his_link_resolve(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    view_arg a = {.c = c, .v = v, .id = id, .body = body};
    ih_err e = ih_store_write(c->o.store, resolve_fn, &a);
    cl_refused(c, v, "his.link_resolve", "his_link", id, e);
    if (e == IH_OK) *out = a.out;
    else json_decref(a.out);
    return e;
}

/* The order a result on one of patient's links names by placer number, if
 * it is the patient's (else 0). */
static ih_err placer_answers(ih_tx *tx, const char *placer, int64_t patient, int64_t *order)
{
    *order = 0;
    int64_t id = placer_order(placer);
    if (!id) return IH_OK;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT 1 FROM his_order WHERE id = $1 AND patient_id = $2", &st));
    ih_stmt_int(st, 1, id);
    ih_stmt_int(st, 2, patient);
    IH_TRY(ih_stmt_step(st, &row));
    if (row) *order = id;
    return ih_stmt_exec(st);
}

static ih_err results_fn(ih_tx *tx, void *arg)
{
    view_arg *a = arg;
    if (!a->patient) IH_TRY(ih_patient_of_account(a->c, tx, a->v->actor.id, &a->patient)); /* the viewer's own */
    int64_t account;
    IH_TRY(cl_patient_account(a->c, tx, a->patient, &account));
    ih_relation rel;
    IH_TRY(cl_patient_relation(a->c, tx, a->v, a->patient, account, &rel));
    if (rel == IH_REL_OTHER) /* their own, or under a care relationship: nobody else */
        return ih_reject(IH_E_FORBIDDEN, NULL, "You have no care relationship with this patient.");
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT r.id FROM his_result r JOIN his_link l ON l.id = r.link_id WHERE l.patient_id = $1 "
                             "AND l.status IN ('linked', 'merged') ORDER BY r.id DESC LIMIT 200",
                         &st));
    ih_stmt_int(st, 1, a->patient);
    int64_t ids[200];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 200) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    /* read before answering: the journal has it first */
    IH_TRY(cl_audit(a->c, tx, a->v, "his.result_read", "patient", a->patient, NULL));
    for (int i = 0; i < n; i++) {
        ih_row r;
        ih_row_init(&r, &ih_t_his_result);
        bool found;
        e = ih_row_load(tx, a->c->o.keys, &ih_t_his_result, ids[i], &r, &found);
        if (e == IH_OK && found) {
            json_t *obs = json_loads(ih_row_str(&r, "content"), 0, NULL);
            json_t *j = json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:o, s:o}", "id", (json_int_t)r.id, "kind",
                                  ih_row_str(&r, "kind"), "title", ih_row_str(&r, "title"), "order_no",
                                  ih_row_str(&r, "order_no"), "observed_at", ih_row_str(&r, "observed_at"),
                                  "observations", obs ? obs : json_array(), "received_at",
                                  ih_json_time(ih_row_int(&r, "received_at")));
            int64_t order = ih_row_int(&r, "order_id");
            if (!order && e == IH_OK) e = placer_answers(tx, ih_row_str(&r, "placer_no"), a->patient, &order);
            if (j) json_object_set_new(j, "order_id", order ? json_integer(order) : json_null());
            if (j) json_array_append_new(a->out, j);
        }
        ih_row_free(&r);
        IH_TRY(e);
    }
    return IH_OK;
}

ih_err ih_his_results(ih_clinic *c, const ih_viewer *v, int64_t patient_id, json_t **out)
{
    view_arg a = {.c = c, .v = v, .patient = patient_id, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    ih_err e = ih_store_write(c->o.store, results_fn, &a);
    cl_refused(c, v, "his.result_read", "patient", patient_id, e);
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    *out = json_pack("{s:o}", "results", a.out);
    return IH_OK;
}

/* ---- the offline first diagnosis of a follow-up ----------------------------------------- */

ih_err ih_his_latest_encounter(ih_clinic *c, ih_tx *tx, int64_t patient_id, int64_t *encounter_id)
{
    *encounter_id = 0;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT e.id FROM his_encounter e JOIN his_link l ON l.id = e.link_id "
                             "WHERE l.patient_id = $1 AND l.status IN ('linked', 'merged') "
                             "ORDER BY e.encounter_at DESC, e.id DESC LIMIT 1",
                         &st));
    ih_stmt_int(st, 1, patient_id);
    IH_TRY(ih_stmt_step(st, &row));
    int64_t id = row ? ih_col_int(st, 0) : 0;
    IH_TRY(ih_stmt_exec(st));
    if (!id) return IH_OK;
    ih_row r; /* verified: what the visit will rest on */
    ih_row_init(&r, &ih_t_his_encounter);
    bool found;
    ih_err e = ih_row_load_opt(tx, c->o.keys, &ih_t_his_encounter, id, &r, &found, false);
    ih_row_free(&r);
    if (e == IH_OK && found) *encounter_id = id;
    return e;
}

static ih_err evidence_fn(ih_tx *tx, void *arg)
{
    view_arg *a = arg;
    ih_row v;
    ih_row_init(&v, &ih_t_visit);
    ih_err e = cl_visit_load(a->c, tx, a->id, &v, false);
    bool treating;
    if (e == IH_OK) e = cl_visit_access(a->c, tx, a->v, &v, false, &treating);
    int64_t enc = e == IH_OK ? ih_row_int(&v, "his_encounter_id") : 0;
    ih_row_free(&v);
    IH_TRY(e);
    if (!enc) {
        a->out = json_pack("{s:n}", "encounter");
        return IH_OK;
    }
    IH_TRY(cl_audit(a->c, tx, a->v, "his.encounter_read", "visit", a->id, NULL));
    ih_row r;
    ih_row_init(&r, &ih_t_his_encounter);
    bool found;
    e = ih_row_load(tx, a->c->o.keys, &ih_t_his_encounter, enc, &r, &found);
    if (e == IH_OK && found) {
        json_t *dx = json_loads(ih_row_str(&r, "diagnoses"), 0, NULL);
        a->out = json_pack("{s:{s:s, s:s?, s:s?, s:s, s:o}}", "encounter", "visit_no", ih_row_str(&r, "visit_no"),
                           "department", ih_row_str(&r, "department"), "doctor", ih_row_str(&r, "doctor"),
                           "encounter_at", ih_row_str(&r, "encounter_at"), "diagnoses", dx ? dx : json_array());
        if (!a->out) e = ih_fail(IH_E_NOMEM, "evidence");
    }
    ih_row_free(&r);
    return e;
}

ih_err ih_his_visit_evidence(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t **out)
{
    view_arg a = {.c = c, .v = v, .id = visit_id};
    ih_err e = ih_store_write(c->o.store, evidence_fn, &a);
    cl_refused(c, v, "his.encounter_read", "visit", visit_id, e);
    if (e == IH_OK) *out = a.out;
    else json_decref(a.out);
    return e;
}
