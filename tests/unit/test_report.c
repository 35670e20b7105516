/* test_report.c — the Tianjin profile's golden vectors V1–V9 byte for
 * byte (../shared/reference/tianjin-supervision.md), its encoding and
 * response reading, and the outbox rules on both store backends. */
#include "support.h"

#include "app/instance.h"
#include "core/json.h"
#include "core/log.h"
#include "keys/keys.h"
#include "report/profile.h"
#include "report/report.h"
#include "report/report_impl.h"
#include "report/tianjin_crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *SECRET = "bbf1dd188b8b4629853f06f118d11e4a";

static void key(uint8_t k[16])
{
    size_t n;
    assert_int_equal(ih_hex_decode(SECRET, 32, k, 16, &n), 0);
}

static void enc(const char *pt, const char *want)
{
    uint8_t k[16];
    key(k);
    ih_buf out = IH_BUF_INIT;
    T_OK(ih_tj_encrypt(k, pt, strlen(pt), &out));
    assert_string_equal(out.p, want);
    /* and back */
    ih_buf back = IH_BUF_INIT;
    T_OK(ih_tj_decrypt(k, out.p, out.len, &back));
    assert_int_equal(back.len, strlen(pt));
    assert_memory_equal(back.p, pt, back.len);
    ih_buf_free(&out);
    ih_buf_free(&back);
}

static void t_golden_vectors(void **state)
{
    (void)state;
    char h[65];
    /* V1 */
    T_OK(ih_tj_sm3_hex("abc", 3, h));
    assert_string_equal(h, "66C7F0F462EEEDD9D1F2D46BDC10E4E24167C4875CF2F7A2297DA02B8F4BA8E0");
    /* V2, V3, V8, V9 */
    enc("[1]", "49a9a1cb6403aa7ca5d7be3287b0dc6b");
    enc("[{\"organID\":\"12345678901234567X\",\"unitID\":\"U0001\",\"organName\":\"天津逑贝互联网医院\"}]",
        "bda12c065d493fcb45851a847d58648fdcb5dc17fc8c2f895ad2e2394bfdc309c977b99228aa51fa2aeabe25d28af20bf7658673dc1"
        "f8a2c9e7ab7de50311bdfba0d8a0c84ad3dd9a41c1635ec80d121fa0b5ef611139a6d23c4644480fb68a6");
    enc("0123456789abcdef", "a9f4a4c761cf5110a2adbd8e1cdb79b025db47d12e40bf0803278053400e9f40");
    enc("0123456789abcdef0123456789abcdef",
        "a9f4a4c761cf5110a2adbd8e1cdb79b0d0cdb4c80a112f917302699a23c67f4c74e73fb22408c9dbe2acab3ed307ecb8");
    /* V4: X-Content-MD5 of V2's hex */
    const char *v2 = "49a9a1cb6403aa7ca5d7be3287b0dc6b";
    T_OK(ih_tj_sm3_hex(v2, strlen(v2), h));
    assert_string_equal(h, "F7DCA75A3D6083A0E4FD0BA219FFE8AC10E35AE45FD8A91F90A9CDAB5A0ED056");
    /* V5: the canonical string */
    ih_buf c = IH_BUF_INIT;
    T_OK(ih_tj_canonical("ngari5fd5ad2196834aa7", "8d708068-0a36-47d3-8ff4-011fdace7d63", "1718185594026", h,
                         "uploadDrugCatalogue", &c));
    assert_string_equal(c.p, "x-ca-key:ngari5fd5ad2196834aa7&x-ca-nonce:8d708068-0a36-47d3-8ff4-011fdace7d63&"
                             "x-ca-timestamp:1718185594026&x-content-md5:F7DCA75A3D6083A0E4FD0BA219FFE8AC10E35AE45FD8"
                             "A91F90A9CDAB5A0ED056&x-service-id:his.provinceDataUploadService&x-service-method:"
                             "uploadDrugCatalogue");
    /* V6: the signature */
    T_OK(ih_tj_sm3_hex(c.p, c.len, h));
    assert_string_equal(h, "A07C0B67CE2996DF9416A5BE7EB7F4E8EAF40F31D46423A1FA9ECEA188C7627A");
    ih_buf_free(&c);
}

/* The profile's encode produces exactly those headers for V2's body. */
static void t_encode_headers(void **state)
{
    (void)state;
    uint8_t k[16];
    key(k);
    ih_profile_ctx ctx = {"ngari5fd5ad2196834aa7", k, 16, "O", "U", "N", 480};
    ih_buf body = IH_BUF_INIT, hdr = IH_BUF_INIT;
    T_OK(ih_profile_tianjin.encode(&ctx, "uploadDrugCatalogue", "[1]", 3, 1718185594026LL,
                                   "8d708068-0a36-47d3-8ff4-011fdace7d63", &body, &hdr));
    assert_string_equal(body.p, "49a9a1cb6403aa7ca5d7be3287b0dc6b");
    assert_non_null(strstr(hdr.p, "X-Content-MD5: F7DCA75A3D6083A0E4FD0BA219FFE8AC10E35AE45FD8A91F90A9CDAB5A0ED056\r\n"));
    assert_non_null(strstr(hdr.p, "X-Ca-Signature: A07C0B67CE2996DF9416A5BE7EB7F4E8EAF40F31D46423A1FA9ECEA188C7627A\r\n"));
    assert_non_null(strstr(hdr.p, "X-Service-Id: his.provinceDataUploadService\r\n"));
    assert_non_null(strstr(hdr.p, "X-Ca-Timestamp: 1718185594026\r\n"));
    /* a key of the wrong size is refused, not truncated */
    ctx.app_secret_len = 15;
    ih_buf_reset(&body);
    assert_int_equal(ih_profile_tianjin.encode(&ctx, "m", "[]", 2, 1, "n", &body, &hdr), IH_E_CONFIG);
    ih_buf_free(&body);
    ih_buf_free(&hdr);
}

static void t_responses(void **state)
{
    (void)state;
    char msg[256];
    struct {
        long status;
        const char *body;
        ih_upload_outcome want;
    } cases[] = {
        {200, "{\"code\":200,\"body\":{\"msgCode\":200,\"msg\":\"ok\"}}", IH_UP_OK},
        {200, "{\"code\":200,\"body\":{\"msgCode\":-99,\"msg\":\"bussID|deptName\"}}", IH_UP_DATA_ERROR},
        {200, "{\"code\":200,\"body\":{\"msgCode\":-98,\"msg\":\"no data\"}}", IH_UP_DATA_ERROR},
        {200, "{\"code\":200,\"body\":{\"msgCode\":-1,\"msg\":\"failure\"}}", IH_UP_DATA_ERROR},
        {200, "{\"code\":40001,\"msg\":\"bad parameters\"}", IH_UP_DATA_ERROR},
        {200, "{\"code\":-1,\"msg\":\"busy\"}", IH_UP_RETRY},
        {200, "{\"code\":40011,\"msg\":\"expired\"}", IH_UP_RETRY},
        {200, "{\"code\":40010,\"msg\":\"bad signature\"}", IH_UP_RETRY},
        {503, "", IH_UP_RETRY},
        {200, "<html>proxy</html>", IH_UP_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(ih_profile_tianjin.classify(cases[i].status, cases[i].body, strlen(cases[i].body), msg,
                                                     sizeof msg),
                         cases[i].want);
    ih_profile_tianjin.classify(200, cases[1].body, strlen(cases[1].body), msg, sizeof msg);
    assert_non_null(strstr(msg, "bussID|deptName")); /* the platform's words are kept */
}

/* ---- the outbox on both backends ----------------------------------------------------- */

typedef struct {
    t_base b;
    ih_report *r;
} fx;

static int setup(void **state, ih_store_kind kind)
{
    fx *f = calloc(1, sizeof *f);
    t_base_open(&f->b, kind, IH_SUITE_GM, NULL, 0);
    ih_report_opts ro = {.store = f->b.s, .keys = f->b.kr, .audit = f->b.a, .profile = "tianjin", .organ_id = "O1",
                         .unit_id = "U1", .organ_name = "N1", .batch_size = 10, .timeout_s = 2,
                         .gateway_url = "https://127.0.0.1:9/"};
    T_OK(ih_report_new(&ro, &f->r));
    *state = f;
    return 0;
}

static int setup_sqlite(void **s) { return setup(s, IH_STORE_SQLITE); }
static int setup_pg(void **s) { return setup(s, IH_STORE_PG); }

static int teardown(void **state)
{
    fx *f = *state;
    ih_report_free(f->r);
    t_base_close(&f->b);
    free(f);
    return 0;
}

typedef struct {
    fx *f;
    const char *kind, *key;
    json_t *fact;
} put_arg;

static ih_err put_fn(ih_tx *tx, void *arg)
{
    put_arg *p = arg;
    return ih_report_put(p->f->r, tx, p->kind, p->key, p->fact);
}

static json_t *drug_fact(const char *name)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:I}", "drug_class", "1", "hosp_code", "H1", "name", name,
                     "spec", "5mg*7片", "manufacturer", "示例制药", "price", (json_int_t)2150, "active", 1, "updated_at",
                     (json_int_t)1790000000000LL);
}

static void put(fx *f, const char *kind, const char *key, json_t *fact)
{
    put_arg p = {f, kind, key, fact};
    T_OK(ih_store_write(f->b.s, put_fn, &p));
    json_decref(fact);
}

static json_t *rows(fx *f)
{
    json_t *l;
    T_OK(ih_report_list(f->r, NULL, 0, 100, &l));
    return l;
}

static const char *state_of(json_t *l, size_t i) { return json_string_value(json_object_get(json_array_get(l, i), "state")); }

/* Unsent: a change replaces the payload.  The platform record is what the
 * profile mapped, sealed (show opens it). */
static void t_pending_rows_coalesce(void **state)
{
    fx *f = *state;
    put(f, "drug", "drug-1", drug_fact("氨氯地平片"));
    put(f, "drug", "drug-1", drug_fact("苯磺酸氨氯地平片"));
    json_t *l = rows(f);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(state_of(l, 0), "pending");
    json_t *one;
    ih_actor op = {.id = 0, .role = "console"};
    T_OK(ih_report_show(f->r, &op, json_integer_value(json_object_get(json_array_get(l, 0), "id")), false, &one));
    json_t *rec = json_object_get(one, "record");
    assert_string_equal(json_string_value(json_object_get(rec, "hospDrugName")), "苯磺酸氨氯地平片");
    assert_string_equal(json_string_value(json_object_get(rec, "organID")), "O1");
    assert_string_equal(json_string_value(json_object_get(rec, "drugPrice")), "21.50");
    assert_string_equal(json_string_value(json_object_get(rec, "useFlag")), "1");
    json_decref(one);
    json_decref(l);
}

/* A fact the profile cannot map is kept dead with the reason: the business
 * change is not refused, and nothing is lost. */
static void t_unmappable_fact_is_parked(void **state)
{
    fx *f = *state;
    json_t *bad = drug_fact("x");
    json_object_del(bad, "manufacturer");
    put(f, "drug", "drug-2", bad);
    json_t *l = rows(f);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(state_of(l, 0), "dead");
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(l, 0), "last_error")), "hospDrugManuf"));
    /* a corrected fact revives it */
    put(f, "drug", "drug-2", drug_fact("x"));
    json_decref(l);
    l = rows(f);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(state_of(l, 0), "pending");
    json_decref(l);
}

/* Facts the profile does not report make no row. */
static void t_unreported_kinds(void **state)
{
    fx *f = *state;
    put(f, "staff", "staff-1", json_object());
    json_t *l = rows(f);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
}

/* Status and metrics count by state. */
typedef struct {
    fx *f;
    int64_t id;
    const char *state;
} mark_arg;

/* state "claimed": another worker's claim (the row keeps its state);
 * any other: the row set to it, and a claim on it ended. */
static ih_err mark_fn(ih_tx *tx, void *arg)
{
    mark_arg *m = arg;
    ob_row o = {0};
    bool found;
    ih_stmt *st;
    ih_err e = ob_load(m->f->r, tx, m->id, &o, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_NOT_FOUND, "row");
    bool claim = !strcmp(m->state, "claimed");
    if (e == IH_OK && !claim) {
        snprintf(o.state, sizeof o.state, "%s", m->state);
        e = ob_save(m->f->r, tx, &o, false);
    }
    if (e == IH_OK)
        e = ih_tx_prepare(tx, claim ? "INSERT INTO outbox_inflight (outbox_id, claim, claimed_by, claimed_at) "
                                      "VALUES ($1, 7, 'another worker', 0)"
                                    : "DELETE FROM outbox_inflight WHERE outbox_id = $1",
                          &st);
    if (e == IH_OK) {
        ih_stmt_int(st, 1, m->id);
        e = ih_stmt_exec(st);
    }
    ob_row_free(&o);
    return e;
}

static json_int_t field_of(json_t *l, size_t i, const char *k)
{
    return json_integer_value(json_object_get(json_array_get(l, i), k));
}

/* Counts by state; a row being sent counts as `sending`. */
static void t_status_and_metrics(void **state)
{
    fx *f = *state;
    put(f, "drug", "drug-1", drug_fact("a"));
    put(f, "drug", "drug-3", drug_fact("b"));
    json_t *st, *l = rows(f);
    mark_arg m = {f, field_of(l, 0, "id"), "claimed"};
    json_decref(l);
    T_OK(ih_store_write(f->b.s, mark_fn, &m));
    T_OK(ih_report_status(f->r, &st));
    json_t *states = json_object_get(st, "states");
    json_t *drugs = json_object_get(json_object_get(st, "methods"), "uploadDrugCatalogue");
    assert_int_equal(json_integer_value(json_object_get(states, "pending")), 1);
    assert_int_equal(json_integer_value(json_object_get(states, "sending")), 1);
    assert_int_equal(json_integer_value(json_object_get(drugs, "sending")), 1);
    json_decref(st);
    T_OK(ih_report_list(f->r, "sending", 0, 10, &l)); /* the operator's view says so too */
    assert_int_equal(json_array_size(l), 1);
    assert_int_equal(field_of(l, 0, "id"), m.id);
    json_decref(l);
    T_OK(ih_report_list(f->r, "pending", 0, 10, &l));
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(state_of(l, 0), "pending");
    json_decref(l);
    ih_buf b = IH_BUF_INIT;
    T_OK(ih_report_metrics(f->r, &b));
    assert_non_null(strstr(b.p, "ihos_report_queue{state=\"pending\"} 1\n"));
    assert_non_null(strstr(b.p, "ihos_report_queue{state=\"sending\"} 1\n"));
    /* the backlog only: counting every record ever sent at each scrape would grow with the years */
    assert_null(strstr(b.p, "state=\"sent\""));
    ih_buf_free(&b);
}

/* Claims a process left behind (it died while sending) are found at the
 * next start: the rows become `unknown` with the attempt counted, the
 * claims go; so do rows left `sending` by a version before claims had
 * their own table. */
static void t_claims_recovered(void **state)
{
    fx *f = *state;
    put(f, "drug", "drug-1", drug_fact("a"));
    put(f, "drug", "drug-2", drug_fact("b"));
    put(f, "drug", "drug-3", drug_fact("c"));
    json_t *l = rows(f);
    mark_arg m = {f, field_of(l, 0, "id"), "claimed"};
    T_OK(ih_store_write(f->b.s, mark_fn, &m));
    m = (mark_arg){f, field_of(l, 1, "id"), "sending"};
    T_OK(ih_store_write(f->b.s, mark_fn, &m));
    json_decref(l);
    int n = -1;
    T_OK(ob_recover(f->r, &n));
    assert_int_equal(n, 2);
    l = rows(f);
    assert_string_equal(state_of(l, 0), "unknown");
    assert_int_equal(field_of(l, 0, "attempts"), 1);
    assert_string_equal(state_of(l, 1), "unknown");
    assert_int_equal(field_of(l, 1, "attempts"), 0);
    assert_string_equal(state_of(l, 2), "pending");
    json_decref(l);
    json_t *st;
    T_OK(ih_report_status(f->r, &st));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "states"), "sending")), 0);
    json_decref(st);
    T_OK(ob_recover(f->r, &n));
    assert_int_equal(n, 0);
}

/* A newer version of a business key waits while an earlier one is on its
 * way: several uploader workers never send versions out of order. */
static void t_versions_go_in_order(void **state)
{
    fx *f = *state;
    put(f, "drug", "drug-1", drug_fact("a"));
    json_t *l = rows(f);
    mark_arg m = {f, field_of(l, 0, "id"), "claimed"}; /* another worker has it */
    json_decref(l);
    T_OK(ih_store_write(f->b.s, mark_fn, &m));
    put(f, "drug", "drug-1", drug_fact("b"));
    put(f, "drug", "drug-4", drug_fact("c"));
    int sent = -1;
    T_OK(ih_report_pass(f->r, &sent)); /* the gateway refuses: drug-4 is tried, version 2 is not */
    assert_int_equal(sent, 0);
    l = rows(f);
    assert_int_equal(json_array_size(l), 3);
    for (size_t i = 0; i < 3; i++) {
        const char *k = json_string_value(json_object_get(json_array_get(l, i), "business_key"));
        json_int_t v = field_of(l, i, "version"), att = field_of(l, i, "attempts");
        if (!strcmp(k, "drug-4")) assert_int_equal(att, 1);
        else assert_int_equal(att, 0); /* version 1: not claimed twice; version 2: waits */
        (void)v;
    }
    json_decref(l);
    /* once the first version is sent, the second goes */
    m.state = "sent";
    T_OK(ih_store_write(f->b.s, mark_fn, &m));
    T_OK(ih_report_pass(f->r, &sent));
    l = rows(f);
    for (size_t i = 0; i < 3; i++)
        if (field_of(l, i, "version") == 2) assert_int_equal(field_of(l, i, "attempts"), 1);
    json_decref(l);
}

/* The uploader writes only a row's delivery columns, and only over the
 * version it read: a stale copy writes nothing, and a payload changed
 * behind its back stays detectable (the MAC is over the payload it read). */
typedef struct {
    fx *f;
    int64_t id;
    int step;
    const char *state; /* step 1: the state the delivery write sets */
} delivery_arg;

static ih_err delivery_fn(ih_tx *tx, void *arg)
{
    delivery_arg *d = arg;
    ob_row a = {0}, b = {0};
    bool found, saved = false;
    ih_err e = ob_load(d->f->r, tx, d->id, &a, &found);
    if (e == IH_OK) e = ob_load(d->f->r, tx, d->id, &b, &found);
    if (e == IH_OK && d->step == 0) {
        snprintf(a.state, sizeof a.state, "sending");
        a.attempts++;
        e = ob_save_delivery(d->f->r, tx, &a, &saved);
        assert_true(saved);
        snprintf(b.state, sizeof b.state, "dead"); /* read before a's write: stale */
        if (e == IH_OK) e = ob_save_delivery(d->f->r, tx, &b, &saved);
        assert_false(saved);
    } else if (e == IH_OK) { /* the payload replaced in the database, then a delivery write */
        ih_stmt *st;
        e = ih_tx_prepare(tx, "UPDATE outbox SET payload_enc = $2 WHERE id = $1", &st);
        if (e == IH_OK) {
            ih_stmt_int(st, 1, d->id);
            ih_stmt_blob(st, 2, (const uint8_t *)"forged", 6);
            e = ih_stmt_exec(st);
        }
        snprintf(a.state, sizeof a.state, "%s", d->state);
        if (e == IH_OK) e = ob_save_delivery(d->f->r, tx, &a, &saved);
        assert_true(saved);
    }
    ob_row_free(&a);
    ob_row_free(&b);
    return e;
}

static ih_err load_fn(ih_tx *tx, void *arg)
{
    delivery_arg *d = arg;
    ob_row o = {0};
    bool found;
    ih_err e = ob_load(d->f->r, tx, d->id, &o, &found);
    ob_row_free(&o);
    return e;
}

static void t_delivery_writes(void **state)
{
    fx *f = *state;
    put(f, "drug", "drug-1", drug_fact("a"));
    json_t *l = rows(f);
    delivery_arg d = {f, field_of(l, 0, "id"), 0, "sent"};
    json_decref(l);
    T_OK(ih_store_write(f->b.s, delivery_fn, &d));
    l = rows(f);
    assert_string_equal(state_of(l, 0), "sending");
    assert_int_equal(field_of(l, 0, "attempts"), 1);
    json_decref(l);
    T_OK(ih_store_read(f->b.s, load_fn, &d)); /* its MAC verifies */
    d.step = 1;
    T_OK(ih_store_write(f->b.s, delivery_fn, &d));
    assert_int_equal(ih_store_read(f->b.s, load_fn, &d), IH_E_INTEGRITY);
}

/* A claim that fails (a row whose MAC does not verify) does not take the
 * outcome of the batch sent before it down with it: that batch's row is
 * not left `sending`. */
static void t_outcome_survives_a_failed_claim(void **state)
{
    fx *f = *state;
    put(f, "drug", "drug-1", drug_fact("a"));
    put(f, "drug", "drug-2", drug_fact("b"));
    json_t *l = rows(f);
    delivery_arg d = {f, field_of(l, 1, "id"), 1, "pending"}; /* drug-2's payload forged */
    int64_t first = field_of(l, 0, "id");
    json_decref(l);
    T_OK(ih_store_write(f->b.s, delivery_fn, &d));
    ih_report_opts ro = {.store = f->b.s, .keys = f->b.kr, .audit = f->b.a, .profile = "tianjin", .organ_id = "O1",
                         .unit_id = "U1", .organ_name = "N1", .batch_size = 1, .workers = 1, .timeout_s = 2,
                         .enabled = true, .gateway_url = "https://127.0.0.1:9/"};
    ih_report *r;
    T_OK(ih_report_new(&ro, &r));
    T_OK(ih_report_start(r)); /* drug-1 claimed and refused; then the claim of drug-2 fails */
    bool recorded = false;
    for (int i = 0; i < 500 && !recorded; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        T_OK(ih_report_list(f->r, NULL, 0, 1, &l)); /* drug-1's row only: drug-2's does not verify */
        recorded = field_of(l, 0, "id") == first && field_of(l, 0, "attempts") >= 1 &&
                   !strcmp(state_of(l, 0), "pending");
        json_decref(l);
    }
    ih_report_stop(r);
    ih_report_free(r);
    assert_true(recorded);
}

/* A batch's outcome arrives after its claim was taken back (a recovery: a
 * lease takeover, say), the row retried by the operator and its record
 * replaced by a newer fact.  What went out was not that record: the
 * outcome is not written over it, which stays due as it is.  A row taken
 * back but not replaced gets the outcome, over the row read again. */
static void t_outcome_skips_a_replaced_record(void **state)
{
    fx *f = *state;
    put(f, "drug", "drug-1", drug_fact("a"));
    put(f, "drug", "drug-2", drug_fact("b"));
    json_t *l = rows(f);
    int64_t replaced = field_of(l, 0, "id"), kept = field_of(l, 1, "id");
    json_decref(l);
    ob_pass *x;
    T_OK(ob_pass_send(f->r, &x)); /* both claimed; the gateway refuses */
    int n = -1;
    T_OK(ob_recover(f->r, &n));
    assert_int_equal(n, 2);
    ih_actor op = {.id = 0, .role = "console"};
    T_OK(ih_report_retry(f->r, &op, replaced));
    put(f, "drug", "drug-1", drug_fact("c")); /* pending, no longer claimed: the payload replaced */
    int sent = -1;
    T_OK(ob_pass_finish(f->r, x, &sent));
    assert_int_equal(sent, 0);
    json_t *one;
    T_OK(ih_report_show(f->r, &op, replaced, false, &one));
    assert_string_equal(json_string_value(json_object_get(json_object_get(one, "record"), "hospDrugName")), "c");
    assert_string_equal(json_string_value(json_object_get(one, "state")), "pending");
    assert_int_equal(json_integer_value(json_object_get(one, "attempts")), 0); /* as the retry left it */
    json_decref(one);
    T_OK(ih_report_show(f->r, &op, kept, false, &one));
    assert_string_equal(json_string_value(json_object_get(one, "state")), "pending");
    assert_int_equal(json_integer_value(json_object_get(one, "attempts")), 2); /* the recovery's, and this one */
    json_decref(one);
    l = rows(f);
    assert_int_equal(json_array_size(l), 2); /* no second version: the replaced row is the one to send */
    json_decref(l);
}

#define CASES(s)                                                                                                      \
    cmocka_unit_test_setup_teardown(t_pending_rows_coalesce, s, teardown),                                            \
        cmocka_unit_test_setup_teardown(t_unmappable_fact_is_parked, s, teardown),                                    \
        cmocka_unit_test_setup_teardown(t_unreported_kinds, s, teardown),                                             \
        cmocka_unit_test_setup_teardown(t_status_and_metrics, s, teardown),                                           \
        cmocka_unit_test_setup_teardown(t_claims_recovered, s, teardown),                                             \
        cmocka_unit_test_setup_teardown(t_versions_go_in_order, s, teardown),                                         \
        cmocka_unit_test_setup_teardown(t_delivery_writes, s, teardown),                                             \
        cmocka_unit_test_setup_teardown(t_outcome_skips_a_replaced_record, s, teardown),                             \
        cmocka_unit_test_setup_teardown(t_outcome_survives_a_failed_claim, s, teardown)

int main(void)
{
    ih_log_setup("stderr", IH_LOG_ERROR + 1, "test");
    ih_json_init();
    if (ih_crypto_init() != IH_OK) return 1;
    const struct CMUnitTest pure[] = {cmocka_unit_test(t_golden_vectors), cmocka_unit_test(t_encode_headers),
                                      cmocka_unit_test(t_responses)};
    const struct CMUnitTest sq[] = {CASES(setup_sqlite)};
    const struct CMUnitTest pg[] = {CASES(setup_pg)};
    int rc = cmocka_run_group_tests_name("report/tianjin", pure, NULL, NULL);
    rc += cmocka_run_group_tests_name("report/sqlite", sq, NULL, NULL);
    rc += cmocka_run_group_tests_name("report/postgres", pg, NULL, NULL);
    return rc;
}
