/* proof.c — inclusion-proof bundles and their offline check (see audit.h).
 *
 * A bundle is one JSON object: the event's fields exactly as hashed, its
 * index, the RFC 9162 inclusion path, and the signed checkpoint note it
 * leads to.  Checking needs nothing but the bundle and the audit public key:
 * rebuild the leaf from the fields, walk the path to a root, and check that
 * root against the note and the note's signature. */
#include "audit/audit_impl.h"

#include "core/clock.h"
#include "core/json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT "ihos-audit-inclusion-proof/1"

typedef struct {
    uint64_t seq, size;
    ih_md md;
    json_t *event;
    uint8_t proof[IH_MERKLE_MAX_DEPTH][IH_HASH_LEN];
    int count;
    char *note;
    ih_tx *tx;
} prove_arg;

static ih_err get_hash(void *ctx, int level, uint64_t index, uint8_t out[IH_HASH_LEN])
{
    prove_arg *a = ctx;
    ih_stmt *st;
    bool row;
    if (level == 0) {
        IH_TRY(ih_tx_prepare(a->tx, "SELECT leaf_hash FROM audit_event WHERE seq = $1", &st));
        ih_stmt_int(st, 1, (int64_t)index);
    } else {
        IH_TRY(ih_tx_prepare(a->tx, "SELECT hash FROM audit_node WHERE lvl = $1 AND idx = $2", &st));
        ih_stmt_int(st, 1, level);
        ih_stmt_int(st, 2, (int64_t)index);
    }
    IH_TRY(ih_stmt_step(st, &row));
    size_t n;
    const uint8_t *h = row ? ih_col_blob(st, 0, &n) : NULL;
    if (!h || n != IH_HASH_LEN) return ih_fail(IH_E_INTEGRITY, "missing tree node (%d, %llu)", level, (unsigned long long)index);
    memcpy(out, h, IH_HASH_LEN);
    return IH_OK;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static ih_err prove_fn(ih_tx *tx, void *arg)
{
    prove_arg *a = arg;
    a->tx = tx;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT size, note FROM audit_checkpoint WHERE size > $1 ORDER BY size DESC LIMIT 1", &st));
    ih_stmt_int(st, 1, (int64_t)a->seq);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row)
        return ih_reject(IH_E_STATE, NULL, "Event %llu is not yet covered by a checkpoint; try again in a few seconds.",
                         (unsigned long long)a->seq);
    a->size = (uint64_t)ih_col_int(st, 0);
    a->note = strdup(ih_col_text(st, 1));
    IH_CHECK_ALLOC(a->note);
    IH_TRY(ih_stmt_exec(st));

    IH_TRY(ih_tx_prepare(tx, "SELECT " AUDIT_EVENT_SELECT " FROM audit_event WHERE seq = $1", &st));
    ih_stmt_int(st, 1, (int64_t)a->seq);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_reject(IH_E_NOT_FOUND, NULL, "No event %llu.", (unsigned long long)a->seq);
    if (ih_col_int(st, 9))
        return ih_reject(IH_E_STATE, NULL, "Event %llu has been archived; its proof comes from the archive file.",
                         (unsigned long long)a->seq);
    audit_row r;
    char scratch[8192];
    if (audit_row_load(st, scratch, sizeof scratch, &r) != 0)
        return ih_fail(IH_E_INTEGRITY, "event %llu is malformed", (unsigned long long)a->seq);
    char prev[64];
    ih_b64_encode(r.prev, IH_HASH_LEN, prev);
    a->event = json_pack("{s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s}", "seq",
                         (json_int_t)r.seq, "ts", (json_int_t)r.ts, "tz_offset", (json_int_t)r.tz, "actor_id",
                         r.has_actor ? json_integer(r.actor_id) : json_null(), "actor_role", str_or_null(r.role),
                         "session_hash", str_or_null(r.session), "src_ip", str_or_null(r.ip), "request_id",
                         str_or_null(r.request_id), "action", str_or_null(r.action), "object_type",
                         str_or_null(r.object_type), "object_id", str_or_null(r.object_id), "outcome",
                         str_or_null(r.outcome), "error_code", str_or_null(r.error_code), "reason",
                         str_or_null(r.reason), "prev_hash", prev);
    IH_CHECK_ALLOC(a->event);
    if (r.format >= 2) json_object_set_new(a->event, "rows", str_or_null(r.rows));
    IH_TRY(ih_stmt_exec(st));
    return ih_merkle_prove(a->md, a->seq, a->size, get_hash, a, a->proof, &a->count);
}

ih_err ih_audit_prove(ih_store *s, ih_suite suite, uint64_t seq, ih_buf *bundle)
{
    prove_arg a = {.seq = seq, .md = ih_suite_md(suite)};
    ih_err e = ih_store_read(s, prove_fn, &a);
    if (e == IH_OK) {
        json_t *proof = json_array();
        for (int i = 0; i < a.count; i++) {
            char b[64];
            ih_b64_encode(a.proof[i], IH_HASH_LEN, b);
            json_array_append_new(proof, json_string(b));
        }
        json_t *j = json_pack("{s:s, s:s, s:O, s:I, s:I, s:o, s:s}", "format", FORMAT, "suite", ih_suite_name(suite),
                              "event", a.event, "leaf_index", (json_int_t)seq, "tree_size", (json_int_t)a.size, "proof",
                              proof, "checkpoint", a.note);
        e = j ? ih_json_dump(j, JSON_INDENT(2), bundle) : ih_fail(IH_E_NOMEM, "bundle");
        json_decref(j);
        if (e == IH_OK) e = ih_buf_puts(bundle, "\n");
    }
    json_decref(a.event);
    free(a.note);
    return e;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

ih_err ih_audit_check_proof(const char *bundle, size_t n, const ih_signkey *pub, char *msg, size_t msglen)
{
    json_error_t je;
    json_t *j = json_loadb(bundle, n, JSON_REJECT_DUPLICATES, &je);
    ih_err e = IH_OK;
    json_t *ev, *proof;
    const char *fmt, *suite_name, *note;
    ih_suite suite;
    if (!j || !(fmt = jstr(j, "format")) || strcmp(fmt, FORMAT) || !(suite_name = jstr(j, "suite")) ||
        ih_suite_parse(suite_name, &suite) != 0 || !json_is_object(ev = json_object_get(j, "event")) ||
        !json_is_array(proof = json_object_get(j, "proof")) || !(note = jstr(j, "checkpoint")) ||
        !json_is_integer(json_object_get(j, "leaf_index")) || !json_is_integer(json_object_get(j, "tree_size"))) {
        e = ih_fail(IH_E_INVALID, "not an ihos audit inclusion-proof bundle");
        goto out;
    }
    if (suite != ih_signkey_suite(pub)) {
        e = ih_fail(IH_E_INTEGRITY, "the bundle is for suite %s but the key is for the other suite", suite_name);
        goto out;
    }
    audit_row r = {0};
    json_t *actor = json_object_get(ev, "actor_id");
    r.seq = json_integer_value(json_object_get(ev, "seq"));
    r.ts = json_integer_value(json_object_get(ev, "ts"));
    r.tz = json_integer_value(json_object_get(ev, "tz_offset"));
    r.has_actor = json_is_integer(actor);
    r.actor_id = json_integer_value(actor);
    r.role = jstr(ev, "actor_role");
    r.session = jstr(ev, "session_hash");
    r.ip = jstr(ev, "src_ip");
    r.request_id = jstr(ev, "request_id");
    r.action = jstr(ev, "action");
    r.object_type = jstr(ev, "object_type");
    r.object_id = jstr(ev, "object_id");
    r.outcome = jstr(ev, "outcome");
    r.error_code = jstr(ev, "error_code");
    r.reason = jstr(ev, "reason");
    r.format = json_object_get(ev, "rows") ? 2 : 1;
    r.rows = jstr(ev, "rows");
    const char *prev = jstr(ev, "prev_hash");
    if (!prev || ih_b64_decode(prev, strlen(prev), r.prev, sizeof r.prev) != IH_HASH_LEN) {
        e = ih_fail(IH_E_INVALID, "bundle event has no valid prev_hash");
        goto out;
    }
    uint64_t idx = (uint64_t)json_integer_value(json_object_get(j, "leaf_index"));
    uint64_t size = (uint64_t)json_integer_value(json_object_get(j, "tree_size"));
    if ((uint64_t)r.seq != idx) {
        e = ih_fail(IH_E_INTEGRITY, "the event's sequence number is not the proven index");
        goto out;
    }
    /* The note's first line is the origin it must be signed under. */
    const char *nl = strchr(note, '\n');
    char origin[256];
    if (!nl || (size_t)(nl - note) >= sizeof origin) {
        e = ih_fail(IH_E_INVALID, "malformed checkpoint in bundle");
        goto out;
    }
    memcpy(origin, note, (size_t)(nl - note));
    origin[nl - note] = '\0';
    uint64_t note_size;
    uint8_t root[IH_HASH_LEN];
    if ((e = note_verify(note, strlen(note), pub, origin, &note_size, root)) != IH_OK) goto out;
    if (note_size != size) {
        e = ih_fail(IH_E_INTEGRITY, "the checkpoint is for size %llu, the proof for %llu", (unsigned long long)note_size,
                    (unsigned long long)size);
        goto out;
    }
    size_t count = json_array_size(proof);
    if (count > IH_MERKLE_MAX_DEPTH) {
        e = ih_fail(IH_E_INVALID, "proof too long");
        goto out;
    }
    uint8_t path[IH_MERKLE_MAX_DEPTH][IH_HASH_LEN];
    for (size_t i = 0; i < count; i++) {
        const char *h = json_string_value(json_array_get(proof, i));
        if (!h || ih_b64_decode(h, strlen(h), path[i], IH_HASH_LEN) != IH_HASH_LEN) {
            e = ih_fail(IH_E_INVALID, "proof hash %zu malformed", i);
            goto out;
        }
    }
    ih_canon c = {0};
    audit_entry(&c, &r);
    uint8_t leaf[IH_HASH_LEN];
    ih_md md = ih_suite_md(suite);
    e = c.err == IH_OK ? ih_merkle_leaf(md, c.b.p, c.b.len, leaf) : c.err;
    ih_canon_free(&c);
    if (e == IH_OK) e = ih_merkle_verify(md, idx, size, leaf, (const uint8_t(*)[IH_HASH_LEN])path, (int)count, root);
    if (e == IH_OK) {
        char when[32];
        ih_time_iso(r.ts, when, sizeof when);
        snprintf(msg, msglen,
                 "OK: event %llu (%s, %s, by %s %lld at %s) is included in the audit journal of %s, checkpoint of "
                 "%llu events signed by the audit key",
                 (unsigned long long)idx, r.action ? r.action : "?", r.outcome ? r.outcome : "?",
                 r.role ? r.role : "?", (long long)r.actor_id, when, origin, (unsigned long long)size);
    }
out:
    json_decref(j);
    return e;
}
