/* stmt_cache.h — per-connection map from SQL text to a prepared statement.
 *
 * Keyed by the address of the SQL string (callers pass literals) and
 * confirmed by comparing the text, so a reused buffer cannot alias a
 * different statement.  Open addressing; grows at half full.
 */
#ifndef IH_STORE_STMT_CACHE_H
#define IH_STORE_STMT_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *key;
    const char *text; /* the entry's own copy of the SQL */
    void *val;
} stmt_slot;

typedef struct {
    stmt_slot *slots;
    size_t cap, count;
} stmt_cache;

static inline size_t stmt_cache_hash(const char *k, size_t cap)
{
    uintptr_t x = (uintptr_t)k;
    x ^= x >> 17;
    x *= 0xed5ad4bbU;
    x ^= x >> 11;
    return (size_t)x & (cap - 1);
}

static inline void *stmt_cache_get(const stmt_cache *c, const char *sql)
{
    if (!c->cap) return NULL;
    for (size_t i = stmt_cache_hash(sql, c->cap);; i = (i + 1) & (c->cap - 1)) {
        if (!c->slots[i].key) return NULL;
        if (c->slots[i].key == sql && strcmp(c->slots[i].text, sql) == 0) return c->slots[i].val;
    }
}

/* Returns 0, or -1 when out of memory.  `text` must live as long as the
 * entry.  An entry for the same address with other text (a reused buffer)
 * is replaced; its value goes to *replaced for the caller to dispose of. */
static inline int stmt_cache_put(stmt_cache *c, const char *sql, const char *text, void *val, void **replaced)
{
    *replaced = NULL;
    if ((c->count + 1) * 2 > c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        stmt_slot *ns = calloc(ncap, sizeof *ns);
        if (!ns) return -1;
        for (size_t i = 0; i < c->cap; i++) {
            if (!c->slots[i].key) continue;
            size_t j = stmt_cache_hash(c->slots[i].key, ncap);
            while (ns[j].key) j = (j + 1) & (ncap - 1);
            ns[j] = c->slots[i];
        }
        free(c->slots);
        c->slots = ns;
        c->cap = ncap;
    }
    size_t i = stmt_cache_hash(sql, c->cap);
    /* A stale entry with the same address but other text is replaced. */
    while (c->slots[i].key && c->slots[i].key != sql) i = (i + 1) & (c->cap - 1);
    if (!c->slots[i].key) c->count++;
    else *replaced = c->slots[i].val;
    c->slots[i] = (stmt_slot){sql, text, val};
    return 0;
}

#endif
