/* trust.c — see trust.h. */
#include "compliance/trust.h"

#include "compliance/signed.h"

#include "core/clock.h"
#include "core/fsutil.h"
#include "core/json.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MANIFEST_FORMAT "ihos-trust/1"

static ih_md suite_md(ih_suite s) { return s == IH_SUITE_GM ? IH_MD_SM3 : IH_MD_SHA256; }
static const char *md_label(ih_md md) { return md == IH_MD_SM3 ? "SM3" : "SHA-256"; }

ih_err ih_trust_record(const char *manifest, const ih_signkey *key, const char *const *files, int nfiles,
                       int64_t now_ms)
{
    if (nfiles < 1 || nfiles > IH_TRUST_MAX_FILES) return ih_fail(IH_E_INVALID, "between 1 and %d files", IH_TRUST_MAX_FILES);
    ih_md md = suite_md(ih_signkey_suite(key));
    char when[32];
    ih_time_iso(now_ms, when, sizeof when);
    json_t *list = json_array();
    json_t *body = json_pack("{s:s, s:s, s:s, s:o}", "format", MANIFEST_FORMAT, "algorithm", md_label(md),
                             "recorded_at", when, "files", list);
    IH_CHECK_ALLOC(body);
    ih_err e = IH_OK;
    for (int i = 0; i < nfiles && e == IH_OK; i++) {
        char hex[129];
        if (files[i][0] != '/') e = ih_fail(IH_E_INVALID, "not an absolute path: %s", files[i]);
        else if ((e = ih_digest_file_hex(md, files[i], hex)) == IH_OK)
            json_array_append_new(list, json_pack("{s:s, s:s}", "path", files[i], "digest", hex));
    }
    if (e == IH_OK) e = ih_json_sign(body, key);
    ih_buf out = IH_BUF_INIT;
    if (e == IH_OK) e = ih_json_dump(body, JSON_INDENT(2) | JSON_SORT_KEYS, &out);
    if (e == IH_OK) e = ih_buf_puts(&out, "\n");
    if (e == IH_OK) e = ih_file_replace(manifest, out.p, out.len, 0600);
    ih_buf_free(&out);
    json_decref(body);
    return e;
}

static void problem(ih_trust_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(ih_trust_report *r, const char *fmt, ...)
{
    if (r->problem[0]) return; /* the first one is the one to fix */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->problem, sizeof r->problem, fmt, ap);
    va_end(ap);
}

ih_err ih_trust_verify(const char *manifest, const ih_signkey *pub, const char *self_exe, ih_trust_report *r)
{
    memset(r, 0, sizeof *r);
    ih_buf raw = IH_BUF_INIT;
    if (access(manifest, F_OK) != 0) {
        problem(r, "no trust manifest (%s): run 'ihos trust record'", manifest);
        return IH_OK;
    }
    IH_TRY(ih_file_read(manifest, 1 << 20, &raw));
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)raw.p, raw.len, 0, &jerr);
    ih_buf_free(&raw);
    const char *format = NULL, *alg = NULL, *when = NULL, *sig64 = NULL; /* a signature must be there */
    json_t *files = NULL;
    if (!doc || json_unpack(doc, "{s:s, s:s, s:s, s:o, s:s}", "format", &format, "algorithm", &alg, "recorded_at",
                            &when, "files", &files, "signature", &sig64) != 0 ||
        strcmp(format, MANIFEST_FORMAT) || !json_is_array(files)) {
        problem(r, "the trust manifest %s is not one ihos wrote", manifest);
        json_decref(doc);
        return IH_OK;
    }
    ih_md md = suite_md(ih_signkey_suite(pub));
    snprintf(r->algorithm, sizeof r->algorithm, "%s", md_label(md));
    /* the signature first: nothing in an unsigned manifest is believed */
    bool sig_ok = strcmp(alg, md_label(md)) == 0 && ih_json_verify(doc, pub);
    if (!sig_ok) {
        problem(r, "the trust manifest %s is not signed by this instance's audit key", manifest);
        json_decref(doc);
        return IH_OK;
    }
    r->recorded = true;
    ih_time_parse_iso(when, &r->recorded_at);
    bool self_seen = !self_exe || !self_exe[0];
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f) {
        const char *path = json_string_value(json_object_get(f, "path"));
        const char *want = json_string_value(json_object_get(f, "digest"));
        if (!path || !want) continue;
        r->files++;
        char now[129];
        if (ih_digest_file_hex(md, path, now) != IH_OK) {
            ih_err_clear();
            r->changed++;
            problem(r, "%s is gone or unreadable", path);
        } else if (strcmp(now, want) != 0) {
            r->changed++;
            problem(r, "%s has changed since it was recorded (%s now)", path, now);
        } else if (self_exe && !strcmp(path, self_exe)) {
            self_seen = true;
        }
    }
    if (!self_seen) problem(r, "the running program %s is not among the recorded files", self_exe);
    json_decref(doc);
    return IH_OK;
}

bool ih_trust_lists(const char *manifest, const char *path)
{
    ih_buf raw = IH_BUF_INIT;
    if (ih_file_read(manifest, 1 << 20, &raw) != IH_OK) {
        ih_err_clear();
        return false;
    }
    json_t *doc = json_loadb((const char *)raw.p, raw.len, 0, NULL);
    ih_buf_free(&raw);
    bool found = false;
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(doc, "files"), i, f) {
        const char *p = json_string_value(json_object_get(f, "path"));
        if (p && !strcmp(p, path)) found = true;
    }
    json_decref(doc);
    return found;
}

void ih_trust_self(char *out, size_t n)
{
    ssize_t k = readlink("/proc/self/exe", out, n - 1);
    out[k > 0 ? (size_t)k : 0] = 0;
}

int ih_trust_default_files(const char *instance_dir, char paths[][4096], int cap)
{
    int n = 0;
    char self[4096];
    ih_trust_self(self, sizeof self);
    if (self[0] && n < cap) snprintf(paths[n++], 4096, "%s", self);
    char *slash = strrchr(self, '/');
    if (slash) {
        *slash = 0;
        const char *cands[] = {"ihosd", "../sbin/ihosd"};
        for (size_t i = 0; i < sizeof cands / sizeof cands[0] && n < cap; i++) {
            char p[4200], real[PATH_MAX];
            snprintf(p, sizeof p, "%s/%s", self, cands[i]);
            if (realpath(p, real) && strcmp(real, paths[0])) {
                snprintf(paths[n++], 4096, "%s", real);
                break;
            }
        }
    }
    static const char *const confs[] = {"ihos.conf", "exchange.conf"};
    for (size_t i = 0; i < sizeof confs / sizeof confs[0]; i++) {
        char conf[4200], real[PATH_MAX];
        snprintf(conf, sizeof conf, "%s/%s", instance_dir, confs[i]);
        if (realpath(conf, real) && n < cap) snprintf(paths[n++], 4096, "%s", real);
    }
    return n;
}
