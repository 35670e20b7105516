/* authcache.c — verified sessions kept per node (see authcache.h).
 *
 * A direct-mapped table: the slot is taken from the token's hash, and a new
 * session's copy replaces whatever was there.  A forgotten or replaced copy
 * is wiped (it holds the CSRF token).
 */
#include "identity/authcache.h"

#include "core/clock.h"
#include "store/watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    bool used;
    int64_t read_at; /* monotonic ms */
    auth_seen v;
} slot;

struct authcache {
    pthread_mutex_t mu;
    _Atomic uint64_t epoch;
    ih_store_watch *watch;
    slot slots[IH_AUTHCACHE_SLOTS];
};

static slot *slot_of(authcache *c, const uint8_t th[IH_HASH_LEN])
{
    uint32_t h;
    memcpy(&h, th, sizeof h);
    return &c->slots[h & (IH_AUTHCACHE_SLOTS - 1)];
}

static void slot_clear(slot *s) { ih_wipe(s, sizeof *s); }

/* Forget what matches (table NULL: everything).  Caller holds mu. */
static void forget_locked(authcache *c, const char *table, int64_t id)
{
    atomic_fetch_add(&c->epoch, 1);
    bool session = table && !strcmp(table, "session"), account = table && !strcmp(table, "account");
    for (size_t i = 0; i < IH_AUTHCACHE_SLOTS; i++) {
        slot *s = &c->slots[i];
        if (!s->used) continue;
        if ((session && s->v.sid != id) || (account && s->v.account_id != id)) continue;
        slot_clear(s);
    }
}

void authcache_forget(authcache *c, const char *table, int64_t id)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    forget_locked(c, table, id);
    pthread_mutex_unlock(&c->mu);
}

/* The watch's callback: "session:<id>", "account:<id>"; anything else
 * (NULL: notifications may have been missed; "*": a TRUNCATE) forgets all. */
static void heard(void *arg, const char *payload)
{
    authcache *c = arg;
    const char *table = NULL;
    int64_t id = 0;
    if (payload) {
        const char *colon = strchr(payload, ':');
        char *end = NULL;
        if (colon) id = strtoll(colon + 1, &end, 10);
        if (colon && end && end != colon + 1 && !*end) {
            size_t n = (size_t)(colon - payload);
            if (n == 7 && !memcmp(payload, "session", 7)) table = "session";
            if (n == 7 && !memcmp(payload, "account", 7)) table = "account";
        }
    }
    authcache_forget(c, table, id);
}

ih_err authcache_start(ih_store *s, authcache **out)
{
    if (ih_store_kind_of(s) != IH_STORE_PG) return ih_fail(IH_E_STATE, "sessions are not kept on SQLite");
    authcache *c = calloc(1, sizeof *c);
    IH_CHECK_ALLOC(c);
    pthread_mutex_init(&c->mu, NULL);
    ih_err e = ih_store_watch_start(s, "ihos_auth", heard, c, &c->watch);
    if (e != IH_OK) {
        pthread_mutex_destroy(&c->mu);
        free(c);
        return e;
    }
    *out = c;
    return IH_OK;
}

void authcache_stop(authcache *c)
{
    if (!c) return;
    ih_store_watch_stop(c->watch);
    pthread_mutex_destroy(&c->mu);
    ih_wipe(c->slots, sizeof c->slots);
    free(c);
}

uint64_t authcache_epoch(authcache *c) { return c ? atomic_load(&c->epoch) : 0; }

bool authcache_live(authcache *c) { return c && ih_store_watch_live(c->watch); }

bool authcache_get(authcache *c, const uint8_t th[IH_HASH_LEN], auth_seen *out)
{
    if (!authcache_live(c)) return false;
    int64_t now = ih_mono_ms();
    bool hit = false;
    pthread_mutex_lock(&c->mu);
    slot *s = slot_of(c, th);
    if (s->used && !memcmp(s->v.th, th, IH_HASH_LEN)) {
        if (now - s->read_at < IH_AUTHCACHE_TTL_MS) {
            *out = s->v;
            hit = true;
        } else {
            slot_clear(s);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void authcache_put(authcache *c, uint64_t epoch, const auth_seen *v)
{
    if (!authcache_live(c)) return;
    pthread_mutex_lock(&c->mu);
    /* Under the lock: a forget between this check and the copy is not
     * possible, and one before it moved the epoch on. */
    if (atomic_load(&c->epoch) == epoch) {
        slot *s = slot_of(c, v->th);
        slot_clear(s);
        s->used = true;
        s->read_at = ih_mono_ms();
        s->v = *v;
    }
    pthread_mutex_unlock(&c->mu);
}
