/* json.h — the JSON request-body entry point and validated field getters.
 *
 * ih_json_parse_object() is the only way request bodies are parsed (jansson,
 * duplicate keys rejected, top level must be an object).  The getters check
 * type, presence, length (in characters) and charset, and on failure return
 * IH_E_INVALID with a client-safe message that names the field.
 */
#ifndef IH_CORE_JSON_H
#define IH_CORE_JSON_H

#include "core/buf.h"
#include "core/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Once per process: make jansson zero every block it frees (request bodies
 * carry passwords and personal data). */
void ih_json_init(void);

/* Append the JSON text of j to out (never use json_dumps: its memory comes
 * from the wiping allocator and must not go to free()). */
ih_err ih_json_dump(const json_t *j, size_t flags, ih_buf *out);

/* Parse body as a JSON object.  IH_E_MALFORMED_JSON on any syntax error. */
ih_err ih_json_parse_object(const char *body, size_t len, json_t **out);

/* Fail with invalid_field if obj has a key not in the NULL-terminated list. */
ih_err ih_json_only(json_t *obj, const char *const *allowed);

enum {
    IH_TEXT_LINE = 0,      /* no control characters at all */
    IH_TEXT_MULTILINE = 1, /* newlines and tabs allowed */
};

/* String field: *out points into obj (valid while obj lives); NULL if absent
 * and not required.  Length counted in Unicode characters. */
ih_err ih_json_str(json_t *obj, const char *field, bool required, size_t minlen, size_t maxlen,
                   int flags, const char **out);
ih_err ih_json_int(json_t *obj, const char *field, bool required, int64_t min, int64_t max,
                   int64_t *out);
ih_err ih_json_bool(json_t *obj, const char *field, bool required, bool *out);
/* Money as a string or number with at most 2 decimals -> fen (cents). */
ih_err ih_json_money(json_t *obj, const char *field, bool required, int64_t *fen);

/* Number of UTF-8 code points; -1 if s is not valid UTF-8 (RFC 3629: no
 * overlong forms, no surrogates). */
long ih_utf8_len(const char *s, size_t n);

/* A time in the API's one form: ISO 8601 UTC with milliseconds
 * ("2026-09-22T04:13:20.000Z"); 0 is null (never set). */
json_t *ih_json_time(int64_t ms);

#endif
