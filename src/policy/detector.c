/* detector.c — see detector.h. */
#include "policy/detector.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 4096 /* per user: a user beyond this is alerted anyway */
#define MAX_DRUGS 16    /* drugs remembered per prescription read */

typedef struct {
    int64_t ts, rx, doctor;
    int64_t drugs[MAX_DRUGS];
    int ndrugs;
} read_ev;

typedef struct user {
    int64_t id;
    read_ev *ev;
    int nev, cap;
    int64_t page_min[60]; /* list pages per minute over the last hour (ring) */
    int page_count[60];
    int64_t off_day;    /* local day number of the off-hours count */
    int off_reads;
    int64_t alerted_spread, alerted_pages, alerted_off; /* when each last alerted */
    struct user *next;
} user;

#define BUCKETS 1024

struct ih_detector {
    ih_detector_opts o;
    pthread_mutex_t mu;
    user *b[BUCKETS];
};

ih_err ih_detector_new(const ih_detector_opts *o, ih_detector **out)
{
    ih_detector *d = calloc(1, sizeof *d);
    IH_CHECK_ALLOC(d);
    d->o = *o;
    pthread_mutex_init(&d->mu, NULL);
    *out = d;
    return IH_OK;
}

void ih_detector_free(ih_detector *d)
{
    if (!d) return;
    for (int i = 0; i < BUCKETS; i++)
        for (user *u = d->b[i], *n; u; u = n) {
            n = u->next;
            free(u->ev);
            free(u);
        }
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static user *find(ih_detector *d, int64_t id)
{
    user **slot = &d->b[(uint64_t)id % BUCKETS];
    for (user *u = *slot; u; u = u->next)
        if (u->id == id) return u;
    user *u = calloc(1, sizeof *u);
    if (!u) return NULL;
    u->id = id;
    u->off_day = -1;
    u->next = *slot;
    *slot = u;
    return u;
}

static int64_t window_ms(const ih_detector *d) { return (int64_t)d->o.window_days * 86400000LL; }

static void prune(ih_detector *d, user *u, int64_t now)
{
    int k = 0;
    for (int i = 0; i < u->nev; i++)
        if (now - u->ev[i].ts < window_ms(d)) u->ev[k++] = u->ev[i];
    u->nev = k;
}

static bool contains(const int64_t *a, int n, int64_t x)
{
    for (int i = 0; i < n; i++)
        if (a[i] == x) return true;
    return false;
}

/* Distinct doctors and drugs among the user's outside reads. */
static void spread(const user *u, int *doctors, int *drugs)
{
    int64_t *ds = malloc(sizeof(int64_t) * (size_t)(u->nev ? u->nev : 1));
    int64_t *gs = malloc(sizeof(int64_t) * (size_t)(u->nev ? u->nev : 1) * MAX_DRUGS);
    int nd = 0, ng = 0;
    if (ds && gs)
        for (int i = 0; i < u->nev; i++) {
            if (!contains(ds, nd, u->ev[i].doctor)) ds[nd++] = u->ev[i].doctor;
            for (int k = 0; k < u->ev[i].ndrugs; k++)
                if (!contains(gs, ng, u->ev[i].drugs[k])) gs[ng++] = u->ev[i].drugs[k];
        }
    free(ds);
    free(gs);
    *doctors = nd;
    *drugs = ng;
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

static bool due(const ih_detector *d, int64_t last, int64_t now, int64_t period)
{
    (void)d;
    return !last || now - last >= period;
}

void ih_detector_rx_read(ih_detector *d, int64_t uid, int64_t rx, int64_t doctor, const int64_t *drugs, int ndrugs,
                         bool outside, int64_t now, ih_verdict *v)
{
    memset(v, 0, sizeof *v);
    pthread_mutex_lock(&d->mu);
    user *u = find(d, uid);
    if (!u) {
        pthread_mutex_unlock(&d->mu);
        return;
    }
    int64_t day;
    if (in_off_hours(d, now, &day)) {
        if (u->off_day != day) {
            u->off_day = day;
            u->off_reads = 0;
        }
        if (++u->off_reads > d->o.max_off_hours_reads && due(d, u->alerted_off, now, 86400000LL)) {
            u->alerted_off = now;
            v->alert = true;
            snprintf(v->reason, sizeof v->reason, "%d prescription reads in off hours today (limit %d)", u->off_reads,
                     d->o.max_off_hours_reads);
        }
    }
    if (outside) {
        prune(d, u, now);
        bool seen = false;
        for (int i = 0; i < u->nev && !seen; i++) seen = u->ev[i].rx == rx;
        if (!seen) {
            if (u->nev == u->cap && u->cap < MAX_EVENTS) {
                int cap = u->cap ? u->cap * 2 : 16;
                read_ev *n = realloc(u->ev, sizeof *n * (size_t)cap);
                if (n) {
                    u->ev = n;
                    u->cap = cap;
                }
            }
            if (u->nev < u->cap) {
                read_ev *e = &u->ev[u->nev++];
                e->ts = now;
                e->rx = rx;
                e->doctor = doctor;
                e->ndrugs = ndrugs < MAX_DRUGS ? ndrugs : MAX_DRUGS;
                memcpy(e->drugs, drugs, sizeof(int64_t) * (size_t)e->ndrugs);
            }
        }
        int nd, ng;
        spread(u, &nd, &ng);
        bool full = u->nev >= MAX_EVENTS;
        if ((nd > d->o.max_doctors || ng > d->o.max_drugs || full) && due(d, u->alerted_spread, now, window_ms(d))) {
            u->alerted_spread = now;
            v->alert = true;
            snprintf(v->reason, sizeof v->reason,
                     "prescriptions of %d doctors covering %d drugs read outside own work in %d days (limits %d, %d)",
                     nd, ng, d->o.window_days, d->o.max_doctors, d->o.max_drugs);
        }
    }
    pthread_mutex_unlock(&d->mu);
}

void ih_detector_rx_reviewed(ih_detector *d, int64_t uid, int64_t rx)
{
    pthread_mutex_lock(&d->mu);
    user *u = find(d, uid);
    if (u) {
        int k = 0;
        for (int i = 0; i < u->nev; i++)
            if (u->ev[i].rx != rx) u->ev[k++] = u->ev[i];
        u->nev = k;
    }
    pthread_mutex_unlock(&d->mu);
}

void ih_detector_list_page(ih_detector *d, int64_t uid, int64_t now, ih_verdict *v)
{
    memset(v, 0, sizeof *v);
    pthread_mutex_lock(&d->mu);
    user *u = find(d, uid);
    if (u) {
        int64_t minute = now / 60000;
        int slot = (int)(minute % 60);
        if (u->page_min[slot] != minute) {
            u->page_min[slot] = minute;
            u->page_count[slot] = 0;
        }
        u->page_count[slot]++;
        int last_hour = 0;
        for (int i = 0; i < 60; i++)
            if (minute - u->page_min[i] < 60) last_hour += u->page_count[i];
        int limit = d->o.max_pages_per_hour;
        if (last_hour > limit && due(d, u->alerted_pages, now, 3600000LL)) {
            u->alerted_pages = now;
            v->alert = true;
            snprintf(v->reason, sizeof v->reason, "%d prescription list pages in an hour (limit %d)", last_hour, limit);
        }
    }
    pthread_mutex_unlock(&d->mu);
}
