/* console.c — the web console's pages and assets (web/assets.h):
 * GET /app/ (staff) and /h5/ (patients), /assets/NAME; /app, /login and
 * /admin lead to /app/, /h5 to /h5/.  Pages are public (they hold no data:
 * everything personal comes later through the API, checked and audited)
 * and carry the console's CSP: scripts and styles from this origin only,
 * no inline script or style, no eval, no frames.  Hashed assets are
 * immutable and cached for a year; pages are never cached, so a new build
 * is picked up at the next load.  With Janus configured, its API's origin
 * is the one other place scripts may connect to ([av] janus_public_url);
 * with any call system, the pages (and only they) may ask for the camera and
 * microphone. */
#include "api/api.h"

#include "remote/av.h"
#include "web/assets.h"

#include <stdio.h>
#include <string.h>

static const char console_csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/* With system A, browsers talk to Janus's API themselves: its origin joins
 * connect-src (and only it). */
void ih_api_console_csp(ih_app *app)
{
    const char *janus = ih_av_janus_origin(app->av);
    app->console_csp[0] = '\0';
    if (!janus[0]) return;
    if ((size_t)snprintf(app->console_csp, sizeof app->console_csp,
                         "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                         "connect-src 'self' %s; font-src 'self'; object-src 'none'; base-uri 'none'; "
                         "form-action 'self'; frame-ancestors 'none'",
                         janus) >= sizeof app->console_csp)
        app->console_csp[0] = '\0'; /* an origin that long: the fixed policy, and no Janus in browsers */
}

static ih_err send_asset(ih_app *app, ih_req *req, ih_resp *resp, const char *name)
{
    const ih_asset *a = ih_web_find(app->web, name);
    if (!a) {
        if (!app->web) return ih_reject(IH_E_NOT_FOUND, NULL, "The web console is not installed on this server.");
        return IH_E_NOT_FOUND;
    }
    bool gz = a->gz.len && ih_web_accepts_gzip(req->hdr[IH_HDR_ACCEPT_ENCODING]);
    const ih_buf *b = gz ? &a->gz : &a->plain;
    resp->status = 200;
    resp->content_type = a->type;
    resp->csp = app->console_csp[0] ? app->console_csp : console_csp;
    /* the pages may ask for the camera and microphone only where calls exist */
    if (app->av) resp->permissions = "camera=(self), microphone=(self), geolocation=()";
    if (a->hashed) resp->cache = "public, max-age=31536000, immutable";
    if (a->gz.len) IH_TRY(ih_resp_header(resp, "Vary", "Accept-Encoding"));
    if (gz) IH_TRY(ih_resp_header(resp, "Content-Encoding", "gzip"));
    return ih_buf_append(&resp->body, b->p, b->len);
}

ih_err ih_api_console_page(ih_app *app, ih_req *req, ih_resp *resp)
{
    return send_asset(app, req, resp, !strcmp(req->path, "/h5/") ? "h5.html" : "app.html");
}

ih_err ih_api_console_asset(ih_app *app, ih_req *req, ih_resp *resp)
{
    char name[96];
    if ((size_t)snprintf(name, sizeof name, "assets/%s", req->params[0]) >= sizeof name) return IH_E_NOT_FOUND;
    return send_asset(app, req, resp, name);
}

ih_err ih_api_console_redirect(ih_app *app, ih_req *req, ih_resp *resp)
{
    (void)app;
    resp->status = 302;
    return ih_resp_header(resp, "Location", !strcmp(req->path, "/h5") ? "/h5/" : "/app/");
}
