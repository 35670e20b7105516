/* drug_csv.c — bulk import of the drug catalogue from CSV (libcsv, strict
 * mode).  The first row names the columns (the drug fields; any order;
 * unknown names refused).  Each data row becomes a JSON object and goes
 * through the same validation as POST /api/v1/drugs; booleans are
 * 1/0/true/false/是/否, an empty cell is "not given".  Valid rows are created,
 * or updated when their hosp_code exists, all in one transaction; invalid
 * rows are reported with their row number, field and message and not
 * applied.  A row is applied whole or not at all. */
#include "registry/clinic_impl.h"
#include "registry/drug_impl.h"

#include "core/clock.h"

#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS 32
#define MAX_ROWS 10000
#define MAX_CELL 512

typedef void (*row_cb)(void *ctx, int rowno, json_t *obj, ih_err e, const char *field, const char *msg);

typedef struct {
    row_cb cb;
    void *ctx;
    char *cols[MAX_COLS];
    int ncols;
    json_t *cur;
    int col, row; /* row 0 is the header */
    bool header_bad, too_many;
    char bad_field[64], bad_msg[200];
} parse_state;

static bool is_bool_field(const char *n) { return !strcmp(n, "otc") || !strcmp(n, "restricted") || !strcmp(n, "active"); }

static void on_field(void *s, size_t len, void *data)
{
    parse_state *p = data;
    char cell[MAX_CELL + 1];
    size_t n = len < MAX_CELL ? len : MAX_CELL;
    if (s) memcpy(cell, s, n);
    cell[n] = '\0';
    if (p->row == 0) {
        if (p->ncols >= MAX_COLS || ih_table_field(&ih_t_drug, cell) < 0 ||
            (ih_t_drug.fields[ih_table_field(&ih_t_drug, cell)].flags & IH_FF_SERVER)) {
            if (!p->header_bad) {
                char safe[48];
                size_t i = 0;
                for (; cell[i] && i < sizeof safe - 1; i++) safe[i] = cell[i] >= 0x20 && cell[i] < 0x7f ? cell[i] : '?';
                safe[i] = '\0';
                snprintf(p->bad_msg, sizeof p->bad_msg, "Unknown column '%s' in the header row.", safe);
                snprintf(p->bad_field, sizeof p->bad_field, "%s", safe);
            }
            p->header_bad = true;
        } else if ((p->cols[p->ncols] = strdup(cell)) != NULL)
            p->ncols++;
        else
            p->header_bad = true;
        p->col++;
        return;
    }
    if (!p->cur) p->cur = json_object();
    if (p->col < p->ncols && p->cur && len > 0 && len <= MAX_CELL) {
        const char *name = p->cols[p->col];
        json_t *v;
        if (is_bool_field(name)) {
            if (!strcmp(cell, "1") || !strcmp(cell, "true") || !strcmp(cell, "是")) v = json_true();
            else if (!strcmp(cell, "0") || !strcmp(cell, "false") || !strcmp(cell, "否")) v = json_false();
            else v = json_string(cell); /* refused by validation, naming the field */
        } else
            v = json_string(cell);
        json_object_set_new(p->cur, name, v ? v : json_null());
    } else if (p->cur && len > MAX_CELL) {
        json_object_set_new(p->cur, p->col < p->ncols ? p->cols[p->col] : "?", json_string("(too long)"));
    }
    p->col++;
}

static void on_row(int c, void *data)
{
    (void)c;
    parse_state *p = data;
    if (p->row == 0) {
        p->row = 1;
        p->col = 0;
        return;
    }
    if (p->header_bad) return;
    if (p->row > MAX_ROWS) {
        p->too_many = true;
        json_decref(p->cur);
        p->cur = NULL;
        return;
    }
    json_t *obj = p->cur ? p->cur : json_object();
    p->cur = NULL;
    if (p->col != p->ncols) {
        char msg[96];
        snprintf(msg, sizeof msg, "This row has %d cells; the header has %d.", p->col, p->ncols);
        p->cb(p->ctx, p->row, obj, IH_E_INVALID, "", msg);
    } else {
        ih_row r;
        ih_row_init(&r, &ih_t_drug);
        ih_err e = ih_row_from_json(&r, obj, true, NULL);
        if (e == IH_OK) e = drug_check_row(&r);
        p->cb(p->ctx, p->row, obj, e, e == IH_OK ? NULL : ih_err_field(), e == IH_OK ? NULL : ih_err_public());
        ih_row_free(&r);
    }
    json_decref(obj);
    p->row++;
    p->col = 0;
}

/* Parse csv, calling cb for each data row with its validation result. */
static ih_err parse(const char *csv, size_t n, row_cb cb, void *ctx)
{
    struct csv_parser cp;
    if (csv_init(&cp, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) return ih_fail(IH_E_NOMEM, "csv");
    parse_state p = {.cb = cb, .ctx = ctx};
    ih_err e = IH_OK;
    size_t used = csv_parse(&cp, csv, n, on_field, on_row, &p);
    if (used != n || csv_fini(&cp, on_field, on_row, &p) != 0)
        e = ih_reject(IH_E_INVALID, "csv", "The CSV is malformed near byte %zu: %s.", used,
                      csv_strerror(csv_error(&cp)));
    csv_free(&cp);
    json_decref(p.cur);
    for (int i = 0; i < p.ncols; i++) free(p.cols[i]);
    if (e == IH_OK && p.header_bad) e = ih_reject(IH_E_INVALID, p.bad_field, "%s", p.bad_msg);
    if (e == IH_OK && p.row == 0) e = ih_reject(IH_E_INVALID, "csv", "The CSV is empty: it needs a header row.");
    if (e == IH_OK && p.too_many) e = ih_reject(IH_E_TOO_LARGE, "csv", "At most %d rows per import.", MAX_ROWS);
    return e;
}

typedef struct {
    json_t *errors, *valid; /* valid: [ [rowno, obj], ... ] */
} collect;

static void collect_cb(void *ctx, int rowno, json_t *obj, ih_err e, const char *field, const char *msg)
{
    collect *c = ctx;
    if (e == IH_OK) {
        if (c->valid) json_array_append_new(c->valid, json_pack("[i, O]", rowno, obj));
        return;
    }
    json_array_append_new(c->errors, json_pack("{s:i, s:s, s:s, s:s}", "row", rowno, "field", field ? field : "",
                                               "code", ih_err_name(e), "message", msg && *msg ? msg : "invalid row"));
}

ih_err ih_drug_csv_check(const char *csv, size_t n, json_t **report)
{
    collect c = {json_array(), NULL};
    IH_CHECK_ALLOC(c.errors);
    ih_err e = parse(csv, n, collect_cb, &c);
    if (e != IH_OK) {
        json_decref(c.errors);
        return e;
    }
    *report = json_pack("{s:o}", "errors", c.errors);
    return IH_OK;
}

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *valid;
    int created, updated, rejected;
} import_arg;

static ih_err import_fn(ih_tx *tx, void *arg)
{
    import_arg *a = arg;
    a->created = a->updated = 0;
    size_t i;
    json_t *pair;
    ih_row r;
    ih_row_init(&r, &ih_t_drug);
    ih_err e = IH_OK;
    int64_t now = ih_now_ms();
    json_array_foreach(a->valid, i, pair)
    {
        json_t *obj = json_array_get(pair, 1);
        int64_t id;
        e = drug_find_code(tx, json_string_value(json_object_get(obj, "hosp_code")), &id);
        if (e != IH_OK) break;
        ih_row_free(&r);
        ih_row_init(&r, &ih_t_drug);
        int64_t rv = 0;
        if (id) { /* the record it replaces must verify; its version goes on */
            bool found;
            e = ih_row_load_opt(tx, a->c->o.keys, &ih_t_drug, id, &r, &found, false);
            rv = r.rv;
            ih_row_free(&r);
            ih_row_init(&r, &ih_t_drug);
            if (e != IH_OK) break;
        }
        /* A row replaces the whole record: absent optional cells clear. */
        r.rv = rv;
        e = ih_row_from_json(&r, obj, true, NULL);
        if (e == IH_OK) e = drug_check_row(&r);
        if (e == IH_OK && !id) e = ih_tx_next_id(tx, "drug", &r.id);
        else r.id = id;
        ih_row_set_int(&r, "updated_at", now);
        if (e == IH_OK) e = id ? ih_row_update(tx, a->c->o.keys, &r) : ih_row_insert(tx, a->c->o.keys, &r);
        if (e == IH_OK) e = cl_report_drug(a->c, tx, r.id);
        if (e != IH_OK) break;
        if (id) a->updated++;
        else a->created++;
    }
    ih_row_free(&r);
    IH_TRY(e);
    char reason[96];
    snprintf(reason, sizeof reason, "created %d, updated %d, rejected %d", a->created, a->updated, a->rejected);
    return cl_audit(a->c, tx, a->v, "drug.import", "drug", 0, reason);
}

ih_err ih_drug_import_csv(ih_clinic *c, const ih_viewer *v, const char *csv, size_t n, json_t **out)
{
    collect col = {json_array(), json_array()};
    if (!col.errors || !col.valid) {
        json_decref(col.errors);
        json_decref(col.valid);
        return ih_fail(IH_E_NOMEM, "import");
    }
    ih_err e = parse(csv, n, collect_cb, &col);
    import_arg a = {c, v, col.valid, 0, 0, (int)json_array_size(col.errors)};
    if (e == IH_OK) e = ih_store_write(c->o.store, import_fn, &a);
    json_decref(col.valid);
    if (e != IH_OK) {
        json_decref(col.errors);
        return e;
    }
    *out = json_pack("{s:i, s:i, s:o}", "created", a.created, "updated", a.updated, "errors", col.errors);
    return IH_OK;
}
