/* cli_selfcheck.c — `ihos selfcheck DIR [--json FILE] [--html FILE]`: the
 * Level 3 self-check of the instance (app/selfcheck.h).  A summary on
 * stdout (the whole JSON when no file is named); exit 1 when a high-risk
 * item fails, so a timer or a deployment pipeline can act on it. */
#include "app/cli.h"
#include "app/cli_env.h"
#include "app/selfcheck.h"
#include "compliance/selfcheck.h"
#include "core/fsutil.h"
#include "core/json.h"

#include <string.h>

int ih_cli_selfcheck(int argc, char **argv)
{
    const char *json_out = NULL, *html_out = NULL;
    bool ok = argc >= 2 && argc % 2 == 0;
    for (int i = 2; ok && i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--json")) json_out = argv[i + 1];
        else if (!strcmp(argv[i], "--html")) html_out = argv[i + 1];
        else ok = false;
    }
    if (!ok) {
        fprintf(stderr, "usage: ihos selfcheck DIR [--json FILE] [--html FILE]\n");
        return 2;
    }
    ih_cli_env env;
    int rc = ih_cli_env_open(argv[1], &env, true);
    if (rc) return rc;
    ih_selfcheck_env sc = {.in = &env.in, .id = env.id, .clinic = env.clinic, .report = env.report};
    json_t *doc = NULL;
    ih_err e = ih_app_selfcheck(&sc, &ih_console_actor, &doc);
    ih_cli_env_close(&env);
    if (e != IH_OK) return ih_cli_fail(e, "the self-check could not run");
    ih_buf html = IH_BUF_INIT, text = IH_BUF_INIT;
    e = ih_json_dump(doc, JSON_INDENT(2) | JSON_SORT_KEYS, &text);
    if (e == IH_OK) e = ih_buf_puts(&text, "\n");
    if (e == IH_OK && json_out) e = ih_file_replace(json_out, text.p, text.len, 0600);
    if (e == IH_OK && html_out) e = ih_sc_html(doc, &html);
    if (e == IH_OK && html_out) e = ih_file_replace(html_out, html.p, html.len, 0600);
    ih_buf_free(&html);
    bool hr = ih_sc_has_high_risk(doc);
    if (e == IH_OK && !json_out && !html_out) fwrite(text.p, 1, text.len, stdout);
    else if (e == IH_OK) {
        json_t *s = json_object_get(doc, "summary"), *g = json_object_get(s, "gb22239");
        printf("estimate %.1f%% (GB/T 22239-2019, weighted); pass %d, partial %d, fail %d, n/a %d; high-risk %d\n",
               json_real_value(json_object_get(s, "estimate")) * 100,
               (int)json_integer_value(json_object_get(g, "pass")), (int)json_integer_value(json_object_get(g, "partial")),
               (int)json_integer_value(json_object_get(g, "fail")), (int)json_integer_value(json_object_get(g, "na")),
               (int)json_integer_value(json_object_get(s, "high_risk")));
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(doc, "high_risk_findings"), i, h)
            printf("  HIGH RISK %s: %s\n", json_string_value(json_object_get(h, "id")),
                   json_string_value(json_object_get(h, "finding")));
    }
    ih_buf_free(&text);
    json_decref(doc);
    if (e != IH_OK) return ih_cli_fail(e, "cannot write the report");
    return hr ? 1 : 0;
}
