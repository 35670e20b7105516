/* uploader.c — drains the outbox to the platform (see report.h for the
 * states).  A worker's cycle is one committed transaction, then one POST:
 * the transaction records the outcome of the batch the worker sent last and
 * claims the next (up to batch_size due rows of one method, read with their
 * MACs checked, a row each in outbox_inflight); after the commit the batch's
 * records and the appSecret are opened, encoded and signed with the profile,
 * and POSTed with libcurl (TLS verified).  The claim commits before anything
 * is sent, so a crash while sending is seen at the next start (`unknown`,
 * re-sent, logged); a batch's outcome is committed before its worker sends
 * another.  An outbox row is written once per attempt, with its outcome, and
 * only its delivery columns (ob_save_delivery). */
#include "report/report_impl.h"

#include "core/clock.h"
#include "core/log.h"
#include "crypto/protect.h"
#include "keys/keys.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BATCH 100

/* One batch, from its claim to its outcome: the rows as claimed (read and
 * MAC-checked in the claim), and while it is being sent the records
 * joined and the secret (plaintext: wiped as soon as it is sent). */
typedef struct {
    int n;
    ob_row rows[MAX_BATCH];
    char method[64];
    int64_t claim;      /* this claim's rows in outbox_inflight */
    ih_buf records;     /* the rows' records as one JSON array */
    uint8_t secret[16]; /* the platform appSecret */
    size_t secret_len;
    ih_upload_outcome out;
    bool possibly_sent;
    char msg[256];
} ob_batch;

static void batch_wipe(ob_batch *b)
{
    ih_buf_wipe(&b->records);
    ih_wipe(b->secret, sizeof b->secret);
    b->secret_len = 0;
}

static void batch_free(ob_batch *b)
{
    if (!b) return;
    batch_wipe(b);
    for (int i = 0; i < MAX_BATCH; i++) ob_row_free(&b->rows[i]);
    free(b);
}

/* Claim the next batch: its rows, read and their MACs checked, each get a
 * row in outbox_inflight (they count as `sending`); the rows themselves are
 * not written. */
static ih_err claim(ih_report *r, ih_tx *tx, int limit, ob_batch *a)
{
    a->n = 0;
    if (r->o.node) { /* fencing: a node that lost the lease claims nothing */
        pthread_mutex_lock(&r->mu);
        ih_lease l = r->lease;
        pthread_mutex_unlock(&r->mu);
        IH_TRY(ih_lease_check(tx, &l));
    }
    int64_t now = ih_now_ms();
    ih_stmt *st;
    bool row;
    ih_err e;
    /* The oldest ready row decides the method of this batch.  Ready: due,
     * what it depends on was sent, no earlier version of its business key
     * still on its way (several workers keep versions in order), and not
     * claimed.  The walk is down outbox_ready in id order: SQLite is told
     * so, its planner otherwise sorts every pending row per claim.  It
     * starts after the rows this process claimed last (claim_after): the
     * rows other workers are sending stay in that index, and walking them
     * on every claim cost more than the claim saved.  What lies behind
     * (a retry come due, rows of another method a batch went past) is found
     * when a walk comes to the end — a claim finds less than a full batch —
     * which starts the next walk from the beginning.  Several servers on one
     * PostgreSQL never claim the same row (SKIP LOCKED, then the claim's
     * key). */
#define READY                                                                                                    \
    "state IN ('pending', 'unknown') AND next_at <= $1 AND (depends_on IS NULL OR EXISTS (SELECT 1 FROM outbox d " \
    "WHERE d.id = o.depends_on AND d.state = 'sent')) AND NOT EXISTS (SELECT 1 FROM outbox p WHERE "               \
    "p.method = o.method AND p.business_key = o.business_key AND p.version < o.version AND "                        \
    "p.state IN ('pending', 'sending', 'unknown')) AND NOT EXISTS (SELECT 1 FROM outbox_inflight i WHERE "          \
    "i.outbox_id = o.id) AND o.id > $2"
    const char *first = ih_tx_is_pg(tx) ? "SELECT method FROM outbox o WHERE " READY " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
                                        : "SELECT method FROM outbox o INDEXED BY outbox_ready WHERE " READY
                                          " ORDER BY id LIMIT 1";
    pthread_mutex_lock(&r->mu);
    int64_t after = r->claim_after;
    pthread_mutex_unlock(&r->mu);
    for (;;) {
        IH_TRY(ih_tx_prepare(tx, first, &st));
        ih_stmt_int(st, 1, now);
        ih_stmt_int(st, 2, after);
        IH_TRY(ih_stmt_step(st, &row));
        if (row || after == 0) break;
        after = 0; /* the end: once more from the beginning */
    }
    if (!row) return IH_OK;
    snprintf(a->method, sizeof a->method, "%s", ih_col_text(st, 0));
    const char *batch = ih_tx_is_pg(tx) ? "SELECT " OB_COLUMNS_OF("o.") " FROM outbox o WHERE " READY
                                          " AND method = $3 ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED"
                                        : "SELECT " OB_COLUMNS_OF("o.") " FROM outbox o INDEXED BY outbox_ready WHERE " READY
                                          " AND method = $3 ORDER BY id LIMIT $4";
#undef READY
    IH_TRY(ih_tx_prepare(tx, batch, &st));
    ih_stmt_int(st, 1, now);
    ih_stmt_int(st, 2, after);
    ih_stmt_text(st, 3, a->method);
    ih_stmt_int(st, 4, limit);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && a->n < limit) IH_TRY(ob_read(r, st, &a->rows[a->n++]));
    IH_TRY(e);
    /* the next claim (any worker's) walks on from here; from the beginning
     * if this walk came to the end.  Set now, not after the commit: the
     * other workers' claims follow this one at once.  Should this
     * transaction fail, the rows it skips are found by the next walk from
     * the beginning. */
    pthread_mutex_lock(&r->mu);
    r->claim_after = a->n == limit ? a->rows[a->n - 1].id : 0;
    pthread_mutex_unlock(&r->mu);
    /* The claim: a row in outbox_inflight each (another process's claim
     * of the same row, possible only on PostgreSQL between its read and
     * this insert, keeps it). */
    int kept = 0;
    int64_t at = ih_now_ms();
    uint64_t claim;
    IH_TRY(ih_random(&claim, sizeof claim));
    a->claim = (int64_t)(claim >> 1);
    for (int i = 0; i < a->n; i++) {
        IH_TRY(ih_tx_prepare(tx, "INSERT INTO outbox_inflight (outbox_id, claim, claimed_by, claimed_at) "
                                 "VALUES ($1, $2, $3, $4) ON CONFLICT (outbox_id) DO NOTHING",
                             &st));
        ih_stmt_int(st, 1, a->rows[i].id);
        ih_stmt_int(st, 2, a->claim);
        ih_stmt_text(st, 3, r->node[0] ? r->node : "local");
        ih_stmt_int(st, 4, at);
        IH_TRY(ih_stmt_exec(st));
        if (ih_stmt_changes(st) != 1) continue;
        if (kept != i) {
            ob_row t = a->rows[kept];
            a->rows[kept] = a->rows[i];
            a->rows[i] = t;
        }
        kept++;
    }
    a->n = kept;
    return IH_OK;
}

/* A row's delivery columns after its batch was sent. */
static void apply_outcome(const ob_batch *a, ob_row *o, int64_t now)
{
    o->attempts++;
    switch (a->out) {
    case IH_UP_OK:
        snprintf(o->state, sizeof o->state, "sent");
        o->sent_at = now;
        o->last_error[0] = '\0';
        break;
    case IH_UP_DATA_ERROR:
        snprintf(o->state, sizeof o->state, "dead");
        break;
    default:
        snprintf(o->state, sizeof o->state, "%s", a->out == IH_UP_UNKNOWN || a->possibly_sent ? "unknown" : "pending");
        o->next_at = now + ih_backoff_ms(o->attempts, 300000);
    }
    if (a->out != IH_UP_OK) snprintf(o->last_error, sizeof o->last_error, "%s", a->msg);
}

/* Whether two copies of a row hold the same record (a re-seal under a new
 * key version changes the ciphertext, not the record). */
static ih_err same_record(ih_report *r, ih_tx *tx, const ob_row *x, const ob_row *y, bool *same)
{
    ih_buf a = IH_BUF_INIT, b = IH_BUF_INIT;
    ih_err e = ob_open_payload(r, tx, x, &a);
    if (e == IH_OK) e = ob_open_payload(r, tx, y, &b);
    *same = e == IH_OK && a.len == b.len && (!a.len || !memcmp(a.p, b.p, a.len));
    ih_buf_wipe(&a);
    ih_buf_wipe(&b);
    return e;
}

/* Record a sent batch's outcome on each of its rows: written over the row
 * as claimed when it is still at that version, else (taken back by a
 * recovery meanwhile, say) over the row read again and checked — unless
 * its record was replaced meanwhile: what went out was not that record,
 * which stays due. */
static ih_err finish(ih_report *r, ih_tx *tx, const ob_batch *a)
{
    int64_t now = ih_now_ms();
    ob_row again = {0};
    ih_err e = IH_OK;
    for (int i = 0; e == IH_OK && i < a->n; i++) {
        ob_row o = a->rows[i]; /* a copy: a rerun of this transaction starts from the claim again */
        apply_outcome(a, &o, now);
        bool saved, found = true;
        e = ob_save_delivery(r, tx, &o, &saved);
        if (e == IH_OK && !saved) {
            e = ob_load(r, tx, o.id, &again, &found);
            if (e == IH_OK && found) e = same_record(r, tx, &o, &again, &found);
            if (e == IH_OK && found) {
                apply_outcome(a, &again, now);
                e = ob_save(r, tx, &again, false);
            }
        }
        ih_stmt *st; /* this batch's claim on the row (a recovery may have ended it) */
        if (e == IH_OK) e = ih_tx_prepare(tx, "DELETE FROM outbox_inflight WHERE outbox_id = $1 AND claim = $2", &st);
        if (e == IH_OK) {
            ih_stmt_int(st, 1, o.id);
            ih_stmt_int(st, 2, a->claim);
            e = ih_stmt_exec(st);
        }
        if (e == IH_OK && found && a->out == IH_UP_DATA_ERROR) {
            char oid[24];
            snprintf(oid, sizeof oid, "%lld", (long long)o.id);
            ih_audit_event ev = {.action = "report.dead", .object_type = "outbox", .object_id = oid,
                                 .result = IH_E_INVALID, .reason = a->msg};
            e = ih_audit_append(r->o.audit, tx, &(ih_actor){.id = 0, .role = "system"}, &ev);
        }
    }
    ob_row_free(&again);
    return e;
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    ih_buf *b = ud;
    if (b->len + size * n > 65536 || ih_buf_append(b, p, size * n) != IH_OK) return 0;
    return size * n;
}

static ih_err open_secret(ih_report *r, ih_tx *tx, ob_batch *b)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT secret_enc FROM report_secret WHERE profile = $1", &st));
    ih_stmt_text(st, 1, r->profile->name);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_fail(IH_E_CONFIG, "no platform appSecret: set it with `ihos report set-secret DIR`");
    size_t n;
    const uint8_t *ct = ih_col_blob(st, 0, &n);
    ih_buf hex = IH_BUF_INIT;
    ih_err e = ih_keys_field_open(tx, r->o.keys, IH_KP_SECRET, "report_secret", r->profile->name, 0, ct, n, &hex);
    if (e == IH_OK && (ih_hex_decode(hex.p, hex.len, b->secret, sizeof b->secret, &b->secret_len) != 0))
        e = ih_fail(IH_E_CONFIG, "the stored appSecret is not hex");
    ih_buf_wipe(&hex);
    return e;
}

/* Send one claimed batch; returns the outcome and the platform's words. */
static ih_upload_outcome send_batch(ih_report *r, CURL *h, const ob_batch *b, bool *possibly_sent, char *msg,
                                    size_t msgn)
{
    *possibly_sent = false;
    char nonce[40];
    uint8_t u[16];
    ih_random(u, sizeof u);
    u[6] = (u[6] & 0x0f) | 0x40; /* UUID v4 */
    u[8] = (u[8] & 0x3f) | 0x80;
    snprintf(nonce, sizeof nonce, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    ih_profile_ctx ctx = {r->app_key, b->secret, b->secret_len, r->organ_id, r->unit_id, r->organ_name,
                          r->o.utc_offset_minutes};
    ih_buf body = IH_BUF_INIT, hdr = IH_BUF_INIT, resp = IH_BUF_INIT;
    ih_err e = r->profile->encode(&ctx, b->method, b->records.p, b->records.len, ih_now_ms(), nonce, &body, &hdr);
    if (e != IH_OK) {
        snprintf(msg, msgn, "cannot encode: %s", ih_err_detail());
        ih_buf_free(&body);
        ih_buf_free(&hdr);
        return IH_UP_RETRY;
    }
    struct curl_slist *list = NULL;
    for (char *save = NULL, *line = strtok_r(hdr.p, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save))
        list = curl_slist_append(list, line);
    list = curl_slist_append(list, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, r->gateway_url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.p);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)r->o.timeout_s);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (r->ca_file[0]) curl_easy_setopt(h, CURLOPT_CAINFO, r->ca_file);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_off_t up = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up);
    ih_upload_outcome out;
    if (rc != CURLE_OK) {
        /* no answer: if the whole body went out, the platform may have it */
        *possibly_sent = up >= (curl_off_t)body.len && body.len > 0;
        snprintf(msg, msgn, "%s%s", curl_easy_strerror(rc), *possibly_sent ? " after the request was sent" : "");
        out = *possibly_sent ? IH_UP_UNKNOWN : IH_UP_RETRY;
    } else {
        out = r->profile->classify(status, resp.p, resp.len, msg, msgn);
        if (out == IH_UP_UNKNOWN) *possibly_sent = true;
    }
    curl_slist_free_all(list);
    ih_buf_free(&body);
    ih_buf_free(&hdr);
    ih_buf_free(&resp);
    return out;
}

/* One transaction: the outcome of `done` (if it has rows), then the claim
 * of `next` (if asked).  Should the transaction fail, nothing of either is
 * kept: `done`'s rows stay claimed until the next start or lease
 * takeover finds them (`unknown`), as after a crash. */
typedef struct {
    ih_report *r;
    const ob_batch *done;
    ob_batch *next;
} step_arg;

static ih_err step_fn(ih_tx *tx, void *arg)
{
    step_arg *a = arg;
    if (a->done && a->done->n) IH_TRY(finish(a->r, tx, a->done));
    if (!a->next) return IH_OK;
    int limit = a->r->o.batch_size < 1 ? 1 : a->r->o.batch_size > MAX_BATCH ? MAX_BATCH : a->r->o.batch_size;
    return claim(a->r, tx, limit, a->next);
}

/* After the commit that recorded it: count and log a batch's outcome. */
static void note_outcome(ih_report *r, const ob_batch *b)
{
    char n[16];
    snprintf(n, sizeof n, "%d", b->n);
    switch (b->out) {
    case IH_UP_OK:
        ob_count(r, b->method, true, (unsigned)b->n);
        ih_log(IH_LOG_DEBUG, "report.sent", "method", b->method, "records", n, NULL);
        break;
    case IH_UP_DATA_ERROR:
        ob_count(r, b->method, false, (unsigned)b->n);
        ih_log(IH_LOG_ERROR, "report.dead", "alert", "true", "method", b->method, "records", n, "platform", b->msg,
               NULL);
        break;
    default:
        if (b->possibly_sent)
            ih_log(IH_LOG_WARN, "report.possible_duplicate", "method", b->method, "records", n, "reason", b->msg, NULL);
        else
            ih_log(IH_LOG_WARN, "report.retry", "method", b->method, "records", n, "reason", b->msg, NULL);
    }
}

/* After the claim's commit: the batch's records opened and joined into
 * one array (rows holding no record, an empty daily call, add nothing),
 * and the appSecret opened. */
typedef struct {
    ih_report *r;
    ob_batch *b;
} open_arg;

static ih_err open_fn(ih_tx *tx, void *arg)
{
    ih_report *r = ((open_arg *)arg)->r;
    ob_batch *b = ((open_arg *)arg)->b;
    ih_buf_reset(&b->records);
    IH_TRY(ih_buf_puts(&b->records, "["));
    ih_buf one = IH_BUF_INIT;
    ih_err e = IH_OK;
    for (int i = 0, items = 0; e == IH_OK && i < b->n; i++) {
        ih_buf_reset(&one);
        e = ob_open_payload(r, tx, &b->rows[i], &one);
        if (e == IH_OK && !(one.len == 4 && !memcmp(one.p, "null", 4))) {
            if (items++) e = ih_buf_puts(&b->records, ",");
            if (e == IH_OK) e = ih_buf_append(&b->records, one.p, one.len);
        }
    }
    ih_buf_wipe(&one);
    if (e == IH_OK) e = ih_buf_puts(&b->records, "]");
    if (e == IH_OK) e = open_secret(r, tx, b);
    return e;
}

/* A worker's two batches: the one it sent last (its outcome not recorded
 * yet) and room for the next. */
typedef struct {
    ob_batch *sent, *spare;
} ob_pair;

/* One cycle of a worker: record the outcome of the batch sent last (if
 * any) and, unless `last`, claim the next batch and send it.  *sent (if
 * not NULL): how many rows of the recorded batch the platform accepted. */
static ih_err cycle(ih_report *r, CURL *h, ob_pair *p, bool last, int *sent)
{
    if (sent) *sent = 0;
    step_arg sa = {r, p->sent, last ? NULL : p->spare};
    ih_err e = ih_store_write(r->o.store, step_fn, &sa), claim_e = IH_OK;
    char why[256] = "";
    if (e != IH_OK && sa.next && p->sent->n) {
        /* the claim failed (a row that does not verify, say): the outcome
         * of the batch sent is still recorded, in a transaction of its own */
        claim_e = e;
        snprintf(why, sizeof why, "%s", ih_err_detail());
        sa.next = NULL;
        e = ih_store_write(r->o.store, step_fn, &sa);
    }
    if (e == IH_OK && p->sent->n) {
        note_outcome(r, p->sent);
        if (sent && p->sent->out == IH_UP_OK) *sent = p->sent->n;
    }
    p->sent->n = 0;
    if (claim_e != IH_OK) return ih_fail(claim_e, "%s", why);
    if (e != IH_OK || sa.next == NULL) return e;
    ob_batch *b = p->spare;
    if (b->n) {
        b->possibly_sent = false;
        if (ih_store_read(r->o.store, open_fn, &(open_arg){r, b}) == IH_OK) {
            b->out = send_batch(r, h, b, &b->possibly_sent, b->msg, sizeof b->msg);
        } else {
            b->out = IH_UP_RETRY;
            snprintf(b->msg, sizeof b->msg, "not sent: %s", ih_err_detail());
        }
        batch_wipe(b);
    }
    p->spare = p->sent;
    p->sent = b;
    return IH_OK;
}

static ih_err pair_new(ob_pair *p)
{
    p->sent = calloc(1, sizeof *p->sent);
    p->spare = calloc(1, sizeof *p->spare);
    if (p->sent && p->spare) return IH_OK;
    batch_free(p->sent);
    batch_free(p->spare);
    return ih_fail(IH_E_NOMEM, "uploader");
}

static void pair_free(ob_pair *p)
{
    batch_free(p->sent);
    batch_free(p->spare);
}

struct ob_pass {
    ob_pair p;
    CURL *h;
};

static void pass_free(ob_pass *x)
{
    pair_free(&x->p);
    curl_easy_cleanup(x->h);
    free(x);
}

ih_err ob_pass_send(ih_report *r, ob_pass **out)
{
    ob_pass *x = calloc(1, sizeof *x);
    if (!x) return ih_fail(IH_E_NOMEM, "uploader");
    ih_err e = pair_new(&x->p);
    if (e != IH_OK) {
        free(x);
        return e;
    }
    x->h = curl_easy_init();
    e = x->h ? cycle(r, x->h, &x->p, false, NULL) : ih_fail(IH_E_NOMEM, "curl");
    if (e != IH_OK) {
        pass_free(x);
        return e;
    }
    *out = x;
    return IH_OK;
}

ih_err ob_pass_finish(ih_report *r, ob_pass *x, int *sent)
{
    ih_err e = cycle(r, x->h, &x->p, true, sent);
    pass_free(x);
    return e;
}

ih_err ih_report_pass(ih_report *r, int *sent)
{
    *sent = 0;
    ob_pass *x;
    IH_TRY(ob_pass_send(r, &x));
    return ob_pass_finish(r, x, sent);
}

/* ---- the thread --------------------------------------------------------------------- */

/* The first worker's part in a cluster: take or renew the "report" lease
 * every 5 s; on taking it, rows the previous holder had claimed are due
 * again (it is dead or cut off: at most those few go twice). */
static void lease_step(ih_report *r, int64_t *next)
{
    if (!r->o.node || ih_mono_ms() < *next) return;
    *next = ih_mono_ms() + 5000;
    pthread_mutex_lock(&r->mu);
    ih_lease l = r->lease;
    pthread_mutex_unlock(&r->mu);
    bool was = l.held;
    int64_t token = l.token;
    if (ih_lease_take(r->o.store, &l) != IH_OK) l.held = false;
    if (l.held && (!was || l.token != token)) {
        int recovered = 0;
        if (ob_recover(r, &recovered) != IH_OK)
            ih_log(IH_LOG_ERROR, "report.recover_failed", "alert", "true", "detail", ih_err_detail(), NULL);
    }
    pthread_mutex_lock(&r->mu);
    r->lease = l;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void *run(void *arg)
{
    struct ih_report_worker *w = arg;
    ih_report *r = w->r;
    CURL *h = curl_easy_init(); /* one handle per thread: its connection is kept alive */
    ob_pair p;
    bool have = pair_new(&p) == IH_OK;
    int64_t last_check = w->first ? 0 : INT64_MAX / 2, lease_next = 0;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        if (w->first) lease_step(r, &lease_next);
        pthread_mutex_lock(&r->mu);
        bool ours = !r->o.node || r->lease.held; /* else another node uploads */
        pthread_mutex_unlock(&r->mu);
        ih_err e = IH_OK;
        if (!h || !have) e = ih_fail(IH_E_NOMEM, "uploader");
        else if (ours || p.sent->n) e = cycle(r, h, &p, !ours, NULL); /* not ours: the last outcome only */
        if (e != IH_OK) ih_log(IH_LOG_ERROR, "report.pass_failed", "alert", "true", "detail", ih_err_detail(), NULL);
        if (w->first && ih_mono_ms() - last_check > 60000) {
            last_check = ih_mono_ms();
            ih_report_daily(r);
        }
        pthread_mutex_lock(&r->mu);
        /* idle, refused or failed: wait for new rows or 200 ms (1 s while
         * another node holds the lease) before the next claim */
        if ((!have || !p.sent->n || p.sent->out != IH_UP_OK) && !r->stop && !r->kick) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (ours ? 200 : 1000) * 1000000L;
            while (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        }
        r->kick = false;
    }
    pthread_mutex_unlock(&r->mu);
    if (have && p.sent->n && cycle(r, h, &p, true, NULL) != IH_OK) /* the last batch's outcome */
        ih_log(IH_LOG_ERROR, "report.pass_failed", "alert", "true", "detail", ih_err_detail(), NULL);
    if (have) pair_free(&p);
    if (h) curl_easy_cleanup(h);
    return NULL;
}

ih_err ih_report_start(ih_report *r)
{
    if (!r->o.enabled) return IH_OK;
    if (!r->gateway_url[0]) return ih_fail(IH_E_CONFIG, "[report] enabled needs gateway_url");
    /* Rows a dead process had claimed: due again, logged as possible
     * duplicates (in a cluster: when this node takes the lease). */
    if (!r->o.node) {
        int recovered = 0;
        if (ob_recover(r, &recovered) != IH_OK)
            ih_log(IH_LOG_ERROR, "report.recover_failed", "alert", "true", "detail", ih_err_detail(), NULL);
    }
    int n = r->o.workers < 1 ? 1 : r->o.workers > 16 ? 16 : r->o.workers;
    for (int i = 0; i < n; i++) {
        r->workers[i] = (struct ih_report_worker){r, i == 0};
        if (pthread_create(&r->threads[i], NULL, run, &r->workers[i]) != 0) {
            ih_report_stop(r);
            return ih_fail(IH_E_INTERNAL, "cannot start the uploader");
        }
        r->nthreads++;
    }
    return IH_OK;
}

void ih_report_stop(ih_report *r)
{
    if (!r || !r->nthreads) return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->nthreads; i++) pthread_join(r->threads[i], NULL);
    r->nthreads = 0;
    ih_lease_release(r->o.store, &r->lease); /* another node takes over at once */
}
