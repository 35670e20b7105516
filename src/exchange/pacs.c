/* pacs.c — see pacs.h. */
#include "exchange/pacs.h"
#include "exchange/waveform.h"
#include "exchange/wsi.h"

#include "care/his.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/log.h"
#include "core/spawn.h"
#include "core/url.h"
#include "crypto/suite.h"
#include "store/lease.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (32u << 20) /* an image or a waveform from the PACS, at most */

struct ih_pacs {
    ih_pacs_opts o;
    char *url, *username, *ca_file, *worklist_dir, *dump2dcm, *instance_id, *password_file;
    char *password; /* under pwmu: read again from password_file when the PACS answers 401 */
    pthread_mutex_t pwmu;
    char node[128];
    ih_lease lease;
    pthread_t th;
    bool started, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* when to ask the PACS again about each waiting order (the polling thread's) */
    struct waiting {
        int64_t id, next; /* ms since the epoch */
    } *waits;
    size_t nwaits;
};

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

ih_err ih_pacs_new(const ih_pacs_opts *o, ih_pacs **out)
{
    *out = NULL;
    if (strncmp(o->url, "https://", 8) && strncmp(o->url, "http://", 7))
        return ih_fail(IH_E_CONFIG, "[pacs] url must be https:// (or http:// on loopback)");
    if (!strncmp(o->url, "http://", 7)) {
        const char *h;
        size_t n = ih_url_host(o->url, &h);
        if (!ih_host_loopback(h, n))
            return ih_fail(IH_E_CONFIG, "[pacs] url: plain http only on loopback; use https for %s", o->url);
    }
    ih_pacs *p = calloc(1, sizeof *p);
    IH_CHECK_ALLOC(p);
    p->o = *o;
    p->url = dup_or_empty(o->url);
    p->username = dup_or_empty(o->username);
    p->password = dup_or_empty(o->password);
    p->ca_file = dup_or_empty(o->ca_file);
    p->worklist_dir = dup_or_empty(o->worklist_dir);
    p->instance_id = dup_or_empty(o->instance_id);
    p->password_file = dup_or_empty(o->password_file);
    p->dump2dcm = dup_or_empty(o->dump2dcm);
    pthread_mutex_init(&p->pwmu, NULL);
    if (!p->url || !p->username || !p->password || !p->ca_file || !p->worklist_dir || !p->dump2dcm || !p->instance_id ||
        !p->password_file) {
        ih_pacs_free(p);
        return ih_fail(IH_E_NOMEM, "pacs");
    }
    size_t ul = strlen(p->url);
    while (ul && p->url[ul - 1] == '/') p->url[--ul] = '\0';
    if (o->node) snprintf(p->node, sizeof p->node, "%s", o->node);
    p->lease = (ih_lease){.name = "pacs", .holder = p->node, .ttl_ms = 20000};
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    *out = p;
    return IH_OK;
}

/* ---- HTTP to Orthanc ---------------------------------------------------------------------- */

static size_t collect(char *d, size_t size, size_t n, void *ud)
{
    ih_buf *b = ud;
    if (b->len + size * n > MAX_BODY || ih_buf_append(b, d, size * n) != IH_OK) return 0;
    return size * n;
}

typedef struct {
    char *ctype;
    size_t ctn;
} hdr_ctx;

static size_t on_header(char *d, size_t size, size_t n, void *ud)
{
    hdr_ctx *h = ud;
    size_t len = size * n;
    if (h->ctype && len > 13 && !strncasecmp(d, "Content-Type:", 13)) {
        const char *v = d + 13;
        while (*v == ' ') v++;
        size_t vl = (size_t)(d + len - v);
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n')) vl--;
        snprintf(h->ctype, h->ctn, "%.*s", (int)vl, v);
    }
    return len;
}

/* The PACS refused the password: read password_file again (the operator
 * changed both); true when it holds another one, which replaces it. */
static bool password_reload(ih_pacs *p)
{
    if (!p->password_file[0]) return false;
    ih_buf pw = IH_BUF_INIT;
    ih_err e = ih_check_private(p->password_file);
    if (e == IH_OK) e = ih_file_read(p->password_file, 1024, &pw);
    while (e == IH_OK && pw.len && (pw.p[pw.len - 1] == '\n' || pw.p[pw.len - 1] == '\r')) pw.p[--pw.len] = '\0';
    bool changed = false;
    if (e == IH_OK) {
        pthread_mutex_lock(&p->pwmu);
        char *fresh = strcmp(p->password, pw.p ? pw.p : "") ? strdup(pw.p ? pw.p : "") : NULL;
        if (fresh) {
            ih_wipe(p->password, strlen(p->password));
            free(p->password);
            p->password = fresh;
            changed = true;
        }
        pthread_mutex_unlock(&p->pwmu);
    } else {
        ih_log(IH_LOG_ERROR, "pacs.password_unreadable", "file", p->password_file, "detail", ih_err_detail(), NULL);
        ih_err_clear();
    }
    ih_buf_wipe(&pw);
    if (changed) ih_log(IH_LOG_INFO, "pacs.password_reloaded", "file", p->password_file, NULL);
    return changed;
}

/* One request: 2xx into out, else an error; the HTTP status in *status_out
 * (0 when none came). */
static ih_err call_once(ih_pacs *p, const char *path, const char *accept, const char *post, ih_buf *out, char *ctype,
                        size_t ctn, long *status_out)
{
    CURL *h = curl_easy_init();
    if (!h) return ih_fail(IH_E_NOMEM, "curl");
    char url[2048];
    snprintf(url, sizeof url, "%s%s", p->url, path);
    struct curl_slist *hdrs = NULL;
    char acc[128];
    snprintf(acc, sizeof acc, "Accept: %s", accept);
    hdrs = curl_slist_append(hdrs, acc);
    hdrs = curl_slist_append(hdrs, "Expect:");
    hdr_ctx hc = {ctype, ctn};
    if (ctype) ctype[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (p->ca_file[0]) curl_easy_setopt(h, CURLOPT_CAINFO, p->ca_file);
    char *pw = NULL; /* this call's copy: another thread may reload the password meanwhile */
    if (p->username[0]) {
        pthread_mutex_lock(&p->pwmu);
        pw = strdup(p->password);
        pthread_mutex_unlock(&p->pwmu);
        if (!pw) {
            curl_slist_free_all(hdrs);
            curl_easy_cleanup(h);
            return ih_fail(IH_E_NOMEM, "pacs");
        }
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, p->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, pw);
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hc);
    if (post) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(post));
    }
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (pw) {
        ih_wipe(pw, strlen(pw));
        free(pw);
    }
    *status_out = rc == CURLE_OK ? status : 0;
    if (rc != CURLE_OK)
        return ih_fail(IH_E_UNAVAILABLE, "the PACS at %s cannot be reached: %s", p->url, curl_easy_strerror(rc));
    if (status == 404) return ih_fail(IH_E_NOT_FOUND, "the PACS has no %s", path);
    if (status < 200 || status > 299) return ih_fail(IH_E_UNAVAILABLE, "the PACS answered HTTP %ld for %s", status, path);
    return IH_OK;
}

/* GET (or POST body) path under the base URL; 2xx into out, else an error.
 * A 401 is tried once more if the password file holds a new password. */
static ih_err call(ih_pacs *p, const char *path, const char *accept, const char *post, ih_buf *out, char *ctype,
                   size_t ctn)
{
    long status = 0;
    ih_err e = call_once(p, path, accept, post, out, ctype, ctn, &status);
    if (status == 401 && password_reload(p)) {
        ih_err_clear();
        ih_buf_reset(out);
        e = call_once(p, path, accept, post, out, ctype, ctn, &status);
    }
    return e;
}

static ih_err call_json(ih_pacs *p, const char *path, const char *post, json_t **out)
{
    ih_buf b = IH_BUF_INIT;
    ih_err e = call(p, path, post ? "application/json" : "application/dicom+json, application/json", post, &b, NULL, 0);
    if (e == IH_OK) {
        *out = b.len ? json_loadb(b.p, b.len, 0, NULL) : json_array();
        if (!*out) e = ih_fail(IH_E_UNAVAILABLE, "the PACS's answer to %s is not JSON", path);
    }
    ih_buf_wipe(&b); /* may hold personal data */
    return e;
}

/* A DICOM JSON attribute's first value as a string ("" when absent). */
static const char *dj_str(const json_t *obj, const char *tag, char *buf, size_t n)
{
    const json_t *v = json_array_get(json_object_get(json_object_get(obj, tag), "Value"), 0);
    buf[0] = '\0';
    if (json_is_string(v)) snprintf(buf, n, "%s", json_string_value(v));
    else if (json_is_integer(v)) snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) snprintf(buf, n, "%g", json_real_value(v));
    return buf;
}

/* s, or def when it is NULL. */
static const char *or_default(const char *s, const char *def) { return s ? s : def; }

/* ---- proxied views -------------------------------------------------------------------------- */

ih_err ih_pacs_study(ih_pacs *p, const char *study_uid, json_t **out)
{
    if (!ih_dicom_uid_ok(study_uid)) return ih_fail(IH_E_INVALID, "not a study UID");
    char path[512];
    snprintf(path, sizeof path, "/dicom-web/studies/%s/series", study_uid);
    json_t *series = NULL;
    IH_TRY(call_json(p, path, NULL, &series));
    json_t *list = json_array();
    ih_err e = list ? IH_OK : ih_fail(IH_E_NOMEM, "pacs");
    size_t i;
    json_t *s;
    json_array_foreach(series, i, s)
    {
        if (e != IH_OK || i >= 100) break;
        char uid[72], mod[20], desc[128];
        dj_str(s, "0020000E", uid, sizeof uid);
        if (!ih_dicom_uid_ok(uid)) continue;
        dj_str(s, "00080060", mod, sizeof mod);
        dj_str(s, "0008103E", desc, sizeof desc);
        snprintf(path, sizeof path, "/dicom-web/studies/%s/series/%s/instances", study_uid, uid);
        json_t *insts = NULL, *arr = json_array();
        e = arr ? call_json(p, path, NULL, &insts) : ih_fail(IH_E_NOMEM, "pacs");
        size_t k;
        json_t *in;
        json_array_foreach(insts, k, in)
        {
            if (k >= 2000) break;
            char sop[72], cls[72], num[24];
            dj_str(in, "00080018", sop, sizeof sop);
            dj_str(in, "00080016", cls, sizeof cls);
            dj_str(in, "00200013", num, sizeof num);
            if (!ih_dicom_uid_ok(sop)) continue;
            /* the waveform storage classes (PS3.4 B.5: 1.2.840.10008.5.1.4.1.1.9.*) */
            bool wave = !strncmp(cls, "1.2.840.10008.5.1.4.1.1.9.", 26);
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b}", "uid", sop, "number", num, "sop_class", cls,
                                                 "waveform", wave));
        }
        json_decref(insts);
        if (e == IH_OK)
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o}", "uid", uid, "modality", mod, "description",
                                                  desc, "instances", arr));
        else json_decref(arr);
    }
    json_decref(series);
    if (e == IH_OK) *out = json_pack("{s:s, s:o}", "study_uid", study_uid, "series", list);
    else json_decref(list);
    return e;
}

static ih_err instance_path(const char *study, const char *series, const char *sop, const char *tail, char *out,
                            size_t n)
{
    if (!ih_dicom_uid_ok(study) || !ih_dicom_uid_ok(series) || !ih_dicom_uid_ok(sop))
        return ih_fail(IH_E_INVALID, "series and instance must be DICOM UIDs");
    snprintf(out, n, "/dicom-web/studies/%s/series/%s/instances/%s%s", study, series, sop, tail);
    return IH_OK;
}

ih_err ih_pacs_rendered(ih_pacs *p, const char *study, const char *series, const char *sop, ih_buf *out,
                        char *ctype, size_t ctn)
{
    char path[512];
    IH_TRY(instance_path(study, series, sop, "/rendered", path, sizeof path));
    IH_TRY(call(p, path, "image/jpeg", NULL, out, ctype, ctn));
    if (strncmp(ctype, "image/jpeg", 10) && strncmp(ctype, "image/png", 9))
        return ih_fail(IH_E_UNAVAILABLE, "the PACS rendered the instance as '%s', not an image", ctype);
    return IH_OK;
}

/* ---- whole-slide images (Orthanc's WSI plugin) ---------------------------------------------------- */

/* Orthanc's id of series in study (one /tools/find: a series of another
 * study is not found). */
static ih_err wsi_series(ih_pacs *p, const char *study, const char *series, char id[64])
{
    if (!ih_dicom_uid_ok(study) || !ih_dicom_uid_ok(series)) return ih_fail(IH_E_INVALID, "not a UID");
    json_t *q = json_pack("{s:s, s:{s:s, s:s}}", "Level", "Series", "Query", "StudyInstanceUID", study,
                          "SeriesInstanceUID", series);
    ih_buf body = IH_BUF_INIT;
    ih_err e = q ? ih_json_dump(q, JSON_COMPACT, &body) : ih_fail(IH_E_NOMEM, "pacs");
    json_decref(q);
    json_t *found = NULL;
    if (e == IH_OK) e = call_json(p, "/tools/find", body.p, &found);
    ih_buf_free(&body);
    const char *oid = e == IH_OK ? json_string_value(json_array_get(found, 0)) : NULL;
    if (e == IH_OK && (!oid || strspn(oid, "0123456789abcdef-") != strlen(oid) || strlen(oid) >= 64))
        e = ih_fail(IH_E_NOT_FOUND, "the PACS has no series %s in that study", series);
    if (e == IH_OK) snprintf(id, 64, "%s", oid);
    json_decref(found);
    return e;
}

ih_err ih_pacs_wsi_pyramid(ih_pacs *p, const char *study, const char *series, json_t **out)
{
    char id[64], path[128];
    IH_TRY(wsi_series(p, study, series, id));
    snprintf(path, sizeof path, "/wsi/pyramids/%s", id);
    json_t *py;
    IH_TRY(call_json(p, path, NULL, &py));
    ih_err e = ih_wsi_pyramid(py, series, out);
    json_decref(py);
    return e;
}

ih_err ih_pacs_wsi_tile(ih_pacs *p, const char *study, const char *series, int level, int x, int y, ih_buf *out,
                        char *ctype, size_t ctn)
{
    if (level < 0 || level > 31 || x < 0 || y < 0 || x > 100000 || y > 100000)
        return ih_fail(IH_E_INVALID, "no such tile");
    char id[64], path[160];
    IH_TRY(wsi_series(p, study, series, id));
    snprintf(path, sizeof path, "/wsi/tiles/%s/%d/%d/%d", id, level, x, y);
    IH_TRY(call(p, path, "image/jpeg, image/png", NULL, out, ctype, ctn));
    if (strncmp(ctype, "image/jpeg", 10) && strncmp(ctype, "image/png", 9))
        return ih_fail(IH_E_UNAVAILABLE, "the PACS gave a tile as '%s', not an image", ctype);
    return IH_OK;
}

/* The waveform: Orthanc's own REST API gives the raw samples
 * (/instances/{id}/content/5400-0100/0/5400-1010); its tags say how to read
 * them (exchange/waveform.h).  Only the first multiplex group. */
ih_err ih_pacs_waveform(ih_pacs *p, const char *study, const char *series, const char *sop, json_t **out)
{
    char path[512];
    IH_TRY(instance_path(study, series, sop, "", path, sizeof path));
    json_t *found = NULL, *tags = NULL;
    IH_TRY(call_json(p, "/tools/lookup", sop, &found));
    const char *oid = NULL;
    size_t i;
    json_t *x;
    json_array_foreach(found, i, x) if (!strcmp(or_default(json_string_value(json_object_get(x, "Type")), ""), "Instance"))
        oid = json_string_value(json_object_get(x, "ID"));
    ih_err e = oid && strspn(oid, "0123456789abcdef-") == strlen(oid) && strlen(oid) < 64
                   ? IH_OK
                   : ih_fail(IH_E_NOT_FOUND, "the PACS has no instance %s", sop);
    char id[64] = "";
    if (e == IH_OK) snprintf(id, sizeof id, "%s", oid);
    json_decref(found);
    /* the instance must be the one of this study and series */
    if (e == IH_OK) {
        snprintf(path, sizeof path, "/instances/%s/tags", id);
        e = call_json(p, path, NULL, &tags);
    }
    const json_t *w = NULL;
    if (e == IH_OK) {
        const char *st = json_string_value(json_object_get(json_object_get(tags, "0020,000d"), "Value"));
        const char *se = json_string_value(json_object_get(json_object_get(tags, "0020,000e"), "Value"));
        if (!st || !se || strcmp(st, study) || strcmp(se, series))
            e = ih_fail(IH_E_NOT_FOUND, "instance %s is not in this study", sop);
        w = json_array_get(json_object_get(json_object_get(tags, "5400,0100"), "Value"), 0);
        if (e == IH_OK && !w) e = ih_fail(IH_E_INVALID, "instance %s holds no waveform", sop);
    }
    ih_buf raw = IH_BUF_INIT;
    if (e == IH_OK) {
        snprintf(path, sizeof path, "/instances/%s/content/5400-0100/0/5400-1010", id);
        e = call(p, path, "application/octet-stream", NULL, &raw, NULL, 0);
    }
    if (e == IH_OK) e = ih_waveform_decode(w, (const uint8_t *)raw.p, raw.len, out);
    ih_buf_free(&raw);
    json_decref(tags);
    return e;
}

/* ---- the worklist and the study links ------------------------------------------------------- */

/* A value for a dump2dcm line: no brackets, backslashes or control bytes,
 * at most max bytes, cut on a UTF-8 boundary. */
static void dcm_value(const char *in, size_t max, char *out, size_t n)
{
    size_t k = 0;
    for (const char *s = in ? in : ""; *s && k + 1 < n && k < max; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x80 && (ch & 0xC0) != 0x80) { /* a lead byte: the whole character fits, or stop */
            size_t len = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2;
            if (k + len > max || k + len + 1 > n) break;
        }
        out[k++] = (char)(ch < 0x20 || ch == '[' || ch == ']' || ch == '\\' ? ' ' : ch);
    }
    out[k] = '\0';
}

static bool accession_ok(const char *a)
{
    size_t n = a ? strlen(a) : 0;
    return n >= 2 && n <= 16 && a[0] == 'A' && strspn(a + 1, "0123456789") == n - 1;
}

static ih_err write_worklist(ih_pacs *p, const json_t *o)
{
    const char *acc = json_string_value(json_object_get(o, "accession"));
    if (!accession_ok(acc)) return ih_fail(IH_E_INVALID, "accession number");
    char final[4096], tmp[4096], dump[4096];
    snprintf(final, sizeof final, "%s/%s.wl", p->worklist_dir, acc);
    struct stat sb;
    if (stat(final, &sb) == 0) return IH_OK; /* there already */
    snprintf(tmp, sizeof tmp, "%s/.%s.wl.tmp", p->worklist_dir, acc);
    snprintf(dump, sizeof dump, "%s/.%s.dump", p->worklist_dir, acc);
    const json_t *pt = json_object_get(o, "patient");
    char name[72], pid[24], birth[12] = "", proc[72], doctor[72], code[20], mod[8], date[12], tm[8];
    dcm_value(json_string_value(json_object_get(pt, "name")), 64, name, sizeof name);
    snprintf(pid, sizeof pid, "IH%lld", (long long)json_integer_value(json_object_get(pt, "id")));
    const char *b = json_string_value(json_object_get(pt, "birth_date"));
    if (b && strlen(b) == 10) snprintf(birth, sizeof birth, "%.4s%.2s%.2s", b, b + 5, b + 8);
    const char *sx = json_string_value(json_object_get(pt, "sex"));
    const char *sex = sx && !strcmp(sx, "1") ? "M" : sx && !strcmp(sx, "2") ? "F" : "O";
    dcm_value(json_string_value(json_object_get(o, "name")), 64, proc, sizeof proc);
    dcm_value(json_string_value(json_object_get(o, "doctor")), 64, doctor, sizeof doctor);
    dcm_value(json_string_value(json_object_get(o, "code")), 16, code, sizeof code);
    dcm_value(json_string_value(json_object_get(o, "modality")), 3, mod, sizeof mod);
    if (!strcmp(mod, "ECG")) snprintf(mod, sizeof mod, "ECG");
    time_t t = (time_t)(json_integer_value(json_object_get(o, "created_at")) / 1000 + p->o.utc_offset_minutes * 60);
    struct tm lt;
    gmtime_r(&t, &lt);
    strftime(date, sizeof date, "%Y%m%d", &lt);
    strftime(tm, sizeof tm, "%H%M%S", &lt);
    /* Study Instance UID for the modality to use: 2.25 and a 128-bit number
     * (ISO/IEC 9834-8) drawn from the instance and the accession number, so
     * the order keeps one UID whenever and on whichever node the entry is
     * written again */
    uint8_t r[32];
    static const char tag[] = "ihos study instance uid";
    ih_iov parts[] = {{tag, sizeof tag}, {p->instance_id, strlen(p->instance_id) + 1}, {acc, strlen(acc)}};
    IH_TRY(ih_digest_v(IH_MD_SHA256, parts, 3, r));
    unsigned __int128 v = 0;
    for (int i = 0; i < 16; i++) v = (v << 8) | r[i];
    char digits[48], uid[64];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v && nd < 47);
    int k = snprintf(uid, sizeof uid, "2.25.");
    while (nd && k < (int)sizeof uid - 1) uid[k++] = digits[--nd];
    uid[k] = '\0';
    ih_buf text = IH_BUF_INIT;
    ih_err e = ih_buf_printf(&text,
                             "# ihos modality worklist entry\n"
                             "(0008,0005) CS [ISO_IR 192]\n"
                             "(0008,0050) SH [%s]\n"
                             "(0010,0010) PN [%s]\n"
                             "(0010,0020) LO [%s]\n"
                             "(0010,0030) DA [%s]\n"
                             "(0010,0040) CS [%s]\n"
                             "(0020,000d) UI [%s]\n"
                             "(0032,1032) PN [%s]\n"
                             "(0032,1060) LO [%s]\n"
                             "(0040,0100) SQ (Sequence with explicit length #=1)\n"
                             "  (fffe,e000) na (Item with explicit length #=6)\n"
                             "    (0008,0060) CS [%s]\n"
                             "    (0040,0002) DA [%s]\n"
                             "    (0040,0003) TM [%s]\n"
                             "    (0040,0006) PN [%s]\n"
                             "    (0040,0007) LO [%s]\n"
                             "    (0040,0009) SH [%s]\n"
                             "  (fffe,e00d) na (ItemDelimitationItem)\n"
                             "(fffe,e0dd) na (SequenceDelimitationItem)\n"
                             "(0040,1001) SH [%s]\n",
                             acc, name, pid, birth, sex, uid, doctor, proc, mod, date, tm, doctor, proc, acc, acc);
    int fd = e == IH_OK ? open(dump, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
    if (e == IH_OK && (fd < 0 || write(fd, text.p, text.len) != (ssize_t)text.len))
        e = ih_fail(IH_E_IO, "worklist %s: %s", dump, strerror(errno));
    if (fd >= 0) close(fd);
    ih_buf_wipe(&text);
    int status = -1;
    if (e == IH_OK) {
        char *argv[] = {p->dump2dcm, "-q", "+te", dump, tmp, NULL};
        ih_buf outb = IH_BUF_INIT;
        e = ih_spawn_run(p->dump2dcm, argv, NULL, 0, &outb, 4096, 20000, &status);
        ih_buf_free(&outb);
        if (e == IH_OK && status != 0) e = ih_fail(IH_E_IO, "%s exited with %d for %s", p->dump2dcm, status, acc);
    }
    unlink(dump);
    if (e == IH_OK && (chmod(tmp, 0640) != 0 || rename(tmp, final) != 0)) /* whole, or not at all */
        e = ih_fail(IH_E_IO, "worklist %s: %s", final, strerror(errno));
    if (e != IH_OK) unlink(tmp);
    return e;
}

static void remove_worklist(ih_pacs *p, const char *acc, int64_t order)
{
    char final[4096];
    snprintf(final, sizeof final, "%s/%s.wl", p->worklist_dir, acc);
    if (unlink(final) == 0 && order) ih_his_imaging_event(p->o.clinic, order, "pacs.worklist_removed");
}

/* Worklist files of orders no longer waiting go (ours only: A<digits>.wl). */
static void sweep(ih_pacs *p, const json_t *pending)
{
    DIR *d = opendir(p->worklist_dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char acc[32];
        size_t n = strlen(de->d_name);
        if (n < 5 || n > 19 || strcmp(de->d_name + n - 3, ".wl")) continue;
        snprintf(acc, sizeof acc, "%.*s", (int)(n - 3), de->d_name);
        if (!accession_ok(acc)) continue;
        bool waiting = false;
        size_t i;
        const json_t *o;
        json_array_foreach(pending, i, o) if (!strcmp(or_default(json_string_value(json_object_get(o, "accession")), ""), acc))
            waiting = true;
        if (!waiting) remove_worklist(p, acc, 0);
    }
    closedir(d);
}

int64_t ih_pacs_query_every_ms(int64_t waited_ms, int poll_seconds)
{
    int64_t poll = (int64_t)(poll_seconds > 0 ? poll_seconds : 5) * 1000;
    int64_t floor = waited_ms < 10 * 60000 ? 0 : waited_ms < 24 * 3600000LL ? 60000 : 600000;
    return poll > floor ? poll : floor;
}

/* The next time to ask about order id (0: never asked in this process). */
static int64_t next_query(const ih_pacs *p, int64_t id)
{
    for (size_t i = 0; i < p->nwaits; i++)
        if (p->waits[i].id == id) return p->waits[i].next;
    return 0;
}

ih_err ih_pacs_poll(ih_pacs *p)
{
    json_t *pending = NULL;
    IH_TRY(ih_his_imaging_pending(p->o.clinic, 500, &pending));
    size_t n = json_array_size(pending);
    struct waiting *waits = calloc(n ? n : 1, sizeof *waits); /* the orders waiting now */
    if (!waits) {
        json_decref(pending);
        return ih_fail(IH_E_NOMEM, "pacs");
    }
    int64_t now = ih_now_ms();
    ih_err first = IH_OK;
    bool reachable = true; /* after one failed call this pass asks the PACS nothing more */
    size_t i;
    json_t *o;
    json_array_foreach(pending, i, o)
    {
        int64_t id = json_integer_value(json_object_get(o, "id"));
        const char *acc = json_string_value(json_object_get(o, "accession"));
        waits[i] = (struct waiting){id, next_query(p, id)};
        if (!accession_ok(acc)) continue;
        ih_err e = IH_OK;
        bool linked = false;
        if (reachable && now >= waits[i].next) {
            char path[256];
            snprintf(path, sizeof path, "/dicom-web/studies?AccessionNumber=%s&includefield=0020000D", acc);
            json_t *found = NULL;
            e = call_json(p, path, NULL, &found);
            char uid[72] = "";
            if (e == IH_OK) dj_str(json_array_get(found, 0), "0020000D", uid, sizeof uid);
            json_decref(found);
            if (e != IH_OK) reachable = false;
            else /* not there yet: ask again later, the longer it has waited the less often */
                waits[i].next = now + ih_pacs_query_every_ms(now - json_integer_value(json_object_get(o, "created_at")),
                                                             p->o.poll_seconds);
            if (e == IH_OK && uid[0]) {
                e = ih_his_order_study(p->o.clinic, id, uid);
                if (e == IH_OK) {
                    linked = true;
                    char oid[24];
                    snprintf(oid, sizeof oid, "%lld", (long long)id);
                    ih_log(IH_LOG_INFO, "pacs.study_linked", "order", oid, "accession", acc, NULL);
                    if (p->worklist_dir[0]) remove_worklist(p, acc, id);
                    json_object_set_new(o, "accession", json_string("")); /* no longer waiting: swept */
                }
            }
        }
        /* the worklist is files, written whether or not the PACS answers: once, and
         * again only when the file is gone (its Study Instance UID stays the same) */
        if (!linked && p->worklist_dir[0]) {
            struct stat sb;
            char final[4096];
            snprintf(final, sizeof final, "%s/%s.wl", p->worklist_dir, acc);
            if (stat(final, &sb) != 0) {
                ih_err we = write_worklist(p, o);
                if (we == IH_OK) {
                    ih_his_imaging_event(p->o.clinic, id, "pacs.worklist_written");
                    ih_log(IH_LOG_INFO, "pacs.worklist_written", "accession", acc, NULL);
                }
                if (e == IH_OK) e = we;
            }
        }
        if (e != IH_OK && first == IH_OK) first = e;
        else if (e != IH_OK) ih_err_clear();
    }
    free(p->waits);
    p->waits = waits;
    p->nwaits = n;
    if (p->worklist_dir[0]) sweep(p, pending);
    json_decref(pending);
    return first;
}

static void *run(void *arg)
{
    ih_pacs *p = arg;
    int64_t last_fail = 0, lease_next = 0;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        pthread_mutex_unlock(&p->mu);
        bool mine = true;
        if (p->o.node) {
            if (ih_mono_ms() >= lease_next) {
                lease_next = ih_mono_ms() + 5000;
                if (ih_lease_take(p->o.store, &p->lease) != IH_OK) p->lease.held = false;
            }
            mine = p->lease.held;
        }
        if (mine && ih_pacs_poll(p) != IH_OK && ih_mono_ms() - last_fail > 300000) {
            last_fail = ih_mono_ms(); /* once per five minutes while it lasts */
            ih_log(IH_LOG_ERROR, "pacs.unreachable", "alert", "true", "detail", ih_err_detail(), NULL);
        }
        pthread_mutex_lock(&p->mu);
        if (!p->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += p->o.poll_seconds > 0 ? p->o.poll_seconds : 5;
            pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

ih_err ih_pacs_start(ih_pacs *p)
{
    if (p->worklist_dir[0] && ih_dir_create(p->worklist_dir, 0750, true) != IH_OK)
        return ih_fail(IH_E_CONFIG, "[pacs] worklist_dir %s: %s", p->worklist_dir, ih_err_detail());
    if (pthread_create(&p->th, NULL, run, p) != 0) return ih_fail(IH_E_INTERNAL, "cannot start the PACS link");
    p->started = true;
    return IH_OK;
}

void ih_pacs_free(ih_pacs *p)
{
    if (!p) return;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->th, NULL);
        if (p->o.node && p->lease.held) ih_lease_release(p->o.store, &p->lease);
    }
    if (p->password) ih_wipe(p->password, strlen(p->password));
    free(p->url);
    free(p->username);
    free(p->password);
    free(p->ca_file);
    free(p->worklist_dir);
    free(p->instance_id);
    free(p->password_file);
    free(p->dump2dcm);
    pthread_mutex_destroy(&p->pwmu);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->waits);
    free(p);
}
