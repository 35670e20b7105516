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
 * Events after the last checkpoint are reported as unsealed, not as errors.
 * The events are checked by several threads at once (below); what is
 * reported is what a check in one pass, in that order, would report. */
#include "audit/audit_impl.h"

#include "core/fsutil.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
static ih_err versions_check(ih_tx *tx, version_list *l, int64_t to, const uint8_t *purged, int64_t *bad_out)
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
    *bad_out = bad;
    l->n = 0;
    return IH_OK;
}

/* ---- events, in blocks checked side by side ---------------------------------
 *
 * The events are cut into blocks of 2^audit_verify_block_log, taken in turn
 * by up to VERIFY_THREADS threads, each thread in one read (ih_store_scan) of
 * its own.  Every check
 * on an event needs only the event and the stored leaf before it, and a
 * block's leaves make a perfect subtree of the Merkle tree, whose root joins
 * the tree at that level.  The tree's frontier at a size inside a
 * block is the frontier of the whole blocks before it followed by the block's
 * own frontier at that point, so a block keeps its own frontier at each size
 * the main thread compares (checkpoints, the stored tree).  The journal only
 * grows, so every thread's read holds the events the first read counted.  The
 * main thread then walks the blocks in order and reports what a check in one
 * pass would have reported first. */

int audit_verify_block_log = 16;
#define VERIFY_BLOCK ((uint64_t)1 << audit_verify_block_log)
#define VERIFY_THREADS 4

typedef struct {
    uint64_t size;
    ih_frontier f; /* the block's own frontier at that size */
} block_mark;

typedef struct {
    uint64_t start, end; /* events [start, end) */
    uint64_t checked;    /* events checked from start on */
    ih_frontier f;       /* the block's frontier after them */
    block_mark *marks;
    size_t nmarks;
    uint64_t purged;
    int64_t bad_event; /* the block's first problem with an event, or -1 */
    char problem[400];
    int64_t missing;   /* the first missing event (nothing after it counts), or -1 */
    int64_t bad_version; /* first event whose audit_version copies disagree, or -1 */
    ih_err e;
    ih_err_text etext;
} block;

typedef struct {
    ih_store *s;
    ih_md md;
    const uint64_t *sizes; /* where the main thread compares the tree, ascending */
    size_t nsizes;
    block *blocks;
    size_t nblocks;
    atomic_size_t next;
} blockset;

typedef struct {
    blockset *set;
    block *b;
    version_list *vl;
    uint8_t *purged; /* VERIFY_BLOCK flags */
} block_job;

static void block_problem(block *b, int64_t seq, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void block_problem(block *b, int64_t seq, const char *fmt, ...)
{
    if (b->bad_event >= 0) return; /* the first one stands */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->problem, sizeof b->problem, fmt, ap);
    va_end(ap);
    b->bad_event = seq;
}

static ih_err block_mark_add(block *b, uint64_t size)
{
    block_mark *nm = realloc(b->marks, (b->nmarks + 1) * sizeof *nm);
    if (!nm) return ih_fail(IH_E_NOMEM, "verify");
    b->marks = nm;
    nm[b->nmarks].size = size;
    nm[b->nmarks++].f = b->f;
    return IH_OK;
}

/* Check one event (the row st is on); prev is the stored leaf before it and
 * becomes this event's. */
static ih_err check_event(block_job *j, ih_stmt *st, uint64_t expect, uint8_t prev[IH_HASH_LEN])
{
    block *b = j->b;
    ih_md md = j->set->md;
    int64_t seq = ih_col_int(st, 0);
    size_t ln, en;
    const uint8_t *stored = ih_col_blob(st, 8, &ln);
    const uint8_t *entry = ih_col_blob(st, 7, &en);
    bool purged = ih_col_int(st, 9) != 0;
    uint8_t leaf[IH_HASH_LEN];
    if (!stored || ln != IH_HASH_LEN) {
        block_problem(b, seq, "event %llu has no valid leaf hash", (unsigned long long)expect);
        memset(leaf, 0, sizeof leaf);
    } else if (purged) {
        memcpy(leaf, stored, IH_HASH_LEN); /* content lives in a verified archive */
        b->purged++;
        j->purged[seq - (int64_t)b->start] = 1;
    } else {
        audit_view ev;
        if (!entry || ih_merkle_leaf(md, entry, en, leaf) != IH_OK) memset(leaf, 0, sizeof leaf);
        if (memcmp(leaf, stored, IH_HASH_LEN) != 0)
            block_problem(b, seq, "event %llu: its content does not match its leaf hash (edited)",
                          (unsigned long long)expect);
        else if (audit_entry_parse(entry, en, &ev) != 0 || ev.seq != seq)
            block_problem(b, seq, "event %llu: its content belongs to another place in the journal (moved)",
                          (unsigned long long)expect);
        else if (ev.ts != ih_col_int(st, 1) || !ev.has_actor || ev.actor_id != ih_col_int(st, 2) ||
                 !slice_eq(st, 3, ev.action) || !slice_eq(st, 4, ev.object_type) || !slice_eq(st, 5, ev.object_id) ||
                 !slice_eq(st, 6, ev.outcome))
            block_problem(b, seq, "event %llu: its indexed columns do not match its content (edited)",
                          (unsigned long long)expect);
        else if (memcmp(ev.prev, prev, IH_HASH_LEN) != 0)
            block_problem(b, seq, "event %llu does not follow event %lld (inserted, deleted or reordered events)",
                          (unsigned long long)expect, (long long)expect - 1);
        else if (ev.rows.p && !versions_named(j->vl, seq, ev.rows))
            block_problem(b, seq, "event %llu names its rows in a form that does not parse",
                          (unsigned long long)expect);
        memcpy(leaf, stored, IH_HASH_LEN);
    }
    memcpy(prev, leaf, IH_HASH_LEN);
    return ih_frontier_append(md, &b->f, leaf, NULL, NULL);
}

static ih_err block_fn(ih_tx *tx, void *arg)
{
    block_job *j = arg;
    block *b = j->b;
    const blockset *set = j->set;
    uint8_t prev[IH_HASH_LEN] = {0};
    ih_stmt *st;
    bool row;
    if (b->start > 0) { /* the chain's link into this block */
        IH_TRY(ih_tx_prepare(tx, "SELECT leaf_hash FROM audit_event WHERE seq = $1", &st));
        ih_stmt_int(st, 1, (int64_t)b->start - 1);
        IH_TRY(ih_stmt_step(st, &row));
        size_t n;
        const uint8_t *l = row ? ih_col_blob(st, 0, &n) : NULL;
        if (l && n == IH_HASH_LEN) memcpy(prev, l, IH_HASH_LEN);
        IH_TRY(ih_stmt_exec(st));
    }
    size_t mi = 0;
    while (mi < set->nsizes && set->sizes[mi] <= b->start) mi++;
    j->vl->n = 0;
    j->vl->from = (int64_t)b->start;
    memset(j->purged, 0, VERIFY_BLOCK);
    IH_TRY(ih_tx_prepare(tx, "SELECT " AUDIT_EVENT_SELECT " FROM audit_event WHERE seq >= $1 AND seq < $2 ORDER BY seq",
                         &st));
    ih_stmt_int(st, 1, (int64_t)b->start);
    ih_stmt_int(st, 2, (int64_t)b->end);
    uint64_t expect = b->start;
    ih_err e;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        if ((uint64_t)ih_col_int(st, 0) != expect) break;
        IH_TRY(check_event(j, st, expect, prev));
        expect++;
        for (; mi < set->nsizes && set->sizes[mi] == expect && expect - b->start < VERIFY_BLOCK; mi++)
            IH_TRY(block_mark_add(b, expect));
    }
    IH_TRY(e);
    b->checked = expect - b->start;
    if (expect < b->end) {
        b->missing = (int64_t)expect;
        return IH_OK;
    }
    return versions_check(tx, j->vl, (int64_t)expect, j->purged, &b->bad_version);
}

/* One worker: blocks taken in turn, all in one read (one snapshot). */
static ih_err worker_fn(ih_tx *tx, void *arg)
{
    block_job *j = arg;
    blockset *set = j->set;
    size_t i;
    while ((i = atomic_fetch_add(&set->next, 1)) < set->nblocks) {
        j->b = &set->blocks[i];
        if ((j->b->e = block_fn(tx, j)) != IH_OK) {
            ih_err_save(&j->b->etext);
            return j->b->e;
        }
    }
    return IH_OK;
}

static void *block_worker(void *arg)
{
    blockset *set = arg;
    version_list vl = {0};
    block_job j = {set, NULL, &vl, malloc(VERIFY_BLOCK)};
    ih_err e = j.purged ? ih_store_scan(set->s, worker_fn, &j) : ih_fail(IH_E_NOMEM, "verify");
    if (e != IH_OK) { /* the block it was on, or the next one if the read itself failed */
        block *b = j.b && j.b->e != IH_OK ? j.b : NULL;
        size_t i;
        if (!b && (i = atomic_fetch_add(&set->next, 1)) < set->nblocks) b = &set->blocks[i];
        if (b) {
            b->e = e;
            ih_err_save(&b->etext);
        }
    }
    free(vl.v);
    free(j.purged);
    return NULL;
}

/* One thread per core, at most VERIFY_THREADS, and at most half the
 * connections reads may use: a verification in a running server (the
 * self-check) leaves the other half to the requests. */
static size_t verify_threads(const blockset *set)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t want = cpus > VERIFY_THREADS ? VERIFY_THREADS : cpus > 1 ? (size_t)cpus : 1;
    size_t share = (size_t)ih_store_readers(set->s) / 2;
    if (want > share) want = share > 1 ? share : 1;
    if (want > set->nblocks) want = set->nblocks;
    return want;
}

static size_t check_blocks(blockset *set)
{
    size_t want = verify_threads(set);
    pthread_t t[VERIFY_THREADS];
    size_t started = 0;
    while (started + 1 < want && pthread_create(&t[started], NULL, block_worker, set) == 0) started++;
    block_worker(set); /* this thread is one of them */
    for (size_t i = 0; i < started; i++) pthread_join(t[i], NULL);
    return started + 1;
}

/* ---- putting it together ----------------------------------------------------- */

typedef struct {
    vctx *v;
    uint64_t events;    /* highest seq + 1 */
    uint64_t tree_size; /* the stored tree: its size and frontier */
    uint8_t tree_enc[IH_MERKLE_MAX_DEPTH * IH_HASH_LEN];
    size_t tree_len;
    size_t next_cp; /* the next checkpoint to compare, in v->cps */
} head;

static ih_err head_fn(ih_tx *tx, void *arg)
{
    head *h = arg;
    IH_TRY(db_checkpoints_fn(tx, h->v));
    ih_stmt *st;
    bool row;
    /* The stored tree (frontier of its first tree_size leaves) must agree
     * with the events; it may lag behind the newest ones. */
    IH_TRY(ih_tx_prepare(tx, "SELECT size, frontier FROM audit_tree WHERE id = 1", &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (row) {
        h->tree_size = (uint64_t)ih_col_int(st, 0);
        const uint8_t *fr = ih_col_blob(st, 1, &h->tree_len);
        if (h->tree_len > sizeof h->tree_enc) h->tree_len = sizeof h->tree_enc;
        if (fr) memcpy(h->tree_enc, fr, h->tree_len);
    }
    IH_TRY(ih_stmt_exec(st));
    IH_TRY(ih_tx_prepare(tx, "SELECT max(seq) FROM audit_event", &st));
    IH_TRY(ih_stmt_step(st, &row));
    h->events = row && !ih_col_null(st, 0) && ih_col_int(st, 0) >= 0 ? (uint64_t)ih_col_int(st, 0) + 1 : 0;
    return ih_stmt_exec(st);
}

/* The tree at `size` is whole blocks `top` followed by `in` (the part of a
 * block): compare it with the stored tree and the checkpoints at that size. */
static ih_err check_size(head *h, const ih_frontier *top, const ih_frontier *in, uint64_t size)
{
    vctx *v = h->v;
    ih_audit_report *r = v->r;
    ih_frontier f = {.size = size, .n = top->n + in->n};
    memcpy(f.h, top->h, (size_t)top->n * IH_HASH_LEN);
    memcpy(f.h[top->n], in->h, (size_t)in->n * IH_HASH_LEN);
    if (size == h->tree_size) {
        uint8_t enc[IH_MERKLE_MAX_DEPTH * IH_HASH_LEN];
        size_t n;
        ih_frontier_encode(&f, enc, &n);
        if (n != h->tree_len || memcmp(enc, h->tree_enc, n))
            problem(r, -1, (int64_t)size, "the stored Merkle tree (size %llu) does not match the events",
                    (unsigned long long)size);
    }
    while (h->next_cp < v->cps.n && v->cps.v[h->next_cp].size == size) {
        cp *k = &v->cps.v[h->next_cp++];
        uint8_t root[IH_HASH_LEN];
        IH_TRY(ih_frontier_root(v->md, &f, root));
        if (k->error) problem(r, -1, (int64_t)k->size, "%s", k->error);
        else if (memcmp(root, k->root, IH_HASH_LEN) != 0)
            problem(r, -1, (int64_t)k->size,
                    "checkpoint at size %llu: its root does not match the events it covers (events before it "
                    "were changed, or the checkpoint was replaced)",
                    (unsigned long long)k->size);
        r->checkpoints++;
    }
    return IH_OK;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Walk the checked blocks in order; *stop when an event is missing. */
static ih_err combine(head *h, blockset *set, uint64_t *expect, bool *stop)
{
    ih_audit_report *r = h->v->r;
    ih_frontier top = {0}; /* the whole blocks so far, a block being a leaf */
    const ih_frontier none = {0};
    for (size_t i = 0; i < set->nblocks; i++) {
        block *b = &set->blocks[i];
        if (b->e != IH_OK) {
            ih_err_load(&b->etext);
            return b->e;
        }
        size_t m = 0;
        for (; m < b->nmarks && (b->bad_event < 0 || b->marks[m].size <= (uint64_t)b->bad_event); m++)
            IH_TRY(check_size(h, &top, &b->marks[m].f, b->marks[m].size));
        if (b->bad_event >= 0) problem(r, b->bad_event, -1, "%s", b->problem);
        if (b->missing >= 0) {
            for (; m < b->nmarks; m++) IH_TRY(check_size(h, &top, &b->marks[m].f, b->marks[m].size));
            problem(r, b->missing, -1, "event %lld is missing (deleted or renumbered)", (long long)b->missing);
            *stop = true;
            return IH_OK;
        }
        for (; m < b->nmarks; m++) IH_TRY(check_size(h, &top, &b->marks[m].f, b->marks[m].size));
        if (b->bad_version >= 0)
            problem(r, b->bad_version, -1,
                    "event %lld: the row versions copied beside it (audit_version) do not match what it names "
                    "(edited)",
                    (long long)b->bad_version);
        r->purged += b->purged;
        *expect = b->start + b->checked;
        if (b->checked == VERIFY_BLOCK) {
            IH_TRY(ih_frontier_append(h->v->md, &top, b->f.h[0], NULL, NULL));
            IH_TRY(check_size(h, &top, &none, *expect));
        }
    }
    return IH_OK;
}

static ih_err check_events(ih_store *s, head *h)
{
    vctx *v = h->v;
    ih_audit_report *r = v->r;
    if (v->cps.n) qsort(v->cps.v, v->cps.n, sizeof *v->cps.v, cp_cmp);
    /* Checkpoints at size 0 can only be malformed records. */
    while (h->next_cp < v->cps.n && v->cps.v[h->next_cp].size == 0) {
        if (v->cps.v[h->next_cp].error) problem(r, -1, 0, "%s", v->cps.v[h->next_cp].error);
        h->next_cp++;
    }
    blockset set = {.s = s, .md = v->md, .nblocks = (size_t)((h->events + VERIFY_BLOCK - 1) / VERIFY_BLOCK)};
    uint64_t *sizes = malloc((v->cps.n + 1) * sizeof *sizes);
    set.blocks = calloc(set.nblocks ? set.nblocks : 1, sizeof *set.blocks);
    ih_err e = IH_OK;
    if (!sizes || !set.blocks) {
        e = ih_fail(IH_E_NOMEM, "verify");
        goto out;
    }
    for (size_t i = 0; i < v->cps.n; i++)
        if (v->cps.v[i].size > 0 && (!set.nsizes || sizes[set.nsizes - 1] != v->cps.v[i].size))
            sizes[set.nsizes++] = v->cps.v[i].size;
    if (h->tree_size > 0) sizes[set.nsizes++] = h->tree_size;
    qsort(sizes, set.nsizes, sizeof *sizes, u64_cmp);
    set.sizes = sizes;
    for (size_t i = 0; i < set.nblocks; i++) {
        block *b = &set.blocks[i];
        b->start = i * VERIFY_BLOCK;
        b->end = b->start + VERIFY_BLOCK < h->events ? b->start + VERIFY_BLOCK : h->events;
        b->bad_event = b->bad_version = b->missing = -1;
    }
    r->threads = (int)check_blocks(&set);
    uint64_t expect = 0;
    bool stop = false;
    if ((e = combine(h, &set, &expect, &stop)) != IH_OK || stop) goto out;
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
    if (h->tree_size > expect)
        problem(r, -1, (int64_t)h->tree_size, "the stored Merkle tree covers %llu events but the database holds %llu",
                (unsigned long long)h->tree_size, (unsigned long long)expect);
    bool db_has = false, file_has = false;
    for (size_t i = 0; i < v->cps.n; i++) {
        db_has |= v->cps.v[i].in_db;
        file_has |= v->cps.v[i].in_file;
    }
    if (v->file && db_has && !file_has)
        problem(r, -1, -1, "the database holds checkpoints but %s has none: the outside copy is missing", v->file);
    r->unsealed = expect - last_sealed;
out:
    for (size_t i = 0; i < set.nblocks; i++) free(set.blocks[i].marks);
    free(set.blocks);
    free(sizes);
    return e;
}

ih_err ih_audit_verify(ih_store *s, ih_suite suite, const char *origin, const ih_signkey *pub,
                       const char *checkpoint_file, ih_audit_report *r)
{
    memset(r, 0, sizeof *r);
    r->bad_event = r->bad_checkpoint = -1;
    vctx v = {.suite = suite, .md = ih_suite_md(suite), .origin = origin, .pub = pub, .file = checkpoint_file, .r = r};
    ih_err e = read_file_checkpoints(&v);
    if (e == IH_OK) {
        head h = {.v = &v};
        e = ih_store_read(s, head_fn, &h);
        if (e == IH_OK) e = check_events(s, &h);
    }
    for (size_t i = 0; i < v.cps.n; i++) free(v.cps.v[i].error);
    free(v.cps.v);
    return e;
}
