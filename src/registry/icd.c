/* icd.c — the diagnosis code list (ICD-10 国家临床版 2.0), loaded from CSV
 * ("code,name" with a header row) by sysadmin; records and prescriptions
 * accept only codes in it.  The demo seeds a small sample. */
#include "registry/clinic_impl.h"

#include <csv.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* A code looks like A00, A00.0, I10.x00 or E11.900x002. */
static bool code_shape(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 16 || !isupper((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
        !isalnum((unsigned char)s[2]))
        return false;
    for (size_t i = 3; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '+' && s[i] != '*') return false;
    return true;
}

ih_err cl_icd_name(ih_tx *tx, const char *code, char *name, size_t n)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT name FROM icd WHERE code = $1", &st));
    ih_stmt_text(st, 1, code);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_reject(IH_E_INVALID, "diagnosis_codes", "'%.20s' is not a code of the loaded ICD-10 list.", code);
    if (name) snprintf(name, n, "%s", ih_col_text(st, 0));
    return IH_OK;
}

json_t *cl_icd_view(ih_tx *tx, const char *joined)
{
    json_t *codes = json_array();
    if (!codes || !joined) return codes;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", joined);
    for (char *save = NULL, *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save)) {
        char name[128] = "";
        if (!tx || cl_icd_name(tx, t, name, sizeof name) != IH_OK) ih_err_clear();
        json_array_append_new(codes, json_pack("{s:s, s:s}", "code", t, "name", name));
    }
    return codes;
}

ih_err cl_icd_codes(ih_tx *tx, json_t *body, const char *field, ih_buf *joined)
{
    json_t *a = json_object_get(body, field);
    if (!json_is_array(a) || json_array_size(a) < 1 || json_array_size(a) > 8)
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be a list of 1 to 8 ICD-10 codes.", field);
    ih_buf_reset(joined);
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x)
    {
        const char *code = json_string_value(x);
        if (!code || !code_shape(code))
            return ih_reject(IH_E_INVALID, field, "Field '%s' must hold ICD-10 codes such as \"I10.x00\".", field);
        IH_TRY(cl_icd_name(tx, code, NULL, 0));
        if (i) IH_TRY(ih_buf_puts(joined, "|"));
        IH_TRY(ih_buf_puts(joined, code));
    }
    return IH_OK;
}

typedef struct {
    json_t *rows, *errors;
    char cell[2][200];
    int col, line;
    bool header;
} icd_parse;

static void on_cell(void *s, size_t len, void *data)
{
    icd_parse *p = data;
    if (p->col < 2) {
        size_t n = len < sizeof p->cell[0] - 1 ? len : sizeof p->cell[0] - 1;
        memcpy(p->cell[p->col], s ? s : "", s ? n : 0);
        p->cell[p->col][s ? n : 0] = '\0';
    }
    p->col++;
}

static void on_end(int c, void *data)
{
    (void)c;
    icd_parse *p = data;
    p->line++;
    int cols = p->col;
    p->col = 0;
    if (p->line == 1) {
        p->header = cols == 2 && !strcmp(p->cell[0], "code") && !strcmp(p->cell[1], "name");
        return;
    }
    const char *why = cols != 2                     ? "a row has two cells: code,name"
                      : !code_shape(p->cell[0])     ? "not an ICD-10 code"
                      : ih_utf8_len(p->cell[1], strlen(p->cell[1])) < 1 ? "the name is missing or not UTF-8"
                                                    : NULL;
    if (why) json_array_append_new(p->errors, json_pack("{s:i, s:s}", "row", p->line - 1, "message", why));
    else json_array_append_new(p->rows, json_pack("[s, s]", p->cell[0], p->cell[1]));
}

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *rows;
    const char *q;
    int limit;
    json_t *out;
} icd_arg;

static ih_err import_fn(ih_tx *tx, void *arg)
{
    icd_arg *a = arg;
    size_t i;
    json_t *r;
    json_array_foreach(a->rows, i, r)
    {
        ih_stmt *st;
        IH_TRY(ih_tx_prepare(tx, "INSERT INTO icd (code, name) VALUES ($1, $2) "
                                 "ON CONFLICT (code) DO UPDATE SET name = excluded.name", &st));
        ih_stmt_text(st, 1, json_string_value(json_array_get(r, 0)));
        ih_stmt_text(st, 2, json_string_value(json_array_get(r, 1)));
        IH_TRY(ih_stmt_exec(st));
    }
    char reason[48];
    snprintf(reason, sizeof reason, "%zu codes", json_array_size(a->rows));
    return cl_audit(a->c, tx, a->v, "icd.import", "icd", 0, reason);
}

/* Parse the CSV into rows ([code, name]) and errors ({row, message}). */
static ih_err parse(const char *csv, size_t n, json_t **rows, json_t **errors)
{
    struct csv_parser cp;
    if (csv_init(&cp, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) return ih_fail(IH_E_NOMEM, "csv");
    icd_parse p = {.rows = json_array(), .errors = json_array()};
    ih_err e = p.rows && p.errors ? IH_OK : ih_fail(IH_E_NOMEM, "csv");
    size_t used = e == IH_OK ? csv_parse(&cp, csv, n, on_cell, on_end, &p) : 0;
    if (e == IH_OK && (used != n || csv_fini(&cp, on_cell, on_end, &p) != 0))
        e = ih_reject(IH_E_INVALID, "csv", "The CSV is malformed near byte %zu: %s.", used, csv_strerror(csv_error(&cp)));
    csv_free(&cp);
    if (e == IH_OK && !p.header) e = ih_reject(IH_E_INVALID, "csv", "The first row must be the header: code,name");
    if (e == IH_OK && json_array_size(p.rows) > 100000) e = ih_reject(IH_E_TOO_LARGE, "csv", "At most 100000 codes.");
    if (e != IH_OK) {
        json_decref(p.rows);
        json_decref(p.errors);
        return e;
    }
    *rows = p.rows;
    *errors = p.errors;
    return IH_OK;
}

ih_err ih_icd_csv_check(const char *csv, size_t n, json_t **report)
{
    json_t *rows, *errors;
    IH_TRY(parse(csv, n, &rows, &errors));
    *report = json_pack("{s:I, s:o}", "codes", (json_int_t)json_array_size(rows), "errors", errors);
    json_decref(rows);
    return *report ? IH_OK : ih_fail(IH_E_NOMEM, "icd");
}

ih_err ih_icd_import_csv(ih_clinic *c, const ih_viewer *v, const char *csv, size_t n, json_t **out)
{
    icd_parse p = {0};
    IH_TRY(parse(csv, n, &p.rows, &p.errors));
    ih_err e = IH_OK;
    icd_arg a = {c, v, p.rows, NULL, 0, NULL};
    if (e == IH_OK) e = ih_store_write(c->o.store, import_fn, &a);
    size_t loaded = json_array_size(p.rows);
    json_decref(p.rows);
    if (e != IH_OK) {
        json_decref(p.errors);
        return e;
    }
    *out = json_pack("{s:I, s:o}", "loaded", (json_int_t)loaded, "errors", p.errors);
    return IH_OK;
}

static ih_err search_fn(ih_tx *tx, void *arg)
{
    icd_arg *a = arg;
    char like[80];
    size_t j = 0;
    like[j++] = '%';
    for (const char *s = a->q; *s && j < sizeof like - 3; s++) {
        if (*s == '%' || *s == '_' || *s == '\\') like[j++] = '\\';
        like[j++] = *s;
    }
    like[j++] = '%';
    like[j] = '\0';
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT code, name FROM icd WHERE code LIKE $1 ESCAPE '\\' OR name LIKE $1 ESCAPE '\\' "
                             "ORDER BY code LIMIT $2", &st));
    ih_stmt_text(st, 1, like);
    ih_stmt_int(st, 2, a->limit);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row)
        json_array_append_new(a->out, json_pack("{s:s, s:s}", "code", ih_col_text(st, 0), "name", ih_col_text(st, 1)));
    return e;
}

ih_err ih_icd_search(ih_clinic *c, const char *q, int limit, json_t **out)
{
    icd_arg a = {c, NULL, NULL, q ? q : "", limit, json_array()};
    IH_CHECK_ALLOC(a.out);
    ih_err e = ih_store_read(c->o.store, search_fn, &a);
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    *out = a.out;
    return IH_OK;
}

/* A sample of codes for the demo; a hospital loads the full edition. */
static const char demo_icd[] = "code,name\n"
                               "B20.x00,人类免疫缺陷病毒病\n"
                               "E03.900,甲状腺功能减退症\n"
                               "E05.900,甲状腺功能亢进症\n"
                               "E11.900,2型糖尿病\n"
                               "E78.500,高脂血症\n"
                               "F32.900,抑郁发作\n"
                               "F41.100,广泛性焦虑障碍\n"
                               "I10.x00,原发性高血压\n"
                               "I25.100,动脉粥样硬化性心脏病\n"
                               "J30.400,变应性鼻炎\n"
                               "J44.900,慢性阻塞性肺疾病\n"
                               "J45.900,支气管哮喘\n"
                               "K21.900,胃食管反流病\n"
                               "K29.500,慢性胃炎\n"
                               "L20.900,特应性皮炎\n"
                               "L40.000,寻常型银屑病\n"
                               "M81.000,绝经后骨质疏松\n"
                               "N40.x00,前列腺增生\n";

ih_err cl_demo_seed_care(ih_clinic *c, const ih_viewer *v)
{
    json_t *out = NULL;
    ih_err e = ih_icd_import_csv(c, v, demo_icd, sizeof demo_icd - 1, &out);
    json_decref(out);
    return e;
}
