/* assets.h — the web console's files, held in memory for ihosd to serve.
 *
 * `make` builds the console (scripts/build-web.py) into a directory:
 * app.html (staff, served at /app/), h5.html (patients, /h5/) and assets/
 * whose names carry their content hash (app.3f2a….js), each beside its
 * gzip form (.gz).  ih_web_load reads that directory once at start: files
 * of known types only, each at most IH_WEB_MAX_FILE, the whole at most
 * IH_WEB_MAX_TOTAL.  Nothing is read from disk per request and no path
 * from a request ever reaches the file system: a request names an entry
 * of the loaded table or gets a 404.
 */
#ifndef IH_WEB_ASSETS_H
#define IH_WEB_ASSETS_H

#include "core/buf.h"
#include "core/err.h"

#include <stdbool.h>

#define IH_WEB_MAX_FILE (2 * 1024 * 1024)
#define IH_WEB_MAX_TOTAL (16 * 1024 * 1024)

typedef struct ih_web ih_web;

typedef struct ih_asset {
    char name[96];    /* "app.html", "assets/app.3f2a9c1e.js" */
    const char *type; /* Content-Type */
    ih_buf plain, gz; /* gz.len 0: no compressed form */
    bool hashed;      /* under assets/: immutable, cacheable for a year */
} ih_asset;

/* dir empty: web/ beside the running binary, else ../share/ihos/web from
 * it (as installed), else /usr/share/ihos/web.
 * A relative dir is taken from base (the instance directory).  The chosen
 * directory goes into used. */
ih_err ih_web_load(const char *dir, const char *base, ih_web **out, char *used, size_t used_n);
void ih_web_free(ih_web *w);
/* The entry called name, or NULL. */
const ih_asset *ih_web_find(const ih_web *w, const char *name);
/* Does an Accept-Encoding header value accept gzip (q not 0)? */
bool ih_web_accepts_gzip(const char *accept_encoding);

#endif
