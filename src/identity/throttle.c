/* throttle.c — see throttle.h.  L3 8.1.4.1b. */
#include "identity/throttle.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096

typedef struct {
    char ip[64];
    int64_t window; /* minute number */
    int failures;
} slot;

struct ih_throttle {
    int limit;
    ih_store *store; /* NULL: the table below */
    char name[24];
    pthread_mutex_t mu;
    slot s[SLOTS];
};

ih_throttle *ih_throttle_new(int per_minute, ih_store *store, const char *name)
{
    ih_throttle *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->limit = per_minute;
    t->store = store;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

/* ---- in the database (shared by the nodes of a cluster) ---------------------------------- */

typedef struct {
    ih_throttle *t;
    const char *ip;
    int64_t minute, count;
} db_arg;

static ih_err count_fn(ih_tx *tx, void *arg)
{
    db_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT count FROM throttle WHERE name = $1 AND addr = $2 AND minute = $3", &st));
    ih_stmt_text(st, 1, a->t->name);
    ih_stmt_text(st, 2, a->ip);
    ih_stmt_int(st, 3, a->minute);
    IH_TRY(ih_stmt_step(st, &row));
    a->count = row ? ih_col_int(st, 0) : 0;
    return ih_stmt_exec(st);
}

static ih_err add_fn(ih_tx *tx, void *arg)
{
    db_arg *a = arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO throttle(name, addr, minute, count) VALUES ($1, $2, $3, 1) "
                             "ON CONFLICT (name, addr, minute) DO UPDATE SET count = throttle.count + 1",
                         &st));
    ih_stmt_text(st, 1, a->t->name);
    ih_stmt_text(st, 2, a->ip);
    ih_stmt_int(st, 3, a->minute);
    return ih_stmt_exec(st);
}

static ih_err prune_fn(ih_tx *tx, void *arg)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "DELETE FROM throttle WHERE minute < $1", &st));
    ih_stmt_int(st, 1, *(int64_t *)arg);
    return ih_stmt_exec(st);
}

ih_err ih_throttle_prune(ih_store *s, int64_t now_ms)
{
    int64_t before = now_ms / 60000 - 2;
    return ih_store_write(s, prune_fn, &before);
}

void ih_throttle_free(ih_throttle *t)
{
    if (!t) return;
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* The slot for ip (probing 8 places; the stalest is reused). */
static slot *find(ih_throttle *t, const char *ip, int64_t minute)
{
    uint32_t h = hash(ip);
    slot *oldest = NULL;
    for (int i = 0; i < 8; i++) {
        slot *s = &t->s[(h + (uint32_t)i) % SLOTS];
        if (!strcmp(s->ip, ip)) return s;
        if (!oldest || s->window < oldest->window) oldest = s;
    }
    memset(oldest, 0, sizeof *oldest);
    strncpy(oldest->ip, ip, sizeof oldest->ip - 1);
    oldest->window = minute;
    return oldest;
}

bool ih_throttle_blocked(ih_throttle *t, const char *ip, int64_t now_ms)
{
    int64_t minute = now_ms / 60000;
    if (t->store) {
        db_arg a = {t, ip ? ip : "", minute, 0};
        if (ih_store_read(t->store, count_fn, &a) != IH_OK) {
            ih_err_clear();
            return false;
        }
        return a.count >= t->limit;
    }
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, ip ? ip : "", minute);
    bool blocked = s->window == minute && s->failures >= t->limit;
    pthread_mutex_unlock(&t->mu);
    return blocked;
}

void ih_throttle_failure(ih_throttle *t, const char *ip, int64_t now_ms)
{
    int64_t minute = now_ms / 60000;
    if (t->store) {
        db_arg a = {t, ip ? ip : "", minute, 0};
        if (ih_store_write(t->store, add_fn, &a) != IH_OK) ih_err_clear();
        return;
    }
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, ip ? ip : "", minute);
    if (s->window != minute) {
        s->window = minute;
        s->failures = 0;
    }
    s->failures++;
    pthread_mutex_unlock(&t->mu);
}
