/* payment.c — paying for a visit or a prescription through a payment
 * channel, which alone says what was paid.
 *
 *   order    POST /visits/{id}/payments {channel[, prescription_id]} (the
 *            patient): the amount due is the server's (the visit's fee or the
 *            prescription's total), an order number is made, the order is
 *            kept pending and handed to the channel ([payment]
 *            channel_command / channel_url, op "create"); what the channel
 *            answers ("prepay": the parameters the patient's app pays with)
 *            goes back to the patient.  Asking again returns the same pending
 *            order; a paid one is not ordered twice.
 *   notify   POST /payments/notify (the channel): a notification signed with
 *            the channel's key ([payment] notify_public_key) over
 *            "timestamp\nnonce\nbody\n", within notify_tolerance seconds.  Only
 *            a verified notification marks an order paid (the amount must be
 *            the order's) or refunded; a repeated notification changes
 *            nothing (idempotent on the order and the channel's trade number).
 *            A change is published live (core/bus.h): "visit" to the patient
 *            and the doctor for a visit's fee, "rx" to them and to the
 *            pharmacists for a prescription (its dispensing waited for it).
 *   refund   POST /payments/{id}/refund {reason} (the system administrator,
 *            payment.refund): only what was paid for a service that was not
 *            given (a refused, expired or cancelled visit; a rejected, expired
 *            or cancelled prescription); the channel is asked (op "refund")
 *            and the order is refunded when its notification comes.
 *
 * Nobody can claim a payment: not the patient (the old "I paid, trade
 * number X" is gone), not an administrator.  Dispensing waits for a paid
 * prescription unless it costs nothing or [payment] prescription_postpaid
 * says the hospital collects afterwards (rx.c).  Rows are MAC'd and
 * versioned; each change is audited; the refund reason is sealed. */
#include "care/care_impl.h"

#include "core/clock.h"
#include "core/log.h"
#include "crypto/extsig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SM (IH_FF_SERVER | IH_FF_MAC)

static const ih_field pay_fields[] = {
    {"visit_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"prescription_id", IH_F_INT, IH_FF_MAC, 1, INT64_MAX, NULL, 0, IH_MASK_NONE, NULL},
    {"amount", IH_F_MONEY, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"channel", IH_F_TEXT, IH_FF_REQUIRED | IH_FF_MAC, 1, 16, &ih_codes_payment_channel, 0, IH_MASK_NONE, NULL},
    {"trade_no", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL}, /* the channel's, from its notification */
    {"paid", IH_F_BOOL, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"paid_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    /* migration 18: orders confirmed by the channel */
    {"order_no", IH_F_TEXT, SM | IH_FF_ADDED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"state", IH_F_TEXT, SM | IH_FF_ADDED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"refund_no", IH_F_TEXT, SM | IH_FF_ADDED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"refund_reason", IH_F_SEALED, SM | IH_FF_ADDED | IH_FF_PRIVATE, 0, 0, NULL, IH_KP_PERSONAL, IH_MASK_NONE, NULL},
    {"refund_by", IH_F_INT, SM | IH_FF_ADDED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"refunded_at", IH_F_TIME, SM | IH_FF_ADDED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_payment = IH_TABLE("payment", pay_fields, true, "至少15年（随就诊记录；会计凭证另按财务规定）");

#define P_PENDING "pending"
#define P_PAID "paid"
#define P_REFUNDING "refunding"
#define P_REFUNDED "refunded"

static const ih_actor channel_actor = {.id = 0, .role = "payment-channel"};

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body;
    int64_t visit, id;
    ih_row r, vr;
    bool reused;
    char subject[32];
} pay_arg;

static bool channel_configured(const ih_clinic *c)
{
    return (c->o.pay_command && *c->o.pay_command) || (c->o.pay_url && *c->o.pay_url);
}

/* Ask the channel (op "create" or "refund"); *answer: its JSON object. */
static ih_err channel_call(ih_clinic *c, json_t *req, json_t **answer)
{
    ih_err e = cl_outside_call("the payment channel", c->o.pay_command, c->o.pay_url,
                               c->o.pay_timeout_s > 0 ? c->o.pay_timeout_s : 10, req, answer);
    if (e != IH_OK) {
        ih_log(IH_LOG_ERROR, "payment.channel_failed", "alert", "true", "detail", ih_err_detail(), NULL);
        return ih_reject(IH_E_UNAVAILABLE, NULL, "The payment channel is not answering; please try again later.");
    }
    return IH_OK;
}

static ih_err load_payment(ih_clinic *c, ih_tx *tx, int64_t id, ih_row *r)
{
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_payment, id, r, &found);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "payment", id);
    IH_TRY(e);
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No payment %lld.", (long long)id);
    return IH_OK;
}

/* The state of a row: legacy rows (before migration 18) have none. */
static const char *state_of(const ih_row *r)
{
    /* one array for both, so that the compiler does not take a state for a
     * string no longer than "pending" (-Wstring-compare at -O2) */
    static const char legacy[][16] = {P_PENDING, P_PAID};
    const char *s = ih_row_str(r, "state");
    return s ? s : legacy[ih_row_int(r, "paid") != 0];
}

/* The latest order of (visit, prescription) that is paid or pending. */
static ih_err current_order(ih_clinic *c, ih_tx *tx, int64_t visit, int64_t rx, ih_row *r, bool *found)
{
    ih_stmt *st;
    bool row;
    *found = false;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM payment WHERE visit_id = $1 AND COALESCE(prescription_id, 0) = $2 "
                             "AND (paid = 1 OR state = 'pending' OR state = 'refunding') ORDER BY id DESC LIMIT 1",
                         &st));
    ih_stmt_int(st, 1, visit);
    ih_stmt_int(st, 2, rx);
    IH_TRY(ih_stmt_step(st, &row));
    int64_t id = row ? ih_col_int(st, 0) : 0;
    IH_TRY(ih_stmt_exec(st));
    if (!id) return IH_OK;
    IH_TRY(load_payment(c, tx, id, r));
    *found = true;
    return IH_OK;
}

ih_err cl_rx_pay_state(ih_clinic *c, ih_tx *tx, const ih_row *rx, const char **state)
{
    *state = "none";
    if (ih_row_int(rx, "total_fee") == 0 || c->o.rx_postpaid) return IH_OK;
    ih_row r;
    ih_row_init(&r, &ih_t_payment);
    bool found;
    ih_err e = current_order(c, tx, ih_row_int(rx, "visit_id"), rx->id, &r, &found);
    const char *st = e == IH_OK && found ? state_of(&r) : "";
    if (!strcmp(st, P_PAID) && ih_row_int(&r, "amount") == ih_row_int(rx, "total_fee")) *state = "paid";
    else if (!strcmp(st, P_PENDING)) *state = "pending";
    else *state = "due";
    ih_row_free(&r);
    return e;
}

ih_err cl_rx_paid(ih_clinic *c, ih_tx *tx, const ih_row *rx, bool *paid)
{
    const char *st;
    ih_err e = cl_rx_pay_state(c, tx, rx, &st);
    *paid = e == IH_OK && (!strcmp(st, "none") || !strcmp(st, "paid"));
    return e;
}

/* ---- order ---------------------------------------------------------------------------------- */

static ih_err order_fn(ih_tx *tx, void *arg)
{
    pay_arg *a = arg;
    ih_clinic *c = a->c;
    a->reused = false;
    IH_TRY(cl_visit_load(c, tx, a->visit, &a->vr, false));
    if (a->v->role != IH_ROLE_PATIENT) return ih_reject(IH_E_FORBIDDEN, NULL, "Only the visit's patient pays.");
    bool treating;
    IH_TRY(cl_visit_access(c, tx, a->v, &a->vr, true, &treating));
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_payment);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, NULL));
    int64_t due, rx_id = ih_row_int(&a->r, "prescription_id");
    if (rx_id) {
        ih_row rx;
        ih_row_init(&rx, &ih_t_rx);
        bool found;
        ih_err e = ih_row_load_opt(tx, c->o.keys, &ih_t_rx, rx_id, &rx, &found, false);
        if (e == IH_OK && (!found || ih_row_int(&rx, "visit_id") != a->visit))
            e = ih_reject(IH_E_INVALID, "prescription_id", "That prescription is not of this visit.");
        if (e == IH_OK && strcmp(ih_row_str(&rx, "status"), "approved"))
            e = ih_reject(IH_E_STATE, "prescription_id", "A prescription is paid for once the pharmacist approved it (it is %s).",
                          ih_row_str(&rx, "status"));
        due = ih_row_int(&rx, "total_fee");
        ih_row_free(&rx);
        IH_TRY(e);
        snprintf(a->subject, sizeof a->subject, "处方药费");
    } else {
        const char *st = ih_row_str(&a->vr, "status");
        if (!strcmp(st, "refused") || !strcmp(st, "expired") || !strcmp(st, "cancelled"))
            return ih_reject(IH_E_STATE, NULL, "A %s visit is not paid for.", st);
        due = ih_row_int(&a->vr, "fee");
        snprintf(a->subject, sizeof a->subject, "诊查费");
    }
    if (due == 0) return ih_reject(IH_E_STATE, NULL, "Nothing to pay: this costs nothing.");
    ih_row cur;
    ih_row_init(&cur, &ih_t_payment);
    bool found;
    ih_err e = current_order(c, tx, a->visit, rx_id, &cur, &found);
    if (e == IH_OK && found && strcmp(state_of(&cur), P_PENDING))
        e = ih_reject(IH_E_EXISTS, NULL, "This is paid already.");
    if (e == IH_OK && found) { /* the same pending order again */
        ih_row_free(&a->r);
        a->r = cur;
        a->reused = true;
        return IH_OK;
    }
    ih_row_free(&cur);
    IH_TRY(e);
    int64_t now = ih_now_ms();
    IH_TRY(ih_tx_next_id(tx, "payment", &a->r.id));
    char no[40], day[11];
    cl_today(c, day);
    snprintf(no, sizeof no, "PO%.4s%.2s%.2s%010lld", day, day + 5, day + 8, (long long)a->r.id);
    ih_row_set_int(&a->r, "visit_id", a->visit);
    ih_row_set_int(&a->r, "amount", due);
    ih_row_set_int(&a->r, "paid", 0);
    ih_row_set_int(&a->r, "created_at", now);
    IH_TRY(ih_row_set_str(&a->r, "order_no", no));
    IH_TRY(ih_row_set_str(&a->r, "state", P_PENDING));
    IH_TRY(ih_row_insert(tx, c->o.keys, &a->r));
    return cl_audit(c, tx, a->v, "payment.order", "payment", a->r.id, ih_row_str(&a->r, "channel"));
}

ih_err ih_payment_order(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out)
{
    if (!channel_configured(c))
        return ih_reject(IH_E_UNAVAILABLE, NULL,
                         "Online payment is not available: no payment channel is configured ([payment] channel_command "
                         "or channel_url).");
    pay_arg a = {.c = c, .v = v, .body = body, .visit = visit_id};
    ih_row_init(&a.r, &ih_t_payment);
    ih_row_init(&a.vr, &ih_t_visit);
    ih_err e = ih_store_write(c->o.store, order_fn, &a);
    cl_refused(c, v, "payment.order", "visit", visit_id, e);
    json_t *ans = NULL, *view = NULL;
    if (e == IH_OK) {
        char amount[24];
        ih_money_text(ih_row_int(&a.r, "amount"), amount, sizeof amount);
        json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "create", "order_no", ih_row_str(&a.r, "order_no"),
                                "amount", amount, "channel", ih_row_str(&a.r, "channel"), "subject", a.subject);
        e = req ? channel_call(c, req, &ans) : ih_fail(IH_E_NOMEM, "payment");
        json_decref(req);
    }
    json_t *prepay = ans ? json_object_get(ans, "prepay") : NULL;
    if (e == IH_OK && !json_is_object(prepay)) {
        ih_log(IH_LOG_ERROR, "payment.channel_failed", "alert", "true", "detail", "create: no \"prepay\" object", NULL);
        e = ih_reject(IH_E_UNAVAILABLE, NULL, "The payment channel is not answering; please try again later.");
    }
    if (e == IH_OK) e = ih_row_json(&a.r, v->role, IH_REL_SELF, &view);
    if (e == IH_OK) {
        *out = json_pack("{s:o, s:O}", "payment", view, "pay", prepay);
        if (!*out) e = ih_fail(IH_E_NOMEM, "payment");
    }
    json_decref(ans);
    ih_row_free(&a.r);
    ih_row_free(&a.vr);
    return e;
}

/* ---- the channel's notification ------------------------------------------------------------------- */

typedef struct {
    ih_clinic *c;
    const char *event, *order_no, *trade_no, *refund_no;
    int64_t amount;
    ih_row r;
    bool conflict, changed;
} notify_arg;

static ih_err notify_fn(ih_tx *tx, void *arg)
{
    notify_arg *a = arg;
    ih_clinic *c = a->c;
    a->conflict = a->changed = false;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM payment WHERE order_no = $1", &st));
    ih_stmt_text(st, 1, a->order_no);
    IH_TRY(ih_stmt_step(st, &row));
    int64_t id = row ? ih_col_int(st, 0) : 0;
    IH_TRY(ih_stmt_exec(st));
    if (!id) return ih_reject(IH_E_NOT_FOUND, "order_no", "No such order.");
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_payment);
    IH_TRY(load_payment(c, tx, id, &a->r));
    const char *state = state_of(&a->r), *known = ih_row_str(&a->r, "trade_no");
    int64_t now = ih_now_ms();
    ih_viewer v = {.actor = channel_actor};
    if (!strcmp(a->event, "paid")) {
        if (!strcmp(state, P_PAID) && known && !strcmp(known, a->trade_no)) return IH_OK; /* said before */
        if (strcmp(state, P_PENDING) || a->amount != ih_row_int(&a->r, "amount")) {
            a->conflict = true;
            return IH_OK;
        }
        IH_TRY(ih_row_set_str(&a->r, "trade_no", a->trade_no));
        ih_row_set_int(&a->r, "paid", 1);
        ih_row_set_int(&a->r, "paid_at", now);
        IH_TRY(ih_row_set_str(&a->r, "state", P_PAID));
        IH_TRY(ih_row_update(tx, c->o.keys, &a->r));
        IH_TRY(cl_audit(c, tx, &v, "payment.paid", "payment", id, ih_row_str(&a->r, "channel")));
        a->changed = true;
        return cl_his_emit(c, tx, "charge", id); /* the hospital's accounts (DFT^P03) */
    }
    /* refunded */
    if (!strcmp(state, P_REFUNDED)) return IH_OK;
    const char *rno = ih_row_str(&a->r, "refund_no");
    if (strcmp(state, P_REFUNDING) || !known || strcmp(known, a->trade_no) || !rno || !a->refund_no ||
        strcmp(rno, a->refund_no) || a->amount != ih_row_int(&a->r, "amount")) {
        a->conflict = true;
        return IH_OK;
    }
    ih_row_set_int(&a->r, "paid", 0);
    ih_row_set_int(&a->r, "refunded_at", now);
    IH_TRY(ih_row_set_str(&a->r, "state", P_REFUNDED));
    IH_TRY(ih_row_update(tx, c->o.keys, &a->r));
    a->changed = true;
    return cl_audit(c, tx, &v, "payment.refunded", "payment", id, ih_row_str(&a->r, "channel"));
}

static const char *const notify_fields[] = {"event", "order_no", "trade_no", "refund_no", "amount", "time", NULL};

ih_err ih_payment_notify(ih_clinic *c, const char *timestamp, const char *nonce, const char *signature,
                         const char *body, size_t n)
{
    if (!c->o.pay_notify_key)
        return ih_reject(IH_E_UNAVAILABLE, NULL, "No payment channel is configured to notify this server.");
    /* the signature first: nothing unverified reaches the store */
    char *end = NULL;
    long long ts = timestamp ? strtoll(timestamp, &end, 10) : 0;
    int64_t skew = ih_now_ms() / 1000 - ts, tol = c->o.pay_notify_tolerance_s > 0 ? c->o.pay_notify_tolerance_s : 300;
    uint8_t sig[1024];
    long sl = signature ? ih_b64_decode(signature, strlen(signature), sig, sizeof sig) : -1;
    ih_err e = IH_OK;
    if (!timestamp || !*timestamp || !end || *end || !nonce || !*nonce || strlen(nonce) > 64 || sl <= 0)
        e = ih_fail(IH_E_AUTH_FAILED, "notification without X-Pay-Timestamp, X-Pay-Nonce and X-Pay-Signature");
    else if (skew > tol || skew < -tol)
        e = ih_fail(IH_E_AUTH_FAILED, "notification timestamp %lld is %llds off", ts, (long long)skew);
    ih_buf msg = IH_BUF_INIT;
    if (e == IH_OK) e = ih_buf_printf(&msg, "%s\n%s\n", timestamp, nonce);
    if (e == IH_OK) e = ih_buf_append(&msg, body ? body : "", n);
    if (e == IH_OK) e = ih_buf_puts(&msg, "\n");
    if (e == IH_OK && ih_extsig_verify(c->o.pay_notify_key, msg.p, msg.len, sig, (size_t)sl) != IH_OK)
        e = ih_fail(IH_E_AUTH_FAILED, "notification signature does not verify");
    ih_buf_free(&msg);
    if (e != IH_OK) {
        ih_log(IH_LOG_WARN, "payment.notify_refused", "alert", "true", "detail", ih_err_detail(), NULL);
        ih_audit_event ev = {.action = "payment.notify", .result = IH_E_AUTH_FAILED, .reason = "not verified"};
        ih_audit_record(c->o.audit, &channel_actor, &ev);
        return ih_reject(IH_E_AUTH_FAILED, NULL, "The notification's signature does not verify.");
    }
    json_t *j = NULL;
    IH_TRY(ih_json_parse_object(body, n, &j));
    notify_arg a = {.c = c};
    const char *amount_s = NULL;
    e = ih_json_only(j, notify_fields);
    if (e == IH_OK) e = ih_json_str(j, "event", true, 4, 8, IH_TEXT_LINE, &a.event);
    if (e == IH_OK && strcmp(a.event, "paid") && strcmp(a.event, "refunded"))
        e = ih_reject(IH_E_INVALID, "event", "Field 'event' must be paid or refunded.");
    if (e == IH_OK) e = ih_json_str(j, "order_no", true, 1, 64, IH_TEXT_LINE, &a.order_no);
    if (e == IH_OK) e = ih_json_str(j, "trade_no", true, 1, 64, IH_TEXT_LINE, &a.trade_no);
    if (e == IH_OK) e = ih_json_str(j, "refund_no", false, 1, 64, IH_TEXT_LINE, &a.refund_no);
    if (e == IH_OK) e = ih_json_str(j, "amount", true, 1, 16, IH_TEXT_LINE, &amount_s);
    if (e == IH_OK) e = ih_json_money(j, "amount", true, &a.amount);
    if (e == IH_OK) {
        ih_row_init(&a.r, &ih_t_payment);
        e = ih_store_write(c->o.store, notify_fn, &a);
        if (e == IH_OK && a.conflict) {
            ih_log(IH_LOG_ERROR, "payment.notify_conflict", "alert", "true", "order", a.order_no, "event", a.event,
                   NULL);
            e = ih_reject(IH_E_CONFLICT, NULL, "The notification does not match the order (state, amount or numbers).");
        }
        if (e == IH_OK && a.changed) { /* the screens of those waiting for it */
            int64_t visit = ih_row_int(&a.r, "visit_id"), rx = ih_row_int(&a.r, "prescription_id");
            if (rx) cl_notify_after(c, visit, 1u << IH_ROLE_PHARMACIST, "rx", rx); /* dispensing waits for it */
            else cl_notify_after(c, visit, 0, "visit", 0);
        }
        ih_row_free(&a.r);
    }
    json_decref(j);
    return e;
}

/* ---- refund --------------------------------------------------------------------------------------- */

/* The service the money was for was not given. */
static ih_err refundable(pay_arg *a, ih_tx *tx)
{
    int64_t rx_id = ih_row_int(&a->r, "prescription_id");
    const char *st;
    ih_row x;
    bool found, ok;
    if (rx_id) {
        ih_row_init(&x, &ih_t_rx);
        ih_err e = ih_row_load_opt(tx, a->c->o.keys, &ih_t_rx, rx_id, &x, &found, false);
        st = found ? ih_row_str(&x, "status") : "";
        ok = e == IH_OK && (!strcmp(st, "rejected") || !strcmp(st, "expired") || !strcmp(st, "cancelled"));
        ih_row_free(&x);
        IH_TRY(e);
    } else {
        ih_row_init(&x, &ih_t_visit);
        ih_err e = cl_visit_load(a->c, tx, ih_row_int(&a->r, "visit_id"), &x, false);
        st = e == IH_OK ? ih_row_str(&x, "status") : "";
        ok = e == IH_OK && (!strcmp(st, "refused") || !strcmp(st, "expired") || !strcmp(st, "cancelled"));
        ih_row_free(&x);
        IH_TRY(e);
    }
    if (!ok)
        return ih_reject(IH_E_STATE, NULL,
                         "Only a payment for a service not given is refunded here (a refused, expired or cancelled "
                         "visit; a rejected, expired or cancelled prescription).");
    return IH_OK;
}

static const char *const refund_fields[] = {"reason", NULL};

static ih_err refund_fn(ih_tx *tx, void *arg)
{
    pay_arg *a = arg;
    const char *reason;
    IH_TRY(ih_json_only(a->body, refund_fields));
    IH_TRY(ih_json_str(a->body, "reason", true, 4, 200, IH_TEXT_LINE, &reason));
    IH_TRY(cl_check_reason(NULL, "reason", reason));
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_payment);
    IH_TRY(load_payment(a->c, tx, a->id, &a->r));
    const char *state = state_of(&a->r);
    if (!strcmp(state, P_REFUNDING)) return IH_OK; /* asked before: ask the channel again */
    if (strcmp(state, P_PAID) || !ih_row_str(&a->r, "trade_no"))
        return ih_reject(IH_E_STATE, NULL, "Only a payment the channel confirmed is refunded (this one is %s).", state);
    IH_TRY(refundable(a, tx));
    char no[40];
    snprintf(no, sizeof no, "RF%012lld", (long long)a->id);
    IH_TRY(ih_row_set_str(&a->r, "refund_no", no));
    IH_TRY(ih_row_set_str(&a->r, "refund_reason", reason));
    ih_row_set_int(&a->r, "refund_by", a->v->actor.id);
    IH_TRY(ih_row_set_str(&a->r, "state", P_REFUNDING));
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    return cl_audit(a->c, tx, a->v, "payment.refund", "payment", a->id, NULL);
}

ih_err ih_payment_refund(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    if (!channel_configured(c))
        return ih_reject(IH_E_UNAVAILABLE, NULL, "No payment channel is configured.");
    pay_arg a = {.c = c, .v = v, .body = body, .id = id};
    ih_row_init(&a.r, &ih_t_payment);
    ih_err e = ih_store_write(c->o.store, refund_fn, &a);
    cl_refused(c, v, "payment.refund", "payment", id, e);
    json_t *ans = NULL;
    if (e == IH_OK) {
        char amount[24];
        ih_money_text(ih_row_int(&a.r, "amount"), amount, sizeof amount);
        json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "refund", "order_no", ih_row_str(&a.r, "order_no"),
                                "trade_no", ih_row_str(&a.r, "trade_no"), "refund_no", ih_row_str(&a.r, "refund_no"),
                                "amount", amount);
        e = req ? channel_call(c, req, &ans) : ih_fail(IH_E_NOMEM, "payment");
        json_decref(req);
    }
    if (e == IH_OK && !json_is_true(json_object_get(ans, "accepted"))) {
        ih_log(IH_LOG_ERROR, "payment.channel_failed", "alert", "true", "detail", "refund not accepted", NULL);
        e = ih_reject(IH_E_UNAVAILABLE, NULL, "The payment channel did not accept the refund; try again later.");
    }
    json_decref(ans);
    if (e == IH_OK) e = ih_row_json(&a.r, v->role, IH_REL_OTHER, out);
    ih_row_free(&a.r);
    return e;
}

/* ---- reading -------------------------------------------------------------------------------------- */

static ih_err get_fn(ih_tx *tx, void *arg)
{
    pay_arg *a = arg;
    IH_TRY(load_payment(a->c, tx, a->id, &a->r));
    if (a->v->role == IH_ROLE_PATIENT) {
        IH_TRY(cl_visit_load(a->c, tx, ih_row_int(&a->r, "visit_id"), &a->vr, false));
        bool treating;
        IH_TRY(cl_visit_access(a->c, tx, a->v, &a->vr, false, &treating));
    } else if (a->v->role != IH_ROLE_SYSADMIN) {
        return ih_reject(IH_E_FORBIDDEN, NULL, "Payments are read by their patient and the system administrator.");
    }
    return IH_OK;
}

ih_err ih_payment_get(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out)
{
    pay_arg a = {.c = c, .v = v, .id = id};
    ih_row_init(&a.r, &ih_t_payment);
    ih_row_init(&a.vr, &ih_t_visit);
    ih_err e = ih_store_read(c->o.store, get_fn, &a);
    cl_refused(c, v, "payment.read", "payment", id, e);
    if (e == IH_OK) e = ih_row_json(&a.r, v->role, v->role == IH_ROLE_PATIENT ? IH_REL_SELF : IH_REL_OTHER, out);
    ih_row_free(&a.r);
    ih_row_free(&a.vr);
    return e;
}
