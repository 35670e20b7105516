/* realname.c — the real-name verification hook (实名认证).  The hospital
 * plugs in its verification service as either
 *   realname_command  a program: gets {"name","cert_type","cert_no"} as JSON
 *                     on stdin, answers {"match": true|false} on stdout;
 *   realname_url      an HTTPS endpoint: the same JSON POSTed, the same
 *                     answer in the body (TLS verified; 2xx only).
 * Neither configured: registrations are kept as "unverified".  The hook's
 * failure (unreachable, timeout, garbage) refuses the registration with
 * 503 rather than accepting an unverified identity silently. */
#include "registry/clinic_impl.h"

#include "core/log.h"

#include <string.h>

ih_err cl_realname_verify(ih_clinic *c, const char *name, const char *cert_type, const char *cert_no, bool *verified)
{
    *verified = false;
    bool cmd = c->o.realname_command && *c->o.realname_command;
    bool url = c->o.realname_url && *c->o.realname_url;
    if (!cmd && !url) return IH_OK;
    json_t *q = json_pack("{s:s, s:s, s:s}", "name", name, "cert_type", cert_type, "cert_no", cert_no);
    json_t *ans = NULL;
    ih_err e = q ? cl_outside_call("the real-name service", c->o.realname_command, c->o.realname_url,
                                   c->o.realname_timeout_s, q, &ans)
                 : ih_fail(IH_E_NOMEM, "realname");
    json_decref(q);
    json_t *m = ans ? json_object_get(ans, "match") : NULL;
    if (e == IH_OK && !json_is_boolean(m)) e = ih_fail(IH_E_UNAVAILABLE, "real-name service answer lacks \"match\"");
    if (e == IH_OK && !json_is_true(m))
        e = ih_reject(IH_E_INVALID, "name", "Real-name verification failed: the name does not match the certificate.");
    if (e == IH_OK) *verified = true;
    json_decref(ans);
    if (e == IH_E_UNAVAILABLE || e == IH_E_TIMEOUT) {
        ih_log(IH_LOG_ERROR, "realname.unavailable", "alert", "true", "detail", ih_err_detail(), NULL);
        e = ih_reject(IH_E_UNAVAILABLE, NULL, "Real-name verification is unavailable; please try again later.");
    }
    return e;
}
