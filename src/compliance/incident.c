/* incident.c — see incident.h. */
#include "compliance/incident.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define QUEUE_CAP 256

static const ih_actor system_actor = {.id = 0, .role = "system"};
#define DAY_MS (86400 * 1000LL)

typedef struct {
    char event[64];
    char line[1024];
    int64_t at;
    bool alert;
} queued;

struct ih_incidents {
    ih_incident_opts o;
    char node[128], webhook[1024], smtp[1024], from[256], to[256], instance[64];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    queued q[QUEUE_CAP];
    int head, n;
    uint64_t dropped;
    bool stop;
    /* lockout storm: when each recent lock happened (ring) */
    int64_t locks[64];
    int nlocks;
    int64_t storm_until; /* no second storm incident before */
    int64_t next_deadline_check, next_retry_check;
};

#define HOUR_MS (3600 * 1000LL)

/* When the attempt after the `attempts`-th is due: notify_retry doubling to
 * an hour, and never before an attempt under way (a webhook and a mail, each
 * up to its timeout) has had time to finish. */
static int64_t retry_at(const ih_incidents *in, int64_t now, int64_t attempts)
{
    int64_t d = (int64_t)in->o.notify_retry * 1000;
    for (int64_t i = 1; i < attempts && d < HOUR_MS; i++) d *= 2;
    if (d > HOUR_MS) d = HOUR_MS;
    int64_t busy = 3LL * in->o.notify_timeout * 1000;
    return now + (d > busy ? d : busy);
}

/* ---- what an alert is about -------------------------------------------------------- */

static const struct {
    const char *prefix, *category, *severity;
} kinds[] = {
    {"integrity.", "integrity", "high"},   {"trust.", "integrity", "high"},
    {"audit.rollback", "integrity", "high"}, {"audit.", "audit", "high"},
    {"access.break_glass", "break_glass", "medium"}, {"tongfang.", "detector", "high"},
    {"auth.lockout_storm", "authentication", "high"}, {"backup.", "backup", "medium"},
    {"report.", "supervision", "medium"},  {"key.", "keys", "medium"},
};

static void classify(const char *event, const char **category, const char **severity)
{
    *category = "operations", *severity = "low";
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strncmp(event, kinds[i].prefix, strlen(kinds[i].prefix))) {
            *category = kinds[i].category, *severity = kinds[i].severity;
            return;
        }
}

/* ---- the log hook: queue only ------------------------------------------------------ */

static void on_log(void *ctx, const char *event, int alert, const char *line)
{
    ih_incidents *in = ctx;
    bool lock = !strcmp(event, "auth.account_locked");
    if ((!alert && !lock) || !strncmp(event, "incident.", 9)) return; /* never about itself */
    pthread_mutex_lock(&in->mu);
    if (in->n == QUEUE_CAP) in->dropped++;
    else {
        queued *q = &in->q[(in->head + in->n++) % QUEUE_CAP];
        snprintf(q->event, sizeof q->event, "%s", event);
        snprintf(q->line, sizeof q->line, "%s", line);
        q->at = ih_now_ms();
        q->alert = alert;
        pthread_cond_signal(&in->cv);
    }
    pthread_mutex_unlock(&in->mu);
}

/* ---- records ------------------------------------------------------------------------ */

typedef struct {
    ih_incidents *in;
    const char *kind, *detail;
    int64_t at, id;
    bool created;
} open_arg;

static ih_err open_fn(ih_tx *tx, void *arg)
{
    open_arg *a = arg;
    ih_stmt *st;
    bool row;
    a->created = false;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM incident WHERE kind = $1 AND status <> 'resolved' ORDER BY id DESC LIMIT 1",
                         &st));
    ih_stmt_text(st, 1, a->kind);
    IH_TRY(ih_stmt_step(st, &row));
    if (row) {
        a->id = ih_col_int(st, 0);
        IH_TRY(ih_tx_prepare(tx, "UPDATE incident SET last_seen = $2, occurrences = occurrences + 1 WHERE id = $1", &st));
        ih_stmt_int(st, 1, a->id);
        ih_stmt_int(st, 2, a->at);
        return ih_stmt_exec(st);
    }
    const char *category, *severity;
    classify(a->kind, &category, &severity);
    IH_TRY(ih_tx_next_id(tx, "incident", &a->id));
    /* the notification that follows is its first attempt; should this
     * process stop before it is recorded, the retries take it up */
    IH_TRY(ih_tx_prepare(tx,
                         "INSERT INTO incident(id, kind, category, severity, status, detail, node, first_seen, last_seen, "
                         "occurrences, notify_attempts, notify_next_at) VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $7, "
                         "1, 1, $8)",
                         &st));
    ih_stmt_int(st, 1, a->id);
    ih_stmt_text(st, 2, a->kind);
    ih_stmt_text(st, 3, category);
    ih_stmt_text(st, 4, severity);
    ih_stmt_text(st, 5, a->detail);
    ih_stmt_text(st, 6, a->in->node);
    ih_stmt_int(st, 7, a->at);
    ih_stmt_int(st, 8, retry_at(a->in, ih_now_ms(), 1));
    IH_TRY(ih_stmt_exec(st));
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)a->id);
    ih_audit_event ev = {.action = "incident.open", .object_type = "incident", .object_id = oid, .reason = a->kind};
    IH_TRY(ih_audit_append(a->in->o.audit, tx, &system_actor, &ev));
    a->created = true;
    return IH_OK;
}

/* ---- notification ------------------------------------------------------------------- */

typedef struct {
    const char *p;
    size_t n, off;
} upload;

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *ud)
{
    upload *u = ud;
    size_t k = size * nmemb;
    if (k > u->n - u->off) k = u->n - u->off;
    memcpy(buf, u->p + u->off, k);
    u->off += k;
    return k;
}

static size_t discard(char *p, size_t s, size_t n, void *ud)
{
    (void)p, (void)ud;
    return s * n;
}

static bool post_webhook(ih_incidents *in, const char *json)
{
    CURL *h = curl_easy_init();
    if (!h) return false;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, in->webhook);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)in->o.notify_timeout);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return rc == CURLE_OK && status >= 200 && status < 300;
}

static bool send_mail(ih_incidents *in, const char *subject, const char *body)
{
    ih_buf msg = IH_BUF_INIT;
    char date[64], subj64[400]; /* RFC 2047: a header is ASCII, the subject is Chinese */
    size_t sl = strlen(subject);
    if (sl > 280) sl = 280;
    subj64[ih_b64_encode((const uint8_t *)subject, sl, subj64)] = 0;
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    ih_buf_printf(&msg,
                  "Date: %s\r\nFrom: <%s>\r\nTo: <%s>\r\nSubject: =?UTF-8?B?%s?=\r\nMIME-Version: 1.0\r\n"
                  "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n",
                  date, in->from, in->to, subj64, body);
    if (!msg.p) return false;
    CURL *h = curl_easy_init();
    bool ok = false;
    if (h) {
        upload u = {msg.p, msg.len, 0};
        struct curl_slist *rcpt = curl_slist_append(NULL, in->to);
        curl_easy_setopt(h, CURLOPT_URL, in->smtp);
        curl_easy_setopt(h, CURLOPT_MAIL_FROM, in->from);
        curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, &u);
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)in->o.notify_timeout);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        if (!strncmp(in->smtp, "smtp://", 7)) curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
        ok = curl_easy_perform(h) == CURLE_OK;
        curl_slist_free_all(rcpt);
        curl_easy_cleanup(h);
    }
    ih_buf_free(&msg);
    return ok;
}

typedef struct {
    int64_t id;
    const char *notified;
    bool all; /* every way reached someone: nothing left to retry */
} notified_arg;

static ih_err notified_fn(ih_tx *tx, void *arg)
{
    notified_arg *a = arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, a->all ? "UPDATE incident SET notified = $2, notify_next_at = NULL WHERE id = $1"
                                    : "UPDATE incident SET notified = $2 WHERE id = $1",
                         &st));
    ih_stmt_int(st, 1, a->id);
    ih_stmt_text(st, 2, a->notified);
    return ih_stmt_exec(st);
}

static void add_result(char *done, size_t cap, const char *what)
{
    size_t l = strlen(done);
    snprintf(done + l, cap - l, "%s%s", l ? "," : "", what);
}

/* Tell the operator about an incident by each way configured that has not
 * reached anyone yet (before: what an earlier attempt recorded, NULL for
 * none); what reached whom is kept on it. */
static void notify(ih_incidents *in, int64_t id, const char *kind, const char *line, int64_t at, uint64_t dropped,
                   const char *before)
{
    const char *category, *severity;
    classify(kind, &category, &severity);
    char when[32], subject[256], done[128] = "";
    bool all = true;
    ih_time_iso(at, when, sizeof when);
    snprintf(subject, sizeof subject, "[ihos %s] 安全事件 #%lld %s (%s)", in->instance, (long long)id, kind, severity);
    if (in->o.syslog) {
        /* the facility in the priority: the process's own openlog (the log target) stays as it is */
        if (!ih_list_has(before, "syslog"))
            syslog(LOG_AUTHPRIV | (severity[0] == 'h' ? LOG_ALERT : LOG_WARNING), "ihos security incident %lld %s %s %s",
                   (long long)id, kind, severity, when);
        add_result(done, sizeof done, "syslog");
    }
    if (in->webhook[0]) {
        bool ok = ih_list_has(before, "webhook:ok");
        if (!ok) {
            json_t *j = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "instance", in->instance, "incident",
                                  (json_int_t)id, "kind", kind, "category", category, "severity", severity,
                                  "first_seen", when, "node", in->node, "detail", line, "alerts_dropped",
                                  (json_int_t)dropped);
            ih_buf body = IH_BUF_INIT;
            ok = j && ih_json_dump(j, JSON_COMPACT | JSON_SORT_KEYS, &body) == IH_OK && post_webhook(in, body.p);
            ih_buf_free(&body);
            json_decref(j);
            if (!ok) ih_log(IH_LOG_ERROR, "incident.notify_failed", "via", "webhook", "incident", subject, NULL);
        }
        add_result(done, sizeof done, ok ? "webhook:ok" : "webhook:failed");
        all = all && ok;
    }
    if (in->smtp[0] && in->to[0]) {
        bool ok = ih_list_has(before, "mail:ok");
        if (!ok) {
            char body[1600];
            snprintf(body, sizeof body,
                     "安全事件 #%lld\r\n类型: %s\r\n类别: %s\r\n级别: %s\r\n首次发现: %s\r\n节点: %s\r\n详情: %s\r\n\r\n"
                     "请安全管理员在 ihos 中确认、指派并处置（GET /api/v1/incidents）。",
                     (long long)id, kind, category, severity, when, in->node, line);
            ok = send_mail(in, subject, body);
            if (!ok) ih_log(IH_LOG_ERROR, "incident.notify_failed", "via", "mail", "incident", subject, NULL);
        }
        add_result(done, sizeof done, ok ? "mail:ok" : "mail:failed");
        all = all && ok;
    }
    notified_arg na = {id, done, all};
    if (ih_store_write(in->o.store, notified_fn, &na) != IH_OK) ih_err_clear();
}

/* ---- retries ------------------------------------------------------------------------ */

#define RETRY_BATCH 4

typedef struct {
    ih_incidents *in;
    int n;
    struct {
        int64_t id, first_seen;
        char kind[64], detail[1024], notified[128];
    } v[RETRY_BATCH];
} due_arg;

/* Take the open incidents whose next notification is due: each one this
 * process moves notify_next_at on for (compare and set) is its to send. */
static ih_err due_fn(ih_tx *tx, void *arg)
{
    due_arg *a = arg;
    int64_t now = ih_now_ms(), next[RETRY_BATCH], attempts[RETRY_BATCH];
    ih_stmt *st;
    bool row;
    ih_err e;
    int found = 0;
    a->n = 0;
    IH_TRY(ih_tx_prepare(tx, "SELECT id, kind, detail, first_seen, notified, notify_attempts, notify_next_at "
                             "FROM incident WHERE notify_next_at <= $1 AND status = 'open' ORDER BY notify_next_at LIMIT $2",
                         &st));
    ih_stmt_int(st, 1, now);
    ih_stmt_int(st, 2, RETRY_BATCH);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && found < RETRY_BATCH) {
        a->v[found].id = ih_col_int(st, 0);
        snprintf(a->v[found].kind, sizeof a->v[found].kind, "%s", ih_col_text(st, 1));
        snprintf(a->v[found].detail, sizeof a->v[found].detail, "%s", ih_col_text(st, 2));
        a->v[found].first_seen = ih_col_int(st, 3);
        snprintf(a->v[found].notified, sizeof a->v[found].notified, "%s", ih_col_null(st, 4) ? "" : ih_col_text(st, 4));
        attempts[found] = ih_col_int(st, 5);
        next[found++] = ih_col_int(st, 6);
    }
    IH_TRY(e);
    for (int i = 0; i < found; i++) {
        IH_TRY(ih_tx_prepare(tx, "UPDATE incident SET notify_attempts = $2, notify_next_at = $3 "
                                 "WHERE id = $1 AND notify_next_at = $4",
                             &st));
        ih_stmt_int(st, 1, a->v[i].id);
        ih_stmt_int(st, 2, attempts[i] + 1);
        ih_stmt_int(st, 3, retry_at(a->in, now, attempts[i] + 1));
        ih_stmt_int(st, 4, next[i]);
        IH_TRY(ih_stmt_exec(st));
        if (ih_stmt_changes(st) != 1) continue; /* another server took it */
        if (a->n != i) a->v[a->n] = a->v[i];
        a->n++;
    }
    return IH_OK;
}

static void retry_due(ih_incidents *in)
{
    due_arg *a = calloc(1, sizeof *a);
    if (!a) return;
    a->in = in;
    if (ih_store_write(in->o.store, due_fn, a) != IH_OK) ih_err_clear();
    else
        for (int i = 0; i < a->n; i++)
            notify(in, a->v[i].id, a->v[i].kind, a->v[i].detail, a->v[i].first_seen, 0, a->v[i].notified);
    free(a);
}

/* ---- the thread -------------------------------------------------------------------- */

static void handle(ih_incidents *in, const queued *q, uint64_t dropped)
{
    const char *kind = q->event;
    char detail[1024];
    snprintf(detail, sizeof detail, "%s", q->line);
    if (!q->alert) { /* a lock: is it a storm? */
        int cap = (int)(sizeof in->locks / sizeof in->locks[0]);
        int64_t window = (int64_t)in->o.storm_minutes * 60000;
        int keep = 0;
        for (int i = 0; i < in->nlocks; i++)
            if (q->at - in->locks[i] < window) in->locks[keep++] = in->locks[i];
        in->nlocks = keep;
        if (in->nlocks < cap) in->locks[in->nlocks++] = q->at;
        if (in->nlocks < in->o.storm_count || q->at < in->storm_until) return;
        in->storm_until = q->at + window;
        kind = "auth.lockout_storm";
        snprintf(detail, sizeof detail, "%d accounts locked within %d minutes", in->nlocks, in->o.storm_minutes);
    }
    open_arg a = {in, kind, detail, q->at, 0, false};
    if (ih_store_write(in->o.store, open_fn, &a) != IH_OK) {
        ih_log(IH_LOG_ERROR, "incident.not_recorded", "kind", kind, "detail", ih_err_detail(), NULL);
        ih_err_clear();
        return;
    }
    if (a.created) notify(in, a.id, kind, detail, q->at, dropped, NULL);
}

typedef struct {
    int64_t now;
    int64_t ids[32];
    int n;
} overdue_arg;

static ih_err overdue_fn(ih_tx *tx, void *arg)
{
    overdue_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    a->n = 0;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM incident WHERE breach = 1 AND breach_reported_at IS NULL AND "
                             "breach_overdue_alerted = 0 AND breach_deadline < $1 ORDER BY id LIMIT 32",
                         &st));
    ih_stmt_int(st, 1, a->now);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) a->ids[a->n++] = ih_col_int(st, 0);
    IH_TRY(e);
    for (int i = 0; i < a->n; i++) {
        IH_TRY(ih_tx_prepare(tx, "UPDATE incident SET breach_overdue_alerted = 1 WHERE id = $1", &st));
        ih_stmt_int(st, 1, a->ids[i]);
        IH_TRY(ih_stmt_exec(st));
    }
    return IH_OK;
}

static void check_deadlines(ih_incidents *in)
{
    overdue_arg a = {.now = ih_now_ms()};
    if (ih_store_write(in->o.store, overdue_fn, &a) != IH_OK) {
        ih_err_clear();
        return;
    }
    for (int i = 0; i < a.n; i++) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)a.ids[i]);
        ih_log(IH_LOG_ERROR, "incident.breach_report_overdue", "alert", "true", "incident", id, "detail",
               "the 24-hour report of a personal-data breach has not been recorded as sent", NULL);
    }
}

static void *run(void *arg)
{
    ih_incidents *in = arg;
    pthread_mutex_lock(&in->mu);
    for (;;) {
        while (in->n) {
            queued q = in->q[in->head];
            in->head = (in->head + 1) % QUEUE_CAP;
            in->n--;
            uint64_t dropped = in->dropped;
            pthread_mutex_unlock(&in->mu);
            handle(in, &q, dropped);
            pthread_mutex_lock(&in->mu);
        }
        if (in->stop) break;
        int64_t now = ih_mono_ms();
        int wait = in->o.notify_retry < 5 ? in->o.notify_retry : 5; /* seconds */
        if (now >= in->next_deadline_check) {
            in->next_deadline_check = now + 30000;
            pthread_mutex_unlock(&in->mu);
            check_deadlines(in);
            pthread_mutex_lock(&in->mu);
            continue;
        }
        if (in->o.retry_due && now >= in->next_retry_check) {
            in->next_retry_check = now + wait * 1000LL;
            pthread_mutex_unlock(&in->mu);
            retry_due(in);
            pthread_mutex_lock(&in->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait;
        pthread_cond_timedwait(&in->cv, &in->mu, &ts);
    }
    pthread_mutex_unlock(&in->mu);
    return NULL;
}

ih_err ih_incidents_start(const ih_incident_opts *o, ih_incidents **out)
{
    ih_incidents *in = calloc(1, sizeof *in);
    IH_CHECK_ALLOC(in);
    in->o = *o;
    snprintf(in->node, sizeof in->node, "%s", o->node ? o->node : "");
    snprintf(in->webhook, sizeof in->webhook, "%s", o->webhook_url ? o->webhook_url : "");
    snprintf(in->smtp, sizeof in->smtp, "%s", o->smtp_url ? o->smtp_url : "");
    snprintf(in->from, sizeof in->from, "%s", o->mail_from ? o->mail_from : "");
    snprintf(in->to, sizeof in->to, "%s", o->mail_to ? o->mail_to : "");
    snprintf(in->instance, sizeof in->instance, "%s", o->instance ? o->instance : "ihos");
    if (in->o.notify_timeout <= 0) in->o.notify_timeout = 5;
    if (in->o.notify_retry <= 0) in->o.notify_retry = 60;
    if (in->o.storm_count <= 0) in->o.storm_count = 10;
    if (in->o.storm_minutes <= 0) in->o.storm_minutes = 10;
    pthread_mutex_init(&in->mu, NULL);
    pthread_cond_init(&in->cv, NULL);
    if (pthread_create(&in->thread, NULL, run, in) != 0) {
        free(in);
        return ih_fail(IH_E_INTERNAL, "cannot start the incident thread");
    }
    ih_log_set_hook(on_log, in);
    *out = in;
    return IH_OK;
}

void ih_incidents_stop(ih_incidents *in)
{
    if (!in) return;
    ih_log_set_hook(NULL, NULL);
    pthread_mutex_lock(&in->mu);
    in->stop = true;
    pthread_cond_broadcast(&in->cv);
    pthread_mutex_unlock(&in->mu);
    pthread_join(in->thread, NULL); /* it writes what was queued first */
    pthread_mutex_destroy(&in->mu);
    pthread_cond_destroy(&in->cv);
    free(in);
}

/* ---- the security administrator's side ------------------------------------------------ */

#define COLUMNS                                                                                                      \
    "id, kind, category, severity, status, detail, node, first_seen, last_seen, occurrences, assignee_id, "         \
    "acknowledged_by, acknowledged_at, resolved_by, resolved_at, resolution, notified, breach, breach_report, "      \
    "breach_deadline, breach_reported_at"

static json_t *opt_int(ih_stmt *st, int col) { return ih_col_null(st, col) ? json_null() : json_integer(ih_col_int(st, col)); }

static json_t *row_json(ih_stmt *st, int64_t now)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:b}",
                          "id", (json_int_t)ih_col_int(st, 0), "kind", ih_col_text(st, 1), "category", ih_col_text(st, 2),
                          "severity", ih_col_text(st, 3), "status", ih_col_text(st, 4), "detail", ih_col_text(st, 5),
                          "node", ih_col_text(st, 6), "first_seen", ih_json_time(ih_col_int(st, 7)), "last_seen",
                          ih_json_time(ih_col_int(st, 8)), "occurrences", (json_int_t)ih_col_int(st, 9), "assignee_id",
                          opt_int(st, 10), "acknowledged_by", opt_int(st, 11), "acknowledged_at",
                          ih_json_time(ih_col_int(st, 12)), "resolved_by", opt_int(st, 13), "resolved_at",
                          ih_json_time(ih_col_int(st, 14)), "resolution", ih_col_text(st, 15), "notified",
                          ih_col_text(st, 16), "breach", ih_col_int(st, 17) != 0);
    if (o && ih_col_int(st, 17)) {
        json_t *rep = json_loads(ih_col_text(st, 18), 0, NULL);
        int64_t deadline = ih_col_int(st, 19), reported = ih_col_int(st, 20);
        json_object_set_new(o, "breach_facts", rep ? rep : json_null());
        json_object_set_new(o, "breach_deadline", ih_json_time(deadline));
        json_object_set_new(o, "breach_reported_at", ih_json_time(reported));
        json_object_set_new(o, "breach_overdue", json_boolean(!reported && now > deadline));
    }
    return o;
}

typedef struct {
    const char *status;
    int64_t before, id, now;
    int limit;
    json_t *out;
} list_arg;

static ih_err list_fn(ih_tx *tx, void *arg)
{
    list_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    if (a->id) {
        IH_TRY(ih_tx_prepare(tx, "SELECT " COLUMNS " FROM incident WHERE id = $1", &st));
        ih_stmt_int(st, 1, a->id);
    } else {
        IH_TRY(ih_tx_prepare(tx, "SELECT " COLUMNS " FROM incident WHERE ($1 = '' OR status = $1) AND id < $2 "
                                 "ORDER BY id DESC LIMIT $3",
                             &st));
        ih_stmt_text(st, 1, a->status);
        ih_stmt_int(st, 2, a->before > 0 ? a->before : INT64_MAX);
        ih_stmt_int(st, 3, a->limit);
    }
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) json_array_append_new(a->out, row_json(st, a->now));
    return e;
}

ih_err ih_incident_list(ih_store *s, const char *status, int64_t before, int limit, int64_t now, json_t **out)
{
    if (status[0] && strcmp(status, "open") && strcmp(status, "acknowledged") && strcmp(status, "resolved"))
        return ih_reject(IH_E_INVALID, "status", "status must be open, acknowledged or resolved");
    list_arg a = {status, before, 0, now, limit, json_array()};
    IH_CHECK_ALLOC(a.out);
    ih_err e = ih_store_read(s, list_fn, &a);
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    *out = a.out;
    return IH_OK;
}

ih_err ih_incident_get(ih_store *s, int64_t id, int64_t now, json_t **out)
{
    list_arg a = {"", 0, id, now, 1, json_array()};
    IH_CHECK_ALLOC(a.out);
    ih_err e = ih_store_read(s, list_fn, &a);
    if (e == IH_OK && !json_array_size(a.out)) e = ih_fail(IH_E_NOT_FOUND, "no incident %lld", (long long)id);
    if (e == IH_OK) *out = json_incref(json_array_get(a.out, 0));
    json_decref(a.out);
    return e;
}

/* The data categories a breach report may name (GB/T 35273 personal information kinds). */
static const char *const categories[] = {"姓名", "身份证件号码", "手机号码", "住址", "出生日期", "病历", "诊断",
                                         "处方", "检验检查结果", "账户与口令", "支付信息", "其他"};

static ih_err breach_facts(json_t *body, int64_t now, json_t **facts)
{
    static const char *const allowed[] = {"data_categories", "people_affected", "occurred_at", "description", "measures",
                                          NULL};
    IH_TRY(ih_json_only(body, allowed));
    const char *desc, *measures, *occurred = NULL;
    int64_t people, at = 0;
    IH_TRY(ih_json_str(body, "description", true, 1, 2000, IH_TEXT_MULTILINE, &desc));
    IH_TRY(ih_json_str(body, "measures", true, 1, 2000, IH_TEXT_MULTILINE, &measures));
    IH_TRY(ih_json_int(body, "people_affected", true, 0, 2000000000, &people));
    IH_TRY(ih_json_str(body, "occurred_at", false, 1, 40, IH_TEXT_LINE, &occurred));
    if (occurred && (ih_time_parse_iso(occurred, &at) != 0 || at > now))
        return ih_reject(IH_E_INVALID, "occurred_at", "occurred_at: an ISO 8601 UTC time, not in the future");
    json_t *cats = json_object_get(body, "data_categories");
    if (!json_is_array(cats) || !json_array_size(cats) || json_array_size(cats) > 12)
        return ih_reject(IH_E_INVALID, "data_categories", "data_categories: 1 to 12 of the listed kinds");
    size_t i;
    json_t *c;
    json_array_foreach(cats, i, c) {
        bool ok = false;
        for (size_t k = 0; json_is_string(c) && k < sizeof categories / sizeof categories[0]; k++)
            ok = ok || !strcmp(json_string_value(c), categories[k]);
        if (!ok)
            return ih_reject(IH_E_INVALID, "data_categories",
                             "data_categories: each one of 姓名, 身份证件号码, 手机号码, 住址, 出生日期, 病历, 诊断, 处方, "
                             "检验检查结果, 账户与口令, 支付信息, 其他");
    }
    *facts = json_pack("{s:O, s:I, s:o, s:s, s:s}", "data_categories", cats, "people_affected", (json_int_t)people,
                       "occurred_at", ih_json_time(at), "description", desc, "measures", measures);
    IH_CHECK_ALLOC(*facts);
    return IH_OK;
}

typedef struct {
    ih_audit *audit;
    const ih_actor *who;
    int64_t id, now;
    ih_incident_action act;
    json_t *body;
} act_arg;

static ih_err act_fn(ih_tx *tx, void *arg)
{
    act_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT status, breach, first_seen, breach_reported_at FROM incident WHERE id = $1", &st));
    ih_stmt_int(st, 1, a->id);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_fail(IH_E_NOT_FOUND, "no incident %lld", (long long)a->id);
    char status[16];
    snprintf(status, sizeof status, "%s", ih_col_text(st, 0));
    bool breach = ih_col_int(st, 1) != 0, reported = !ih_col_null(st, 3);
    int64_t first_seen = ih_col_int(st, 2);
    bool resolved = !strcmp(status, "resolved");
    const char *action;
    char reason[96] = "";
    switch (a->act) {
    case IH_INCIDENT_ACK:
        if (strcmp(status, "open")) return ih_fail(IH_E_STATE, "only an open incident can be acknowledged (it is %s)", status);
        IH_TRY(ih_tx_prepare(tx, "UPDATE incident SET status = 'acknowledged', acknowledged_by = $2, acknowledged_at = $3 "
                                 "WHERE id = $1",
                             &st));
        ih_stmt_int(st, 2, a->who->id);
        ih_stmt_int(st, 3, a->now);
        action = "incident.acknowledge";
        break;
    case IH_INCIDENT_ASSIGN: {
        static const char *const allowed[] = {"assignee_id", NULL};
        int64_t to;
        IH_TRY(ih_json_only(a->body, allowed));
        IH_TRY(ih_json_int(a->body, "assignee_id", true, 1, INT64_MAX, &to));
        if (resolved) return ih_fail(IH_E_STATE, "the incident is resolved");
        IH_TRY(ih_tx_prepare(tx, "SELECT 1 FROM account WHERE id = $1 AND role = 'secadmin' AND status = 'active'", &st));
        ih_stmt_int(st, 1, to);
        IH_TRY(ih_stmt_step(st, &row));
        if (!row) return ih_reject(IH_E_INVALID, "assignee_id", "assignee_id: an active security administrator's account");
        IH_TRY(ih_tx_prepare(tx, "UPDATE incident SET assignee_id = $2 WHERE id = $1", &st));
        ih_stmt_int(st, 2, to);
        snprintf(reason, sizeof reason, "assignee %lld", (long long)to);
        action = "incident.assign";
        break;
    }
    case IH_INCIDENT_RESOLVE: {
        static const char *const allowed[] = {"resolution", NULL};
        const char *text;
        IH_TRY(ih_json_only(a->body, allowed));
        IH_TRY(ih_json_str(a->body, "resolution", true, 1, 2000, IH_TEXT_MULTILINE, &text));
        if (resolved) return ih_fail(IH_E_STATE, "the incident is already resolved");
        if (breach && !reported)
            return ih_fail(IH_E_STATE, "a personal-data breach is resolved only after its report was sent");
        IH_TRY(ih_tx_prepare(tx, "UPDATE incident SET status = 'resolved', resolved_by = $2, resolved_at = $3, "
                                 "resolution = $4 WHERE id = $1",
                             &st));
        ih_stmt_int(st, 2, a->who->id);
        ih_stmt_int(st, 3, a->now);
        ih_stmt_text(st, 4, text);
        action = "incident.resolve";
        break;
    }
    case IH_INCIDENT_BREACH: {
        if (resolved) return ih_fail(IH_E_STATE, "the incident is resolved");
        json_t *facts;
        IH_TRY(breach_facts(a->body, a->now, &facts));
        ih_buf text = IH_BUF_INIT;
        ih_err e = ih_json_dump(facts, JSON_COMPACT | JSON_SORT_KEYS, &text);
        json_decref(facts);
        if (e == IH_OK) e = ih_tx_prepare(tx, "UPDATE incident SET breach = 1, breach_report = $2, breach_deadline = $3 "
                                              "WHERE id = $1",
                                          &st);
        if (e == IH_OK) {
            ih_stmt_text(st, 2, text.p);
            ih_stmt_int(st, 3, first_seen + DAY_MS); /* 24 hours from when it was first seen */
        }
        ih_buf_free(&text);
        IH_TRY(e);
        action = "incident.breach";
        break;
    }
    case IH_INCIDENT_REPORTED:
        if (!breach) return ih_fail(IH_E_STATE, "not a personal-data breach: record the breach facts first");
        if (reported) return ih_fail(IH_E_STATE, "the report was already recorded as sent");
        IH_TRY(ih_tx_prepare(tx, "UPDATE incident SET breach_reported_at = $2 WHERE id = $1", &st));
        ih_stmt_int(st, 2, a->now);
        action = "incident.reported";
        break;
    default:
        return ih_fail(IH_E_INTERNAL, "unknown incident step");
    }
    ih_stmt_int(st, 1, a->id);
    IH_TRY(ih_stmt_exec(st));
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)a->id);
    ih_audit_event ev = {.action = action, .object_type = "incident", .object_id = oid,
                         .reason = reason[0] ? reason : NULL};
    return ih_audit_append(a->audit, tx, a->who, &ev);
}

ih_err ih_incident_act(ih_store *s, ih_audit *a, const ih_actor *who, int64_t id, ih_incident_action act,
                       json_t *body, int64_t now, json_t **out)
{
    json_t *empty = body ? NULL : json_object();
    act_arg arg = {a, who, id, now, act, body ? body : empty};
    ih_err e = ih_store_write(s, act_fn, &arg);
    json_decref(empty);
    IH_TRY(e);
    return ih_incident_get(s, id, now, out);
}

ih_err ih_incident_breach_report(ih_store *s, int64_t id, int64_t now, json_t **out)
{
    json_t *inc;
    IH_TRY(ih_incident_get(s, id, now, &inc));
    json_t *facts = json_object_get(inc, "breach_facts");
    if (!json_is_true(json_object_get(inc, "breach")) || !json_is_object(facts)) {
        json_decref(inc);
        return ih_fail(IH_E_STATE, "not a personal-data breach: record the breach facts first");
    }
    *out = json_pack("{s:s, s:[s, s, s], s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "标题",
                     "个人信息安全事件报告", "报送对象", "卫生健康主管部门", "网信部门", "公安机关", "事件编号",
                     json_object_get(inc, "id"), "事件类型", json_object_get(inc, "kind"), "发现时间",
                     json_object_get(inc, "first_seen"), "发生时间", json_object_get(facts, "occurred_at"), "事件经过",
                     json_object_get(facts, "description"), "涉及个人信息类别", json_object_get(facts, "data_categories"),
                     "涉及人数", json_object_get(facts, "people_affected"), "已采取的处置措施",
                     json_object_get(facts, "measures"), "报告时限", json_object_get(inc, "breach_deadline"), "已逾期",
                     json_object_get(inc, "breach_overdue"), "报送时间", json_object_get(inc, "breach_reported_at"));
    json_decref(inc);
    IH_CHECK_ALLOC(*out);
    return IH_OK;
}
