/* events.c — GET /api/v1/events: the caller's live updates as Server-Sent
 * Events (core/bus.h says what an event carries: names and ids only).
 *
 * The stream is checked like any request but passively (it does not count
 * as the user's activity, so it never keeps an idle session alive) and it
 * ends when the session would: at the idle deadline or the session's end,
 * and at most after [web] stream_seconds.  The browser's EventSource
 * reconnects by itself (and the page redraws what it shows: what was
 * published in between never arrives); a session that has ended meanwhile
 * gets its 401.  The server's
 * stream thread writes it out (net/server.h): no worker waits on it. */
#include "api/api.h"

#include "core/bus.h"
#include "core/clock.h"

#include <stdlib.h>

typedef struct {
    ih_bus *bus;
    ih_bus_sub *sub;
    bool started;
} ev_stream;

static bool ev_take(void *ctx, ih_buf *out)
{
    ev_stream *e = ctx;
    if (!e->started) { /* reconnect after 3 s; a comment opens the stream */
        e->started = true;
        if (ih_buf_puts(out, "retry: 3000\n: ihos\n\n") != IH_OK) return false;
    }
    return ih_bus_take(e->bus, e->sub, out);
}

static void ev_close(void *ctx)
{
    ev_stream *e = ctx;
    ih_bus_unsubscribe(e->bus, e->sub);
    free(e);
}

ih_err ih_api_events(ih_app *app, ih_req *req, ih_resp *resp)
{
    const ih_principal *p = ih_api_principal(req);
    if (!app->bus) return ih_reject(IH_E_BUSY, NULL, "Live updates are not available on this server.");
    ev_stream *e = calloc(1, sizeof *e);
    if (!e) return ih_fail(IH_E_NOMEM, "event stream");
    e->bus = app->bus;
    ih_err err = ih_bus_subscribe(app->bus, p->account_id, (int)p->role, &e->sub);
    if (err != IH_OK) {
        free(e);
        return err;
    }
    int64_t until = ih_now_ms() + app->conf->web_stream_seconds * 1000LL;
    if (p->ends_at && p->ends_at < until) until = p->ends_at;
    resp->status = 200;
    resp->content_type = "text/event-stream";
    resp->stream = (ih_stream_src){.ctx = e, .take = ev_take, .close = ev_close, .until_ms = until};
    return IH_OK;
}
