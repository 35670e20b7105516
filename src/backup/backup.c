/* backup.c — create, verify, restore, copy off-site (see backup.h).
 * L3 8.1.4.9a (local backup and restore), 8.1.4.9b (off-site copy),
 * 8.1.4.8b/7b (encrypted, signed), 39786 8.4e/g. */
#include "backup/backup.h"

#include "backup/container.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/log.h"
#include "crypto/recovery.h"
#include "crypto/sign.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FORMAT "ihos-backup/1"

static json_t *b64j(const uint8_t *p, size_t n)
{
    char *b = malloc(4 * ((n + 2) / 3) + 1);
    if (!b) return NULL;
    ih_b64_encode(p, n, b);
    json_t *j = json_string(b);
    free(b);
    return j;
}

/* ---- create ------------------------------------------------------------------ */

typedef struct {
    char name[600];           /* path inside the backup */
    char src[PATH_MAX + 300]; /* file on disk, or "" for mem */
    const uint8_t *mem;
    size_t memlen;
} entry;

static bool safe_name(const char *n)
{
    return n && *n && n[0] != '/' && !strstr(n, "..") && strlen(n) < 500;
}

static int add_entry(entry *list, int n, int cap, const char *name, const char *src)
{
    if (n >= cap - 1 || access(src, R_OK) != 0) return n; /* one slot stays free for the KEK */
    snprintf(list[n].name, sizeof list[n].name, "%s", name);
    snprintf(list[n].src, sizeof list[n].src, "%s", src);
    return n + 1;
}

static ih_err stream_mem(bk_writer *w, const uint8_t *p, size_t n, ih_md md, uint64_t *size, uint8_t hash[32])
{
    bk_write(w, p, n);
    *size = n;
    IH_TRY(w->e);
    return ih_digest(md, p, n, hash);
}

static ih_err stream_file(bk_writer *w, const char *src, ih_md md, uint64_t *size, uint8_t hash[32])
{
    FILE *f = fopen(src, "rb");
    if (!f) return ih_fail(IH_E_IO, "open %s: %s", src, strerror(errno));
    ih_hasher *h;
    ih_err e = ih_hasher_new(md, &h);
    uint8_t *buf = malloc(1 << 16);
    if (!buf && e == IH_OK) e = ih_fail(IH_E_NOMEM, "backup");
    *size = 0;
    size_t r;
    while (e == IH_OK && (r = fread(buf, 1, 1 << 16, f)) > 0) {
        bk_write(w, buf, r);
        e = w->e != IH_OK ? w->e : ih_hasher_update(h, buf, r);
        *size += r;
    }
    if (e == IH_OK && ferror(f)) e = ih_fail(IH_E_IO, "read %s", src);
    if (e == IH_OK) e = ih_hasher_final(h, hash);
    if (buf) {
        ih_wipe(buf, 1 << 16);
        free(buf);
    }
    ih_hasher_free(h);
    fclose(f);
    return e;
}

static ih_err file_hash(const char *path, char out[72], uint64_t *size)
{
    /* hex, as sha256sum prints it, so the two can be compared by eye */
    FILE *f = fopen(path, "rb");
    if (!f) return ih_fail(IH_E_IO, "open %s", path);
    ih_hasher *h;
    ih_err e = ih_hasher_new(IH_MD_SHA256, &h);
    uint8_t buf[65536], d[32];
    size_t r;
    *size = 0;
    while (e == IH_OK && (r = fread(buf, 1, sizeof buf, f)) > 0) {
        e = ih_hasher_update(h, buf, r);
        *size += r;
    }
    if (e == IH_OK) e = ih_hasher_final(h, d);
    if (e == IH_OK) ih_hex_encode(d, 32, out, 0);
    ih_hasher_free(h);
    fclose(f);
    return e;
}

/* The manifest as signed: sorted keys, compact, no "signature" member. */
static ih_err manifest_bytes(json_t *m, ih_buf *out)
{
    json_t *copy = json_deep_copy(m);
    if (!copy) return ih_fail(IH_E_NOMEM, "manifest");
    json_object_del(copy, "signature");
    ih_err e = ih_json_dump(copy, JSON_COMPACT | JSON_SORT_KEYS, out);
    json_decref(copy);
    return e;
}

ih_err ih_backup_create(ih_instance *in, const char *path, ih_backup_info *info)
{
    if (!in->audit_key) return ih_fail(IH_E_INTERNAL, "backups are signed: the audit key is needed");
    memset(info, 0, sizeof *info);
    ih_md md = ih_suite_md(in->suite);
    bool pg = !strcmp(in->conf.backend, "postgres");
    char snap[PATH_MAX], p[PATH_MAX];
    IH_TRY(ih_path(snap, sizeof snap, "%s/backups/.snapshot-%d", in->dir, (int)getpid()));
    unlink(snap);
    IH_TRY(ih_store_snapshot(in->store, snap));

    /* The entries, in order. */
    entry *list = calloc(256, sizeof *list); /* ~1 MB: off the stack, and per call */
    if (!list) {
        unlink(snap);
        return ih_fail(IH_E_NOMEM, "backup");
    }
    int n = 0;
    static const char *const files[] = {"ihos.conf",      "keys/kek",          "keys/kek.salt",      "keys/tls.crt",
                                        "keys/tls.key",   "keys/audit.pub",    "keys/recovery.pub",  "keys/metrics-token",
                                        "keys/pkcs11-pin", NULL};
    for (const char *const *f = files; *f; f++) {
        ih_instance_path(in, *f, p, sizeof p);
        n = add_entry(list, n, 256, *f, p);
    }
    /* files the configuration names inside the instance (the payment
     * channel's key, a PIN kept elsewhere in keys/): without them the
     * restored instance would not start */
    const char *named[] = {in->conf.pay_notify_key, in->conf.pkcs11_pin_file};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (safe_name(named[i]) && strcmp(named[i], "keys/pkcs11-pin") && ih_instance_path(in, named[i], p, sizeof p) == IH_OK)
            n = add_entry(list, n, 256, named[i], p);
    /* A passphrase-derived KEK has no file; the backup carries it anyway
     * (sealed to the recovery key), so a restore needs nothing else. */
    uint8_t kek[32];
    bool kek_in_memory = !strcmp(in->conf.kek_source, "passphrase");
    if (kek_in_memory) {
        ih_err xe = ih_keyring_kek_export(in->keys, kek);
        if (xe != IH_OK) {
            unlink(snap);
            free(list);
            return xe;
        }
        snprintf(list[n].name, sizeof list[n].name, "keys/kek");
        list[n].mem = kek;
        list[n++].memlen = sizeof kek;
    }
    n = add_entry(list, n, 256, pg ? "db.pgdump" : "db.sqlite", snap);
    ih_instance_path(in, "audit/checkpoints", p, sizeof p);
    n = add_entry(list, n, 256, "audit/checkpoints", p);
    ih_instance_path(in, "audit/archive", p, sizeof p);
    DIR *d = opendir(p);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.') continue;
            char name[600], src[PATH_MAX + 300];
            snprintf(name, sizeof name, "audit/archive/%s", de->d_name);
            snprintf(src, sizeof src, "%s/%s", p, de->d_name);
            n = add_entry(list, n, 256, name, src);
        }
        closedir(d);
    }

    ih_buf pem = IH_BUF_INIT, blob = IH_BUF_INIT, sig = IH_BUF_INIT, mbytes = IH_BUF_INIT, signer = IH_BUF_INIT;
    ih_recovery *rec = NULL;
    uint8_t key[32];
    bk_writer w = {0};
    json_t *m = NULL, *entries = json_array();
    FILE *out = NULL;
    ih_instance_path(in, "keys/recovery.pub", p, sizeof p);
    ih_err e = ih_file_read(p, 16384, &pem);
    if (e == IH_OK) e = ih_recovery_load(pem.p, pem.len, &rec);
    if (e == IH_OK) e = ih_recovery_seal(rec, key, &blob);
    if (e == IH_OK) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || !(out = fdopen(fd, "wb"))) {
            if (fd >= 0) close(fd);
            e = ih_fail(IH_E_IO, "create %s: %s", path, strerror(errno));
        }
    }
    if (e == IH_OK && fwrite(BK_MAGIC, 1, strlen(BK_MAGIC), out) != strlen(BK_MAGIC)) e = ih_fail(IH_E_IO, "write");
    if (e == IH_OK) e = bk_writer_open(&w, out, in->suite, key);
    ih_wipe(key, sizeof key);
    for (int i = 0; e == IH_OK && i < n; i++) {
        uint64_t size = 0;
        uint8_t h[32];
        e = list[i].mem ? stream_mem(&w, list[i].mem, list[i].memlen, md, &size, h)
                        : stream_file(&w, list[i].src, md, &size, h);
        if (e == IH_OK)
            json_array_append_new(entries, json_pack("{s:s, s:I, s:o}", "name", list[i].name, "size", (json_int_t)size,
                                                     "hash", b64j(h, 32)));
    }
    uint8_t ph[32];
    if (e == IH_OK) e = bk_writer_close(&w);
    else if (w.buf) bk_writer_close(&w);
    if (e == IH_OK) e = ih_hasher_final(w.payload_hash, ph);
    ih_hasher_free(w.payload_hash);
    char created[32], version[16] = "";
    ih_time_iso(ih_now_ms(), created, sizeof created);
    if (e == IH_OK) e = ih_sign_public_pem(in->audit_pub, &signer);
    if (e == IH_OK) {
        int v = 0;
        ih_store_version(in->store, &v);
        snprintf(version, sizeof version, "%d", v);
        m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:o}, s:O, s:{s:I, s:I, s:I, s:o}, s:s}", "format",
                      FORMAT, "instance_id", in->instance_id, "instance_name", in->conf.name, "suite",
                      ih_suite_name(in->suite), "backend", in->conf.backend, "created", created, "schema_version",
                      version, "recovery", "alg", ih_recovery_alg(rec), "blob",
                      b64j((const uint8_t *)blob.p, blob.len), "entries", entries, "payload", "chunk_size",
                      (json_int_t)BK_CHUNK, "chunks", (json_int_t)w.chunks, "bytes", (json_int_t)w.bytes, "hash",
                      b64j(ph, 32), "signer", signer.p);
        if (!m) e = ih_fail(IH_E_NOMEM, "manifest");
    }
    if (e == IH_OK) e = manifest_bytes(m, &mbytes);
    if (e == IH_OK) e = ih_sign(in->audit_key, mbytes.p, mbytes.len, &sig);
    if (e == IH_OK) {
        json_object_set_new(m, "signature", b64j((const uint8_t *)sig.p, sig.len));
        long off = ftell(out);
        ih_buf line = IH_BUF_INIT;
        e = ih_json_dump(m, JSON_COMPACT | JSON_SORT_KEYS, &line);
        if (e == IH_OK) e = ih_buf_puts(&line, "\n");
        uint8_t foot[8];
        for (int i = 0; i < 8; i++) foot[i] = (uint8_t)((uint64_t)off >> (56 - 8 * i));
        if (e == IH_OK && (off < 0 || fwrite(line.p, 1, line.len, out) != line.len || fwrite(foot, 1, 8, out) != 8))
            e = ih_fail(IH_E_IO, "write manifest (disk full?)");
        ih_buf_free(&line);
    }
    if (out) {
        if (e == IH_OK && (fflush(out) != 0 || fsync(fileno(out)) != 0)) e = ih_fail(IH_E_IO, "fsync %s", path);
        fclose(out);
    }
    unlink(snap);
    if (e == IH_OK) {
        char dirbuf[PATH_MAX];
        snprintf(dirbuf, sizeof dirbuf, "%s", path);
        char *slash = strrchr(dirbuf, '/');
        if (slash) {
            *slash = '\0';
            ih_fsync_dir(dirbuf[0] ? dirbuf : "/");
        }
        snprintf(info->path, sizeof info->path, "%s", path);
        e = file_hash(path, info->hash, &info->size);
    } else if (out) {
        unlink(path); /* never leave a partial backup behind */
    }
    if (kek_in_memory) ih_wipe(kek, sizeof kek);
    free(list);
    json_decref(m);
    json_decref(entries);
    ih_recovery_free(rec);
    ih_buf_free(&pem);
    ih_buf_free(&blob);
    ih_buf_free(&sig);
    ih_buf_free(&mbytes);
    ih_buf_free(&signer);
    return e;
}

/* ---- reading a backup ------------------------------------------------------------ */

typedef struct {
    FILE *f;
    json_t *m;
    long payload_start, manifest_at;
    ih_suite suite;
} opened;

static void closed(opened *o)
{
    if (o->f) fclose(o->f);
    json_decref(o->m);
}

static ih_err open_backup(const char *path, opened *o)
{
    memset(o, 0, sizeof *o);
    o->f = fopen(path, "rb");
    if (!o->f) return ih_fail(IH_E_IO, "open %s: %s", path, strerror(errno));
    char magic[sizeof BK_MAGIC];
    if (fread(magic, 1, strlen(BK_MAGIC), o->f) != strlen(BK_MAGIC) || memcmp(magic, BK_MAGIC, strlen(BK_MAGIC)))
        return ih_fail(IH_E_INTEGRITY, "%s is not an ihos backup", path);
    o->payload_start = (long)strlen(BK_MAGIC);
    uint8_t foot[8];
    if (fseek(o->f, -8, SEEK_END) != 0 || fread(foot, 1, 8, o->f) != 8)
        return ih_fail(IH_E_INTEGRITY, "backup truncated (no footer)");
    long end = ftell(o->f) - 8;
    uint64_t off = 0;
    for (int i = 0; i < 8; i++) off = off << 8 | foot[i];
    if (off < (uint64_t)o->payload_start || off >= (uint64_t)end) return ih_fail(IH_E_INTEGRITY, "backup footer damaged");
    o->manifest_at = (long)off;
    size_t mlen = (size_t)(end - o->manifest_at);
    if (mlen > (16u << 20)) return ih_fail(IH_E_INTEGRITY, "backup manifest too large");
    char *mt = malloc(mlen + 1);
    IH_CHECK_ALLOC(mt);
    if (fseek(o->f, o->manifest_at, SEEK_SET) != 0 || fread(mt, 1, mlen, o->f) != mlen) {
        free(mt);
        return ih_fail(IH_E_INTEGRITY, "backup manifest unreadable");
    }
    json_error_t je;
    o->m = json_loadb(mt, mlen, JSON_REJECT_DUPLICATES, &je);
    free(mt);
    const char *fmt = json_string_value(json_object_get(o->m, "format"));
    const char *suite = json_string_value(json_object_get(o->m, "suite"));
    if (!o->m || !fmt || strcmp(fmt, FORMAT) || !suite || ih_suite_parse(suite, &o->suite))
        return ih_fail(IH_E_INTEGRITY, "backup manifest malformed");
    return IH_OK;
}

static ih_err check_signature(opened *o, const ih_signkey *pub, char *fpr, size_t fn)
{
    const char *signer = json_string_value(json_object_get(o->m, "signer"));
    const char *sig64 = json_string_value(json_object_get(o->m, "signature"));
    if (!signer || !sig64) return ih_fail(IH_E_INTEGRITY, "backup manifest is not signed");
    ih_signkey *embedded = NULL;
    IH_TRY(ih_sign_public_from_pem(signer, strlen(signer), &embedded));
    const ih_signkey *k = pub ? pub : embedded;
    ih_err e = IH_OK;
    if (pub) { /* the manifest must name the trusted key itself */
        uint8_t a[100], b[100];
        size_t an, bn;
        if (ih_sign_public_raw(pub, a, sizeof a, &an) != IH_OK ||
            ih_sign_public_raw(embedded, b, sizeof b, &bn) != IH_OK || an != bn || memcmp(a, b, an))
            e = ih_fail(IH_E_INTEGRITY, "the backup was signed by another key than the instance's audit key");
    }
    uint8_t raw[100], d[32];
    size_t rn;
    if (e == IH_OK && ih_sign_public_raw(k, raw, sizeof raw, &rn) == IH_OK && ih_digest(IH_MD_SHA256, raw, rn, d) == IH_OK)
        ih_hex_encode(d, 8, fpr, 0);
    (void)fn;
    ih_buf mb = IH_BUF_INIT;
    uint8_t sig[512];
    long sl = ih_b64_decode(sig64, strlen(sig64), sig, sizeof sig);
    if (e == IH_OK) e = manifest_bytes(o->m, &mb);
    if (e == IH_OK && (sl <= 0 || ih_verify(k, mb.p, mb.len, sig, (size_t)sl) != IH_OK))
        e = ih_fail(IH_E_INTEGRITY, "the backup manifest's signature does not verify");
    ih_buf_free(&mb);
    ih_signkey_free(embedded);
    return e;
}

static ih_err check_payload_hash(opened *o)
{
    json_t *pl = json_object_get(o->m, "payload");
    const char *want = json_string_value(json_object_get(pl, "hash"));
    uint8_t w[32], got[32];
    if (!want || ih_b64_decode(want, strlen(want), w, sizeof w) != 32)
        return ih_fail(IH_E_INTEGRITY, "backup manifest lacks the payload hash");
    if (fseek(o->f, o->payload_start, SEEK_SET) != 0) return ih_fail(IH_E_IO, "seek");
    ih_hasher *h;
    IH_TRY(ih_hasher_new(ih_suite_md(o->suite), &h));
    long left = o->manifest_at - o->payload_start;
    uint8_t buf[65536];
    ih_err e = IH_OK;
    while (e == IH_OK && left > 0) {
        size_t take = left < (long)sizeof buf ? (size_t)left : sizeof buf;
        if (fread(buf, 1, take, o->f) != take) e = ih_fail(IH_E_INTEGRITY, "backup payload truncated");
        else e = ih_hasher_update(h, buf, take);
        left -= (long)take;
    }
    if (e == IH_OK) e = ih_hasher_final(h, got);
    ih_hasher_free(h);
    if (e == IH_OK && memcmp(got, w, 32)) e = ih_fail(IH_E_INTEGRITY, "the backup payload does not match its signed hash");
    return e;
}

ih_err ih_backup_verify(const char *path, const ih_signkey *pub, char *msg, size_t n)
{
    opened o;
    char fpr[20] = "";
    ih_err e = open_backup(path, &o);
    if (e == IH_OK) e = check_signature(&o, pub, fpr, sizeof fpr);
    if (e == IH_OK) e = check_payload_hash(&o);
    if (e == IH_OK)
        snprintf(msg, n, "OK: backup of instance %s (%s, %s) made %s: %zu entries, %lld encrypted bytes; signed by %s "
                         "key %s",
                 json_string_value(json_object_get(o.m, "instance_id")), json_string_value(json_object_get(o.m, "suite")),
                 json_string_value(json_object_get(o.m, "backend")), json_string_value(json_object_get(o.m, "created")),
                 json_array_size(json_object_get(o.m, "entries")), (long long)(o.manifest_at - o.payload_start),
                 pub ? "the trusted audit" : "an embedded (compare its fingerprint!)", fpr);
    closed(&o);
    return e;
}

/* ---- restore ---------------------------------------------------------------------- */

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    return ftw->level ? remove(p) : 0;
}

static ih_err write_entry(bk_reader *r, const char *dest, uint64_t size, const uint8_t want[32], ih_md md)
{
    int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return ih_fail(IH_E_IO, "create %s: %s", dest, strerror(errno));
    ih_hasher *h;
    ih_err e = ih_hasher_new(md, &h);
    uint8_t *buf = malloc(1 << 16), got[32];
    if (!buf && e == IH_OK) e = ih_fail(IH_E_NOMEM, "restore");
    while (e == IH_OK && size) {
        size_t take = size < (1u << 16) ? (size_t)size : (1u << 16);
        e = bk_read(r, buf, take);
        if (e == IH_OK) e = ih_hasher_update(h, buf, take);
        if (e == IH_OK && write(fd, buf, take) != (ssize_t)take) e = ih_fail(IH_E_IO, "write %s", dest);
        size -= take;
    }
    if (e == IH_OK) e = ih_hasher_final(h, got);
    if (e == IH_OK && memcmp(got, want, 32)) e = ih_fail(IH_E_INTEGRITY, "%s does not match its hash in the manifest", dest);
    if (e == IH_OK && fsync(fd) != 0) e = ih_fail(IH_E_IO, "fsync %s", dest);
    close(fd);
    if (buf) {
        ih_wipe(buf, 1 << 16);
        free(buf);
    }
    ih_hasher_free(h);
    return e;
}


ih_err ih_backup_restore(const char *path, const char *dir, const char *recovery_file, const char *pg_url, char *msg,
                         size_t n)
{
    ih_buf rf = IH_BUF_INIT;
    IH_TRY(ih_file_read(recovery_file, 65536, &rf));
    ih_recovery *rec = NULL;
    ih_signkey *audit_pub = NULL;
    ih_err e = ih_recovery_load(rf.p, rf.len, &rec);
    if (e == IH_OK) e = ih_sign_public_from_pem(rf.p, rf.len, &audit_pub);
    if (e != IH_OK) e = ih_fail(IH_E_CONFIG, "%s is not an ihos recovery file (recovery key and audit public key)",
                                recovery_file);
    ih_buf_wipe(&rf);
    char vmsg[600];
    if (e == IH_OK) e = ih_backup_verify(path, audit_pub, vmsg, sizeof vmsg);
    opened o = {0};
    if (e == IH_OK) e = open_backup(path, &o);
    const char *backend = e == IH_OK ? json_string_value(json_object_get(o.m, "backend")) : NULL;
    bool pg = backend && !strcmp(backend, "postgres");
    if (e == IH_OK && pg && (!pg_url || !*pg_url))
        e = ih_reject(IH_E_INVALID, "pg-url", "This is a PostgreSQL backup: give --pg-url for an empty database to restore into.");
    if (e == IH_OK && !pg && pg_url) e = ih_reject(IH_E_INVALID, "pg-url", "This is an SQLite backup: --pg-url does not apply.");
    if (e == IH_OK && o.suite != ih_recovery_suite(rec))
        e = ih_fail(IH_E_INTEGRITY, "the recovery key is for the other crypto suite");
    if (e == IH_OK && !ih_dir_empty_or_absent(dir)) e = ih_reject(IH_E_INVALID, "dir", "Refusing to restore into %s: it is not empty.", dir);
    bool created = false, ours = e == IH_OK; /* dir is empty or absent: anything in it is ours */
    if (e == IH_OK) {
        if (mkdir(dir, 0700) == 0) created = true;
        else if (errno != EEXIST) e = ih_fail(IH_E_IO, "mkdir %s: %s", dir, strerror(errno));
    }
    char sub[PATH_MAX];
    static const char *const dirs[] = {"keys", "audit", "audit/archive", "backups", NULL};
    for (const char *const *d = dirs; e == IH_OK && *d; d++) {
        e = ih_path(sub, sizeof sub, "%s/%s", dir, *d);
        if (e == IH_OK) e = ih_dir_create(sub, 0700, false);
    }
    uint8_t key[32];
    const char *blob64 = e == IH_OK ? json_string_value(json_object_get(json_object_get(o.m, "recovery"), "blob")) : NULL;
    uint8_t blob[512];
    long bl = blob64 ? ih_b64_decode(blob64, strlen(blob64), blob, sizeof blob) : -1;
    if (e == IH_OK && bl <= 0) e = ih_fail(IH_E_INTEGRITY, "backup manifest lacks the recovery blob");
    if (e == IH_OK) e = ih_recovery_open(rec, blob, (size_t)bl, key);
    bk_reader r = {0};
    if (e == IH_OK && fseek(o.f, o.payload_start, SEEK_SET) != 0) e = ih_fail(IH_E_IO, "seek");
    if (e == IH_OK) e = bk_reader_open(&r, o.f, o.suite, key);
    ih_wipe(key, sizeof key);
    char dump[PATH_MAX] = "";
    size_t i;
    json_t *ent;
    json_array_foreach(json_object_get(o.m, "entries"), i, ent)
    {
        if (e != IH_OK) break;
        const char *name = json_string_value(json_object_get(ent, "name"));
        const char *h64 = json_string_value(json_object_get(ent, "hash"));
        json_int_t size = json_integer_value(json_object_get(ent, "size"));
        uint8_t want[32];
        if (!safe_name(name) || !h64 || ih_b64_decode(h64, strlen(h64), want, 32) != 32 || size < 0) {
            e = ih_fail(IH_E_INTEGRITY, "backup entry %zu malformed", i);
            break;
        }
        char dest[PATH_MAX];
        if (!strcmp(name, "db.sqlite")) e = ih_path(dest, sizeof dest, "%s/ihos.db", dir);
        else if (!strcmp(name, "db.pgdump")) {
            e = ih_path(dest, sizeof dest, "%s/backups/.restore.pgdump", dir);
            snprintf(dump, sizeof dump, "%s", dest);
        } else e = ih_path(dest, sizeof dest, "%s/%s", dir, name);
        if (e == IH_OK) e = write_entry(&r, dest, (uint64_t)size, want, ih_suite_md(o.suite));
    }
    if (e == IH_OK && r.pos != r.len) e = ih_fail(IH_E_INTEGRITY, "backup payload longer than its manifest says");
    if (e == IH_OK && !r.last_seen) e = ih_fail(IH_E_INTEGRITY, "backup payload truncated (final chunk missing)");
    bk_reader_close(&r);
    if (e == IH_OK && dump[0]) {
        e = ih_store_pg_restore(dump, pg_url);
        unlink(dump);
    }
    /* Point the restored configuration at the new database. */
    ih_instance *in = calloc(1, sizeof *in); /* large: off the stack */
    if (!in && e == IH_OK) e = ih_fail(IH_E_NOMEM, "restore");
    char cmsg[600];
    if (e == IH_OK) e = ih_instance_load(dir, in, cmsg, sizeof cmsg);
    /* A passphrase KEK came back as keys/kek; a token's KEK never left the
     * token, which the restored instance opens again (keys/pkcs11-pin came back). */
    bool passphrase = e == IH_OK && !strcmp(in->conf.kek_source, "passphrase");
    if (e == IH_OK && (pg || passphrase)) {
        if (pg) snprintf(in->conf.pg_url, sizeof in->conf.pg_url, "%s", pg_url);
        if (passphrase) snprintf(in->conf.kek_source, sizeof in->conf.kek_source, "file");
        char *text, conf[PATH_MAX];
        e = ih_conf_render(&in->conf, &text);
        if (e == IH_OK) {
            ih_path(conf, sizeof conf, "%s/ihos.conf", in->dir);
            e = ih_file_replace(conf, text, strlen(text), 0600);
            free(text);
        }
    }
    /* Finally the restored journal must verify. */
    if (e == IH_OK) e = ih_instance_open_store(in);
    if (e == IH_OK) e = ih_instance_open_runtime(in, false);
    ih_audit_report ar = {0};
    if (e == IH_OK) {
        char cp[PATH_MAX];
        ih_instance_path(in, "audit/checkpoints", cp, sizeof cp);
        e = ih_audit_verify(in->store, in->suite, in->origin, in->audit_pub, cp, &ar);
        if (e == IH_OK && ar.problem[0]) e = ih_fail(IH_E_INTEGRITY, "the restored audit journal does not verify: %s", ar.problem);
    }
    if (in) ih_instance_close(in); /* safe on a zeroed or half-opened instance */
    free(in);
    if (e == IH_OK)
        snprintf(msg, n, "Restored %s into %s: %zu entries; the audit journal verifies (%llu events, %llu checkpoints).",
                 path, dir, json_array_size(json_object_get(o.m, "entries")), (unsigned long long)ar.events,
                 (unsigned long long)ar.checkpoints);
    else if (ours) {
        nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); /* leave nothing half-restored */
        if (created) rmdir(dir);
    }
    closed(&o);
    ih_recovery_free(rec);
    ih_signkey_free(audit_pub);
    return e;
}

/* ---- off-site ------------------------------------------------------------------------ */

ih_err ih_backup_offsite(const ih_conf *c, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (c->offsite_dir[0]) {
        char dst[PATH_MAX], tmp[PATH_MAX + 8];
        IH_TRY(ih_path(dst, sizeof dst, "%s/%s", c->offsite_dir, base));
        snprintf(tmp, sizeof tmp, "%s.part", dst);
        FILE *in = fopen(path, "rb");
        if (!in) return ih_fail(IH_E_IO, "open %s", path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ih_err e = fd < 0 ? ih_fail(IH_E_IO, "create %s: %s", tmp, strerror(errno)) : IH_OK;
        uint8_t buf[65536];
        size_t r;
        while (e == IH_OK && (r = fread(buf, 1, sizeof buf, in)) > 0)
            if (write(fd, buf, r) != (ssize_t)r) e = ih_fail(IH_E_IO, "write %s: %s", tmp, strerror(errno));
        if (e == IH_OK && fsync(fd) != 0) e = ih_fail(IH_E_IO, "fsync %s", tmp);
        if (fd >= 0) close(fd);
        fclose(in);
        if (e == IH_OK && rename(tmp, dst) != 0) e = ih_fail(IH_E_IO, "rename %s: %s", dst, strerror(errno));
        if (e == IH_OK) e = ih_fsync_dir(c->offsite_dir);
        if (e != IH_OK) {
            unlink(tmp);
            return e;
        }
        char h1[72], h2[72];
        uint64_t s1, s2;
        IH_TRY(file_hash(path, h1, &s1));
        IH_TRY(file_hash(dst, h2, &s2));
        if (s1 != s2 || strcmp(h1, h2)) return ih_fail(IH_E_IO, "the off-site copy %s differs from the backup", dst);
    }
    if (c->offsite_command[0]) {
        extern char **environ;
        char *argv[] = {(char *)c->offsite_command, (char *)path, NULL};
        pid_t pid;
        int rc = posix_spawn(&pid, c->offsite_command, NULL, NULL, argv, environ);
        if (rc != 0) return ih_fail(IH_E_IO, "cannot run %s: %s", c->offsite_command, strerror(rc));
        int status;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return ih_fail(IH_E_IO, "off-site command %s failed (status %d)", c->offsite_command,
                           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return IH_OK;
}

ih_err ih_backup_recovery_file(const char *recovery_private_pem, const char *audit_public_pem, const char *instance_id,
                               ih_buf *out)
{
    return ih_buf_printf(out,
                         "# ihos recovery key for instance %s\n"
                         "# Keep this offline. With a backup file it restores the instance on any machine:\n"
                         "#   ihos restore BACKUP DIR --recovery-key-file THIS_FILE\n"
                         "# The private key opens backups; the public key below is the instance's audit key,\n"
                         "# which signs backup manifests and the audit journal.\n"
                         "%s%s",
                         instance_id, recovery_private_pem, audit_public_pem);
}
