/* bus.c — see bus.h. */
#include "core/bus.h"

#include "core/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct ih_bus_sub {
    int64_t account_id;
    int role;
    ih_buf pending;
    bool overflowed;
    struct ih_bus_sub *prev, *next;
};

struct ih_bus {
    pthread_mutex_t mu;
    ih_bus_sub *subs;
    int n, max_total, max_per_account;
    void (*wake)(void *ctx);
    void *wake_ctx;
};

ih_err ih_bus_new(int max_total, int max_per_account, ih_bus **out)
{
    ih_bus *b = calloc(1, sizeof *b);
    if (!b) return ih_fail(IH_E_NOMEM, "bus");
    pthread_mutex_init(&b->mu, NULL);
    b->max_total = max_total;
    b->max_per_account = max_per_account;
    *out = b;
    return IH_OK;
}

void ih_bus_free(ih_bus *b)
{
    if (!b) return;
    for (ih_bus_sub *s = b->subs, *nx; s; s = nx) {
        nx = s->next;
        ih_buf_free(&s->pending);
        free(s);
    }
    pthread_mutex_destroy(&b->mu);
    free(b);
}

void ih_bus_set_wake(ih_bus *b, void (*wake)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&b->mu);
    b->wake = wake;
    b->wake_ctx = ctx;
    pthread_mutex_unlock(&b->mu);
}

ih_err ih_bus_subscribe(ih_bus *b, int64_t account_id, int role, ih_bus_sub **out)
{
    pthread_mutex_lock(&b->mu);
    int mine = 0;
    for (ih_bus_sub *s = b->subs; s; s = s->next) mine += s->account_id == account_id;
    ih_err e = IH_OK;
    if (b->n >= b->max_total)
        e = ih_reject(IH_E_BUSY, NULL, "Too many live-update streams are open on this server; try again later.");
    else if (mine >= b->max_per_account)
        e = ih_reject(IH_E_BUSY, NULL, "This account already has %d live-update streams open; close a window.",
                      mine);
    ih_bus_sub *s = e == IH_OK ? calloc(1, sizeof *s) : NULL;
    if (e == IH_OK && !s) e = ih_fail(IH_E_NOMEM, "bus subscriber");
    if (s) {
        s->account_id = account_id;
        s->role = role;
        s->next = b->subs;
        if (b->subs) b->subs->prev = s;
        b->subs = s;
        b->n++;
        *out = s;
    }
    pthread_mutex_unlock(&b->mu);
    return e;
}

void ih_bus_unsubscribe(ih_bus *b, ih_bus_sub *s)
{
    if (!s) return;
    pthread_mutex_lock(&b->mu);
    if (s->prev) s->prev->next = s->next;
    else b->subs = s->next;
    if (s->next) s->next->prev = s->prev;
    b->n--;
    pthread_mutex_unlock(&b->mu);
    ih_buf_free(&s->pending);
    free(s);
}

static bool valid_name(const char *n)
{
    if (!*n || strlen(n) > 32) return false;
    for (; *n; n++)
        if (!((*n >= 'a' && *n <= 'z') || *n == '_')) return false;
    return true;
}

static bool wants(const ih_bus_sub *s, const ih_bus_audience *to)
{
    if (to->roles & (1u << s->role)) return true;
    for (int i = 0; i < IH_BUS_MAX_ACCOUNTS; i++)
        if (to->accounts[i] && to->accounts[i] == s->account_id) return true;
    return false;
}

void ih_bus_publish(ih_bus *b, const ih_bus_audience *to, const char *name, const char *data)
{
    if (!b) return;
    size_t dn = strlen(data);
    if (!valid_name(name) || dn > 512 || strpbrk(data, "\r\n")) {
        ih_log(IH_LOG_WARN, "bus.event_refused", "name", name, NULL);
        return;
    }
    bool woke = false;
    pthread_mutex_lock(&b->mu);
    for (ih_bus_sub *s = b->subs; s; s = s->next) {
        if (s->overflowed || !wants(s, to)) continue;
        if (s->pending.len + dn + 48 > IH_BUS_MAX_PENDING ||
            ih_buf_printf(&s->pending, "event: %s\ndata: %s\n\n", name, data) != IH_OK)
            s->overflowed = true;
        woke = true;
    }
    if (woke && b->wake) b->wake(b->wake_ctx);
    pthread_mutex_unlock(&b->mu);
}

bool ih_bus_take(ih_bus *b, ih_bus_sub *s, ih_buf *out)
{
    pthread_mutex_lock(&b->mu);
    bool ok = !s->overflowed;
    if (ok && s->pending.len) {
        ok = ih_buf_append(out, s->pending.p, s->pending.len) == IH_OK;
        ih_buf_reset(&s->pending);
    }
    pthread_mutex_unlock(&b->mu);
    return ok;
}

int ih_bus_count(ih_bus *b)
{
    pthread_mutex_lock(&b->mu);
    int n = b->n;
    pthread_mutex_unlock(&b->mu);
    return n;
}
