/* anchor.c — the newest checkpoint, kept where the database's owner cannot
 * rewrite it, and the check at start that the database was not rolled back
 * behind it (see audit.h).  L3 8.1.4.3c, 8.1.4.6, 8.1.4.7b.
 *
 * An anchor file holds JSON lines, each signed by the audit key:
 *   {"size":N,"root":"…","note":"…"}                a checkpoint
 *   {"restore":true,"size":N,"root":"…","note":"…"} a deliberate restore:
 *        the journal goes on from this (older) checkpoint; newer ones
 *        before it no longer count (written by `ihos audit accept-restore`)
 * Read in order, the last restore and every checkpoint after it give the
 * newest state the database must still contain: at least that many events,
 * and the same Merkle root at that size. */
#include "audit/audit_impl.h"

#include "core/fsutil.h"
#include "core/json.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The newest anchored state read from one file. */
typedef struct {
    bool have;
    uint64_t size;
    uint8_t root[IH_HASH_LEN];
} anchored;

static ih_err read_anchor(const char *file, const ih_signkey *pub, const char *origin, anchored *a, char *problem,
                          size_t len)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        if (errno == ENOENT) return IH_OK; /* nothing anchored there yet */
        return ih_fail(IH_E_IO, "%s: %s", file, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    while (!problem[0] && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n <= 1) continue;
        json_t *j = json_loadb(line, (size_t)n, 0, NULL);
        const char *note = j ? json_string_value(json_object_get(j, "note")) : NULL;
        uint64_t size;
        uint8_t root[IH_HASH_LEN];
        if (!note || note_verify(note, strlen(note), pub, origin, &size, root) != IH_OK)
            snprintf(problem, len, "%s line %d is not a checkpoint signed by this instance's audit key", file, lineno);
        else if (json_is_true(json_object_get(j, "restore")) || !a->have || size > a->size) {
            a->have = true;
            a->size = size;
            memcpy(a->root, root, IH_HASH_LEN);
        } else if (size == a->size && memcmp(root, a->root, IH_HASH_LEN))
            snprintf(problem, len, "%s line %d: two checkpoints of size %llu with different roots", file, lineno,
                     (unsigned long long)size);
        json_decref(j);
        ih_err_clear();
    }
    free(line);
    fclose(f);
    return IH_OK;
}

typedef struct {
    uint64_t size;
    uint64_t events;
    uint8_t root[IH_HASH_LEN];
    ih_md md;
    ih_tx *tx;
} db_arg;

static ih_err node_hash(ih_tx *tx, int level, uint64_t index, uint8_t out[IH_HASH_LEN])
{
    ih_stmt *st;
    bool row;
    if (level == 0) {
        IH_TRY(ih_tx_prepare(tx, "SELECT leaf_hash FROM audit_event WHERE seq = $1", &st));
        ih_stmt_int(st, 1, (int64_t)index);
    } else {
        IH_TRY(ih_tx_prepare(tx, "SELECT hash FROM audit_node WHERE lvl = $1 AND idx = $2", &st));
        ih_stmt_int(st, 1, level);
        ih_stmt_int(st, 2, (int64_t)index);
    }
    IH_TRY(ih_stmt_step(st, &row));
    size_t n;
    const uint8_t *h = row ? ih_col_blob(st, 0, &n) : NULL;
    if (!h || n != IH_HASH_LEN) return ih_fail(IH_E_INTEGRITY, "tree node (%d, %llu) missing", level, (unsigned long long)index);
    memcpy(out, h, IH_HASH_LEN);
    return ih_stmt_exec(st);
}

/* The database's event count, and its root at a->size when it has that many. */
static ih_err db_fn(ih_tx *tx, void *arg)
{
    db_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT coalesce(max(seq) + 1, 0) FROM audit_event", &st));
    IH_TRY(ih_stmt_step(st, &row));
    a->events = (uint64_t)ih_col_int(st, 0);
    IH_TRY(ih_stmt_exec(st));
    if (a->events < a->size || a->size == 0) return IH_OK;
    /* the perfect subtrees that make up the first `size` leaves, largest first */
    ih_frontier f = {.size = a->size};
    uint64_t offset = 0;
    for (int level = 63; level >= 0; level--) {
        if (!(a->size & (UINT64_C(1) << level))) continue;
        IH_TRY(node_hash(tx, level, offset >> level, f.h[f.n++]));
        offset += UINT64_C(1) << level;
    }
    return ih_frontier_root(a->md, &f, a->root);
}

ih_err ih_audit_rollback_check(ih_store *s, ih_suite suite, const char *origin, const ih_signkey *pub,
                               const char *const *files, int nfiles, char *problem, size_t len)
{
    problem[0] = '\0';
    for (int i = 0; i < nfiles && !problem[0]; i++) {
        if (!files[i] || !files[i][0]) continue;
        anchored a = {0};
        IH_TRY(read_anchor(files[i], pub, origin, &a, problem, len));
        if (problem[0] || !a.have) continue;
        db_arg d = {.size = a.size, .md = ih_suite_md(suite)};
        ih_err e = ih_store_read(s, db_fn, &d);
        if (e == IH_E_INTEGRITY) {
            snprintf(problem, len, "the audit tree in the database cannot give its root at size %llu: %s",
                     (unsigned long long)a.size, ih_err_detail());
            ih_err_clear();
        } else if (e != IH_OK)
            return e;
        else if (d.events < a.size)
            snprintf(problem, len,
                     "%s holds a signed checkpoint of %llu audit events but the database has %llu: the database was "
                     "rolled back to an older copy (or events were deleted)",
                     files[i], (unsigned long long)a.size, (unsigned long long)d.events);
        else if (memcmp(d.root, a.root, IH_HASH_LEN))
            snprintf(problem, len,
                     "the database's audit journal at size %llu is not the one %s signed for: it was replaced or "
                     "rolled back and rewritten",
                     (unsigned long long)a.size, files[i]);
    }
    return problem[0] ? ih_fail(IH_E_INTEGRITY, "%s", problem) : IH_OK;
}

/* ---- writing ------------------------------------------------------------------------ */

ih_err audit_anchor_line(const char *file, uint64_t size, const uint8_t root[IH_HASH_LEN], const char *note,
                         bool restore)
{
    char rb64[64];
    ih_b64_encode(root, IH_HASH_LEN, rb64);
    json_t *j = json_pack("{s:I, s:s, s:s}", "size", (json_int_t)size, "root", rb64, "note", note);
    if (!j) return ih_fail(IH_E_NOMEM, "anchor line");
    if (restore) json_object_set_new(j, "restore", json_true());
    ih_buf line = IH_BUF_INIT;
    ih_err e = ih_json_dump(j, JSON_COMPACT, &line);
    json_decref(j);
    if (e == IH_OK) e = ih_buf_puts(&line, "\n");
    if (e == IH_OK) e = ih_file_append(file, line.p, line.len, 0600);
    ih_buf_free(&line);
    return e;
}

typedef struct {
    uint64_t size;
    char *note;
} last_arg;

static ih_err last_fn(ih_tx *tx, void *arg)
{
    last_arg *l = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT size, note FROM audit_checkpoint ORDER BY size DESC LIMIT 1", &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_reject(IH_E_STATE, NULL, "The database holds no checkpoint to continue from.");
    l->size = (uint64_t)ih_col_int(st, 0);
    l->note = strdup(ih_col_text(st, 1));
    IH_CHECK_ALLOC(l->note);
    return ih_stmt_exec(st);
}

ih_err ih_audit_accept_restore(ih_audit *a, const ih_actor *who, const char *const *files, int nfiles,
                               uint64_t *size)
{
    if (!a->o.signer) return ih_fail(IH_E_INTERNAL, "no audit signing key");
    last_arg l = {0};
    IH_TRY(ih_store_read(a->o.store, last_fn, &l));
    uint8_t root[IH_HASH_LEN];
    uint64_t sz = 0;
    ih_err e = note_verify(l.note, strlen(l.note), a->o.signer, a->origin, &sz, root);
    if (e == IH_OK && sz != l.size) e = ih_fail(IH_E_INTEGRITY, "the database's last checkpoint row is inconsistent");
    for (int i = 0; e == IH_OK && i < nfiles; i++)
        if (files[i] && files[i][0]) e = audit_anchor_line(files[i], sz, root, l.note, true);
    free(l.note);
    IH_TRY(e);
    char oid[24];
    snprintf(oid, sizeof oid, "%llu", (unsigned long long)sz);
    ih_audit_event ev = {.action = "audit.restore_accepted", .object_type = "audit_journal", .object_id = oid};
    IH_TRY(ih_audit_record(a, who, &ev));
    *size = sz;
    return IH_OK;
}
