/* jsonw.h — JSON text written straight into a buffer.
 *
 * For hot response paths that would otherwise build jansson objects only to
 * dump them.  The caller writes keys and values in order; the writer places
 * the separators (compact, as JSON_COMPACT).  A string that is not valid
 * UTF-8 is written as null, as json_string() would refuse it.  The first
 * allocation failure sticks in w->err and makes every later call a no-op;
 * check it once at the end.  Nesting is the caller's to balance.
 */
#ifndef IH_CORE_JSONW_H
#define IH_CORE_JSONW_H

#include "core/buf.h"
#include "core/err.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ih_jw {
    ih_buf *b;
    ih_err err;
    bool comma; /* the next key or value needs a ',' first */
} ih_jw;

void ih_jw_init(ih_jw *w, ih_buf *b); /* appends to b */
void ih_jw_open(ih_jw *w, char bracket); /* '{' or '[' */
void ih_jw_close(ih_jw *w, char bracket); /* '}' or ']' */
void ih_jw_key(ih_jw *w, const char *key);
void ih_jw_str(ih_jw *w, const char *s);
void ih_jw_int(ih_jw *w, int64_t v);
void ih_jw_bool(ih_jw *w, bool v);
void ih_jw_null(ih_jw *w);

#endif
