/* detector.c — see detector.h. */
#include "policy/detector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 4096 /* outside reads kept per user: a user beyond this is alerted anyway */
#define MAX_DRUGS 16    /* drugs remembered per prescription read */

struct ih_detector {
    ih_detector_opts o;
};

/* Per user: the off-hours count of the current local day and when each
 * kind of alert was last raised (0: never). */
typedef struct {
    int64_t off_day, off_reads, alerted_spread, alerted_pages, alerted_off;
} user_row;

ih_err ih_detector_new(const ih_detector_opts *o, ih_detector **out)
{
    ih_detector *d = calloc(1, sizeof *d);
    IH_CHECK_ALLOC(d);
    d->o = *o;
    *out = d;
    return IH_OK;
}

void ih_detector_free(ih_detector *d) { free(d); }

static int64_t window_ms(const ih_detector *d) { return (int64_t)d->o.window_days * 86400000LL; }

static ih_err user_load(ih_tx *tx, int64_t uid, user_row *u)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT off_day, off_reads, alerted_spread, alerted_pages, alerted_off FROM detector_user "
                             "WHERE user_id = $1",
                         &st));
    ih_stmt_int(st, 1, uid);
    IH_TRY(ih_stmt_step(st, &row));
    *u = (user_row){.off_day = -1};
    if (!row) return IH_OK;
    *u = (user_row){ih_col_int(st, 0), ih_col_int(st, 1), ih_col_int(st, 2), ih_col_int(st, 3), ih_col_int(st, 4)};
    return ih_stmt_exec(st);
}

static ih_err user_save(ih_tx *tx, int64_t uid, const user_row *u)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO detector_user (user_id, off_day, off_reads, alerted_spread, alerted_pages, "
                             "alerted_off) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO UPDATE SET "
                             "off_day = excluded.off_day, off_reads = excluded.off_reads, "
                             "alerted_spread = excluded.alerted_spread, alerted_pages = excluded.alerted_pages, "
                             "alerted_off = excluded.alerted_off",
                         &st));
    ih_stmt_int(st, 1, uid);
    ih_stmt_int(st, 2, u->off_day);
    ih_stmt_int(st, 3, u->off_reads);
    ih_stmt_int(st, 4, u->alerted_spread);
    ih_stmt_int(st, 5, u->alerted_pages);
    ih_stmt_int(st, 6, u->alerted_off);
    return ih_stmt_exec(st);
}

typedef struct {
    int64_t *v;
    size_t n, cap;
} ids;

static bool ids_add(ids *l, int64_t x)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int64_t *p = realloc(l->v, cap * sizeof *p);
        if (!p) return false;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return true;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int distinct(ids *l)
{
    if (!l->n) return 0;
    qsort(l->v, l->n, sizeof *l->v, cmp_id);
    int k = 1;
    for (size_t i = 1; i < l->n; i++) k += l->v[i] != l->v[i - 1];
    return k;
}

/* Distinct doctors and drugs among the user's outside reads in the window,
 * and how many reads there are. */
static ih_err spread(ih_tx *tx, int64_t uid, int *doctors, int *drugs, int *reads)
{
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT doctor_id, drugs FROM detector_read WHERE user_id = $1 ORDER BY ts LIMIT $2", &st));
    ih_stmt_int(st, 1, uid);
    ih_stmt_int(st, 2, MAX_EVENTS);
    ids ds = {0}, gs = {0};
    int n = 0;
    bool ok = true;
    while (ok && (e = ih_stmt_step(st, &row)) == IH_OK && row) {
        n++;
        ok = ids_add(&ds, ih_col_int(st, 0));
        /* drugs: decimal ids joined by ',' (written by remember(), never by a client) */
        const char *p = ih_col_text(st, 1);
        for (int k = 0; ok && *p && k < MAX_DRUGS; k++) {
            char *end;
            long long g = strtoll(p, &end, 10);
            if (end == p) break;
            ok = ids_add(&gs, g);
            p = *end == ',' ? end + 1 : end;
        }
    }
    if (!ok) {
        ih_stmt_exec(st);
        e = ih_fail(IH_E_NOMEM, "detector");
    }
    *doctors = distinct(&ds);
    *drugs = distinct(&gs);
    *reads = n;
    free(ds.v);
    free(gs.v);
    return e;
}

static bool in_off_hours(const ih_detector *d, int64_t now, int64_t *day)
{
    int64_t local = now + (int64_t)d->o.utc_offset_minutes * 60000;
    int64_t day_no = local / 86400000LL;
    int mins = (int)((local % 86400000LL) / 60000);
    bool off = d->o.off_start_min > d->o.off_end_min ? (mins >= d->o.off_start_min || mins < d->o.off_end_min)
                                                     : (mins >= d->o.off_start_min && mins < d->o.off_end_min);
    /* a night that starts before midnight belongs to the day it started */
    *day = (d->o.off_start_min > d->o.off_end_min && mins < d->o.off_end_min) ? day_no - 1 : day_no;
    return off;
}

static bool due(int64_t last, int64_t now, int64_t period) { return !last || now - last >= period; }

/* Remember an outside read (once per prescription, MAX_EVENTS at most). */
static ih_err remember(ih_detector *d, ih_tx *tx, int64_t uid, int64_t rx, int64_t doctor, const int64_t *drugs,
                       int ndrugs, int64_t now)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "DELETE FROM detector_read WHERE user_id = $1 AND ts <= $2", &st));
    ih_stmt_int(st, 1, uid);
    ih_stmt_int(st, 2, now - window_ms(d));
    IH_TRY(ih_stmt_exec(st));
    IH_TRY(ih_tx_prepare(tx, "SELECT COUNT(*) FROM detector_read WHERE user_id = $1", &st));
    ih_stmt_int(st, 1, uid);
    IH_TRY(ih_stmt_step(st, &row));
    int64_t kept = row ? ih_col_int(st, 0) : 0;
    IH_TRY(ih_stmt_exec(st));
    if (kept >= MAX_EVENTS) return IH_OK;
    char list[MAX_DRUGS * 21 + 1] = "";
    size_t len = 0;
    for (int k = 0; k < ndrugs && k < MAX_DRUGS; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%lld", k ? "," : "", (long long)drugs[k]);
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO detector_read (user_id, rx_id, doctor_id, drugs, ts) VALUES ($1, $2, $3, $4, $5) "
                             "ON CONFLICT (user_id, rx_id) DO NOTHING",
                         &st));
    ih_stmt_int(st, 1, uid);
    ih_stmt_int(st, 2, rx);
    ih_stmt_int(st, 3, doctor);
    ih_stmt_text(st, 4, list);
    ih_stmt_int(st, 5, now);
    return ih_stmt_exec(st);
}

ih_err ih_detector_rx_read(ih_detector *d, ih_tx *tx, int64_t uid, int64_t rx, int64_t doctor, const int64_t *drugs,
                           int ndrugs, bool outside, int64_t now, ih_verdict *v)
{
    memset(v, 0, sizeof *v);
    int64_t day;
    bool off = in_off_hours(d, now, &day);
    if (!off && !outside) return IH_OK; /* daytime own work: nothing to count */
    user_row u;
    IH_TRY(user_load(tx, uid, &u));
    if (off) {
        if (u.off_day != day) {
            u.off_day = day;
            u.off_reads = 0;
        }
        if (++u.off_reads > d->o.max_off_hours_reads && due(u.alerted_off, now, 86400000LL)) {
            u.alerted_off = now;
            v->alert = true;
            snprintf(v->reason, sizeof v->reason, "%lld prescription reads in off hours today (limit %d)",
                     (long long)u.off_reads, d->o.max_off_hours_reads);
        }
    }
    if (outside) {
        IH_TRY(remember(d, tx, uid, rx, doctor, drugs, ndrugs, now));
        int nd, ng, n;
        IH_TRY(spread(tx, uid, &nd, &ng, &n));
        bool full = n >= MAX_EVENTS;
        if ((nd > d->o.max_doctors || ng > d->o.max_drugs || full) && due(u.alerted_spread, now, window_ms(d))) {
            u.alerted_spread = now;
            v->alert = true;
            snprintf(v->reason, sizeof v->reason,
                     "prescriptions of %d doctors covering %d drugs read outside own work in %d days (limits %d, %d)",
                     nd, ng, d->o.window_days, d->o.max_doctors, d->o.max_drugs);
        }
    }
    return user_save(tx, uid, &u);
}

ih_err ih_detector_rx_reviewed(ih_detector *d, ih_tx *tx, int64_t uid, int64_t rx)
{
    (void)d;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "DELETE FROM detector_read WHERE user_id = $1 AND rx_id = $2", &st));
    ih_stmt_int(st, 1, uid);
    ih_stmt_int(st, 2, rx);
    return ih_stmt_exec(st);
}

ih_err ih_detector_list_page(ih_detector *d, ih_tx *tx, int64_t uid, int64_t now, ih_verdict *v)
{
    memset(v, 0, sizeof *v);
    int64_t minute = now / 60000;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO detector_page (user_id, minute, n) VALUES ($1, $2, 1) "
                             "ON CONFLICT (user_id, minute) DO UPDATE SET n = detector_page.n + 1",
                         &st));
    ih_stmt_int(st, 1, uid);
    ih_stmt_int(st, 2, minute);
    IH_TRY(ih_stmt_exec(st));
    IH_TRY(ih_tx_prepare(tx, "SELECT COALESCE(SUM(n), 0) FROM detector_page WHERE user_id = $1 AND minute > $2", &st));
    ih_stmt_int(st, 1, uid);
    ih_stmt_int(st, 2, minute - 60);
    IH_TRY(ih_stmt_step(st, &row));
    int64_t last_hour = row ? ih_col_int(st, 0) : 0;
    IH_TRY(ih_stmt_exec(st));
    int limit = d->o.max_pages_per_hour;
    if (last_hour <= limit) return IH_OK;
    user_row u;
    IH_TRY(user_load(tx, uid, &u));
    if (!due(u.alerted_pages, now, 3600000LL)) return IH_OK;
    u.alerted_pages = now;
    v->alert = true;
    snprintf(v->reason, sizeof v->reason, "%lld prescription list pages in an hour (limit %d)", (long long)last_hour,
             limit);
    return user_save(tx, uid, &u);
}

ih_err ih_detector_prune(ih_detector *d, ih_tx *tx, int64_t now)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "DELETE FROM detector_read WHERE ts <= $1", &st));
    ih_stmt_int(st, 1, now - window_ms(d));
    IH_TRY(ih_stmt_exec(st));
    IH_TRY(ih_tx_prepare(tx, "DELETE FROM detector_page WHERE minute <= $1", &st));
    ih_stmt_int(st, 1, now / 60000 - 60);
    return ih_stmt_exec(st);
}
