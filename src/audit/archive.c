/* archive.c — sealing old events into signed archive files (see audit.h). */
#include "audit/audit_impl.h"

#include "core/clock.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define FORMAT "ihos-audit-archive/1"
#define BATCH 5000

/* ---- a compressing, hashing line writer --------------------------------------- */

typedef struct {
    FILE *f;
    ZSTD_CCtx *z;
    ih_hasher *h;
    uint8_t out[1 << 16];
    ih_err e;
} writer;

static void w_put(writer *w, const char *p, size_t n, bool hash)
{
    if (w->e != IH_OK) return;
    if (hash && (w->e = ih_hasher_update(w->h, p, n)) != IH_OK) return;
    ZSTD_inBuffer in = {p, n, 0};
    while (in.pos < in.size) {
        ZSTD_outBuffer o = {w->out, sizeof w->out, 0};
        size_t rc = ZSTD_compressStream2(w->z, &o, &in, ZSTD_e_continue);
        if (ZSTD_isError(rc)) {
            w->e = ih_fail(IH_E_IO, "zstd: %s", ZSTD_getErrorName(rc));
            return;
        }
        if (o.pos && fwrite(w->out, 1, o.pos, w->f) != o.pos) w->e = ih_fail(IH_E_IO, "write: %s", strerror(errno));
    }
}

static void w_json(writer *w, json_t *j, bool hash)
{
    ih_buf b = IH_BUF_INIT;
    if (w->e == IH_OK && j) w->e = ih_json_dump(j, JSON_COMPACT | JSON_SORT_KEYS, &b);
    else if (!j && w->e == IH_OK) w->e = ih_fail(IH_E_NOMEM, "json");
    if (w->e == IH_OK) w->e = ih_buf_puts(&b, "\n");
    if (w->e == IH_OK) w_put(w, b.p, b.len, hash);
    json_decref(j);
    ih_buf_free(&b);
}

static void w_finish(writer *w)
{
    if (w->e != IH_OK) return;
    for (;;) {
        ZSTD_inBuffer in = {NULL, 0, 0};
        ZSTD_outBuffer o = {w->out, sizeof w->out, 0};
        size_t left = ZSTD_compressStream2(w->z, &o, &in, ZSTD_e_end);
        if (ZSTD_isError(left)) {
            w->e = ih_fail(IH_E_IO, "zstd: %s", ZSTD_getErrorName(left));
            return;
        }
        if (o.pos && fwrite(w->out, 1, o.pos, w->f) != o.pos) {
            w->e = ih_fail(IH_E_IO, "write: %s", strerror(errno));
            return;
        }
        if (left == 0) break;
    }
    if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) w->e = ih_fail(IH_E_IO, "fsync: %s", strerror(errno));
}

static json_t *b64j(const uint8_t *p, size_t n)
{
    char b[128];
    ih_b64_encode(p, n, b);
    return json_string(b);
}

static json_t *nz(const char *s) { return s ? json_string(s) : json_null(); }

/* Format 2 events add "rows" (the versions they name; null for none). */
static json_t *event_json(const audit_row *r, const uint8_t leaf[IH_HASH_LEN])
{
    json_t *j = json_pack("{s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "seq",
                     (json_int_t)r->seq, "ts", (json_int_t)r->ts, "tz_offset", (json_int_t)r->tz, "actor_id",
                     r->has_actor ? json_integer(r->actor_id) : json_null(), "actor_role", nz(r->role), "session_hash",
                     nz(r->session), "src_ip", nz(r->ip), "request_id", nz(r->request_id), "action", nz(r->action),
                     "object_type", nz(r->object_type), "object_id", nz(r->object_id), "outcome", nz(r->outcome),
                     "error_code", nz(r->error_code), "reason", nz(r->reason), "prev_hash", b64j(r->prev, IH_HASH_LEN),
                     "leaf_hash", b64j(leaf, IH_HASH_LEN));
    if (j && r->format >= 2) json_object_set_new(j, "rows", nz(r->rows));
    return j;
}

/* ---- choosing what to archive ------------------------------------------------- */

typedef struct {
    int64_t cutoff;   /* archive events with ts < cutoff */
    int64_t first;    /* first unpurged seq */
    int64_t sealed;   /* events covered by the last checkpoint */
    int64_t last;     /* last seq of the run to archive (-1: none) */
    int64_t month_end;
    char month[16];
} plan;

static void month_of(int64_t ms, char out[16], int64_t *end_ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, 16, "%04d-%02d", (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100);
    struct tm next = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon + 1, .tm_mday = 1};
    *end_ms = (int64_t)timegm(&next) * 1000;
}

static ih_err plan_fn(ih_tx *tx, void *arg)
{
    plan *p = arg;
    ih_stmt *st;
    bool row;
    p->last = -1;
    IH_TRY(ih_tx_prepare(tx, "SELECT coalesce(max(size), 0) FROM audit_checkpoint", &st));
    IH_TRY(ih_stmt_step(st, &row));
    p->sealed = ih_col_int(st, 0);
    IH_TRY(ih_tx_prepare(tx, "SELECT seq, ts FROM audit_event WHERE purged = 0 ORDER BY seq LIMIT 1", &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return IH_OK;
    p->first = ih_col_int(st, 0);
    int64_t ts = ih_col_int(st, 1);
    IH_TRY(ih_stmt_exec(st));
    if (ts >= p->cutoff || p->first >= p->sealed) return IH_OK;
    month_of(ts, p->month, &p->month_end);
    int64_t until = p->month_end < p->cutoff ? p->month_end : p->cutoff;
    /* The run: consecutive events from `first` with ts before the end of
     * that month (and the cutoff), all sealed. */
    IH_TRY(ih_tx_prepare(tx, "SELECT coalesce(min(seq), -1) FROM audit_event WHERE seq >= $1 AND (ts >= $2 OR purged <> 0)",
                         &st));
    ih_stmt_int(st, 1, p->first);
    ih_stmt_int(st, 2, until);
    IH_TRY(ih_stmt_step(st, &row));
    int64_t stop = ih_col_int(st, 0);
    IH_TRY(ih_tx_prepare(tx, "SELECT coalesce(max(seq), -1) FROM audit_event", &st));
    IH_TRY(ih_stmt_step(st, &row));
    int64_t maxseq = ih_col_int(st, 0);
    int64_t last = stop >= 0 ? stop - 1 : maxseq;
    if (last >= p->sealed) last = p->sealed - 1;
    p->last = last >= p->first ? last : -1;
    return IH_OK;
}

typedef struct {
    int64_t from, to;
    writer *w;
    ih_md md;
    uint8_t prev_leaf[IH_HASH_LEN];
    uint64_t n;
} dump_arg;

static ih_err dump_fn(ih_tx *tx, void *arg)
{
    dump_arg *d = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT seq, entry, leaf_hash FROM audit_event WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
                         &st));
    ih_stmt_int(st, 1, d->from);
    ih_stmt_int(st, 2, d->to);
    char *scratch = NULL;
    size_t cap = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        size_t en, ln;
        const uint8_t *entry = ih_col_blob(st, 1, &en);
        const uint8_t *leaf = ih_col_blob(st, 2, &ln);
        audit_view v;
        uint8_t want[IH_HASH_LEN];
        /* Never archive what does not verify. */
        if (!entry || !leaf || ln != IH_HASH_LEN || audit_entry_parse(entry, en, &v) != 0 ||
            v.seq != ih_col_int(st, 0) || ih_merkle_leaf(d->md, entry, en, want) != IH_OK ||
            memcmp(want, leaf, IH_HASH_LEN)) {
            free(scratch);
            return ih_fail(IH_E_INTEGRITY, "event %lld does not verify; not archiving", (long long)ih_col_int(st, 0));
        }
        if (en + 16 > cap) {
            char *ns = realloc(scratch, en + 16);
            if (!ns) {
                free(scratch);
                return ih_fail(IH_E_NOMEM, "archive");
            }
            scratch = ns;
            cap = en + 16;
        }
        audit_row r;
        audit_view_row(&v, scratch, &r);
        w_json(d->w, event_json(&r, leaf), true);
        memcpy(d->prev_leaf, leaf, IH_HASH_LEN);
        d->n++;
    }
    free(scratch);
    return e;
}

typedef struct {
    int64_t from, to;
    ih_audit *a;
    const char *file;
} purge_arg;

static ih_err purge_fn(ih_tx *tx, void *arg)
{
    purge_arg *p = arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "UPDATE audit_event SET purged = 1, ts = NULL, actor_id = NULL, action = NULL, "
                             "object_type = NULL, object_id = NULL, outcome = NULL, entry = NULL "
                             "WHERE seq >= $1 AND seq <= $2 AND purged = 0",
                         &st));
    ih_stmt_int(st, 1, p->from);
    ih_stmt_int(st, 2, p->to);
    IH_TRY(ih_stmt_exec(st));
    char oid[48];
    snprintf(oid, sizeof oid, "%lld-%lld", (long long)p->from, (long long)p->to);
    const char *base = strrchr(p->file, '/');
    ih_audit_event ev = {.action = "audit.archive", .object_type = "audit_journal", .object_id = oid,
                         .reason = base ? base + 1 : p->file};
    return ih_audit_append(p->a, tx, &(ih_actor){.id = 0, .role = "system"}, &ev);
}

static ih_err write_archive(ih_audit *a, const plan *p, const char *path)
{
    writer w = {.e = IH_OK};
    ih_md md = a->md;
    w.f = fopen(path, "wx");
    if (!w.f) return ih_fail(IH_E_IO, "create %s: %s", path, strerror(errno));
    w.z = ZSTD_createCCtx();
    if (!w.z) w.e = ih_fail(IH_E_NOMEM, "zstd");
    else ZSTD_CCtx_setParameter(w.z, ZSTD_c_compressionLevel, 10);
    if (w.e == IH_OK) w.e = ih_hasher_new(md, &w.h);
    char created[32];
    ih_time_iso(ih_now_ms(), created, sizeof created);
    w_json(&w, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "format", FORMAT, "origin", a->origin, "suite",
                         ih_suite_name(a->o.suite), "month", p->month, "first_seq", (json_int_t)p->first, "last_seq",
                         (json_int_t)p->last, "created", created),
           true);
    dump_arg d = {.w = &w, .md = md};
    for (int64_t from = p->first; w.e == IH_OK && from <= p->last; from += BATCH) {
        d.from = from;
        d.to = from + BATCH - 1 < p->last ? from + BATCH - 1 : p->last;
        ih_err e = ih_store_read(a->o.store, dump_fn, &d);
        if (e != IH_OK) w.e = e;
    }
    uint8_t digest[IH_HASH_LEN];
    if (w.e == IH_OK) w.e = ih_hasher_final(w.h, digest);
    ih_buf sig = IH_BUF_INIT;
    if (w.e == IH_OK && d.n != (uint64_t)(p->last - p->first + 1))
        w.e = ih_fail(IH_E_INTEGRITY, "archive expected %lld events, found %llu", (long long)(p->last - p->first + 1),
                      (unsigned long long)d.n);
    if (w.e == IH_OK) w.e = ih_sign(a->o.signer, digest, sizeof digest, &sig);
    if (w.e == IH_OK)
        w_json(&w, json_pack("{s:{s:o, s:I, s:o, s:o}}", "trailer", "digest", b64j(digest, sizeof digest), "count",
                             (json_int_t)d.n, "last_leaf", b64j(d.prev_leaf, IH_HASH_LEN), "signature",
                             b64j((const uint8_t *)sig.p, sig.len)),
               false);
    w_finish(&w);
    ih_buf_free(&sig);
    ih_hasher_free(w.h);
    ZSTD_freeCCtx(w.z);
    if (fclose(w.f) != 0 && w.e == IH_OK) w.e = ih_fail(IH_E_IO, "close %s", path);
    if (w.e != IH_OK) unlink(path);
    return w.e;
}

ih_err ih_audit_archive(ih_audit *a, const char *archive_dir, int retention_days, int64_t now_ms, ih_archive_report *r)
{
    memset(r, 0, sizeof *r);
    if (!a->o.signer) return ih_fail(IH_E_INTERNAL, "no audit signing key");
    if (retention_days < 180) return ih_fail(IH_E_CONFIG, "retention below 180 days");
    IH_TRY(ih_dir_create(archive_dir, 0700, true));
    /* Only whole months that ended before now - retention: the cutoff is the
     * first day of the month that contains now - retention. */
    time_t keep_from = (time_t)((now_ms - (int64_t)retention_days * 86400000LL) / 1000);
    struct tm tm;
    gmtime_r(&keep_from, &tm);
    struct tm first_day = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = 1};
    int64_t cutoff = (int64_t)timegm(&first_day) * 1000;
    for (int guard = 0; guard < 1200; guard++) {
        plan p = {.cutoff = cutoff};
        IH_TRY(ih_store_read(a->o.store, plan_fn, &p));
        if (p.last < 0) break;
        char path[1024];
        IH_TRY(ih_path(path, sizeof path, "%s/%s-%lld-%lld.ihosa.zst", archive_dir, p.month, (long long)p.first,
                       (long long)p.last));
        IH_TRY(write_archive(a, &p, path));
        char msg[256];
        ih_signkey *pub = a->o.signer; /* the private key verifies its own signatures */
        ih_err e = ih_audit_check_archive(path, pub, msg, sizeof msg);
        if (e != IH_OK) {
            unlink(path);
            return ih_fail(IH_E_INTEGRITY, "archive %s did not verify after writing: %s", path, ih_err_detail());
        }
        purge_arg pa = {p.first, p.last, a, path};
        IH_TRY(ih_store_write(a->o.store, purge_fn, &pa));
        r->files++;
        r->events += (uint64_t)(p.last - p.first + 1);
        snprintf(r->last_file, sizeof r->last_file, "%s", path);
        char n[24];
        snprintf(n, sizeof n, "%lld", (long long)(p.last - p.first + 1));
        ih_log(IH_LOG_INFO, "audit.archived", "file", path, "events", n, NULL);
    }
    return IH_OK;
}

/* ---- checking an archive -------------------------------------------------------- */

typedef struct {
    FILE *f;
    ZSTD_DCtx *z;
    uint8_t in[1 << 16];
    ZSTD_inBuffer ib;
    char *line;
    size_t len, cap;
    char out[1 << 16];
    size_t opos, olen;
    bool eof;
} reader;

/* Next line (with its newline) into r->line; false at end. */
static bool r_line(reader *r, ih_err *e)
{
    r->len = 0;
    for (;;) {
        while (r->opos < r->olen) {
            char c = r->out[r->opos++];
            if (r->len + 2 > r->cap) {
                size_t nc = r->cap ? r->cap * 2 : 4096;
                if (nc > (64u << 20)) {
                    *e = ih_fail(IH_E_INTEGRITY, "archive line too long");
                    return false;
                }
                char *np = realloc(r->line, nc);
                if (!np) {
                    *e = ih_fail(IH_E_NOMEM, "archive");
                    return false;
                }
                r->line = np;
                r->cap = nc;
            }
            r->line[r->len++] = c;
            if (c == '\n') {
                r->line[r->len] = '\0';
                return true;
            }
        }
        if (r->ib.pos == r->ib.size) {
            if (r->eof) {
                if (r->len) *e = ih_fail(IH_E_INTEGRITY, "archive ends in the middle of a line");
                return false;
            }
            r->ib.size = fread(r->in, 1, sizeof r->in, r->f);
            r->ib.pos = 0;
            r->ib.src = r->in;
            if (r->ib.size == 0) r->eof = true;
            if (r->ib.size == 0) continue;
        }
        ZSTD_outBuffer o = {r->out, sizeof r->out, 0};
        size_t rc = ZSTD_decompressStream(r->z, &o, &r->ib);
        if (ZSTD_isError(rc)) {
            *e = ih_fail(IH_E_INTEGRITY, "archive is not valid zstd: %s", ZSTD_getErrorName(rc));
            return false;
        }
        r->opos = 0;
        r->olen = o.pos;
    }
}

static const char *js(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool b64_32(const char *s, uint8_t out[IH_HASH_LEN])
{
    return s && ih_b64_decode(s, strlen(s), out, IH_HASH_LEN) == IH_HASH_LEN;
}

ih_err ih_audit_check_archive(const char *file, const ih_signkey *pub, char *msg, size_t msglen)
{
    reader r = {0};
    r.f = fopen(file, "rb");
    if (!r.f) return ih_fail(IH_E_IO, "open %s: %s", file, strerror(errno));
    r.z = ZSTD_createDCtx();
    ih_err e = r.z ? IH_OK : ih_fail(IH_E_NOMEM, "zstd");
    ih_hasher *h = NULL;
    json_t *hdr = NULL, *j = NULL;
    ih_canon c = {0};
    ih_md md = IH_MD_SHA256;
    int64_t first = 0, last = -1, expect = 0;
    uint8_t prev[IH_HASH_LEN], leaf[IH_HASH_LEN];
    bool have_prev = false, trailer = false;
    uint64_t count = 0;
    char origin[256] = "", month[16] = "";
    if (e == IH_OK && !r_line(&r, &e)) e = e != IH_OK ? e : ih_fail(IH_E_INTEGRITY, "empty archive");
    if (e == IH_OK) {
        hdr = json_loadb(r.line, r.len, 0, NULL);
        ih_suite s;
        const char *fmt = hdr ? js(hdr, "format") : NULL, *suite = hdr ? js(hdr, "suite") : NULL;
        if (!fmt || strcmp(fmt, FORMAT) || !suite || ih_suite_parse(suite, &s) || !js(hdr, "origin") ||
            !json_is_integer(json_object_get(hdr, "first_seq")) || !json_is_integer(json_object_get(hdr, "last_seq")))
            e = ih_fail(IH_E_INTEGRITY, "not an ihos audit archive");
        else if (s != ih_signkey_suite(pub))
            e = ih_fail(IH_E_INTEGRITY, "archive suite %s does not match the key", suite);
        else {
            md = ih_suite_md(s);
            first = json_integer_value(json_object_get(hdr, "first_seq"));
            last = json_integer_value(json_object_get(hdr, "last_seq"));
            expect = first;
            snprintf(origin, sizeof origin, "%s", js(hdr, "origin"));
            snprintf(month, sizeof month, "%s", js(hdr, "month") ? js(hdr, "month") : "");
            e = ih_hasher_new(md, &h);
        }
        if (e == IH_OK) e = ih_hasher_update(h, r.line, r.len);
    }
    while (e == IH_OK && !trailer && r_line(&r, &e)) {
        j = json_loadb(r.line, r.len, 0, NULL);
        if (!j) {
            e = ih_fail(IH_E_INTEGRITY, "archive line after event %lld is not JSON", (long long)expect - 1);
            break;
        }
        json_t *t = json_object_get(j, "trailer");
        if (t) {
            uint8_t digest[IH_HASH_LEN], want[IH_HASH_LEN], sig[512];
            const char *sg = js(t, "signature");
            long sl = sg ? ih_b64_decode(sg, strlen(sg), sig, sizeof sig) : -1;
            e = ih_hasher_final(h, digest);
            if (e == IH_OK && (!b64_32(js(t, "digest"), want) || memcmp(want, digest, IH_HASH_LEN)))
                e = ih_fail(IH_E_INTEGRITY, "archive content does not match its signed digest (edited)");
            if (e == IH_OK && (sl <= 0 || ih_verify(pub, digest, sizeof digest, sig, (size_t)sl) != IH_OK))
                e = ih_fail(IH_E_INTEGRITY, "archive signature does not verify with the audit public key");
            if (e == IH_OK && (json_integer_value(json_object_get(t, "count")) != (json_int_t)count ||
                               expect != last + 1))
                e = ih_fail(IH_E_INTEGRITY, "archive holds %llu events, expected %lld", (unsigned long long)count,
                            (long long)(last - first + 1));
            trailer = true;
        } else {
            e = ih_hasher_update(h, r.line, r.len);
            audit_row ar = {0};
            json_t *actor = json_object_get(j, "actor_id");
            ar.seq = json_integer_value(json_object_get(j, "seq"));
            ar.ts = json_integer_value(json_object_get(j, "ts"));
            ar.tz = json_integer_value(json_object_get(j, "tz_offset"));
            ar.has_actor = json_is_integer(actor);
            ar.actor_id = json_integer_value(actor);
            ar.role = js(j, "actor_role");
            ar.session = js(j, "session_hash");
            ar.ip = js(j, "src_ip");
            ar.request_id = js(j, "request_id");
            ar.action = js(j, "action");
            ar.object_type = js(j, "object_type");
            ar.object_id = js(j, "object_id");
            ar.outcome = js(j, "outcome");
            ar.error_code = js(j, "error_code");
            ar.reason = js(j, "reason");
            ar.format = json_object_get(j, "rows") ? 2 : 1;
            ar.rows = js(j, "rows");
            uint8_t stored[IH_HASH_LEN];
            if (e == IH_OK && (ar.seq != expect || !b64_32(js(j, "prev_hash"), ar.prev) || !b64_32(js(j, "leaf_hash"), stored)))
                e = ih_fail(IH_E_INTEGRITY, "archive event %lld missing or malformed", (long long)expect);
            if (e == IH_OK && have_prev && memcmp(ar.prev, prev, IH_HASH_LEN))
                e = ih_fail(IH_E_INTEGRITY, "archive event %lld does not follow event %lld", (long long)expect,
                            (long long)expect - 1);
            if (e == IH_OK) {
                ih_buf_reset(&c.b);
                audit_entry(&c, &ar);
                e = c.err != IH_OK ? c.err : ih_merkle_leaf(md, c.b.p, c.b.len, leaf);
            }
            if (e == IH_OK && memcmp(leaf, stored, IH_HASH_LEN))
                e = ih_fail(IH_E_INTEGRITY, "archive event %lld: content does not match its leaf hash", (long long)expect);
            memcpy(prev, leaf, IH_HASH_LEN);
            have_prev = true;
            expect++;
            count++;
        }
        json_decref(j);
        j = NULL;
    }
    if (e == IH_OK && !trailer) e = ih_fail(IH_E_INTEGRITY, "archive has no signed trailer (truncated)");
    if (e == IH_OK)
        snprintf(msg, msglen, "OK: %llu events %lld..%lld (%s) of the audit journal of %s, signed by the audit key",
                 (unsigned long long)count, (long long)first, (long long)last, month, origin);
    ih_canon_free(&c);
    ih_hasher_free(h);
    json_decref(hdr);
    json_decref(j);
    free(r.line);
    ZSTD_freeDCtx(r.z);
    fclose(r.f);
    return e;
}
