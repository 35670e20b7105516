/* err.c — code table and thread-local error text (see err.h). */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int status;
    const char *sentence;
} table[IH_E__COUNT] = {
    [IH_OK] = {"ok", 200, "OK."},
    [IH_E_INTERNAL] = {"internal_error", 500, "The server could not complete the request."},
    [IH_E_NOMEM] = {"out_of_memory", 503, "The server is temporarily out of memory."},
    [IH_E_BAD_REQUEST] = {"bad_request", 400, "The request is malformed."},
    [IH_E_MALFORMED_JSON] = {"malformed_json", 400, "The request body is not a valid JSON object."},
    [IH_E_INVALID] = {"invalid_field", 400, "A field in the request is invalid."},
    [IH_E_AUTH_FAILED] = {"authentication_failed", 401, "Login failed: the username, password or code is wrong, or the account cannot log in."},
    [IH_E_UNAUTHENTICATED] = {"unauthenticated", 401, "Log in first."},
    [IH_E_FORBIDDEN] = {"forbidden", 403, "You are not allowed to do this."},
    [IH_E_CSRF] = {"csrf_failed", 403, "The CSRF token is missing or wrong."},
    [IH_E_NOT_FOUND] = {"not_found", 404, "No such resource."},
    [IH_E_METHOD] = {"method_not_allowed", 405, "This method is not allowed here."},
    [IH_E_CONFLICT] = {"conflict", 409, "The request conflicts with the current state."},
    [IH_E_STATE] = {"invalid_state", 409, "This action is not allowed in the resource's current state."},
    [IH_E_TOO_LARGE] = {"payload_too_large", 413, "The request body is too large."},
    [IH_E_MEDIA_TYPE] = {"unsupported_media_type", 415, "Send the body as application/json."},
    [IH_E_RATE_LIMITED] = {"rate_limited", 429, "Too many requests; try again later."},
    [IH_E_BUSY] = {"busy", 503, "The server is busy; try again shortly."},
    [IH_E_UNAVAILABLE] = {"unavailable", 503, "The service is temporarily unavailable."},
    [IH_E_TIMEOUT] = {"timeout", 504, "The operation timed out."},
    [IH_E_INTEGRITY] = {"integrity_error", 500, "Stored data failed its integrity check; the incident has been recorded."},
    [IH_E_STORAGE] = {"storage_error", 500, "The data store could not complete the request."},
    [IH_E_CRYPTO] = {"crypto_error", 500, "A cryptographic operation failed."},
    [IH_E_AUDIT] = {"audit_unavailable", 503, "The audit journal could not record this action, so it was not carried out."},
    [IH_E_IO] = {"io_error", 500, "A file operation failed."},
    [IH_E_CONFIG] = {"config_error", 500, "The configuration is invalid."},
    [IH_E_WEAK_PASSWORD] = {"weak_password", 400, "The password does not meet the password policy."},
    [IH_E_PASSWORD_CHANGE] = {"password_change_required", 403, "Change your password (and enrol a second factor) before doing anything else."},
    [IH_E_SESSION_EXPIRED] = {"session_expired", 401, "The session has expired; log in again."},
    [IH_E_EXISTS] = {"already_exists", 409, "The resource already exists."},
    [IH_E_UPSTREAM] = {"upstream_error", 502, "An external system did not answer correctly."},
};

static _Thread_local ih_err_text last;

static int valid(ih_err e) { return (int)e >= 0 && e < IH_E__COUNT && table[e].name; }

const char *ih_err_name(ih_err e) { return valid(e) ? table[e].name : "internal_error"; }
const char *ih_err_sentence(ih_err e) { return valid(e) ? table[e].sentence : table[IH_E_INTERNAL].sentence; }
int ih_err_http_status(ih_err e) { return valid(e) ? table[e].status : 500; }

ih_err ih_fail(ih_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last.detail, sizeof last.detail, fmt, ap);
    va_end(ap);
    return e;
}

ih_err ih_reject(ih_err e, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last.pub, sizeof last.pub, fmt, ap);
    va_end(ap);
    snprintf(last.field, sizeof last.field, "%s", field ? field : "");
    snprintf(last.detail, sizeof last.detail, "rejected: %s", last.pub);
    return e;
}

const char *ih_err_detail(void) { return last.detail; }
const char *ih_err_public(void) { return last.pub; }
const char *ih_err_field(void) { return last.field; }

void ih_err_clear(void)
{
    last.detail[0] = '\0';
    last.pub[0] = '\0';
    last.field[0] = '\0';
}

void ih_err_save(ih_err_text *t) { *t = last; }
void ih_err_load(const ih_err_text *t) { last = *t; }
