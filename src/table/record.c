/* record.c — see record.h.  L3 8.1.4.4d (validation), 8.1.4.7b/8.1.4.8b
 * (row MACs, sealed fields), 8.1.4.11b (masked views). */
#include "table/record.h"

#include "audit/audit.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "crypto/protect.h"
#include "keys/keys.h"
#include "keys/reseal.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SQL, generated once per table ------------------------------------------------ */

static const char *colname(const ih_field *f) { return f->column ? f->column : f->name; }

static void col_names(const ih_table *t, ih_buf *b, bool with_id)
{
    if (with_id) ih_buf_puts(b, "id");
    for (int i = 0; i < t->n; i++) {
        const ih_field *f = &t->fields[i];
        if (b->len) ih_buf_puts(b, ", ");
        if (f->type == IH_F_SEALED) {
            ih_buf_printf(b, "%s_enc", colname(f));
            if (f->flags & IH_FF_INDEX) ih_buf_printf(b, ", %s_idx", colname(f));
        } else
            ih_buf_puts(b, colname(f));
    }
    if (t->mac) ih_buf_puts(b, ", rv, mac");
}

static int ncols(const ih_table *t)
{
    int n = 1 + (t->mac ? 2 : 0);
    for (int i = 0; i < t->n; i++)
        n += t->fields[i].type == IH_F_SEALED && (t->fields[i].flags & IH_FF_INDEX) ? 2 : 1;
    return n;
}

/* A row whose older copy could be put back: its reads check its version
 * against the journal's (an append-only row has one version). */
static bool known_rv(const ih_table *t) { return t->mac && !t->append_only; }

/* The tables are static descriptors; their SQL is built on first use. */
static pthread_mutex_t gen_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t join_mu = PTHREAD_MUTEX_INITIALIZER; /* gen_join takes gen_mu */

static char *take(ih_buf *b)
{
    char *s = strdup(b->p ? b->p : "");
    ih_buf_reset(b);
    if (!s) abort(); /* first use, at startup: nothing sensible to do without memory */
    return s;
}

static void gen(ih_table *t)
{
    ih_buf cols = IH_BUF_INIT, b = IH_BUF_INIT;
    col_names(t, &cols, true);
    int n = ncols(t);
    ih_buf_printf(&b, "INSERT INTO %s (%s) VALUES (", t->name, cols.p);
    for (int i = 1; i <= n; i++) ih_buf_printf(&b, "%s$%d", i > 1 ? ", " : "", i);
    ih_buf_puts(&b, ")");
    t->sql_insert = take(&b);
    /* UPDATE in the same column order as INSERT, id being $1 */
    ih_buf_printf(&b, "UPDATE %s SET ", t->name);
    const char *p = strchr(cols.p, ',');
    for (int k = 2; p; k++) {
        p++;
        while (*p == ' ') p++;
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        ih_buf_printf(&b, "%s%.*s = $%d", k > 2 ? ", " : "", (int)len, p, k);
        p = e;
    }
    /* only the version loaded is updated: the last parameter is the old rv */
    if (t->mac) ih_buf_printf(&b, " WHERE id = $1 AND rv = $%d", n + 1);
    else ih_buf_puts(&b, " WHERE id = $1");
    t->sql_update = take(&b);
    /* What a read selects: the columns, then (a MAC'd row that changes) the
     * newest version the journal knows, checked by ih_row_from_stmt. */
    ih_buf_printf(&b, "%s", cols.p);
    if (known_rv(t)) {
        ih_buf_puts(&b, ", ");
        ih_buf_printf(&b, IH_AUDIT_KNOWN_RV("%1$s"), t->name);
    }
    t->sql_columns = take(&b);
    ih_buf_printf(&b, "SELECT %s FROM %s WHERE id = $1", t->sql_columns, t->name);
    t->sql_select = take(&b);
    /* For key rotation: per key purpose, its columns, the scan that reads
     * them and the count of rows with any of them under an older version. */
    for (int kp = 1; kp < IH_KP__COUNT; kp++) {
        int m = 0;
        for (int i = 0; i < t->n; i++) {
            if (t->fields[i].type != IH_F_SEALED || (int)t->fields[i].purpose != kp) continue;
            ih_buf_printf(&b, "%s%s_enc", m++ ? "," : "", colname(&t->fields[i]));
        }
        if (!m) continue;
        t->sealed_cols[kp] = take(&b);
        ih_buf_printf(&b, "SELECT count(*) FROM %s WHERE ", t->name);
        m = 0;
        for (int i = 0; i < t->n; i++) {
            if (t->fields[i].type != IH_F_SEALED || (int)t->fields[i].purpose != kp) continue;
            ih_buf_printf(&b, "%ssubstr(%s_enc, 2, 4) < $1", m++ ? " OR " : "", colname(&t->fields[i]));
        }
        t->sql_count_old[kp] = take(&b);
        ih_buf_printf(&b, "SELECT id, %s FROM %s WHERE id > $1 ORDER BY id LIMIT $2", t->sealed_cols[kp], t->name);
        t->sql_sealed[kp] = take(&b);
    }
    int nl = 0;
    for (int i = 0; i < t->n; i++)
        if (t->fields[i].flags & IH_FF_LEGACY)
            ih_buf_printf(&b, "%s%s IS NOT NULL", nl++ ? " OR " : "", colname(&t->fields[i]));
    if (nl) {
        char *cond = take(&b);
        ih_buf_printf(&b, "SELECT id FROM %s WHERE (%s) AND id > $1 ORDER BY id LIMIT 100", t->name, cond);
        free(cond);
        t->sql_legacy = take(&b);
    }
    ih_buf_printf(&b, "SELECT %s FROM %s WHERE id > $1 ORDER BY id LIMIT $2", t->sql_columns, t->name);
    char *scan = take(&b);
    ih_buf_free(&b);
    ih_buf_free(&cols);
    __atomic_store_n(&t->sql_scan, scan, __ATOMIC_RELEASE); /* last: marks the table ready */
}

static void ensure_sql(const ih_table *t)
{
    if (__atomic_load_n(&t->sql_scan, __ATOMIC_ACQUIRE)) return;
    pthread_mutex_lock(&gen_mu);
    if (!t->sql_scan) gen((ih_table *)t);
    pthread_mutex_unlock(&gen_mu);
}

const char *ih_table_columns(const ih_table *t)
{
    ensure_sql(t);
    return t->sql_columns;
}

/* ---- values ------------------------------------------------------------------------ */

void ih_row_init(ih_row *r, const ih_table *t)
{
    memset(r, 0, sizeof *r);
    r->t = t;
}

static void val_clear(ih_val *v)
{
    if (v->s) {
        size_t n = strlen(v->s);
        ih_wipe(v->s, n > (size_t)v->i ? n : (size_t)v->i); /* blobs: i is their length */
        free(v->s);
    }
    memset(v, 0, sizeof *v);
}

void ih_row_free(ih_row *r)
{
    if (!r->t) return;
    for (int i = 0; i < r->t->n; i++) val_clear(&r->v[i]);
}

int ih_table_field(const ih_table *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->fields[i].name, name)) return i;
    return -1;
}

static int must_field(const ih_table *t, const char *name)
{
    int i = ih_table_field(t, name);
    if (i < 0) {
        ih_log(IH_LOG_ERROR, "record.no_field", "table", t->name, "field", name, NULL);
        abort(); /* a programming error: the name is a literal in the caller */
    }
    return i;
}

const char *ih_row_str(const ih_row *r, const char *name)
{
    const ih_val *v = &r->v[must_field(r->t, name)];
    return v->set ? v->s : NULL;
}

int64_t ih_row_int(const ih_row *r, const char *name)
{
    const ih_val *v = &r->v[must_field(r->t, name)];
    return v->set ? v->i : 0;
}

bool ih_row_has(const ih_row *r, const char *name) { return r->v[must_field(r->t, name)].set; }

ih_err ih_row_set_str(ih_row *r, const char *name, const char *s)
{
    ih_val *v = &r->v[must_field(r->t, name)];
    val_clear(v);
    if (!s) return IH_OK;
    v->s = strdup(s);
    IH_CHECK_ALLOC(v->s);
    v->set = true;
    return IH_OK;
}

void ih_row_set_int(ih_row *r, const char *name, int64_t x)
{
    ih_val *v = &r->v[must_field(r->t, name)];
    val_clear(v);
    v->i = x;
    v->set = true;
}

void ih_row_unset(ih_row *r, const char *name) { val_clear(&r->v[must_field(r->t, name)]); }

ih_err ih_row_set_blob(ih_row *r, const char *name, const void *p, size_t n)
{
    ih_val *v = &r->v[must_field(r->t, name)];
    val_clear(v);
    v->s = malloc(n + 1);
    IH_CHECK_ALLOC(v->s);
    if (n) memcpy(v->s, p, n);
    v->s[n] = '\0';
    v->i = (int64_t)n;
    v->set = true;
    return IH_OK;
}

const uint8_t *ih_row_blob(const ih_row *r, const char *name, size_t *n)
{
    const ih_val *v = &r->v[must_field(r->t, name)];
    *n = v->set ? (size_t)v->i : 0;
    return v->set ? (const uint8_t *)v->s : NULL;
}

/* ---- validation -------------------------------------------------------------------- */

static bool is_text(ih_ftype t) { return t == IH_F_TEXT || t == IH_F_SEALED || t == IH_F_DATE; }

static ih_err parse_field(ih_row *r, int i, json_t *body)
{
    const ih_field *f = &r->t->fields[i];
    json_t *jv = json_object_get(body, f->name);
    if (!jv) return IH_OK;
    ih_val *v = &r->v[i];
    if (json_is_null(jv)) {
        if (f->flags & IH_FF_REQUIRED) return ih_reject(IH_E_INVALID, f->name, "Field '%s' is required.", f->name);
        val_clear(v);
        return IH_OK;
    }
    if (is_text(f->type)) {
        const char *s;
        size_t lo = f->type == IH_F_DATE ? 10 : (size_t)f->min, hi = f->type == IH_F_DATE ? 10 : (size_t)f->max;
        IH_TRY(ih_json_str(body, f->name, (f->flags & IH_FF_REQUIRED) != 0, lo, hi,
                           (f->flags & IH_FF_MULTILINE) ? IH_TEXT_MULTILINE : IH_TEXT_LINE, &s));
        if (!s) return IH_OK;
        int64_t ms;
        if (f->type == IH_F_DATE && ih_date_parse(s, &ms) != 0)
            return ih_reject(IH_E_INVALID, f->name, "Field '%s' must be a date YYYY-MM-DD.", f->name);
        if (f->codes && !ih_code_name(f->codes, s))
            return ih_code_reject(f->codes, f->name);
        IH_TRY(ih_row_set_str(r, f->name, s));
        if (f->flags & IH_FF_UPPER)
            for (char *p = v->s; *p; p++) *p = (char)toupper((unsigned char)*p);
        if (f->check) {
            ih_err e = f->check(r, f->name, v->s);
            if (e != IH_OK) val_clear(v);
            return e;
        }
        return IH_OK;
    }
    int64_t x = 0;
    bool b;
    switch (f->type) {
    case IH_F_INT: IH_TRY(ih_json_int(body, f->name, false, f->min, f->max, &x)); break;
    case IH_F_BOOL:
        IH_TRY(ih_json_bool(body, f->name, false, &b));
        x = b;
        break;
    case IH_F_MONEY:
        IH_TRY(ih_json_money(body, f->name, false, &x));
        if (x < f->min || x > f->max) {
            char lo[24], hi[24];
            ih_money_text(f->min, lo, sizeof lo);
            ih_money_text(f->max, hi, sizeof hi);
            return ih_reject(IH_E_INVALID, f->name, "Field '%s' must be an amount from %s to %s.", f->name, lo, hi);
        }
        break;
    default: return ih_reject(IH_E_INVALID, f->name, "Field '%s' cannot be set.", f->name);
    }
    ih_row_set_int(r, f->name, x);
    return IH_OK;
}

ih_err ih_row_from_json(ih_row *r, json_t *body, bool create, const char *const *extra)
{
    const ih_table *t = r->t;
    const char *allowed[IH_ROW_MAX_FIELDS + 16];
    int na = 0;
    for (int i = 0; i < t->n; i++)
        if (!(t->fields[i].flags & (IH_FF_SERVER | IH_FF_LEGACY))) allowed[na++] = t->fields[i].name;
    for (const char *const *x = extra; x && *x && na < IH_ROW_MAX_FIELDS + 15; x++) allowed[na++] = *x;
    allowed[na] = NULL;
    IH_TRY(ih_json_only(body, allowed));
    for (int i = 0; i < t->n; i++) {
        const ih_field *f = &t->fields[i];
        if (f->flags & (IH_FF_SERVER | IH_FF_LEGACY)) continue;
        bool present = json_object_get(body, f->name) != NULL;
        if (!create && present && (f->flags & IH_FF_FIXED))
            return ih_reject(IH_E_INVALID, f->name, "Field '%s' cannot be changed.", f->name);
        if (create && !present && (f->flags & IH_FF_REQUIRED))
            return ih_reject(IH_E_INVALID, f->name, "Field '%s' is required.", f->name);
        IH_TRY(parse_field(r, i, body));
    }
    return IH_OK;
}

ih_err ih_row_complete(const ih_row *r)
{
    for (int i = 0; i < r->t->n; i++) {
        const ih_field *f = &r->t->fields[i];
        if ((f->flags & IH_FF_REQUIRED) && !r->v[i].set)
            return ih_reject(IH_E_INVALID, f->name, "Field '%s' is required.", f->name);
    }
    return IH_OK;
}

/* ---- sealing, indexes, MAC ------------------------------------------------------- */

ih_err ih_row_index(ih_keyring *k, const ih_table *t, const char *name, const char *value, uint8_t out[32])
{
    char domain[96], norm[256];
    snprintf(domain, sizeof domain, "%s.%s", t->name, name);
    size_t j = 0;
    for (const char *p = value; *p && j + 1 < sizeof norm; p++)
        if (!isspace((unsigned char)*p)) norm[j++] = (char)toupper((unsigned char)*p);
    norm[j] = '\0';
    ih_err e = ih_blind_index(k, domain, norm, out);
    ih_wipe(norm, sizeof norm);
    return e;
}

typedef struct {
    ih_buf ct[IH_ROW_MAX_FIELDS];
    bool present[IH_ROW_MAX_FIELDS]; /* a sealed field has a ciphertext */
    uint8_t idx[IH_ROW_MAX_FIELDS][32];
    uint8_t mac[IH_MAC_LEN];
} sealed_row;

static void sealed_free(sealed_row *s, int n)
{
    for (int i = 0; i < n; i++) ih_buf_free(&s->ct[i]);
}

/* One field's value into the MAC's canonical encoding. */
static void canon_field(ih_canon *c, const ih_field *f, const ih_val *v, const sealed_row *s, int i)
{
    switch (f->type) {
    case IH_F_SEALED:
        ih_canon_blob(c, s->present[i] ? s->ct[i].p : NULL, s->present[i] ? s->ct[i].len : 0);
        if (f->flags & IH_FF_INDEX) ih_canon_blob(c, s->present[i] ? s->idx[i] : NULL, 32);
        break;
    case IH_F_TEXT:
    case IH_F_DATE: ih_canon_text(c, v->set ? v->s : NULL); break;
    case IH_F_BLOB: ih_canon_blob(c, v->set ? v->s : NULL, v->set ? (size_t)v->i : 0); break;
    default:
        if (v->set) ih_canon_int(c, v->i);
        else ih_canon_text(c, NULL);
    }
}

static bool field_present(const ih_field *f, const ih_val *v, const sealed_row *s, int i)
{
    return f->type == IH_F_SEALED ? s->present[i] : v->set;
}

/* The first release's fields in order; then each later field that is set,
 * named; then the version once there is one (see record.h). */
static ih_err row_mac(ih_keyring *k, const ih_row *r, const sealed_row *s, uint8_t out[IH_MAC_LEN])
{
    const ih_table *t = r->t;
    ih_canon c = {0};
    for (int i = 0; i < t->n; i++) {
        const ih_field *f = &t->fields[i];
        if (!(f->flags & IH_FF_MAC) || (f->flags & IH_FF_ADDED)) continue;
        canon_field(&c, f, &r->v[i], s, i);
    }
    for (int i = 0; i < t->n; i++) {
        const ih_field *f = &t->fields[i];
        if (!(f->flags & IH_FF_MAC) || !(f->flags & IH_FF_ADDED) || !field_present(f, &r->v[i], s, i)) continue;
        ih_canon_text(&c, f->name);
        canon_field(&c, f, &r->v[i], s, i);
    }
    if (r->rv > 0) {
        ih_canon_text(&c, "rv");
        ih_canon_int(&c, r->rv);
    }
    ih_err e = ih_row_mac(k, t->name, r->id, &c, out);
    ih_canon_free(&c);
    return e;
}

static ih_err seal_all(ih_keyring *k, const ih_row *r, sealed_row *s)
{
    const ih_table *t = r->t;
    for (int i = 0; i < t->n; i++) {
        const ih_field *f = &t->fields[i];
        if (f->type != IH_F_SEALED || !r->v[i].set) continue;
        s->present[i] = true;
        IH_TRY(ih_field_seal_str(k, f->purpose, t->name, f->name, r->id, r->v[i].s, &s->ct[i]));
        if (f->flags & IH_FF_INDEX) IH_TRY(ih_row_index(k, t, f->name, r->v[i].s, s->idx[i]));
    }
    return t->mac ? row_mac(k, r, s, s->mac) : IH_OK;
}

static void bind_all(ih_stmt *st, const ih_row *r, const sealed_row *s)
{
    const ih_table *t = r->t;
    int p = 1;
    ih_stmt_int(st, p++, r->id);
    for (int i = 0; i < t->n; i++) {
        const ih_field *f = &t->fields[i];
        const ih_val *v = &r->v[i];
        switch (f->type) {
        case IH_F_SEALED:
            if (v->set) ih_stmt_blob(st, p++, s->ct[i].p, s->ct[i].len);
            else ih_stmt_null(st, p++);
            if (f->flags & IH_FF_INDEX) {
                if (v->set) ih_stmt_blob(st, p++, s->idx[i], 32);
                else ih_stmt_null(st, p++);
            }
            break;
        case IH_F_TEXT:
        case IH_F_DATE: ih_stmt_text(st, p++, v->set ? v->s : NULL); break;
        case IH_F_BLOB:
            if (v->set) ih_stmt_blob(st, p++, v->s, (size_t)v->i);
            else ih_stmt_null(st, p++);
            break;
        default:
            if (v->set) ih_stmt_int(st, p++, v->i);
            else ih_stmt_null(st, p++);
        }
    }
    if (t->mac) {
        ih_stmt_int(st, p++, r->rv);
        ih_stmt_blob(st, p++, s->mac, IH_MAC_LEN);
    }
}

static ih_err write_row(ih_tx *tx, ih_keyring *k, ih_row *r, bool insert)
{
    ensure_sql(r->t);
    if (r->id <= 0) return ih_fail(IH_E_INTERNAL, "%s: row without an id", r->t->name);
    if (r->closed) return ih_fail(IH_E_INTERNAL, "%s %lld was loaded unopened: it cannot be written", r->t->name,
                                  (long long)r->id);
    int64_t old_rv = r->rv;
    if (r->t->mac) r->rv = insert ? 1 : old_rv + 1;
    sealed_row sr; /* ~2.7 KB: on the stack, this is every write's path */
    sealed_row *s = &sr;
    memset(s, 0, sizeof *s);
    ih_err e = seal_all(k, r, s);
    ih_stmt *st;
    if (e == IH_OK) e = ih_tx_prepare(tx, insert ? r->t->sql_insert : r->t->sql_update, &st);
    if (e == IH_OK) {
        bind_all(st, r, s);
        if (!insert && r->t->mac) ih_stmt_int(st, ncols(r->t) + 1, old_rv);
        /* an insert's answer may wait (a group commit's before-commit
         * hooks: read with the COMMIT's); an update's count is checked */
        e = insert ? ih_stmt_exec_later(st) : ih_stmt_exec(st);
        if (e == IH_OK && !insert && ih_stmt_changes(st) != 1)
            e = r->t->mac ? ih_fail(IH_E_BUSY, "%s %lld changed since it was read", r->t->name, (long long)r->id)
                          : ih_reject(IH_E_NOT_FOUND, NULL, "No such %s.", r->t->name);
    }
    sealed_free(s, r->t->n);
    if (e != IH_OK) r->rv = old_rv;
    else if (r->t->mac) ih_tx_note_row(tx, r->t->name, r->id, r->rv);
    return e;
}

ih_err ih_row_insert(ih_tx *tx, ih_keyring *k, ih_row *r) { return write_row(tx, k, r, true); }
ih_err ih_row_update(ih_tx *tx, ih_keyring *k, ih_row *r) { return write_row(tx, k, r, false); }

ih_err ih_row_from_stmt(ih_stmt *st, int c, ih_keyring *k, const ih_table *t, ih_row *r)
{
    return ih_row_from_stmt_opt(st, c, k, t, r, true);
}

ih_err ih_row_from_stmt_opt(ih_stmt *st, int c, ih_keyring *k, const ih_table *t, ih_row *r, bool open)
{
    ih_row_free(r);
    ih_row_init(r, t);
    r->id = ih_col_int(st, c++);
    r->closed = !open;
    sealed_row sr; /* on the stack: this is every read's path */
    sealed_row *s = &sr;
    memset(s, 0, sizeof *s);
    ih_err e = IH_OK;
    for (int i = 0; e == IH_OK && i < t->n; i++) {
        const ih_field *f = &t->fields[i];
        ih_val *v = &r->v[i];
        bool null = ih_col_null(st, c);
        if (f->type == IH_F_SEALED) {
            if (!null) {
                size_t n;
                const uint8_t *ct = ih_col_blob(st, c, &n);
                s->present[i] = true;
                e = ih_buf_append(&s->ct[i], ct, n);
                ih_buf pt = IH_BUF_INIT; /* open=false: integrity only, the MAC covers the ciphertext */
                if (e == IH_OK && open) e = ih_keys_field_open(ih_stmt_tx(st), k, f->purpose, t->name, f->name, r->id, ct, n, &pt);
                if (e == IH_OK && open) {
                    v->s = malloc(pt.len + 1);
                    if (!v->s) e = ih_fail(IH_E_NOMEM, "row");
                    else {
                        memcpy(v->s, pt.p ? pt.p : "", pt.len);
                        v->s[pt.len] = '\0';
                        v->set = true;
                    }
                }
                ih_buf_wipe(&pt);
            }
            c++;
            if (f->flags & IH_FF_INDEX) {
                size_t n = 0;
                const uint8_t *ix = ih_col_blob(st, c, &n);
                if (ix && n == 32) memcpy(s->idx[i], ix, 32);
                c++;
            }
            continue;
        }
        if (!null && f->type == IH_F_BLOB) {
            size_t n = 0;
            const uint8_t *b = ih_col_blob(st, c, &n);
            e = ih_row_set_blob(r, f->name, b, n);
        } else if (!null) {
            v->set = true;
            if (is_text(f->type)) {
                v->s = strdup(ih_col_text(st, c));
                if (!v->s) e = ih_fail(IH_E_NOMEM, "row");
            } else
                v->i = ih_col_int(st, c);
        }
        c++;
    }
    if (e == IH_OK && t->mac) {
        r->rv = ih_col_int(st, c++);
        if (r->rv == 0) /* written before the fields added since: nothing in them is believed */
            for (int i = 0; i < t->n; i++)
                if (t->fields[i].flags & IH_FF_ADDED) {
                    val_clear(&r->v[i]);
                    s->present[i] = false;
                }
        size_t n;
        const uint8_t *mac = ih_col_blob(st, c++, &n);
        uint8_t want[IH_MAC_LEN];
        e = row_mac(k, r, s, want);
        if (e == IH_OK && (!mac || n != IH_MAC_LEN || CRYPTO_memcmp(mac, want, IH_MAC_LEN)))
            e = ih_fail(IH_E_INTEGRITY, "%s %lld: the row MAC does not verify", t->name, (long long)r->id);
        /* a valid MAC on an older copy than the journal knows: put back */
        if (e == IH_OK && known_rv(t)) e = ih_audit_version_known(t->name, r->id, r->rv, ih_col_int(st, c));
    }
    if (e == IH_E_CRYPTO) e = ih_fail(IH_E_INTEGRITY, "%s %lld: a sealed field does not open", t->name, (long long)r->id);
    sealed_free(s, t->n);
    if (e != IH_OK) {
        ih_row_free(r);
        ih_row_init(r, t);
    }
    return e;
}

ih_err ih_row_load(ih_tx *tx, ih_keyring *k, const ih_table *t, int64_t id, ih_row *r, bool *found)
{
    return ih_row_load_opt(tx, k, t, id, r, found, true);
}

ih_err ih_row_load_opt(ih_tx *tx, ih_keyring *k, const ih_table *t, int64_t id, ih_row *r, bool *found, bool open)
{
    ensure_sql(t);
    ih_stmt *st;
    bool row;
    *found = false;
    IH_TRY(ih_tx_prepare(tx, t->sql_select, &st));
    ih_stmt_int(st, 1, id);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return IH_OK;
    *found = true;
    return ih_row_from_stmt_opt(st, 0, k, t, r, open);
}

/* "SELECT m.*, r0.*, … FROM (SELECT <t's columns> FROM t WHERE id = $1) m
 * LEFT JOIN (SELECT <t0's columns> FROM t0) r0 ON r0.id = m.<field0> …":
 * each table read under its own name, as its own select reads it. */
static void gen_join(ih_row_join *j)
{
    ensure_sql(j->t);
    ih_buf b = IH_BUF_INIT;
    ih_buf_puts(&b, "SELECT m.*");
    for (int i = 0; i < j->n; i++) ih_buf_printf(&b, ", r%d.*", i);
    ih_buf_printf(&b, " FROM (SELECT %s FROM %s WHERE id = $1) m", j->t->sql_columns, j->t->name);
    int col = ncols(j->t) + (known_rv(j->t) ? 1 : 0);
    for (int i = 0; i < j->n; i++) {
        const ih_table *rt = j->ref[i].t;
        int f = ih_table_field(j->t, j->ref[i].field);
        if (f < 0 || j->t->fields[f].type != IH_F_INT) abort(); /* a join declared wrong: caught by any test */
        ensure_sql(rt);
        ih_buf_printf(&b, " LEFT JOIN (SELECT %s FROM %s) r%d ON r%d.id = m.%s", rt->sql_columns, rt->name, i, i,
                      colname(&j->t->fields[f]));
        j->first[i] = col;
        col += ncols(rt) + (known_rv(rt) ? 1 : 0);
    }
    char *sql = take(&b);
    ih_buf_free(&b);
    __atomic_store_n(&j->sql, sql, __ATOMIC_RELEASE);
}

ih_err ih_row_load_join(ih_tx *tx, ih_keyring *k, ih_row_join *j, int64_t id, ih_row *r, bool open,
                        ih_row *const *refs, bool *found, bool *ref_found)
{
    if (!__atomic_load_n(&j->sql, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&join_mu);
        if (!j->sql) gen_join(j);
        pthread_mutex_unlock(&join_mu);
    }
    ih_stmt *st;
    bool row;
    *found = false;
    for (int i = 0; i < j->n; i++) ref_found[i] = false;
    IH_TRY(ih_tx_prepare(tx, j->sql, &st));
    ih_stmt_int(st, 1, id);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return IH_OK;
    *found = true;
    IH_TRY(ih_row_from_stmt_opt(st, 0, k, j->t, r, open));
    for (int i = 0; i < j->n; i++) {
        if (ih_col_null(st, j->first[i])) continue;
        ref_found[i] = true;
        IH_TRY(ih_row_from_stmt_opt(st, j->first[i], k, j->ref[i].t, refs[i], false));
    }
    return IH_OK;
}

/* ---- views ------------------------------------------------------------------------ */

void ih_money_text(int64_t fen, char *out, size_t n)
{
    snprintf(out, n, "%s%lld.%02lld", fen < 0 ? "-" : "", (long long)(fen < 0 ? -fen : fen) / 100,
             (long long)(fen < 0 ? -fen : fen) % 100);
}

/* A view goes either into a jansson object or straight into JSON text;
 * one walk over the fields (row_view) decides what is shown for both. */
typedef struct {
    json_t *obj; /* set: build an object */
    ih_jw *w;    /* otherwise: write text */
} view_out;

static void out_str(view_out *o, const char *key, const char *s)
{
    if (o->w) {
        ih_jw_key(o->w, key);
        ih_jw_str(o->w, s);
    } else {
        json_t *x = json_string(s);
        json_object_set_new(o->obj, key, x ? x : json_null());
    }
}

static void out_int(view_out *o, const char *key, int64_t v)
{
    if (o->w) {
        ih_jw_key(o->w, key);
        ih_jw_int(o->w, v);
    } else {
        json_object_set_new(o->obj, key, json_integer(v));
    }
}

static void out_bool(view_out *o, const char *key, bool v)
{
    if (o->w) {
        ih_jw_key(o->w, key);
        ih_jw_bool(o->w, v);
    } else {
        json_object_set_new(o->obj, key, json_boolean(v));
    }
}

static void out_null(view_out *o, const char *key)
{
    if (o->w) {
        ih_jw_key(o->w, key);
        ih_jw_null(o->w);
    } else {
        json_object_set_new(o->obj, key, json_null());
    }
}

static void row_view(const ih_row *r, ih_role role, ih_relation rel, bool full, view_out *o)
{
    out_int(o, "id", r->id);
    ih_buf m = IH_BUF_INIT;
    for (int i = 0; i < r->t->n; i++) {
        const ih_field *f = &r->t->fields[i];
        const ih_val *v = &r->v[i];
        if (f->flags & (IH_FF_PRIVATE | IH_FF_LEGACY)) continue;
        /* a field this viewer may not see is left out, set or not */
        if (f->mask != IH_MASK_NONE && !full && ih_mask_visibility(role, rel, (ih_field_kind)f->mask) == IH_VIS_HIDDEN)
            continue;
        if (!v->set) {
            out_null(o, f->name);
            continue;
        }
        switch (f->type) {
        case IH_F_TEXT:
        case IH_F_SEALED:
        case IH_F_DATE: {
            const char *shown;
            if (f->mask == IH_MASK_NONE || full) shown = v->s;
            else if (ih_mask_view(role, rel, (ih_field_kind)f->mask, v->s, &m)) shown = m.p ? m.p : "";
            else continue; /* hidden from this viewer: not even the key */
            if (f->codes) {
                const char *name = ih_code_name(f->codes, v->s);
                char key[64];
                snprintf(key, sizeof key, "%s_name", f->name);
                if (name) out_str(o, key, name);
            }
            out_str(o, f->name, shown);
            break;
        }
        case IH_F_BOOL: out_bool(o, f->name, v->i); break;
        case IH_F_BLOB: {
            char *b64 = malloc(4 * ((size_t)v->i + 2) / 3 + 4);
            if (b64) ih_b64_encode((const uint8_t *)v->s, (size_t)v->i, b64);
            out_str(o, f->name, b64); /* NULL (no memory): null */
            free(b64);
            break;
        }
        case IH_F_MONEY: {
            char t[24];
            ih_money_text(v->i, t, sizeof t);
            out_str(o, f->name, t);
            break;
        }
        case IH_F_TIME: {
            char t[32];
            ih_time_iso(v->i, t, sizeof t);
            out_str(o, f->name, t);
            break;
        }
        default: out_int(o, f->name, v->i);
        }
    }
    ih_buf_wipe(&m);
}

static ih_err row_json(const ih_row *r, ih_role role, ih_relation rel, bool full, json_t **out)
{
    view_out o = {.obj = json_object()};
    IH_CHECK_ALLOC(o.obj);
    row_view(r, role, rel, full, &o);
    *out = o.obj;
    return IH_OK;
}

ih_err ih_row_json(const ih_row *r, ih_role role, ih_relation rel, json_t **out)
{
    return row_json(r, role, rel, false, out);
}

ih_err ih_row_json_full(const ih_row *r, json_t **out) { return row_json(r, IH_ROLE_NONE, IH_REL_SELF, true, out); }

void ih_row_json_write(const ih_row *r, ih_role role, ih_relation rel, ih_jw *w)
{
    view_out o = {.w = w};
    row_view(r, role, rel, false, &o);
}

/* ---- rotation and scans --------------------------------------------------------------- */

static ih_err reseal_row(void *ctx, ih_tx *tx, int64_t id)
{
    ih_table_ctx *c = ctx;
    ih_row r;
    ih_row_init(&r, c->t);
    bool found;
    ih_err e = ih_row_load(tx, c->k, c->t, id, &r, &found);
    if (e == IH_OK && found) e = ih_row_update(tx, c->k, &r); /* seals under the current versions */
    ih_row_free(&r);
    return e;
}

size_t ih_table_sealed_columns(ih_table_ctx *ctx, ih_sealed_column *out, size_t cap)
{
    ensure_sql(ctx->t);
    size_t n = 0;
    for (int kp = 1; kp < IH_KP__COUNT && n < cap; kp++)
        if (ctx->t->sql_sealed[kp])
            out[n++] = (ih_sealed_column){ctx->t->name, ctx->t->sealed_cols[kp], (ih_key_purpose)kp,
                                          ctx->t->sql_sealed[kp], ctx->t->sql_count_old[kp], reseal_row, ctx,
                                          ctx->t->retention};
    return n;
}

typedef struct {
    ih_keyring *k;
    const ih_table *t;
    int64_t after;
    int n;
    int64_t bad[256];
    int nbad;
} scan_arg;

static ih_err scan_fn(ih_tx *tx, void *arg)
{
    scan_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    a->n = a->nbad = 0;
    IH_TRY(ih_tx_prepare(tx, a->t->sql_scan, &st));
    ih_stmt_int(st, 1, a->after);
    ih_stmt_int(st, 2, 256);
    ih_row r;
    ih_row_init(&r, a->t);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        a->n++;
        a->after = ih_col_int(st, 0);
        ih_err re = ih_row_from_stmt(st, 0, a->k, a->t, &r);
        if (re == IH_E_INTEGRITY) a->bad[a->nbad++] = a->after;
        else if (re != IH_OK) {
            e = re;
            break;
        }
    }
    ih_row_free(&r);
    return e;
}

ih_err ih_table_scan(ih_store *s, ih_keyring *k, const ih_table *t, uint64_t *rows, uint64_t *nbad,
                     void (*bad)(void *ctx, const ih_table *t, int64_t id), void *ctx)
{
    ensure_sql(t);
    scan_arg *a = calloc(1, sizeof *a);
    IH_CHECK_ALLOC(a);
    a->k = k;
    a->t = t;
    ih_err e;
    do {
        e = ih_store_read(s, scan_fn, a);
        if (e != IH_OK) break;
        *rows += (uint64_t)a->n;
        *nbad += (uint64_t)a->nbad;
        for (int i = 0; bad && i < a->nbad; i++) bad(ctx, t, a->bad[i]);
    } while (a->n == 256);
    free(a);
    return e;
}

/* ---- moving legacy columns -------------------------------------------------------------- */

ih_err ih_row_move_legacy(ih_row *r)
{
    for (int i = 0; i < r->t->n; i++) {
        const ih_field *f = &r->t->fields[i];
        if (!(f->flags & IH_FF_LEGACY) || !r->v[i].set) continue;
        char to[64];
        size_t n = strlen(f->name);
        if (n <= 7 || n - 7 >= sizeof to || strcmp(f->name + n - 7, "_legacy"))
            return ih_fail(IH_E_INTERNAL, "%s.%s: a legacy field is named <field>_legacy", r->t->name, f->name);
        memcpy(to, f->name, n - 7);
        to[n - 7] = '\0';
        IH_TRY(ih_row_set_str(r, to, r->v[i].s));
    }
    return IH_OK;
}

typedef struct {
    ih_keyring *k;
    ih_audit *a;
    const ih_table *t;
    ih_row_move_fn move;
    const char *action;
    int64_t after;
    int got, moved;
} upgrade_arg;

static ih_err upgrade_fn(ih_tx *tx, void *arg)
{
    upgrade_arg *u = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    int64_t ids[100];
    IH_TRY(ih_tx_prepare(tx, u->t->sql_legacy, &st));
    ih_stmt_int(st, 1, u->after);
    u->got = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) ids[u->got++] = ih_col_int(st, 0);
    IH_TRY(e);
    ih_row r;
    ih_row_init(&r, u->t);
    for (int i = 0; e == IH_OK && i < u->got; i++) {
        bool found;
        u->after = ids[i];
        e = ih_row_load(tx, u->k, u->t, ids[i], &r, &found);
        if (e == IH_E_INTEGRITY) { /* left as found: the integrity scan reports it */
            ih_err_clear();
            e = IH_OK;
            continue;
        }
        if (e != IH_OK || !found) continue;
        e = u->move(&r);
        for (int f = 0; e == IH_OK && f < u->t->n; f++)
            if (u->t->fields[f].flags & IH_FF_LEGACY) val_clear(&r.v[f]);
        if (e == IH_OK) e = ih_row_update(tx, u->k, &r);
        if (e == IH_OK) {
            char oid[24];
            snprintf(oid, sizeof oid, "%lld", (long long)ids[i]);
            ih_audit_event ev = {.action = u->action, .object_type = u->t->name, .object_id = oid};
            e = ih_audit_append(u->a, tx, &(ih_actor){.id = 0, .role = "system"}, &ev);
        }
        if (e == IH_OK) u->moved++;
    }
    ih_row_free(&r);
    return e;
}

ih_err ih_row_upgrade(ih_store *s, ih_keyring *k, ih_audit *a, const ih_table *t, ih_row_move_fn move,
                      const char *action, int *n)
{
    ensure_sql(t);
    *n = 0;
    if (!t->sql_legacy) return IH_OK;
    upgrade_arg u = {k, a, t, move, action, 0, 0, 0};
    do {
        IH_TRY(ih_store_write(s, upgrade_fn, &u));
    } while (u.got == 100);
    *n = u.moved;
    return IH_OK;
}
