/* verify.c — recompute everything and name the first problem (see audit.h).
 *
 * Checked, in this order of position:
 *   every checkpoint (database and DIR/audit/checkpoints): well-formed note,
 *     right origin, signature by the audit key, the same root where both
 *     hold the same size;
 *   every event in sequence order: no gap, content hashes to its leaf hash,
 *     prev_hash equals the previous leaf; at each checkpoint size the root
 *     rebuilt from the leaves equals the checkpoint's root;
 *   the head row agrees with the events; no checkpoint covers more events
 *     than the database holds (truncation or rollback to an older copy).
 * Events after the last checkpoint are reported as unsealed, not as errors. */
#include "audit/audit_impl.h"

#include "core/fsutil.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cp {
    uint64_t size;
    uint8_t root[IH_HASH_LEN];
    bool in_db, in_file;
    char *error; /* first problem with this checkpoint, or NULL */
} cp;

typedef struct {
    cp *v;
    size_t n, cap;
} cp_list;

typedef struct {
    ih_suite suite;
    ih_md md;
    const char *origin;
    const ih_signkey *pub;
    const char *file;
    cp_list cps;
    ih_audit_report *r;
} vctx;

static bool problem(ih_audit_report *r, int64_t ev, int64_t cpsize, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool problem(ih_audit_report *r, int64_t ev, int64_t cpsize, const char *fmt, ...)
{
    if (r->problem[0]) return false; /* the first one stands */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->problem, sizeof r->problem, fmt, ap);
    va_end(ap);
    r->bad_event = ev;
    r->bad_checkpoint = cpsize;
    return true;
}

static cp *cp_get(cp_list *l, uint64_t size)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].size == size) return &l->v[i];
    return NULL;
}

static cp *cp_add(cp_list *l, uint64_t size)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        cp *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return NULL;
        l->v = nv;
        l->cap = nc;
    }
    cp *c = &l->v[l->n++];
    memset(c, 0, sizeof *c);
    c->size = size;
    return c;
}

/* A deliberate restore (anchor.c): the file's checkpoints beyond it, which
 * the database never reached again, no longer count. */
static void cp_drop_beyond(cp_list *l, uint64_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].in_file && !l->v[i].in_db && l->v[i].size > size) {
            free(l->v[i].error);
            continue;
        }
        l->v[k++] = l->v[i];
    }
    l->n = k;
}

static int cp_cmp(const void *a, const void *b)
{
    const cp *x = a, *y = b;
    return x->size < y->size ? -1 : x->size > y->size;
}

static void cp_error(cp *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cp_error(cp *c, const char *fmt, ...)
{
    if (c->error) return;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->error = strdup(msg);
}

/* Record one checkpoint seen in `where`; lookups by size merge the two sources. */
static ih_err take_checkpoint(vctx *v, const char *note, size_t n, const char *where, int64_t claimed_size,
                              const uint8_t *claimed_root, bool from_db)
{
    uint64_t size;
    uint8_t root[IH_HASH_LEN];
    ih_err e = note_verify(note, n, v->pub, v->origin, &size, root);
    uint64_t key = claimed_size >= 0 ? (uint64_t)claimed_size : (e == IH_OK ? size : 0);
    cp *c = cp_get(&v->cps, key);
    if (!c && !(c = cp_add(&v->cps, key))) return ih_fail(IH_E_NOMEM, "checkpoints");
    if (e != IH_OK) {
        cp_error(c, "checkpoint at size %llu (%s): %s", (unsigned long long)key, where, ih_err_detail());
        return IH_OK;
    }
    if (claimed_size >= 0 && ((uint64_t)claimed_size != size || memcmp(claimed_root, root, IH_HASH_LEN))) {
        cp_error(c, "checkpoint at size %llu (%s): its row does not match the signed note it holds (size %llu)",
                 (unsigned long long)key, where, (unsigned long long)size);
        return IH_OK;
    }
    if ((c->in_db || c->in_file) && memcmp(c->root, root, IH_HASH_LEN) != 0) {
        cp_error(c, "checkpoint at size %llu: the database and %s disagree on the root", (unsigned long long)size,
                 v->file ? v->file : "the checkpoint file");
        return IH_OK;
    }
    memcpy(c->root, root, IH_HASH_LEN);
    if (from_db) c->in_db = true;
    else c->in_file = true;
    return IH_OK;
}

static ih_err read_file_checkpoints(vctx *v)
{
    if (!v->file) return IH_OK;
    FILE *f = fopen(v->file, "r");
    if (!f) {
        if (errno == ENOENT) return IH_OK; /* compared with the database below */
        return ih_fail(IH_E_IO, "%s: %s", v->file, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    ih_err e = IH_OK;
    while (e == IH_OK && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len <= 1) continue;
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)len, 0, &je);
        const char *note = j ? json_string_value(json_object_get(j, "note")) : NULL;
        if (!note) {
            cp *c = cp_add(&v->cps, 0);
            if (!c) e = ih_fail(IH_E_NOMEM, "checkpoints");
            else cp_error(c, "%s line %d: not a checkpoint record", v->file, lineno);
        } else {
            char where[64];
            snprintf(where, sizeof where, "checkpoint file line %d", lineno);
            bool restore = json_is_true(json_object_get(j, "restore"));
            if (restore) {
                uint64_t rsize;
                uint8_t rroot[IH_HASH_LEN];
                if (note_verify(note, strlen(note), v->pub, v->origin, &rsize, rroot) == IH_OK) cp_drop_beyond(&v->cps, rsize);
                ih_err_clear();
            }
            e = take_checkpoint(v, note, strlen(note), where, -1, NULL, false);
            v->r->file_checkpoints++;
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    return e;
}

static ih_err db_checkpoints_fn(ih_tx *tx, vctx *v)
{
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT size, root, note FROM audit_checkpoint ORDER BY size", &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        size_t rn;
        const uint8_t *root = ih_col_blob(st, 1, &rn);
        uint8_t r[IH_HASH_LEN] = {0};
        if (root && rn == IH_HASH_LEN) memcpy(r, root, IH_HASH_LEN);
        const char *note = ih_col_text(st, 2);
        IH_TRY(take_checkpoint(v, note, strlen(note), "database", ih_col_int(st, 0), r, true));
    }
    return e;
}

typedef struct {
    vctx *v;
} verify_arg;

/* ---- row versions: audit_version holds exactly what the entries name ------------- */

typedef struct {
    int64_t seq, id, rv;
    char table[48];
} version_copy;

typedef struct {
    version_copy *v;
    size_t n, cap;
    int64_t from; /* first seq of the chunk */
} version_list;

static int version_cmp(const void *a, const void *b)
{
    const version_copy *x = a, *y = b;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    int c = strcmp(x->table, y->table);
    if (c) return c;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->rv < y->rv ? -1 : x->rv > y->rv;
}

/* Add what event seq's "table:id:rv,…" names; false if it is malformed. */
static bool versions_named(version_list *l, int64_t seq, slice rows)
{
    const char *p = rows.p, *end = rows.p + rows.n;
    while (p && p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        char item[96];
        size_t len = (size_t)(stop - p);
        if (len >= sizeof item) return false;
        memcpy(item, p, len);
        item[len] = '\0';
        version_copy c = {.seq = seq};
        long long id, rv;
        int used = 0;
        if (sscanf(item, "%47[a-z_]:%lld:%lld%n", c.table, &id, &rv, &used) != 3 || (size_t)used != len) return false;
        c.id = id;
        c.rv = rv;
        if (l->n == l->cap) {
            size_t nc = l->cap ? l->cap * 2 : 256;
            version_copy *nv = realloc(l->v, nc * sizeof *nv);
            if (!nv) return false;
            l->v = nv;
            l->cap = nc;
        }
        l->v[l->n++] = c;
        p = comma ? comma + 1 : NULL;
    }
    return true;
}

/* Compare the copies of events [l->from, to) with what their entries name
 * (events archived meanwhile are skipped: their entries live in the archive). */
static ih_err versions_check(ih_tx *tx, version_list *l, int64_t to, const uint8_t *purged, ih_audit_report *r)
{
    if (l->n) qsort(l->v, l->n, sizeof *l->v, version_cmp);
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT seq, tbl, row_id, rv FROM audit_version WHERE seq >= $1 AND seq < $2 "
                             "ORDER BY seq, tbl, row_id, rv",
                         &st));
    ih_stmt_int(st, 1, l->from);
    ih_stmt_int(st, 2, to);
    size_t i = 0;
    int64_t bad = -1;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        version_copy c = {.seq = ih_col_int(st, 0), .id = ih_col_int(st, 2), .rv = ih_col_int(st, 3)};
        snprintf(c.table, sizeof c.table, "%s", ih_col_text(st, 1));
        if (purged[c.seq - l->from]) continue;
        if (i < l->n && !version_cmp(&c, &l->v[i])) {
            i++;
            continue;
        }
        if (bad < 0) bad = i < l->n && l->v[i].seq < c.seq ? l->v[i].seq : c.seq;
    }
    IH_TRY(e);
    if (bad < 0 && i < l->n) bad = l->v[i].seq;
    if (bad >= 0)
        problem(r, bad, -1, "event %lld: the row versions copied beside it (audit_version) do not match what it names "
                            "(edited)",
                (long long)bad);
    l->n = 0;
    return IH_OK;
}

static ih_err verify_fn(ih_tx *tx, void *arg)
{
    vctx *v = ((verify_arg *)arg)->v;
    const vctx *vx = v;
    ih_audit_report *r = v->r;
    IH_TRY(db_checkpoints_fn(tx, v));
    if (v->cps.n) qsort(v->cps.v, v->cps.n, sizeof *v->cps.v, cp_cmp);
    size_t next_cp = 0;
    /* Checkpoints at size 0 can only be malformed records. */
    while (next_cp < v->cps.n && v->cps.v[next_cp].size == 0) {
        if (v->cps.v[next_cp].error) problem(r, -1, 0, "%s", v->cps.v[next_cp].error);
        next_cp++;
    }

    ih_frontier f = {0};
    uint8_t prev[IH_HASH_LEN] = {0};
    uint64_t expect = 0;
    ih_stmt *st;
    bool row;
    ih_err e = IH_OK;
    /* The stored tree (frontier of its first tree_size leaves) must agree
     * with the events; it may lag behind the newest ones. */
    IH_TRY(ih_tx_prepare(tx, "SELECT size, frontier FROM audit_tree WHERE id = 1", &st));
    IH_TRY(ih_stmt_step(st, &row));
    uint64_t tree_size = row ? (uint64_t)ih_col_int(st, 0) : 0;
    uint8_t tree_enc[IH_MERKLE_MAX_DEPTH * IH_HASH_LEN];
    size_t tree_len = 0;
    if (row) {
        const uint8_t *fr = ih_col_blob(st, 1, &tree_len);
        if (tree_len > sizeof tree_enc) tree_len = sizeof tree_enc;
        if (fr) memcpy(tree_enc, fr, tree_len);
    }
    IH_TRY(ih_stmt_exec(st));
    version_list vl = {0};
    uint8_t *purged_in_chunk = calloc(20000, 1);
    if (!purged_in_chunk) return ih_fail(IH_E_NOMEM, "verify");
    for (;;) {
        ih_err pe = ih_tx_prepare(tx, "SELECT " AUDIT_EVENT_SELECT " FROM audit_event WHERE seq >= $1 ORDER BY seq "
                                      "LIMIT 20000", &st);
        if (pe != IH_OK) {
            e = pe;
            break;
        }
        ih_stmt_int(st, 1, (int64_t)expect);
        uint64_t got = 0;
        vl.from = (int64_t)expect;
        memset(purged_in_chunk, 0, 20000);
        while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
            got++;
            int64_t seq = ih_col_int(st, 0);
            size_t ln, en;
            const uint8_t *stored = ih_col_blob(st, 8, &ln);
            const uint8_t *entry = ih_col_blob(st, 7, &en);
            bool purged = ih_col_int(st, 9) != 0;
            if ((uint64_t)seq != expect) {
                problem(r, (int64_t)expect, -1, "event %llu is missing (deleted or renumbered)", (unsigned long long)expect);
                free(vl.v);
                free(purged_in_chunk);
                return IH_OK;
            }
            uint8_t leaf[IH_HASH_LEN];
            if (!stored || ln != IH_HASH_LEN) {
                problem(r, seq, -1, "event %llu has no valid leaf hash", (unsigned long long)expect);
                memset(leaf, 0, sizeof leaf);
            } else if (purged) {
                memcpy(leaf, stored, IH_HASH_LEN); /* content lives in a verified archive */
                r->purged++;
                purged_in_chunk[seq - vl.from] = 1;
            } else {
                audit_view ev;
                if (!entry || ih_merkle_leaf(vx->md, entry, en, leaf) != IH_OK)
                    memset(leaf, 0, sizeof leaf);
                if (memcmp(leaf, stored, IH_HASH_LEN) != 0)
                    problem(r, seq, -1, "event %llu: its content does not match its leaf hash (edited)",
                            (unsigned long long)expect);
                else if (audit_entry_parse(entry, en, &ev) != 0 || ev.seq != seq)
                    problem(r, seq, -1, "event %llu: its content belongs to another place in the journal (moved)",
                            (unsigned long long)expect);
                else if (ev.ts != ih_col_int(st, 1) || !ev.has_actor || ev.actor_id != ih_col_int(st, 2) ||
                         !slice_eq(ev.action, ih_col_text(st, 3), ih_col_null(st, 3)) ||
                         !slice_eq(ev.object_type, ih_col_text(st, 4), ih_col_null(st, 4)) ||
                         !slice_eq(ev.object_id, ih_col_text(st, 5), ih_col_null(st, 5)) ||
                         !slice_eq(ev.outcome, ih_col_text(st, 6), ih_col_null(st, 6)))
                    problem(r, seq, -1, "event %llu: its indexed columns do not match its content (edited)",
                            (unsigned long long)expect);
                else if (memcmp(ev.prev, prev, IH_HASH_LEN) != 0)
                    problem(r, seq, -1,
                            "event %llu does not follow event %lld (inserted, deleted or reordered events)",
                            (unsigned long long)expect, (long long)expect - 1);
                else if (ev.rows.p && !versions_named(&vl, seq, ev.rows))
                    problem(r, seq, -1, "event %llu names its rows in a form that does not parse",
                            (unsigned long long)expect);
                memcpy(leaf, stored, IH_HASH_LEN);
            }
            memcpy(prev, leaf, IH_HASH_LEN);
            if ((e = ih_frontier_append(v->md, &f, leaf, NULL, NULL)) != IH_OK) goto done;
            expect++;
            if (expect == tree_size) {
                uint8_t enc[IH_MERKLE_MAX_DEPTH * IH_HASH_LEN];
                size_t n;
                ih_frontier_encode(&f, enc, &n);
                if (n != tree_len || memcmp(enc, tree_enc, n))
                    problem(r, -1, (int64_t)tree_size,
                            "the stored Merkle tree (size %llu) does not match the events", (unsigned long long)tree_size);
            }
            while (next_cp < v->cps.n && v->cps.v[next_cp].size == expect) {
                cp *k = &v->cps.v[next_cp++];
                uint8_t root[IH_HASH_LEN];
                if ((e = ih_frontier_root(v->md, &f, root)) != IH_OK) goto done;
                if (k->error) problem(r, -1, (int64_t)k->size, "%s", k->error);
                else if (memcmp(root, k->root, IH_HASH_LEN) != 0)
                    problem(r, -1, (int64_t)k->size,
                            "checkpoint at size %llu: its root does not match the events it covers (events before it "
                            "were changed, or the checkpoint was replaced)",
                            (unsigned long long)k->size);
                r->checkpoints++;
            }
        }
        if (e != IH_OK) break;
        if ((e = versions_check(tx, &vl, (int64_t)expect, purged_in_chunk, r)) != IH_OK) break;
        if (got < 20000) break;
    }
done:
    free(vl.v);
    free(purged_in_chunk);
    IH_TRY(e);
    r->events = expect;

    uint64_t last_sealed = 0;
    for (size_t i = 0; i < v->cps.n; i++) {
        cp *k = &v->cps.v[i];
        if (k->size <= expect) {
            if (k->size > last_sealed && !k->error) last_sealed = k->size;
            continue;
        }
        problem(r, -1, (int64_t)k->size,
                "checkpoint at size %llu (%s) covers more events than the database holds (%llu): the journal was "
                "truncated or the database rolled back to an older copy",
                (unsigned long long)k->size, k->in_file ? "checkpoint file" : "database", (unsigned long long)expect);
        break;
    }
    if (tree_size > expect)
        problem(r, -1, (int64_t)tree_size, "the stored Merkle tree covers %llu events but the database holds %llu",
                (unsigned long long)tree_size, (unsigned long long)expect);
    bool db_has = false, file_has = false;
    for (size_t i = 0; i < v->cps.n; i++) {
        db_has |= v->cps.v[i].in_db;
        file_has |= v->cps.v[i].in_file;
    }
    if (v->file && db_has && !file_has)
        problem(r, -1, -1, "the database holds checkpoints but %s has none: the outside copy is missing", v->file);
    r->unsealed = expect - last_sealed;
    return IH_OK;
}

ih_err ih_audit_verify(ih_store *s, ih_suite suite, const char *origin, const ih_signkey *pub,
                       const char *checkpoint_file, ih_audit_report *r)
{
    memset(r, 0, sizeof *r);
    r->bad_event = r->bad_checkpoint = -1;
    vctx v = {.suite = suite, .md = ih_suite_md(suite), .origin = origin, .pub = pub, .file = checkpoint_file, .r = r};
    ih_err e = read_file_checkpoints(&v);
    if (e == IH_OK) {
        verify_arg a = {&v};
        e = ih_store_read(s, verify_fn, &a);
    }
    for (size_t i = 0; i < v.cps.n; i++) free(v.cps.v[i].error);
    free(v.cps.v);
    return e;
}
