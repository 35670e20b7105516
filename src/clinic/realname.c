/* realname.c — the real-name verification hook (实名认证).  The hospital
 * plugs in its verification service as either
 *   realname_command  a program: gets {"name","cert_type","cert_no"} as JSON
 *                     on stdin, answers {"match": true|false} on stdout;
 *   realname_url      an HTTPS endpoint: the same JSON POSTed, the same
 *                     answer in the body (TLS verified; 2xx only).
 * Neither configured: registrations are kept as "unverified".  The hook's
 * failure (unreachable, timeout, garbage) refuses the registration with
 * 503 rather than accepting an unverified identity silently. */
#include "clinic/clinic_impl.h"

#include "core/log.h"
#include "core/spawn.h"

#include <curl/curl.h>
#include <string.h>

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    ih_buf *b = ud;
    if (b->len + size * n > 8192 || ih_buf_append(b, p, size * n) != IH_OK) return 0;
    return size * n;
}

static ih_err ask_url(ih_clinic *c, const char *req, ih_buf *out)
{
    CURL *h = curl_easy_init();
    if (!h) return ih_fail(IH_E_UNAVAILABLE, "curl");
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, c->o.realname_url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)c->o.realname_timeout_s);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK || status < 200 || status > 299)
        return ih_fail(IH_E_UNAVAILABLE, "real-name service: %s (HTTP %ld)", curl_easy_strerror(rc), status);
    return IH_OK;
}

ih_err cl_realname_verify(ih_clinic *c, const char *name, const char *cert_type, const char *cert_no, bool *verified)
{
    *verified = false;
    bool cmd = c->o.realname_command && *c->o.realname_command;
    bool url = c->o.realname_url && *c->o.realname_url;
    if (!cmd && !url) return IH_OK;
    json_t *q = json_pack("{s:s, s:s, s:s}", "name", name, "cert_type", cert_type, "cert_no", cert_no);
    ih_buf req = IH_BUF_INIT, out = IH_BUF_INIT;
    ih_err e = q ? ih_json_dump(q, JSON_COMPACT, &req) : ih_fail(IH_E_NOMEM, "realname");
    json_decref(q);
    if (e == IH_OK && cmd) {
        char *argv[] = {(char *)c->o.realname_command, NULL};
        int status = 0;
        e = ih_spawn_run(c->o.realname_command, argv, req.p, req.len, &out, 8192, c->o.realname_timeout_s * 1000,
                         &status);
        if (e == IH_OK && status != 0) e = ih_fail(IH_E_UNAVAILABLE, "real-name command exited with %d", status);
    } else if (e == IH_OK)
        e = ask_url(c, req.p, &out);
    json_t *ans = NULL;
    if (e == IH_OK && ih_json_parse_object(out.p ? out.p : "", out.len, &ans) != IH_OK)
        e = ih_fail(IH_E_UNAVAILABLE, "real-name service answered something that is not a JSON object");
    json_t *m = ans ? json_object_get(ans, "match") : NULL;
    if (e == IH_OK && !json_is_boolean(m)) e = ih_fail(IH_E_UNAVAILABLE, "real-name service answer lacks \"match\"");
    if (e == IH_OK && !json_is_true(m))
        e = ih_reject(IH_E_INVALID, "name", "Real-name verification failed: the name does not match the certificate.");
    if (e == IH_OK) *verified = true;
    json_decref(ans);
    ih_buf_wipe(&req);
    ih_buf_wipe(&out);
    if (e == IH_E_UNAVAILABLE || e == IH_E_TIMEOUT) {
        ih_log(IH_LOG_ERROR, "realname.unavailable", "alert", "true", "detail", ih_err_detail(), NULL);
        e = ih_reject(IH_E_UNAVAILABLE, NULL, "Real-name verification is unavailable; please try again later.");
    }
    return e;
}
