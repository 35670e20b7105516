/* outside.c — services the hospital does not own, called the same way:
 * a program (JSON on stdin, JSON on stdout) or an HTTPS endpoint (the same
 * JSON POSTed, TLS verified, 2xx only), with a timeout.  Used for real-name
 * verification (realname.c) and the SMS gateway (cl_sms_send). */
#include "registry/clinic_impl.h"

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

static ih_err post(const char *url, int timeout_s, const char *req, ih_buf *out, const char *what)
{
    CURL *h = curl_easy_init();
    if (!h) return ih_fail(IH_E_UNAVAILABLE, "curl");
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)timeout_s);
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
        return ih_fail(IH_E_UNAVAILABLE, "%s: %s (HTTP %ld)", what, curl_easy_strerror(rc), status);
    return IH_OK;
}

ih_err cl_outside_call(const char *what, const char *command, const char *url, int timeout_s, json_t *req,
                       json_t **answer)
{
    *answer = NULL;
    ih_buf in = IH_BUF_INIT, out = IH_BUF_INIT;
    ih_err e = ih_json_dump(req, JSON_COMPACT, &in);
    if (e == IH_OK && command && *command) {
        char *argv[] = {(char *)command, NULL};
        int status = 0;
        e = ih_spawn_run(command, argv, in.p, in.len, &out, 8192, timeout_s * 1000, &status);
        if (e == IH_OK && status != 0) e = ih_fail(IH_E_UNAVAILABLE, "%s: the program exited with %d", what, status);
    } else if (e == IH_OK && url && *url)
        e = post(url, timeout_s, in.p, &out, what);
    else if (e == IH_OK)
        e = ih_fail(IH_E_UNAVAILABLE, "%s is not configured", what);
    if (e == IH_OK && ih_json_parse_object(out.p ? out.p : "", out.len, answer) != IH_OK)
        e = ih_fail(IH_E_UNAVAILABLE, "%s answered something that is not a JSON object", what);
    ih_buf_wipe(&in);
    ih_buf_wipe(&out);
    if (e == IH_E_TIMEOUT) e = ih_fail(IH_E_UNAVAILABLE, "%s did not answer in time", what);
    return e;
}

ih_err cl_sms_send(ih_clinic *c, const char *phone, const char *template, json_t *params)
{
    json_t *req = json_pack("{s:s, s:s, s:O}", "phone", phone, "template", template, "params", params);
    if (!req) return ih_fail(IH_E_NOMEM, "sms");
    json_t *ans = NULL;
    ih_err e = cl_outside_call("the SMS gateway", c->o.sms_command, c->o.sms_url, c->o.sms_timeout_s > 0 ? c->o.sms_timeout_s : 5,
                               req, &ans);
    json_decref(req);
    if (e == IH_OK && !json_is_true(json_object_get(ans, "sent")))
        e = ih_fail(IH_E_UNAVAILABLE, "the SMS gateway did not send (%s)", template);
    json_decref(ans);
    if (e != IH_OK) ih_log(IH_LOG_ERROR, "sms.failed", "alert", "true", "template", template, "detail", ih_err_detail(), NULL);
    return e;
}
