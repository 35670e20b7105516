/* jsonw.c — see jsonw.h. */
#include "core/jsonw.h"

#include "core/json.h"

#include <string.h>

void ih_jw_init(ih_jw *w, ih_buf *b) { *w = (ih_jw){.b = b}; }

static void put(ih_jw *w, const char *p, size_t n)
{
    if (w->err == IH_OK) w->err = ih_buf_append(w->b, p, n);
}

/* Before a value or a key: the separator its position needs. */
static void sep(ih_jw *w)
{
    if (w->comma) put(w, ",", 1);
    w->comma = true;
}

void ih_jw_open(ih_jw *w, char bracket)
{
    sep(w);
    put(w, &bracket, 1);
    w->comma = false;
}

void ih_jw_close(ih_jw *w, char bracket)
{
    put(w, &bracket, 1);
    w->comma = true;
}

static void quoted(ih_jw *w, const char *s, size_t n)
{
    put(w, "\"", 1);
    if (w->err == IH_OK) w->err = ih_buf_json_escape(w->b, s, n);
    put(w, "\"", 1);
}

void ih_jw_key(ih_jw *w, const char *key)
{
    sep(w);
    quoted(w, key, strlen(key));
    put(w, ":", 1);
    w->comma = false;
}

void ih_jw_str(ih_jw *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (!s || ih_utf8_len(s, n) < 0) {
        ih_jw_null(w);
        return;
    }
    sep(w);
    quoted(w, s, n);
}

void ih_jw_int(ih_jw *w, int64_t v)
{
    sep(w);
    if (w->err == IH_OK) w->err = ih_buf_put_int(w->b, v);
}

void ih_jw_bool(ih_jw *w, bool v)
{
    sep(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void ih_jw_null(ih_jw *w)
{
    sep(w);
    put(w, "null", 4);
}
