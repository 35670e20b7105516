/* test_compliance.c — the self-check report model (verdicts, estimate,
 * high-risk findings, HTML as text) and the trust manifest (record, verify,
 * a changed file, a forged manifest, the running program not listed). */
#include "support.h"

#include "compliance/selfcheck.h"
#include "compliance/trust.h"
#include "core/fsutil.h"
#include "core/json.h"

#include <stdio.h>
#include <string.h>

static json_t *item(json_t *doc, const char *id)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(doc, "items"), i, it)
        if (!strcmp(json_string_value(json_object_get(it, "id")), id)) return it;
    return NULL;
}

static void t_report(void **state)
{
    (void)state;
    ih_sc_report *r;
    T_OK(ih_sc_new(&r));
    json_t *doc = NULL;
    assert_int_equal(ih_sc_finish(r, "x", 0, &doc), IH_E_INTERNAL); /* nothing evaluated yet */
    assert_int_equal(ih_sc_set(r, "8.9.9", IH_SC_PASS, "no such clause", NULL, NULL, false), IH_E_INTERNAL);
    ih_err_clear();
    for (size_t i = 0; i < ih_sc_clause_count(); i++)
        T_OK(ih_sc_set(r, ih_sc_clause_id(i), IH_SC_PASS, "ok", NULL, "unused when it passes", true));
    T_OK(ih_sc_finish(r, "x", 0, &doc));
    assert_true(json_real_value(json_object_get(json_object_get(doc, "summary"), "estimate")) == 1.0);
    assert_false(ih_sc_has_high_risk(doc)); /* a high-risk flag counts only on a failure */
    assert_null(json_object_get(item(doc, "8.1.4.1a"), "remedy"));
    json_decref(doc);

    /* weights: 8.1.4.1a (.7) partial, 8.1.4.9c (1) failed and high-risk, 8.1.4.2g (.4) not applicable */
    T_OK(ih_sc_set(r, "8.1.4.1a", IH_SC_PARTIAL, "half", NULL, "fix it", true));
    T_OK(ih_sc_set(r, "8.1.4.9c", IH_SC_FAIL, "<script>alert(1)</script>", json_pack("{s:s}", "v", "<b>&"),
                   "add a standby", true));
    T_OK(ih_sc_set(r, "8.1.4.2g", IH_SC_NA, "n/a", NULL, NULL, false));
    T_OK(ih_sc_set(r, "39786-8.4a", IH_SC_FAIL, "39786 apart", NULL, NULL, false));
    T_OK(ih_sc_finish(r, "x", 0, &doc));
    double wsum = 0;
    for (size_t i = 0; i < ih_sc_clause_count(); i++) {
        json_t *w = json_object_get(item(doc, ih_sc_clause_id(i)), "weight");
        if (w && strcmp(ih_sc_clause_id(i), "8.1.4.2g")) wsum += json_real_value(w);
    }
    double want = (wsum - 0.7 * 0.5 - 1.0) / wsum;
    double got = json_real_value(json_object_get(json_object_get(doc, "summary"), "estimate"));
    assert_true(got > want - 0.001 && got < want + 0.001);
    assert_true(ih_sc_has_high_risk(doc));
    json_t *hr = json_object_get(doc, "high_risk_findings");
    assert_int_equal(json_array_size(hr), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(hr, 0), "id")), "8.1.4.9c");
    assert_string_equal(json_string_value(json_object_get(item(doc, "8.1.4.1a"), "verdict")), "部分符合");
    assert_string_equal(json_string_value(json_object_get(item(doc, "8.1.4.2g"), "verdict_code")), "na");
    json_t *g39 = json_object_get(json_object_get(doc, "summary"), "gb39786");
    assert_int_equal(json_integer_value(json_object_get(g39, "fail")), 1);
    /* every server string is text in the printable report */
    ih_buf html = IH_BUF_INIT;
    T_OK(ih_sc_html(doc, &html));
    assert_null(strstr(html.p, "<script>"));
    assert_non_null(strstr(html.p, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_null(strstr(html.p, "<b>&"));
    assert_null(strstr(html.p, "unsafe-inline"));
    ih_buf_free(&html);
    json_decref(doc);
    ih_sc_free(r);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void t_trust(void **state)
{
    (void)state;
    char *dir = t_tempdir();
    char a[512], b[512], manifest[512], self[4096];
    snprintf(a, sizeof a, "%s/a.bin", dir);
    snprintf(b, sizeof b, "%s/b.conf", dir);
    snprintf(manifest, sizeof manifest, "%s/trust.manifest", dir);
    write_file(a, "program");
    write_file(b, "[instance]\n");
    ih_trust_self(self, sizeof self);
    assert_true(self[0] == '/');
    for (int s = IH_SUITE_INTL; s <= IH_SUITE_GM; s++) {
        ih_signkey *key, *other;
        T_OK(ih_sign_generate((ih_suite)s, &key));
        T_OK(ih_sign_generate((ih_suite)s, &other));
        const char *files[] = {a, b, self};
        ih_trust_report r;
        /* no manifest yet */
        T_OK(ih_trust_verify(manifest, key, NULL, &r));
        assert_false(r.recorded);
        assert_non_null(strstr(r.problem, "no trust manifest"));
        T_OK(ih_trust_record(manifest, key, files, 3, 1000));
        T_OK(ih_trust_verify(manifest, key, self, &r));
        assert_true(r.recorded);
        assert_int_equal(r.files, 3);
        assert_string_equal(r.problem, "");
        assert_string_equal(r.algorithm, s == IH_SUITE_GM ? "SM3" : "SHA-256");
        /* another key did not sign it */
        T_OK(ih_trust_verify(manifest, other, NULL, &r));
        assert_false(r.recorded);
        assert_non_null(strstr(r.problem, "not signed"));
        /* a changed file */
        write_file(b, "[instance]\ndemo = true\n");
        T_OK(ih_trust_verify(manifest, key, NULL, &r));
        assert_int_equal(r.changed, 1);
        assert_non_null(strstr(r.problem, b));
        /* the running program must be among the files */
        T_OK(ih_trust_record(manifest, key, files, 2, 1000));
        T_OK(ih_trust_verify(manifest, key, self, &r));
        assert_non_null(strstr(r.problem, "not among"));
        /* a manifest edited to trust the changed file is no longer signed */
        T_OK(ih_trust_record(manifest, key, files, 2, 1000));
        write_file(b, "[instance]\n");
        ih_buf m = IH_BUF_INIT;
        T_OK(ih_file_read(manifest, 1 << 20, &m));
        json_t *doc = json_loadb(m.p, m.len, 0, NULL);
        ih_buf_free(&m);
        json_t *f1 = json_array_get(json_object_get(doc, "files"), 1);
        json_object_set_new(f1, "digest", json_string("00"));
        ih_buf out = IH_BUF_INIT;
        T_OK(ih_json_dump(doc, JSON_INDENT(2), &out));
        json_decref(doc);
        T_OK(ih_file_replace(manifest, out.p, out.len, 0600));
        ih_buf_free(&out);
        T_OK(ih_trust_verify(manifest, key, NULL, &r));
        assert_false(r.recorded);
        remove(manifest);
        ih_signkey_free(key);
        ih_signkey_free(other);
    }
    t_rmtree(dir);
    free(dir);
}

int main(void)
{
    ih_json_init();
    T_OK(ih_crypto_init());
    const struct CMUnitTest t[] = {cmocka_unit_test(t_report), cmocka_unit_test(t_trust)};
    return cmocka_run_group_tests_name("compliance", t, NULL, NULL);
}
