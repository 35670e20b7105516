/* codes_api.c — the code tables coded fields take (public: they name
 * nothing but codes):
 *   GET /api/v1/codes          {"tables": [{"key", "name", "count"}]}
 *   GET /api/v1/codes/{table}  {"table", "name", "codes": [{"code", "name"}]} */
#include "api/api.h"

#include "table/codes.h"

ih_err ih_api_codes_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    (void)app;
    (void)req;
    json_t *list = json_array();
    IH_CHECK_ALLOC(list);
    for (size_t i = 0; i < ih_code_tables_count; i++) {
        const ih_code_table *t = ih_code_tables[i];
        json_array_append_new(list, json_pack("{s:s, s:s, s:I}", "key", t->key, "name", t->name, "count",
                                              (json_int_t)t->n));
    }
    return ih_api_json(resp, 200, json_pack("{s:o}", "tables", list));
}

ih_err ih_api_codes_get(ih_app *app, ih_req *req, ih_resp *resp)
{
    (void)app;
    const ih_code_table *t = ih_code_table_find(req->params[0]);
    if (!t) return ih_reject(IH_E_NOT_FOUND, NULL, "No code table of that name: GET /api/v1/codes lists them.");
    json_t *codes = json_array();
    IH_CHECK_ALLOC(codes);
    for (size_t i = 0; i < t->n; i++)
        json_array_append_new(codes, json_pack("{s:s, s:s}", "code", t->codes[i].code, "name", t->codes[i].name));
    return ih_api_json(resp, 200, json_pack("{s:s, s:s, s:o}", "table", t->key, "name", t->name, "codes", codes));
}
