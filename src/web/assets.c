/* assets.c — see assets.h. */
#include "web/assets.h"

#include "core/fsutil.h"
#include "compliance/trust.h"

#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct ih_web {
    ih_asset *a;
    size_t n, cap, total;
};

static const char *type_of(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"},       {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},         {".svg", "image/svg+xml"},
        {".png", "image/png"},                       {".ico", "image/x-icon"},
        {".json", "application/json"},
    };
    const char *dot = strrchr(name, '.');
    if (!dot) return NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i].ext)) return types[i].type;
    return NULL;
}

static ih_asset *slot(ih_web *w, const char *name)
{
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->a[i].name, name)) return &w->a[i];
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 32;
        ih_asset *a = realloc(w->a, cap * sizeof *a);
        if (!a) return NULL;
        w->a = a;
        w->cap = cap;
    }
    ih_asset *x = &w->a[w->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    return x;
}

/* One file: name as served ("assets/x.js"), gz when it is the .gz form. */
static ih_err add_file(ih_web *w, const char *dir, const char *name)
{
    char served[96];
    size_t nl = strlen(name);
    bool gz = nl > 3 && !strcmp(name + nl - 3, ".gz");
    if (nl - (gz ? 3 : 0) >= sizeof served) return IH_OK; /* not ours */
    memcpy(served, name, nl - (gz ? 3 : 0));
    served[nl - (gz ? 3 : 0)] = '\0';
    const char *type = type_of(served);
    if (!type) return IH_OK;
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return ih_fail(IH_E_CONFIG, "web: path too long");
    ih_asset *a = slot(w, served);
    if (!a) return ih_fail(IH_E_NOMEM, "web assets");
    a->type = type;
    a->hashed = !strncmp(served, "assets/", 7);
    ih_buf *b = gz ? &a->gz : &a->plain;
    ih_buf_reset(b);
    IH_TRY(ih_file_read(path, IH_WEB_MAX_FILE, b));
    w->total += b->len;
    if (w->total > IH_WEB_MAX_TOTAL) return ih_fail(IH_E_CONFIG, "web: the console is larger than %d bytes", IH_WEB_MAX_TOTAL);
    return IH_OK;
}

static ih_err add_dir(ih_web *w, const char *root, const char *sub)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s%s%s", root, sub[0] ? "/" : "", sub);
    DIR *d = opendir(dir);
    if (!d) return ih_fail(IH_E_CONFIG, "web: cannot open %s", dir);
    ih_err e = IH_OK;
    struct dirent *de;
    while (e == IH_OK && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char name[256];
        if ((size_t)snprintf(name, sizeof name, "%s%s%s", sub, sub[0] ? "/" : "", de->d_name) >= sizeof name) continue;
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", root, name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue; /* no links, no subfolders */
        e = add_file(w, root, name);
    }
    closedir(d);
    return e;
}

static void pick_dir(const char *dir, const char *base, char *out, size_t n)
{
    if (dir && dir[0]) {
        if (dir[0] == '/' || !base) snprintf(out, n, "%s", dir);
        else snprintf(out, n, "%s/%s", base, dir);
        return;
    }
    /* beside the binary (a build tree), else where `make install` put it
     * (PREFIX/sbin/ihosd → PREFIX/share/ihos/web) */
    char self[PATH_MAX];
    ih_trust_self(self, sizeof self);
    if (self[0]) {
        const char *bin = dirname(self);
        static const char *const rel[] = {"web", "../share/ihos/web"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            snprintf(out, n, "%s/%s", bin, rel[i]);
            struct stat st;
            if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) return;
        }
    }
    snprintf(out, n, "/usr/share/ihos/web");
}

ih_err ih_web_load(const char *dir, const char *base, ih_web **out, char *used, size_t used_n)
{
    pick_dir(dir, base, used, used_n);
    ih_web *w = calloc(1, sizeof *w);
    if (!w) return ih_fail(IH_E_NOMEM, "web");
    ih_err e = add_dir(w, used, "");
    if (e == IH_OK) e = add_dir(w, used, "assets");
    for (size_t i = 0; e == IH_OK && i < w->n; i++)
        if (!w->a[i].plain.len) e = ih_fail(IH_E_CONFIG, "web: %s has only a .gz form", w->a[i].name);
    if (e == IH_OK && (!ih_web_find(w, "app.html") || !ih_web_find(w, "h5.html")))
        e = ih_fail(IH_E_CONFIG, "web: %s lacks app.html or h5.html (run make)", used);
    if (e != IH_OK) {
        ih_web_free(w);
        return e;
    }
    *out = w;
    return IH_OK;
}

void ih_web_free(ih_web *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) {
        ih_buf_free(&w->a[i].plain);
        ih_buf_free(&w->a[i].gz);
    }
    free(w->a);
    free(w);
}

const ih_asset *ih_web_find(const ih_web *w, const char *name)
{
    if (!w) return NULL;
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->a[i].name, name)) return &w->a[i];
    return NULL;
}

bool ih_web_accepts_gzip(const char *ae)
{
    if (!ae) return false;
    for (const char *p = ae; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t len = strcspn(p, ",");
        if (len >= 4 && !strncasecmp(p, "gzip", 4) && (len == 4 || p[4] == ';' || p[4] == ' ')) {
            const char *q = memchr(p, ';', len);
            /* "gzip;q=0" (or q=0.0…) refuses it */
            if (!q) return true;
            q++;
            while (*q == ' ') q++;
            if (strncmp(q, "q=0", 3)) return true;
            for (q += 3; *q == '.' || *q == '0'; q++) {
            }
            return (size_t)(q - p) < len && *q >= '1' && *q <= '9';
        }
        p += len;
    }
    return false;
}
