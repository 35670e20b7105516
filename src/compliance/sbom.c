/* sbom.c — the bill of materials of this process (see sbom.h).  L3 8.1.4.4e. */
#include "compliance/sbom.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"
#include "crypto/suite.h"

#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef IH_LLHTTP_DEB_VERSION
#define IH_LLHTTP_DEB_VERSION "" /* not built from Debian's node-llhttp */
#endif
static const char llhttp_version[] = IH_LLHTTP_DEB_VERSION;

#define DPKG_QUERY "/usr/bin/dpkg-query"
#define MAX_OBJECTS 128

typedef struct {
    char *path[MAX_OBJECTS];
    char owner[MAX_OBJECTS][256]; /* its package ("" if none), from ask_dpkg */
    int n;
} objects;

static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    objects *o = arg;
    const char *name = info->dlpi_name;
    if (!name || name[0] != '/' || o->n == MAX_OBJECTS) return 0; /* the program itself, the vDSO */
    o->path[o->n] = strdup(name);
    if (o->path[o->n]) o->n++;
    return 0;
}

/* The same file under /usr and without it (Debian 12 merges /lib into
 * /usr/lib; dpkg knows each file under the name its package shipped). */
static bool same_file(const char *a, const char *b)
{
    if (!strcmp(a, b)) return true;
    if (!strncmp(a, "/usr/", 5) && !strcmp(a + 4, b)) return true;
    if (!strncmp(b, "/usr/", 5) && !strcmp(b + 4, a)) return true;
    return false;
}

/* dpkg's answers for every object at once (one query each way: asking
 * per file costs a second per library). */
typedef struct {
    ih_buf search;   /* "pkg[, pkg…]: /path" lines, NUL-separated after parsing */
    ih_buf show;     /* "pkg\tversion\tarch" lines */
} dpkg_answers;

static void run_dpkg(char **argv, ih_buf *out)
{
    int status;
    if (ih_spawn_run(DPKG_QUERY, argv, NULL, 0, out, 8 << 20, 30000, &status) != IH_OK) ih_buf_reset(out);
    if (ih_buf_append(out, "", 1) != IH_OK) ih_buf_reset(out); /* exit 1: some not found; the rest stands */
    ih_err_clear();
}

/* The package owning the object (as loaded, or the file it links to):
 * "name:arch" or "name" into pkg; false if no package owns it. */
static bool owner(const ih_buf *search, const char *loaded, const char *real, char *pkg, size_t n)
{
    for (const char *line = search->p; line && line < search->p + search->len;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        const char *sep = memmem(line, len, ": /", 3);
        if (sep) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%.*s", (int)(line + len - sep - 2), sep + 2);
            if (same_file(path, loaded) || same_file(path, real)) {
                size_t full = (size_t)(sep - line), first = strcspn(line, ",");
                snprintf(pkg, n, "%.*s", (int)(first < full ? first : full), line);
                return true;
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return false;
}

/* The installed version and architecture of pkg, from the --show lines. */
static bool package_version(const ih_buf *show, const char *pkg, char *version, size_t vn, char *arch, size_t an)
{
    size_t plen = strlen(pkg);
    for (const char *line = show->p; line && line < show->p + show->len;) {
        const char *eol = strchr(line, '\n');
        if (!strncmp(line, pkg, plen) && line[plen] == '\t') {
            const char *v = line + plen + 1, *t = strchr(v, '\t');
            if (!t || (eol && t > eol)) return false;
            snprintf(version, vn, "%.*s", (int)(t - v), v);
            snprintf(arch, an, "%.*s", (int)(eol ? eol - t - 1 : (long)strlen(t + 1)), t + 1);
            return version[0] != '\0';
        }
        line = eol ? eol + 1 : NULL;
    }
    return false;
}

/* pkg's version for a package URL: everything but unreserved characters
 * percent-encoded (Debian versions carry ':' and '+'). */
static void purl_version(const char *v, char *out, size_t n)
{
    size_t o = 0;
    for (; *v && o + 4 < n; v++) {
        unsigned char c = (unsigned char)*v;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(".-_~", c))
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, n - o, "%%%02X", c);
    }
    out[o] = '\0';
}

/* The component for pkg, made on first sight. */
static json_t *component_for(json_t *components, json_t *deps, const char *pkg, const char *version,
                             const char *arch)
{
    char ref[512], pv[256];
    purl_version(version, pv, sizeof pv);
    int name_len = (int)strcspn(pkg, ":");
    snprintf(ref, sizeof ref, "pkg:deb/debian/%.*s@%s?arch=%s&distro=debian-12", name_len, pkg, pv, arch);
    size_t i;
    json_t *c;
    json_array_foreach(components, i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "bom-ref")), ref)) return c;
    }
    c = json_pack("{s:s, s:s, s:s#, s:s, s:s, s:[], s:[]}", "type", "library", "bom-ref", ref, "name", pkg, name_len,
                  "version", version, "purl", ref, "hashes", "properties");
    if (!c) return NULL;
    json_array_append_new(components, c);
    json_array_append_new(deps, json_string(ref));
    return c;
}

static ih_err add_object(const dpkg_answers *dpkg, json_t *components, json_t *deps, const char *pkg,
                         const char *real)
{
    char hex[65];
    IH_TRY(ih_digest_file_hex(IH_MD_SHA256, real, hex));
    char version[128], arch[32];
    json_t *c;
    if (pkg[0] && package_version(&dpkg->show, pkg, version, sizeof version, arch, sizeof arch)) {
        c = component_for(components, deps, pkg, version, arch);
    } else {
        /* nobody publishes advisories for it: say so */
        const char *base = strrchr(real, '/');
        char ref[PATH_MAX + 8];
        snprintf(ref, sizeof ref, "file:%s", real);
        c = json_pack("{s:s, s:s, s:s, s:s, s:[], s:[{s:s, s:s}]}", "type", "library", "bom-ref", ref, "name",
                      base ? base + 1 : real, "version", "unknown", "hashes", "properties", "name", "ihos:unpackaged",
                      "value", "true");
        if (c) {
            json_array_append_new(components, c);
            json_array_append_new(deps, json_string(ref));
        }
    }
    if (!c) return ih_fail(IH_E_NOMEM, "sbom component");
    json_t *hashes = json_object_get(c, "hashes"), *props = json_object_get(c, "properties");
    if (json_array_size(hashes) == 0)
        json_array_append_new(hashes, json_pack("{s:s, s:s}", "alg", "SHA-256", "content", hex));
    char file[PATH_MAX + 80];
    snprintf(file, sizeof file, "%s sha256:%s", real, hex);
    json_array_append_new(props, json_pack("{s:s, s:s}", "name", "ihos:file", "value", file));
    return IH_OK;
}

/* Ask dpkg about every object: who owns each file (o->owner), then each
 * owner's version. */
static void ask_dpkg(objects *o, char (*real)[PATH_MAX], char (*pattern)[PATH_MAX + 2], dpkg_answers *d)
{
    char *argv[MAX_OBJECTS + 4];
    int k = 0;
    argv[k++] = DPKG_QUERY;
    argv[k++] = "--search";
    for (int i = 0; i < o->n; i++) {
        const char *base = strrchr(real[i], '/');
        snprintf(pattern[i], sizeof pattern[i], "*%s", base ? base : real[i]);
        argv[k++] = pattern[i];
    }
    argv[k] = NULL;
    run_dpkg(argv, &d->search);
    k = 0;
    argv[k++] = DPKG_QUERY;
    argv[k++] = "--show";
    argv[k++] = "--showformat=${binary:Package}\t${Version}\t${Architecture}\n";
    int first = k;
    for (int i = 0; i < o->n; i++) {
        if (!owner(&d->search, o->path[i], real[i], o->owner[i], sizeof o->owner[i])) o->owner[i][0] = '\0';
        bool seen = !o->owner[i][0];
        for (int j = first; j < k && !seen; j++) seen = !strcmp(argv[j], o->owner[i]);
        if (!seen) argv[k++] = o->owner[i];
    }
    argv[k] = NULL;
    if (k > first) run_dpkg(argv, &d->show);
}

ih_err ih_sbom_build(json_t **out)
{
    IH_TRY(ih_crypto_init());
    objects o = {0};
    dl_iterate_phdr(collect, &o);
    char(*real)[PATH_MAX] = calloc(MAX_OBJECTS, sizeof *real);
    char(*pattern)[PATH_MAX + 2] = calloc(MAX_OBJECTS, sizeof *pattern);
    dpkg_answers dpkg = {IH_BUF_INIT, IH_BUF_INIT};
    json_t *components = json_array(), *deps = json_array();
    ih_err e = components && deps && real && pattern ? IH_OK : ih_fail(IH_E_NOMEM, "sbom");
    for (int i = 0; e == IH_OK && i < o.n; i++)
        if (!realpath(o.path[i], real[i])) snprintf(real[i], sizeof real[i], "%s", o.path[i]);
    if (e == IH_OK) ask_dpkg(&o, real, pattern, &dpkg);
    for (int i = 0; e == IH_OK && i < o.n; i++) e = add_object(&dpkg, components, deps, o.owner[i], real[i]);
    for (int i = 0; i < o.n; i++) free(o.path[i]);
    free(real);
    free(pattern);
    ih_buf_free(&dpkg.search);
    ih_buf_free(&dpkg.show);
    /* compiled in from Debian's sources (debian/control: Built-Using) */
    if (e == IH_OK && llhttp_version[0]) {
        char ref[256], pv[128];
        purl_version(llhttp_version, pv, sizeof pv);
        snprintf(ref, sizeof ref, "pkg:deb/debian/node-llhttp@%s?distro=debian-12", pv);
        json_array_append_new(components,
                              json_pack("{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s}]}", "type", "library", "bom-ref", ref,
                                        "name", "node-llhttp", "version", llhttp_version, "purl", ref,
                                        "properties", "name", "ihos:linkage", "value", "compiled in"));
        json_array_append_new(deps, json_string(ref));
    }
    uint8_t u[16];
    if (e == IH_OK) e = ih_random(u, sizeof u);
    if (e != IH_OK) {
        json_decref(components);
        json_decref(deps);
        return e;
    }
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* a version 4 UUID */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    char serial[64], now[40];
    snprintf(serial, sizeof serial,
             "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3],
             u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    ih_time_iso(ih_now_ms(), now, sizeof now);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:{s:[{s:s, s:s, s:s}]}, s:{s:s, s:s, s:s, s:s}}, s:o, "
                            "s:[{s:s, s:o}]}",
                            "bomFormat", "CycloneDX", "specVersion", "1.5", "serialNumber", serial, "version", 1,
                            "metadata", "timestamp", now, "tools", "components", "type", "application", "name", "ihos",
                            "version", IHOS_VERSION, "component", "type", "application", "bom-ref", "ihos", "name",
                            "ihos", "version", IHOS_VERSION, "components", components, "dependencies", "ref", "ihos",
                            "dependsOn", deps);
    if (!doc) return ih_fail(IH_E_NOMEM, "sbom document");
    *out = doc;
    return IH_OK;
}
