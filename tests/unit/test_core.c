/* test_core.c — config, JSON validation, encoders, error envelope. */
#include "support.h"

#include "core/buf.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/conf.h"
#include "core/json.h"
#include "core/jsonw.h"
#include "core/url.h"
#include "net/http.h"
#include "web/assets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char good_conf[] = "[instance]\nname = t\nsuite = gm\n[store]\nbackend = sqlite\n";

static void t_conf_defaults_and_values(void **state)
{
    (void)state;
    ih_conf c;
    char err[256] = "";
    T_OK(ih_conf_parse_string(good_conf, "x.conf", &c, err, sizeof err));
    assert_string_equal(c.suite, "gm");
    assert_string_equal(c.listen, "127.0.0.1:8443");
    assert_int_equal(c.workers, 64);
    assert_int_equal(c.max_body, 1048576);
    assert_false(c.demo);
}

static void expect_conf_error(const char *text, const char *want)
{
    ih_conf c;
    char err[256] = "";
    assert_int_equal(ih_conf_parse_string(text, "ihos.conf", &c, err, sizeof err), IH_E_CONFIG);
    if (!strstr(err, want)) fail_msg("config error '%s' does not contain '%s'", err, want);
}

static void t_conf_errors_name_the_line(void **state)
{
    (void)state;
    expect_conf_error("[instance]\nname = t\nsuite = intl\ncolour = blue\n[store]\nbackend = sqlite\n",
                      "ihos.conf:4: unknown key 'colour' in section [instance]");
    expect_conf_error("[instance]\nname = t\nsuite = rot13\n[store]\nbackend = sqlite\n",
                      "ihos.conf:3: [instance] suite: 'rot13' is not one of intl|gm");
    expect_conf_error("[instance]\nname = t\nsuite = intl\n[server]\nworkers = many\n[store]\nbackend = sqlite\n",
                      "ihos.conf:5: [server] workers: must be an integer from 1 to 1024");
    expect_conf_error("[instance]\nname = t\nsuite = intl\n[server]\nworkers = 0\n[store]\nbackend = sqlite\n",
                      "ihos.conf:5:");
    expect_conf_error("[instance]\nname = t\nsuite = intl\n[instance]\nsuite = gm\n[store]\nbackend = sqlite\n",
                      "ihos.conf:5: [instance] suite: set twice");
    expect_conf_error("[instance]\nname = t\n[store]\nbackend = sqlite\n",
                      "ihos.conf: missing required key 'suite' in section [instance]");
    expect_conf_error("[instance]\nname = t\nsuite = intl\n[store]\nbackend = postgres\n",
                      "needs pg_url");
    expect_conf_error("[instance]\nname = t\nsuite = intl\njust some words\n", "ihos.conf:4: syntax error");
    expect_conf_error("[instance]\nname = t\nsuite = intl\ndemo = maybe\n[store]\nbackend = sqlite\n",
                      "ihos.conf:4: [instance] demo: must be true or false");
    /* A line too long for the parser is refused, never split: its tail
     * ("workers = 1") must not become a key of its own. */
    char longline[1024];
    char pad[300];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    snprintf(longline, sizeof longline,
             "[instance]\nname = t\nsuite = intl\n[store]\nbackend = sqlite\nsqlite_path = %s\nworkers = 1\n", pad);
    expect_conf_error(longline, "ihos.conf:6: line longer than");
}

static void t_conf_render_roundtrip(void **state)
{
    (void)state;
    ih_conf c, d;
    char err[256];
    ih_conf_defaults(&c);
    snprintf(c.name, sizeof c.name, "round;trip");
    c.workers = 7;
    c.demo = true;
    char *text;
    T_OK(ih_conf_render(&c, &text));
    T_OK(ih_conf_parse_string(text, "r.conf", &d, err, sizeof err));
    free(text);
    assert_string_equal(d.name, "round;trip"); /* ';' is not an inline comment */
    assert_int_equal(d.workers, 7);
    assert_true(d.demo);
}

/* Each section appears once in a rendered file: an operator (or a test)
 * adding a key under "[server]" must not find a second "[server]" further
 * down (a key set under both is refused as set twice). */
static void t_conf_render_sections_once(void **state)
{
    (void)state;
    ih_conf c;
    ih_conf_defaults(&c);
    char *text;
    T_OK(ih_conf_render(&c, &text));
    char seen[32][32];
    int n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] != '[') continue;
        for (int i = 0; i < n; i++)
            if (!strcmp(seen[i], line)) fail_msg("section %s rendered twice", line);
        assert_true(n < 32);
        snprintf(seen[n++], sizeof seen[0], "%s", line);
    }
    free(text);
    assert_true(n >= 10);
}

static void t_json_body_entry_point(void **state)
{
    (void)state;
    json_t *j = NULL;
    assert_int_equal(ih_json_parse_object("{\"a\":1", 6, &j), IH_E_MALFORMED_JSON);
    assert_int_equal(ih_json_parse_object("[1]", 3, &j), IH_E_MALFORMED_JSON);
    assert_int_equal(ih_json_parse_object("{\"a\":1,\"a\":2}", 13, &j), IH_E_MALFORMED_JSON);
    assert_int_equal(ih_json_parse_object("", 0, &j), IH_E_MALFORMED_JSON);
    const char body[] = "{\"name\":\"\xe5\xbc\xa0\xe4\xb8\x89\",\"age\":7,\"ok\":true,\"fee\":\"12.5\",\"x\":null}";
    T_OK(ih_json_parse_object(body, sizeof body - 1, &j));
    const char *name;
    T_OK(ih_json_str(j, "name", true, 1, 2, IH_TEXT_LINE, &name)); /* 2 characters, 6 bytes */
    assert_int_equal(ih_json_str(j, "name", true, 3, 10, IH_TEXT_LINE, &name), IH_E_INVALID);
    assert_string_equal(ih_err_field(), "name");
    int64_t age = 0, fen = 0;
    T_OK(ih_json_int(j, "age", true, 0, 150, &age));
    assert_int_equal(age, 7);
    assert_int_equal(ih_json_int(j, "age", true, 10, 150, &age), IH_E_INVALID);
    assert_int_equal(ih_json_int(j, "name", true, 0, 1, &age), IH_E_INVALID);
    T_OK(ih_json_money(j, "fee", true, &fen));
    assert_int_equal(fen, 1250);
    assert_int_equal(ih_json_str(j, "missing", true, 0, 5, 0, &name), IH_E_INVALID);
    assert_string_equal(ih_err_public(), "Field 'missing' is required.");
    T_OK(ih_json_str(j, "x", false, 0, 5, 0, &name)); /* null = absent */
    assert_null(name);
    static const char *const allowed[] = {"name", "age", "ok", "fee", NULL};
    assert_int_equal(ih_json_only(j, allowed), IH_E_INVALID);
    assert_string_equal(ih_err_field(), "x");
    json_decref(j);

    T_OK(ih_json_parse_object("{\"t\":\"a\\u0001b\"}", 16, &j));
    assert_int_equal(ih_json_str(j, "t", true, 0, 10, IH_TEXT_MULTILINE, &name), IH_E_INVALID);
    json_decref(j);

    /* 20. Bidirectional overrides and isolates, C1 controls: refused in any
     * text; line separators in single-line text. */
    static const char *const refused[] = {"\\u202e", "\\u202a", "\\u202d", "\\u2066", "\\u2069", "\\u0085",
                                          "\\u009f", "\\u2028"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char doc[64];
        int len = snprintf(doc, sizeof doc, "{\"t\":\"\\u7528%s\\u91cf 5mg\"}", refused[i]);
        T_OK(ih_json_parse_object(doc, (size_t)len, &j));
        if (ih_json_str(j, "t", true, 0, 20, IH_TEXT_LINE, &name) != IH_E_INVALID) fail_msg("%s accepted", refused[i]);
        json_decref(j);
    }
    const char *sep = "{\"t\":\"a\\u2028b\\u200fc\"}";
    T_OK(ih_json_parse_object(sep, strlen(sep), &j));
    T_OK(ih_json_str(j, "t", true, 0, 10, IH_TEXT_MULTILINE, &name)); /* a separator in free text; a mark */
    json_decref(j);
}

static void t_money_forms(void **state)
{
    (void)state;
    const char *bad[] = {"{\"m\":\"1.234\"}", "{\"m\":\"-1\"}", "{\"m\":\"abc\"}", "{\"m\":1.5}", "{\"m\":\".5\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j;
        int64_t fen;
        T_OK(ih_json_parse_object(bad[i], strlen(bad[i]), &j));
        assert_int_equal(ih_json_money(j, "m", true, &fen), IH_E_INVALID);
        json_decref(j);
    }
}

static void t_list_has(void **state)
{
    (void)state;
    assert_true(ih_list_has("ADT^A04, ORU^R01", "ORU^R01"));
    assert_true(ih_list_has("syslog,webhook:ok,mail:failed", "webhook:ok"));
    assert_false(ih_list_has("syslog,webhook:ok,mail:failed", "mail:ok"));
    assert_false(ih_list_has("name_enc,cert_no_enc", "name"));
    assert_false(ih_list_has("", "syslog"));
    assert_false(ih_list_has(NULL, "syslog"));
}

static void t_encoders(void **state)
{
    (void)state;
    uint8_t in[] = {0x00, 0xff, 0x10, 0xab};
    char hex[9];
    ih_hex_encode(in, 4, hex, 0);
    assert_string_equal(hex, "00ff10ab");
    uint8_t back[4];
    size_t n;
    assert_int_equal(ih_hex_decode("00FF10aB", 8, back, 4, &n), 0);
    assert_memory_equal(back, in, 4);
    assert_int_equal(ih_hex_decode("0g", 2, back, 4, &n), -1);
    /* every byte that is not a hex digit, at either place of a pair */
    for (int c = 0; c < 256; c++) {
        bool digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        char p1[5] = {'a', '1', (char)c, '0', 0}, p2[5] = {'0', (char)c, 'f', 'f', 0};
        assert_int_equal(ih_hex_decode(p1, 4, back, 4, &n), digit ? 0 : -1);
        assert_int_equal(ih_hex_decode(p2, 4, back, 4, &n), digit ? 0 : -1);
    }
    assert_int_equal(ih_hex_decode("0f9", 3, back, 4, &n), -1); /* odd */
    assert_int_equal(ih_hex_decode("0f9a", 4, back, 1, &n), -1); /* too long for out */
    assert_int_equal(ih_hex_decode("09aF", 4, back, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(back[0], 0x09);
    assert_int_equal(back[1], 0xaf);
    char b64[16];
    ih_b64_encode((const uint8_t *)"ab", 2, b64);
    assert_string_equal(b64, "YWI=");
    uint8_t dec[8];
    assert_int_equal(ih_b64_decode("YWI=", 4, dec, sizeof dec), 2);
    assert_memory_equal(dec, "ab", 2);
    assert_int_equal(ih_b64_decode("YW!=", 4, dec, sizeof dec), -1);
    ih_b64url_encode((const uint8_t *)"\xfb\xff", 2, b64);
    assert_string_equal(b64, "-_8");
    ih_buf b = IH_BUF_INIT;
    ih_buf_json_escape(&b, "a\"b\\c\n\x01", 7);
    assert_string_equal(b.p, "a\\\"b\\\\c\\n\\u0001");
    ih_buf_reset(&b);
    ih_buf_html_escape(&b, "<script>alert('x')</script>&\"");
    assert_string_equal(b.p, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;");
    ih_buf_free(&b);
}

static void t_time_formats(void **state)
{
    (void)state;
    char s[32];
    ih_time_iso(INT64_C(1718185594026), s, sizeof s);
    assert_string_equal(s, "2024-06-12T09:46:34.026Z");
    ih_time_beijing(INT64_C(1718185594026), s, sizeof s);
    assert_string_equal(s, "2024-06-12 17:46:34");
    int64_t ms;
    assert_int_equal(ih_date_parse("2024-02-29", &ms), 0);
    assert_int_equal(ih_date_parse("2023-02-29", &ms), -1);
    assert_int_equal(ih_date_parse("2024-13-01", &ms), -1);
    assert_int_equal(ih_time_parse_iso("2024-06-12T09:46:34.026Z", &ms), 0);
    assert_true(ms == INT64_C(1718185594026));
    assert_int_equal(ih_time_parse_iso("2024-06-12 09:46:34", &ms), -1);
    /* The arithmetic date agrees with gmtime_r: leap days, century years,
     * year ends, and a spread of instants from 1970 to 2400. */
    int64_t probes[] = {0, 951782400000, 951868799999, 4107542400000, 4107628799999, 1709164800123,
                        1735689599999, 13569465600000};
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        int64_t t;
        if (i < (int)(sizeof probes / sizeof probes[0])) t = probes[i];
        else {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            t = (int64_t)(x % UINT64_C(13569465600000));
        }
        time_t secs = (time_t)(t / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char want[32];
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(t % 1000));
        ih_time_iso(t, s, sizeof s);
        assert_string_equal(s, want);
    }
}

/* Text from the JSON writer parses to what jansson builds from the same
 * values, for keys and strings with every kind of character. */
static void t_json_writer(void **state)
{
    (void)state;
    const char *strs[] = {"", "plain", "张三 — 消息", "q\"uote\\back/slash", "\n\r\t\b\f\x01\x1f\x7f", "😀 4-byte",
                          "\xe6\x9d", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
    size_t n = sizeof strs / sizeof strs[0];
    ih_buf b = IH_BUF_INIT;
    ih_jw w;
    ih_jw_init(&w, &b);
    ih_jw_open(&w, '{');
    json_t *want = json_object(), *list = json_array();
    for (size_t i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%zu", i);
        ih_jw_key(&w, key);
        ih_jw_str(&w, strs[i]);
        json_t *v = json_string(strs[i]);
        json_object_set_new(want, key, v ? v : json_null());
    }
    ih_jw_key(&w, "键\"\n");
    ih_jw_open(&w, '[');
    ih_jw_int(&w, INT64_MIN);
    ih_jw_int(&w, 0);
    ih_jw_bool(&w, true);
    ih_jw_bool(&w, false);
    ih_jw_null(&w);
    ih_jw_open(&w, '{');
    ih_jw_close(&w, '}');
    ih_jw_open(&w, '[');
    ih_jw_close(&w, ']');
    ih_jw_close(&w, ']');
    ih_jw_close(&w, '}');
    json_array_append_new(list, json_integer(INT64_MIN));
    json_array_append_new(list, json_integer(0));
    json_array_append_new(list, json_true());
    json_array_append_new(list, json_false());
    json_array_append_new(list, json_null());
    json_array_append_new(list, json_object());
    json_array_append_new(list, json_array());
    json_object_set_new(want, "键\"\n", list);
    assert_int_equal(w.err, IH_OK);
    json_error_t err;
    json_t *got = json_loadb(b.p, b.len, 0, &err);
    if (!got) fail_msg("writer output does not parse: %s in %s", err.text, b.p);
    assert_true(json_equal(got, want));
    /* invalid UTF-8 (truncated, overlong, surrogate, past U+10FFFF) became null */
    for (size_t i = 6; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%zu", i);
        assert_true(json_is_null(json_object_get(got, key)));
    }
    json_decref(got);
    json_decref(want);
    ih_buf_free(&b);
}

static void t_error_envelope(void **state)
{
    (void)state;
    ih_resp r;
    ih_resp_init(&r);
    ih_err_clear();
    ih_resp_error(&r, IH_E_NOT_FOUND);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body.p, "{\"error\":{\"code\":\"not_found\",\"message\":\"No such resource.\"}}");
    /* An operator detail never reaches the client... */
    ih_fail(IH_E_STORAGE, "SELECT * FROM secret_table at /var/lib/x");
    ih_resp_error(&r, IH_E_STORAGE);
    assert_null(strstr(r.body.p, "secret_table"));
    assert_null(strstr(r.body.p, "/var/lib"));
    assert_int_equal(r.status, 500);
    /* ...a public message and field do. */
    ih_reject(IH_E_INVALID, "phone", "Field 'phone' must be 11 digits.");
    ih_resp_error(&r, IH_E_INVALID);
    assert_string_equal(r.body.p, "{\"error\":{\"code\":\"invalid_field\",\"message\":\"Field 'phone' must be "
                                  "11 digits.\",\"field\":\"phone\"}}");
    /* Every code has a stable snake_case name and an HTTP status. */
    for (int e = 1; e < IH_E__COUNT; e++) {
        const char *n = ih_err_name((ih_err)e);
        for (const char *p = n; *p; p++) assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
        assert_true(ih_err_http_status((ih_err)e) >= 400);
    }
    ih_resp_free(&r);
}

/* Only the host of a configured address reaches evidence (a URL may carry a token). */
static void t_url_host(void **state)
{
    (void)state;
    static const struct {
        const char *url, *host;
        bool loopback;
    } cases[] = {
        {"https://user:secret@gw.example.cn:8443/api?token=x", "gw.example.cn", false},
        {"http://127.0.0.1:9000/hook", "127.0.0.1", true},
        {"udp://192.0.2.10:514", "192.0.2.10", false},
        {"postgresql://ihos@[::1]:5432/ihos", "[::1]", true},
        {"10.1.2.3:2575", "10.1.2.3", false},
        {"localhost:2575", "localhost", true},
        {"https://h", "h", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *h;
        size_t n = ih_url_host(cases[i].url, &h);
        char got[64];
        snprintf(got, sizeof got, "%.*s", (int)n, h);
        assert_string_equal(got, cases[i].host);
        assert_int_equal(ih_host_loopback(h, n), cases[i].loopback);
    }
}

static int wakes;
static void count_wake(void *ctx) { (void)ctx; wakes++; }

/* Live updates: who hears an event, the limits, a reader that stops. */
static void t_bus(void **state)
{
    (void)state;
    ih_bus *b;
    assert_int_equal(ih_bus_new(3, 2, &b), IH_OK);
    ih_bus_set_wake(b, count_wake, NULL);
    ih_bus_sub *doc, *doc2, *pharm, *x;
    assert_int_equal(ih_bus_subscribe(b, 7, 2, &doc), IH_OK);
    assert_int_equal(ih_bus_subscribe(b, 7, 2, &doc2), IH_OK);
    assert_int_equal(ih_bus_subscribe(b, 7, 2, &x), IH_E_BUSY); /* per account */
    assert_int_equal(ih_bus_subscribe(b, 9, 4, &pharm), IH_OK);
    assert_int_equal(ih_bus_subscribe(b, 11, 4, &x), IH_E_BUSY); /* in total */
    assert_int_equal(ih_bus_count(b), 3);
    ih_bus_publish(b, &(ih_bus_audience){.accounts = {7}}, "message", "{\"visit\":1}");
    ih_bus_publish(b, &(ih_bus_audience){.roles = 1u << 4}, "rx", "{\"prescription\":5}");
    ih_bus_publish(b, &(ih_bus_audience){.accounts = {8}}, "visit", "{\"visit\":2}"); /* nobody's */
    ih_bus_publish(b, &(ih_bus_audience){.accounts = {7}}, "Bad-Name", "{}");         /* refused */
    ih_bus_publish(b, &(ih_bus_audience){.accounts = {7}}, "visit", "{}\ndata: forged");
    assert_int_equal(wakes, 2);
    ih_buf out = IH_BUF_INIT;
    assert_true(ih_bus_take(b, doc, &out));
    assert_string_equal(out.p, "event: message\ndata: {\"visit\":1}\n\n");
    ih_buf_reset(&out);
    assert_true(ih_bus_take(b, doc, &out)); /* taken once */
    assert_int_equal(out.len, 0);
    assert_true(ih_bus_take(b, pharm, &out));
    assert_string_equal(out.p, "event: rx\ndata: {\"prescription\":5}\n\n");
    /* a subscriber that never reads overflows and is told to end */
    for (int i = 0; i < 4000; i++) ih_bus_publish(b, &(ih_bus_audience){.accounts = {7}}, "message", "{\"visit\":1}");
    ih_buf_reset(&out);
    assert_false(ih_bus_take(b, doc2, &out));
    ih_bus_unsubscribe(b, doc2);
    assert_int_equal(ih_bus_subscribe(b, 7, 2, &doc2), IH_OK); /* the place is free again */
    ih_bus_unsubscribe(b, doc);
    ih_bus_unsubscribe(b, doc2);
    ih_bus_unsubscribe(b, pharm);
    assert_int_equal(ih_bus_count(b), 0);
    ih_buf_free(&out);
    ih_bus_free(b);
}

/* Accept-Encoding as browsers and proxies write it. */
static void t_accepts_gzip(void **state)
{
    (void)state;
    assert_true(ih_web_accepts_gzip("gzip, deflate, br, zstd"));
    assert_true(ih_web_accepts_gzip("br;q=1.0, gzip;q=0.8"));
    assert_true(ih_web_accepts_gzip("GZIP"));
    assert_true(ih_web_accepts_gzip("gzip;q=0.5"));
    assert_false(ih_web_accepts_gzip(NULL));
    assert_false(ih_web_accepts_gzip("br, deflate"));
    assert_false(ih_web_accepts_gzip("gzip;q=0"));
    assert_false(ih_web_accepts_gzip("gzip;q=0.000, br"));
    assert_false(ih_web_accepts_gzip("x-gzip2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_conf_defaults_and_values), cmocka_unit_test(t_conf_errors_name_the_line),
        cmocka_unit_test(t_conf_render_roundtrip), cmocka_unit_test(t_conf_render_sections_once),
        cmocka_unit_test(t_json_body_entry_point),
        cmocka_unit_test(t_money_forms), cmocka_unit_test(t_encoders), cmocka_unit_test(t_list_has),
        cmocka_unit_test(t_url_host),
        cmocka_unit_test(t_time_formats), cmocka_unit_test(t_json_writer), cmocka_unit_test(t_error_envelope),
        cmocka_unit_test(t_bus), cmocka_unit_test(t_accepts_gzip),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
