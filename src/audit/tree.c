/* tree.c — keeping audit_tree (the frontier) and audit_node (every internal
 * node) up to date with the events.
 *
 * Appends only insert events; the checkpointer calls tree_extend() before
 * signing, which reads the new leaves in a read transaction, computes the
 * nodes and the new frontier outside any write, then stores them with
 * `UPDATE audit_tree ... WHERE size = old` (so concurrent extenders, e.g.
 * two ihosd on one PostgreSQL, cannot both apply) and inserts the nodes with
 * ON CONFLICT DO NOTHING (they are identical whoever computes them). */
#include "audit/audit_impl.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK 20000

typedef struct {
    ih_frontier f;
    uint64_t count;
    uint8_t (*leaves)[IH_HASH_LEN];
} tree_read;

static ih_err read_fn(ih_tx *tx, void *arg)
{
    tree_read *t = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT size, frontier FROM audit_tree WHERE id = 1", &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_fail(IH_E_INTEGRITY, "audit tree row missing");
    size_t fn;
    int64_t size = ih_col_int(st, 0);
    const uint8_t *fr = ih_col_blob(st, 1, &fn);
    if (size < 0 || ih_frontier_decode(&t->f, (uint64_t)size, fr, fn) != 0)
        return ih_fail(IH_E_INTEGRITY, "audit tree row damaged");
    IH_TRY(ih_stmt_exec(st));
    IH_TRY(ih_tx_prepare(tx, "SELECT seq, leaf_hash FROM audit_event WHERE seq >= $1 ORDER BY seq LIMIT $2", &st));
    ih_stmt_int(st, 1, size);
    ih_stmt_int(st, 2, CHUNK);
    t->count = 0;
    ih_err e;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        size_t n;
        const uint8_t *l = ih_col_blob(st, 1, &n);
        if ((uint64_t)ih_col_int(st, 0) != (uint64_t)size + t->count)
            return ih_fail(IH_E_INTEGRITY, "audit event %llu is missing", (unsigned long long)(size + (int64_t)t->count));
        if (!l || n != IH_HASH_LEN) return ih_fail(IH_E_INTEGRITY, "audit event without a leaf hash");
        memcpy(t->leaves[t->count++], l, IH_HASH_LEN);
    }
    return e;
}

typedef struct {
    size_t n, cap;
    int *level;
    uint64_t *index;
    uint8_t (*hash)[IH_HASH_LEN];
} node_list;

static ih_err collect(void *ctx, int level, uint64_t index, const uint8_t h[IH_HASH_LEN])
{
    node_list *l = ctx;
    if (l->n == l->cap) return ih_fail(IH_E_INTERNAL, "node list full");
    l->level[l->n] = level;
    l->index[l->n] = index;
    memcpy(l->hash[l->n], h, IH_HASH_LEN);
    l->n++;
    return IH_OK;
}

typedef struct {
    uint64_t old_size;
    const ih_frontier *f;
    const node_list *nodes;
    bool applied;
} tree_write;

/* On PostgreSQL the nodes go in a thousand per statement (arrays, unnest):
 * this write runs inside a group commit, and a statement per node — a round
 * trip each — held the whole group up for every one of them. */
#define NODES_PER_STATEMENT 1000
static ih_err insert_nodes_pg(ih_tx *tx, const node_list *nodes)
{
    ih_buf lv = IH_BUF_INIT, ix = IH_BUF_INIT, hs = IH_BUF_INIT;
    ih_err e = IH_OK;
    for (size_t from = 0; e == IH_OK && from < nodes->n; from += NODES_PER_STATEMENT) {
        size_t to = nodes->n - from > NODES_PER_STATEMENT ? from + NODES_PER_STATEMENT : nodes->n;
        ih_buf_reset(&lv);
        ih_buf_reset(&ix);
        ih_buf_reset(&hs);
        for (size_t i = from; e == IH_OK && i < to; i++) {
            char hex[2 * IH_HASH_LEN + 1];
            ih_hex_encode(nodes->hash[i], IH_HASH_LEN, hex, 0);
            const char *sep = i == from ? "{" : ",";
            e = ih_buf_printf(&lv, "%s%d", sep, nodes->level[i]);
            if (e == IH_OK) e = ih_buf_printf(&ix, "%s%llu", sep, (unsigned long long)nodes->index[i]);
            if (e == IH_OK) e = ih_buf_printf(&hs, "%s\"\\\\x%s\"", sep, hex); /* "\\x..": a bytea in an array */
        }
        if (e == IH_OK) e = ih_buf_puts(&lv, "}");
        if (e == IH_OK) e = ih_buf_puts(&ix, "}");
        if (e == IH_OK) e = ih_buf_puts(&hs, "}");
        ih_stmt *st;
        if (e == IH_OK)
            e = ih_tx_prepare(tx, "INSERT INTO audit_node(lvl, idx, hash) SELECT * FROM "
                                  "unnest($1::bigint[], $2::bigint[], $3::bytea[]) ON CONFLICT (lvl, idx) DO NOTHING",
                              &st);
        if (e == IH_OK) {
            ih_stmt_text(st, 1, lv.p);
            ih_stmt_text(st, 2, ix.p);
            ih_stmt_text(st, 3, hs.p);
            e = ih_stmt_exec(st);
        }
    }
    ih_buf_free(&lv);
    ih_buf_free(&ix);
    ih_buf_free(&hs);
    return e;
}

static ih_err write_fn(ih_tx *tx, void *arg)
{
    tree_write *w = arg;
    uint8_t enc[IH_MERKLE_MAX_DEPTH * IH_HASH_LEN];
    size_t fn;
    ih_frontier_encode(w->f, enc, &fn);
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "UPDATE audit_tree SET size = $1, frontier = $2 WHERE id = 1 AND size = $3", &st));
    ih_stmt_int(st, 1, (int64_t)w->f->size);
    ih_stmt_blob(st, 2, enc, fn);
    ih_stmt_int(st, 3, (int64_t)w->old_size);
    IH_TRY(ih_stmt_exec(st));
    w->applied = ih_stmt_changes(st) == 1;
    if (!w->applied) return IH_OK; /* someone else extended it first */
    if (ih_tx_is_pg(tx)) return insert_nodes_pg(tx, w->nodes);
    for (size_t i = 0; i < w->nodes->n; i++) {
        IH_TRY(ih_tx_prepare(tx, "INSERT INTO audit_node(lvl, idx, hash) VALUES ($1, $2, $3) "
                                 "ON CONFLICT (lvl, idx) DO NOTHING", &st));
        ih_stmt_int(st, 1, w->nodes->level[i]);
        ih_stmt_int(st, 2, (int64_t)w->nodes->index[i]);
        ih_stmt_blob(st, 3, w->nodes->hash[i], IH_HASH_LEN);
        IH_TRY(ih_stmt_exec(st));
    }
    return IH_OK;
}

ih_err tree_extend(ih_store *s, ih_md md, ih_frontier *out)
{
    tree_read t = {0};
    node_list nodes = {0};
    t.leaves = malloc(CHUNK * sizeof *t.leaves);
    nodes.cap = CHUNK * 2;
    nodes.level = malloc(nodes.cap * sizeof *nodes.level);
    nodes.index = malloc(nodes.cap * sizeof *nodes.index);
    nodes.hash = malloc(nodes.cap * sizeof *nodes.hash);
    ih_err e = (t.leaves && nodes.level && nodes.index && nodes.hash) ? IH_OK : ih_fail(IH_E_NOMEM, "audit tree");
    for (int rounds = 0; e == IH_OK && rounds < 100000; rounds++) {
        if ((e = ih_store_read(s, read_fn, &t)) != IH_OK) break;
        if (t.count == 0) {
            *out = t.f;
            break;
        }
        ih_frontier f = t.f;
        nodes.n = 0;
        for (uint64_t i = 0; e == IH_OK && i < t.count; i++) e = ih_frontier_append(md, &f, t.leaves[i], collect, &nodes);
        if (e != IH_OK) break;
        tree_write w = {t.f.size, &f, &nodes, false};
        e = ih_store_write(s, write_fn, &w);
        /* applied or not, read again: more events, or the other extender's work */
    }
    free(t.leaves);
    free(nodes.level);
    free(nodes.index);
    free(nodes.hash);
    return e;
}
