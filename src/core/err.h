/* err.h — the one error idiom of ihos.
 *
 * Every fallible function returns an ih_err: IH_OK (zero) or a stable code.
 * The codes are part of the API contract: their snake_case names appear in
 * the JSON error envelope {"error":{"code":..,"message":..}} and never change
 * meaning once released.  New codes are appended, never renumbered.
 *
 * A failing function may leave two kinds of text in thread-local storage:
 *   - a *detail* for the operator's log (ih_fail): may name files, SQL
 *     states or library errors, never a secret or a personal field;
 *   - a *public* message and field name for the API client (ih_reject):
 *     only ever what the client sent wrong, e.g. "field 'phone' must be 11
 *     digits".  Without one the client sees the code's fixed sentence.
 *
 *   IH_TRY(expr)            propagate expr's error
 *   IH_ENSURE(cond, code)   fail with code (detail = the condition) unless cond
 *   IH_CHECK_ALLOC(p)       fail with IH_E_NOMEM if p is NULL
 */
#ifndef IH_CORE_ERR_H
#define IH_CORE_ERR_H

#include <stddef.h>

typedef enum ih_err {
    IH_OK = 0,
    IH_E_INTERNAL,        /* internal_error          500 */
    IH_E_NOMEM,           /* out_of_memory           503 */
    IH_E_BAD_REQUEST,     /* bad_request             400 */
    IH_E_MALFORMED_JSON,  /* malformed_json          400 */
    IH_E_INVALID,         /* invalid_field           400 */
    IH_E_AUTH_FAILED,     /* authentication_failed   401 */
    IH_E_UNAUTHENTICATED, /* unauthenticated         401 */
    IH_E_FORBIDDEN,       /* forbidden               403 */
    IH_E_CSRF,            /* csrf_failed             403 */
    IH_E_NOT_FOUND,       /* not_found               404 */
    IH_E_METHOD,          /* method_not_allowed      405 */
    IH_E_CONFLICT,        /* conflict                409 */
    IH_E_STATE,           /* invalid_state           409 */
    IH_E_TOO_LARGE,       /* payload_too_large       413 */
    IH_E_MEDIA_TYPE,      /* unsupported_media_type  415 */
    IH_E_RATE_LIMITED,    /* rate_limited            429 */
    IH_E_BUSY,            /* busy                    503 */
    IH_E_UNAVAILABLE,     /* unavailable             503 */
    IH_E_TIMEOUT,         /* timeout                 504 */
    IH_E_INTEGRITY,       /* integrity_error         500 */
    IH_E_STORAGE,         /* storage_error           500 */
    IH_E_CRYPTO,          /* crypto_error            500 */
    IH_E_AUDIT,           /* audit_unavailable       503 */
    IH_E_IO,              /* io_error                500 */
    IH_E_CONFIG,          /* config_error            500 */
    IH_E_WEAK_PASSWORD,   /* weak_password           400 */
    IH_E_PASSWORD_CHANGE, /* password_change_required 403 */
    IH_E_SESSION_EXPIRED, /* session_expired         401 */
    IH_E_EXISTS,          /* already_exists          409 */
    IH_E_UPSTREAM,        /* upstream_error          502 */
    IH_E__COUNT
} ih_err;

/* Stable snake_case name of a code ("internal_error" for unknown values). */
const char *ih_err_name(ih_err e);
/* The fixed client-facing sentence for a code. */
const char *ih_err_sentence(ih_err e);
/* HTTP status the API answers with for a code. */
int ih_err_http_status(ih_err e);

/* Record an operator detail (printf format) and return e. */
ih_err ih_fail(ih_err e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Record a client-safe message naming `field` (may be NULL) and return e. */
ih_err ih_reject(ih_err e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Thread-local last error text; empty strings when none. */
const char *ih_err_detail(void);
const char *ih_err_public(void);
const char *ih_err_field(void);
void ih_err_clear(void);

/* Carry the thread-local text across threads (the store's writer thread runs
 * callbacks on behalf of a waiting request thread). */
typedef struct ih_err_text {
    char detail[384];
    char pub[256];
    char field[64];
} ih_err_text;
void ih_err_save(ih_err_text *t);
void ih_err_load(const ih_err_text *t);

#define IH_TRY(expr)                                                           \
    do {                                                                       \
        ih_err ih__e = (expr);                                                 \
        if (ih__e != IH_OK) return ih__e;                                      \
    } while (0)

#define IH_ENSURE(cond, code)                                                  \
    do {                                                                       \
        if (!(cond)) return ih_fail((code), "%s:%d: %s", __FILE__, __LINE__,   \
                                    #cond);                                    \
    } while (0)

#define IH_CHECK_ALLOC(p)                                                      \
    do {                                                                       \
        if ((p) == NULL) return ih_fail(IH_E_NOMEM, "%s:%d: allocation failed", \
                                        __FILE__, __LINE__);                   \
    } while (0)

#endif
