/* uploader.c — drains the outbox to the platform (see report.h for the
 * states).  A pass: claim up to batch_size due rows of one method in one
 * committed transaction (state `sending`), decrypt, encode and sign with
 * the profile, POST with libcurl (TLS verified), then record the outcome in
 * a second transaction.  The claim commits first so that a crash while
 * sending is seen at the next start (`unknown`, re-sent, logged). */
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

typedef struct {
    ih_report *r;
    int limit;
    int64_t ids[MAX_BATCH];
    int n;
    char method[64];
} claim_arg;

static ih_err claim_fn(ih_tx *tx, void *arg)
{
    claim_arg *a = arg;
    a->n = 0;
    if (a->r->o.node) { /* fencing: a node that lost the lease claims nothing */
        pthread_mutex_lock(&a->r->mu);
        ih_lease l = a->r->lease;
        pthread_mutex_unlock(&a->r->mu);
        IH_TRY(ih_lease_check(tx, &l));
    }
    int64_t now = ih_now_ms();
    ih_stmt *st;
    bool row;
    ih_err e;
    /* The oldest ready row decides the method of this batch.  Ready: due,
     * what it depends on was sent, and no earlier version of its business
     * key still on its way (several workers keep versions in order).  The
     * walk is down outbox_ready in id order: SQLite is told so, its planner
     * otherwise sorts every pending row per claim.  Several servers on one
     * PostgreSQL never claim the same row (SKIP LOCKED). */
#define READY                                                                                                    \
    "state IN ('pending', 'unknown') AND next_at <= $1 AND (depends_on IS NULL OR EXISTS (SELECT 1 FROM outbox d " \
    "WHERE d.id = o.depends_on AND d.state = 'sent')) AND NOT EXISTS (SELECT 1 FROM outbox p WHERE "               \
    "p.method = o.method AND p.business_key = o.business_key AND p.version < o.version AND "                        \
    "p.state IN ('pending', 'sending', 'unknown'))"
    const char *first = ih_tx_is_pg(tx) ? "SELECT method FROM outbox o WHERE " READY " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
                                        : "SELECT method FROM outbox o INDEXED BY outbox_ready WHERE " READY
                                          " ORDER BY id LIMIT 1";
    IH_TRY(ih_tx_prepare(tx, first, &st));
    ih_stmt_int(st, 1, now);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return IH_OK;
    snprintf(a->method, sizeof a->method, "%s", ih_col_text(st, 0));
    const char *batch = ih_tx_is_pg(tx)
                            ? "SELECT id FROM outbox o WHERE " READY " AND method = $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED"
                            : "SELECT id FROM outbox o INDEXED BY outbox_ready WHERE " READY
                              " AND method = $2 ORDER BY id LIMIT $3";
#undef READY
    IH_TRY(ih_tx_prepare(tx, batch, &st));
    ih_stmt_int(st, 1, now);
    ih_stmt_text(st, 2, a->method);
    ih_stmt_int(st, 3, a->limit);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && a->n < a->limit) a->ids[a->n++] = ih_col_int(st, 0);
    IH_TRY(e);
    ob_row o = {0};
    for (int i = 0; e == IH_OK && i < a->n; i++) {
        bool found;
        e = ob_load(a->r, tx, a->ids[i], &o, &found);
        if (e != IH_OK) break;
        snprintf(o.state, sizeof o.state, "sending");
        o.attempts++;
        e = ob_save(a->r, tx, &o, false);
    }
    ob_row_free(&o);
    return e;
}

typedef struct {
    ih_report *r;
    const int64_t *ids;
    int n;
    ih_upload_outcome out;
    bool possibly_sent;
    char msg[256];
    int64_t dead_ids[MAX_BATCH];
    int ndead;
} finish_arg;

static ih_err finish_fn(ih_tx *tx, void *arg)
{
    finish_arg *a = arg;
    a->ndead = 0;
    int64_t now = ih_now_ms();
    ob_row o = {0};
    ih_err e = IH_OK;
    for (int i = 0; e == IH_OK && i < a->n; i++) {
        bool found;
        e = ob_load(a->r, tx, a->ids[i], &o, &found);
        if (e != IH_OK || !found) continue;
        switch (a->out) {
        case IH_UP_OK:
            snprintf(o.state, sizeof o.state, "sent");
            o.sent_at = now;
            o.last_error[0] = '\0';
            break;
        case IH_UP_DATA_ERROR:
            snprintf(o.state, sizeof o.state, "dead");
            a->dead_ids[a->ndead++] = o.id;
            break;
        default:
            snprintf(o.state, sizeof o.state, "%s", a->out == IH_UP_UNKNOWN || a->possibly_sent ? "unknown" : "pending");
            o.next_at = now + ih_backoff_ms(o.attempts, 300000);
        }
        if (a->out != IH_UP_OK) snprintf(o.last_error, sizeof o.last_error, "%s", a->msg);
        e = ob_save(a->r, tx, &o, false);
        if (e == IH_OK && a->out == IH_UP_DATA_ERROR) {
            char oid[24];
            snprintf(oid, sizeof oid, "%lld", (long long)o.id);
            ih_audit_event ev = {.action = "report.dead", .object_type = "outbox", .object_id = oid,
                                 .result = IH_E_INVALID, .reason = a->msg};
            e = ih_audit_append(a->r->o.audit, tx, &(ih_actor){.id = 0, .role = "system"}, &ev);
        }
    }
    ob_row_free(&o);
    return e;
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    ih_buf *b = ud;
    if (b->len + size * n > 65536 || ih_buf_append(b, p, size * n) != IH_OK) return 0;
    return size * n;
}

typedef struct {
    ih_report *r;
    uint8_t secret[16];
    size_t secret_len;
} secret_arg;

static ih_err secret_fn(ih_tx *tx, void *arg)
{
    secret_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT secret_enc FROM report_secret WHERE profile = $1", &st));
    ih_stmt_text(st, 1, a->r->profile->name);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_fail(IH_E_CONFIG, "no platform appSecret: set it with `ihos report set-secret DIR`");
    size_t n;
    const uint8_t *ct = ih_col_blob(st, 0, &n);
    ih_buf hex = IH_BUF_INIT;
    ih_err e = ih_keys_field_open(tx, a->r->o.keys, IH_KP_SECRET, "report_secret", a->r->profile->name, 0, ct, n, &hex);
    if (e == IH_OK && (ih_hex_decode(hex.p, hex.len, a->secret, sizeof a->secret, &a->secret_len) != 0))
        e = ih_fail(IH_E_CONFIG, "the stored appSecret is not hex");
    ih_buf_wipe(&hex);
    return e;
}

/* Send one claimed batch; returns the outcome and the platform's words. */
static ih_upload_outcome send_batch(ih_report *r, CURL *h, const char *method, const char *json, size_t n,
                                    const secret_arg *sec, bool *possibly_sent, char *msg, size_t msgn)
{
    *possibly_sent = false;
    char nonce[40];
    uint8_t u[16];
    ih_random(u, sizeof u);
    u[6] = (u[6] & 0x0f) | 0x40; /* UUID v4 */
    u[8] = (u[8] & 0x3f) | 0x80;
    snprintf(nonce, sizeof nonce, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    ih_profile_ctx ctx = {r->app_key, sec->secret, sec->secret_len, r->organ_id, r->unit_id, r->organ_name,
                          r->o.utc_offset_minutes};
    ih_buf body = IH_BUF_INIT, hdr = IH_BUF_INIT, resp = IH_BUF_INIT;
    ih_err e = r->profile->encode(&ctx, method, json, n, ih_now_ms(), nonce, &body, &hdr);
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

/* Read the claimed rows (MAC-checked) and join their records into one
 * JSON array; rows holding no record (an empty daily call) add nothing. */
typedef struct {
    ih_report *r;
    const int64_t *ids;
    int n;
    ih_buf *arr;
} read_arg;

static ih_err read_fn(ih_tx *tx, void *arg)
{
    read_arg *a = arg;
    ih_buf_reset(a->arr);
    IH_TRY(ih_buf_puts(a->arr, "["));
    ob_row o = {0};
    ih_buf one = IH_BUF_INIT;
    ih_err e = IH_OK;
    int items = 0;
    for (int i = 0; e == IH_OK && i < a->n; i++) {
        bool found;
        e = ob_load(a->r, tx, a->ids[i], &o, &found);
        if (e != IH_OK || !found) continue;
        ih_buf_reset(&one);
        e = ob_open_payload(a->r, tx, &o, &one);
        if (e == IH_OK && !(one.len == 4 && !memcmp(one.p, "null", 4))) {
            if (items++) e = ih_buf_puts(a->arr, ",");
            if (e == IH_OK) e = ih_buf_append(a->arr, one.p, one.len);
        }
    }
    if (e == IH_OK) e = ih_buf_puts(a->arr, "]");
    ih_buf_wipe(&one);
    ob_row_free(&o);
    return e;
}

static ih_err pass_with(ih_report *r, CURL *h, int *sent)
{
    *sent = 0;
    claim_arg *ca = calloc(1, sizeof *ca);
    finish_arg *fa = calloc(1, sizeof *fa);
    if (!ca || !fa) {
        free(ca);
        free(fa);
        return ih_fail(IH_E_NOMEM, "uploader");
    }
    ca->r = r;
    ca->limit = r->o.batch_size < 1 ? 1 : r->o.batch_size > MAX_BATCH ? MAX_BATCH : r->o.batch_size;
    ih_err e = ih_store_write(r->o.store, claim_fn, ca);
    if (e != IH_OK || ca->n == 0) {
        free(ca);
        free(fa);
        return e;
    }
    *fa = (finish_arg){.r = r, .ids = ca->ids, .n = ca->n, .out = IH_UP_RETRY};
    secret_arg sec = {r, {0}, 0};
    ih_buf arr = IH_BUF_INIT;
    read_arg ra = {r, ca->ids, ca->n, &arr};
    ih_err pe = ih_store_read(r->o.store, secret_fn, &sec);
    if (pe == IH_OK) pe = ih_store_read(r->o.store, read_fn, &ra);
    if (pe == IH_OK)
        fa->out = send_batch(r, h, ca->method, arr.p, arr.len, &sec, &fa->possibly_sent, fa->msg, sizeof fa->msg);
    else
        snprintf(fa->msg, sizeof fa->msg, "not sent: %s", ih_err_detail());
    ih_wipe(sec.secret, sizeof sec.secret);
    ih_buf_wipe(&arr);
    e = ih_store_write(r->o.store, finish_fn, fa);
    if (e == IH_OK) {
        char n[16];
        snprintf(n, sizeof n, "%d", ca->n);
        switch (fa->out) {
        case IH_UP_OK:
            *sent = ca->n;
            ob_count(r, ca->method, true, (unsigned)ca->n);
            ih_log(IH_LOG_DEBUG, "report.sent", "method", ca->method, "records", n, NULL);
            break;
        case IH_UP_DATA_ERROR:
            ob_count(r, ca->method, false, (unsigned)ca->n);
            ih_log(IH_LOG_ERROR, "report.dead", "alert", "true", "method", ca->method, "records", n, "platform", fa->msg,
                   NULL);
            break;
        default:
            if (fa->possibly_sent)
                ih_log(IH_LOG_WARN, "report.possible_duplicate", "method", ca->method, "records", n, "reason", fa->msg,
                       NULL);
            else
                ih_log(IH_LOG_WARN, "report.retry", "method", ca->method, "records", n, "reason", fa->msg, NULL);
        }
    }
    free(ca);
    free(fa);
    return e;
}

ih_err ih_report_pass(ih_report *r, int *sent)
{
    CURL *h = curl_easy_init();
    if (!h) return ih_fail(IH_E_NOMEM, "curl");
    ih_err e = pass_with(r, h, sent);
    curl_easy_cleanup(h);
    return e;
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
    int64_t last_check = w->first ? 0 : INT64_MAX / 2, lease_next = 0;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        if (w->first) lease_step(r, &lease_next);
        pthread_mutex_lock(&r->mu);
        if (r->o.node && !r->lease.held) { /* another node uploads */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&r->mu);
        int sent = 0;
        ih_err e = h ? pass_with(r, h, &sent) : ih_fail(IH_E_NOMEM, "curl");
        if (e != IH_OK) ih_log(IH_LOG_ERROR, "report.pass_failed", "alert", "true", "detail", ih_err_detail(), NULL);
        if (w->first && ih_mono_ms() - last_check > 60000) {
            last_check = ih_mono_ms();
            ih_report_daily(r);
        }
        pthread_mutex_lock(&r->mu);
        if (sent == 0 && !r->stop && !r->kick) { /* idle: wait for new rows or 200 ms */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        }
        r->kick = false;
    }
    pthread_mutex_unlock(&r->mu);
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
