/* throttle.c — see throttle.h.  L3 8.1.4.1b. */
#include "identity/throttle.h"

#include <pthread.h>
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
    pthread_mutex_t mu;
    slot s[SLOTS];
};

ih_throttle *ih_throttle_new(int per_minute)
{
    ih_throttle *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->limit = per_minute;
    pthread_mutex_init(&t->mu, NULL);
    return t;
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
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, ip ? ip : "", minute);
    bool blocked = s->window == minute && s->failures >= t->limit;
    pthread_mutex_unlock(&t->mu);
    return blocked;
}

void ih_throttle_failure(ih_throttle *t, const char *ip, int64_t now_ms)
{
    int64_t minute = now_ms / 60000;
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, ip ? ip : "", minute);
    if (s->window != minute) {
        s->window = minute;
        s->failures = 0;
    }
    s->failures++;
    pthread_mutex_unlock(&t->mu);
}
