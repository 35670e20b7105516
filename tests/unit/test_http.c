/* test_http.c — request parsing glue, responses, router. */
#include "support.h"

#include "net/http.h"
#include "net/router.h"

#include <string.h>

static ih_http_status feed_all(ih_http *h, const char *s, size_t *used)
{
    return ih_http_feed(h, s, strlen(s), used);
}

static void t_simple_get(void **state)
{
    (void)state;
    ih_http h;
    ih_http_init(&h, 1024);
    size_t used;
    const char *req = "GET /api/v1/x?a=1&b=2 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer abc\r\n"
                      "X-Other: ignored\r\n\r\n";
    assert_int_equal(feed_all(&h, req, &used), IH_HTTP_DONE);
    assert_int_equal(used, strlen(req));
    assert_int_equal(h.req.method, IH_GET);
    assert_string_equal(h.req.path, "/api/v1/x");
    assert_string_equal(h.req.query, "a=1&b=2");
    assert_string_equal(h.req.hdr[IH_HDR_AUTHORIZATION], "Bearer abc");
    assert_null(h.req.hdr[IH_HDR_COOKIE]);
    assert_true(h.req.keep_alive);
    ih_http_free(&h);
}

static void t_body_and_pipelining(void **state)
{
    (void)state;
    ih_http h;
    ih_http_init(&h, 1024);
    const char two[] = "POST /a HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
                       "{\"x\":1}GET /b HTTP/1.1\r\nConnection: close\r\n\r\n";
    size_t used, off = 0;
    assert_int_equal(ih_http_feed(&h, two, sizeof two - 1, &used), IH_HTTP_DONE);
    assert_string_equal(h.req.path, "/a");
    assert_int_equal(h.req.body_len, 7);
    assert_memory_equal(h.req.body, "{\"x\":1}", 7);
    off = used;
    assert_true(off < sizeof two - 1);
    ih_http_reset(&h);
    assert_int_equal(ih_http_feed(&h, two + off, sizeof two - 1 - off, &used), IH_HTTP_DONE);
    assert_string_equal(h.req.path, "/b");
    assert_false(h.req.keep_alive);
    assert_int_equal(off + used, sizeof two - 1);
    ih_http_free(&h);
}

static void t_byte_at_a_time(void **state)
{
    (void)state;
    ih_http h;
    ih_http_init(&h, 1024);
    const char req[] = "PUT /p/1 HTTP/1.1\r\nX-CSRF-Token: tok\r\nContent-Length: 3\r\n\r\nabc";
    ih_http_status st = IH_HTTP_MORE;
    for (size_t i = 0; i < sizeof req - 1; i++) {
        size_t used;
        st = ih_http_feed(&h, req + i, 1, &used);
        assert_int_equal(used, 1);
        if (i + 1 < sizeof req - 1) assert_int_equal(st, IH_HTTP_MORE);
    }
    assert_int_equal(st, IH_HTTP_DONE);
    assert_int_equal(h.req.method, IH_PUT);
    assert_string_equal(h.req.hdr[IH_HDR_CSRF], "tok");
    assert_memory_equal(h.req.body, "abc", 3);
    ih_http_free(&h);
}

static void t_limits_and_garbage(void **state)
{
    (void)state;
    ih_http h;
    size_t used;
    ih_http_init(&h, 16);
    assert_int_equal(feed_all(&h, "POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n", &used), IH_HTTP_TOO_LARGE);
    ih_http_free(&h);
    ih_http_init(&h, 16);
    assert_int_equal(feed_all(&h, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "10\r\n0123456789abcdef\r\n1\r\nx\r\n0\r\n\r\n", &used),
                     IH_HTTP_TOO_LARGE);
    ih_http_free(&h);
    ih_http_init(&h, 16);
    assert_int_equal(feed_all(&h, "\x16\x03\x01 not http at all\r\n\r\n", &used), IH_HTTP_BAD);
    ih_http_free(&h);
    ih_http_init(&h, 16);
    /* Two credentials in one request are refused, not merged. */
    assert_int_equal(feed_all(&h, "GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", &used),
                     IH_HTTP_BAD);
    ih_http_free(&h);
    ih_http_init(&h, 16);
    assert_int_equal(feed_all(&h, "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &used),
                     IH_HTTP_BAD);
    ih_http_free(&h);
}

/* 16. What RFC 9112 says to refuse is refused, never guessed at: whitespace
 * between a field name and its colon, obs-folded lines, framing that two
 * parsers could read two ways (request smuggling), a target not in origin
 * form, more header bytes than the limit. */
static void t_smuggling_shapes_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nX-Note: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc",
        "GET / HTTP/1.1\nHost: a\n\n",
        "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
        "GET http://evil.example/ HTTP/1.1\r\n\r\n",
        "GET /a#frag HTTP/1.1\r\n\r\n",
        "GET /a b HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ih_http h;
        size_t used;
        ih_http_init(&h, 64);
        ih_http_status st = feed_all(&h, bad[i], &used);
        if (st != IH_HTTP_BAD) fail_msg("accepted (%d): case %zu", (int)st, i);
        ih_http_free(&h);
    }
    /* the header-size limit counts every header byte, kept or not */
    ih_http_global_init(256);
    ih_buf big = IH_BUF_INIT;
    ih_buf_puts(&big, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 20; i++) ih_buf_printf(&big, "X-Filler-%d: 0123456789\r\n", i);
    ih_buf_puts(&big, "\r\n");
    ih_http h;
    size_t used;
    ih_http_init(&h, 64);
    assert_int_equal(feed_all(&h, big.p, &used), IH_HTTP_BAD);
    ih_http_free(&h);
    ih_buf_free(&big);
    ih_http_global_init(16 * 1024);
}

static void t_response_headers(void **state)
{
    (void)state;
    ih_resp r;
    ih_resp_init(&r);
    T_OK(ih_resp_json(&r, 201, "{}", 2));
    assert_int_equal(ih_resp_header(&r, "Set-Cookie", "a=b\r\nX-Evil: 1"), IH_E_INTERNAL);
    T_OK(ih_resp_header(&r, "Set-Cookie", "a=b; HttpOnly"));
    ih_buf out = IH_BUF_INIT;
    ih_resp_meta m = {.request_id = "rid", .demo = true, .keep_alive = true};
    T_OK(ih_resp_serialize(&r, &m, &out));
    assert_non_null(strstr(out.p, "HTTP/1.1 201 Created\r\n"));
    assert_non_null(strstr(out.p, "Cache-Control: no-store\r\n"));
    assert_non_null(strstr(out.p, "Strict-Transport-Security: max-age="));
    assert_non_null(strstr(out.p, "X-Content-Type-Options: nosniff\r\n"));
    assert_non_null(strstr(out.p, "X-Ihos-Demo: 1\r\n"));
    assert_non_null(strstr(out.p, "Set-Cookie: a=b; HttpOnly\r\n"));
    assert_null(strstr(out.p, "X-Evil"));
    assert_non_null(strstr(out.p, "\r\n\r\n{}"));
    /* 20. A type that names its charset gets no second one. */
    ih_resp_reset(&r);
    r.content_type = "text/html; charset=utf-8";
    T_OK(ih_buf_puts(&r.body, "<p>x</p>"));
    ih_buf_reset(&out);
    T_OK(ih_resp_serialize(&r, &m, &out));
    assert_non_null(strstr(out.p, "Content-Type: text/html; charset=utf-8\r\n"));
    assert_null(strstr(out.p, "charset=utf-8; charset"));
    ih_buf_free(&out);
    ih_resp_free(&r);
}

static int h_a, h_b;
static const ih_route table[] = {
    {IH_GET, "/api/v1/things", 1, 0, &h_a},
    {IH_GET, "/api/v1/things/{}", 1, 0, &h_b},
    {IH_POST, "/api/v1/things/{}/parts/{}", 2, 0, &h_b},
};

static void t_router(void **state)
{
    (void)state;
    const ih_route *r;
    char p1[] = "/api/v1/things", p2[] = "/api/v1/things/42", p3[] = "/api/v1/things/42/parts/7",
         p4[] = "/api/v1/things/", p5[] = "/api/v1/things/42/", p6[] = "/api/v1/nothing";
    ih_req q = {.method = IH_GET, .path = p1};
    assert_int_equal(ih_route_match(table, 3, &q, &r), IH_ROUTE_FOUND);
    assert_ptr_equal(r->handler, &h_a);
    q.path = p2;
    assert_int_equal(ih_route_match(table, 3, &q, &r), IH_ROUTE_FOUND);
    assert_int_equal(q.nparams, 1);
    assert_string_equal(q.params[0], "42");
    q.method = IH_HEAD; /* HEAD is served by GET routes */
    assert_int_equal(ih_route_match(table, 3, &q, &r), IH_ROUTE_FOUND);
    q.method = IH_POST;
    q.path = p3;
    assert_int_equal(ih_route_match(table, 3, &q, &r), IH_ROUTE_FOUND);
    assert_int_equal(q.nparams, 2);
    assert_string_equal(q.params[0], "42");
    assert_string_equal(q.params[1], "7");
    q.method = IH_DELETE;
    assert_int_equal(ih_route_match(table, 3, &q, &r), IH_ROUTE_NO_METHOD);
    q.method = IH_GET;
    q.path = p4;
    assert_int_equal(ih_route_match(table, 3, &q, &r), IH_ROUTE_NO_PATH);
    q.path = p5;
    assert_int_equal(ih_route_match(table, 3, &q, &r), IH_ROUTE_NO_PATH);
    q.path = p6;
    assert_int_equal(ih_route_match(table, 3, &q, &r), IH_ROUTE_NO_PATH);
}

int main(void)
{
    ih_http_global_init(16 * 1024);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_simple_get), cmocka_unit_test(t_body_and_pipelining),
        cmocka_unit_test(t_byte_at_a_time), cmocka_unit_test(t_limits_and_garbage),
        cmocka_unit_test(t_response_headers), cmocka_unit_test(t_router), cmocka_unit_test(t_smuggling_shapes_refused),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
