/* test_care.c — the care services with time in the test's hands, on
 * SQLite and PostgreSQL: a request nobody answers expires at the promised
 * response time; an approved prescription expires after its validity and
 * can no longer be dispensed; the state machines refuse what they must. */
#include "support.h"

#include "app/catalog.h"
#include "app/instance.h"
#include "care/care.h"
#include "care/care_impl.h"
#include "registry/clinic_impl.h"
#include "table/record.h"
#include "crypto/extsig.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "policy/mask.h"
#include "keys/keys.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t fake_now;
static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

typedef struct {
    t_base b;
    ih_identity *id;
    ih_report *r;
    ih_clinic *c;
    ih_viewer sys, sec, doc, ph, ph2, pat;
    int64_t dep, staff, shift, drug;
    EVP_PKEY *channel;   /* the payment channel's signing key (the test plays the channel) */
    ih_extsig *pay_key;  /* its public half, as ihosd holds it */
} fx;

#define CALL(expr)                                                                                             \
    do {                                                                                                       \
        ih_err c__e = (expr);                                                                                  \
        if (c__e != IH_OK) fail_msg("%s -> %s: %s / %s", #expr, ih_err_name(c__e), ih_err_public(), ih_err_detail()); \
    } while (0)

static int64_t account(fx *f, const char *name, ih_role role)
{
    ih_account_new n = {.username = name, .role = role, .active = true, .password = "Care-Test-Pass-77!"};
    int64_t id;
    T_OK(ih_identity_create(f->id, &f->sys.actor, &n, NULL, &id));
    return id;
}

static ih_viewer viewer(int64_t account, ih_role role)
{
    return (ih_viewer){.actor = {.id = account, .role = ih_role_name(role)}, .role = role, .strong = true};
}

static char *fmt_id(char *buf, const char *first17)
{
    memcpy(buf, first17, 17);
    buf[17] = ih_idcard_check(first17);
    buf[18] = '\0';
    return buf;
}

/* The SMS gateway: scripts/sms-outbox.py writing into the test's directory. */
static char sms_prog[4096], sms_file[4096];
static const char *sms_gateway(fx *f)
{
    if (!realpath("scripts/sms-outbox.py", sms_prog)) fail_msg("scripts/sms-outbox.py: run from the source tree");
    snprintf(sms_file, sizeof sms_file, "%s/sms-outbox.jsonl", f->b.dir);
    setenv("IHOS_SMS_OUTBOX", sms_file, 1);
    return sms_prog;
}

/* The payment channel: scripts/pay-channel.py answers "create" and
 * "refund"; the test signs the notifications with f->channel. */
static char pay_prog[4096], pay_state[4096];
static void payment_channel(fx *f)
{
    if (!realpath("scripts/pay-channel.py", pay_prog)) fail_msg("scripts/pay-channel.py: run from the source tree");
    snprintf(pay_state, sizeof pay_state, "%s/pay-channel.jsonl", f->b.dir);
    setenv("IHOS_PAY_STATE", pay_state, 1);
    f->channel = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    assert_non_null(f->channel);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, f->channel), 1);
    char *pem;
    long n = BIO_get_mem_data(b, &pem);
    T_OK(ih_extsig_load(pem, (size_t)n, &f->pay_key));
    BIO_free(b);
}

/* The channel says `event` about an order, signed (or, with forge, signed by
 * another key); ts_off shifts the timestamp. */
static ih_err channel_says(fx *f, const char *event, const char *order_no, const char *trade_no, const char *amount,
                           const char *refund_no, int64_t ts_off, bool forge)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "event", event, "order_no", order_no, "trade_no", trade_no, "amount",
                          amount);
    if (refund_no) json_object_set_new(j, "refund_no", json_string(refund_no));
    ih_buf text = IH_BUF_INIT;
    T_OK(ih_json_dump(j, JSON_COMPACT, &text));
    json_decref(j);
    const char *body = text.p;
    char ts[24], msg[2048];
    snprintf(ts, sizeof ts, "%lld", (long long)(fake_now / 1000 + ts_off));
    int mn = snprintf(msg, sizeof msg, "%s\n%s\n%s\n", ts, "nonce-1", body);
    EVP_PKEY *k = forge ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048) : f->channel;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[512];
    size_t sl = sizeof sig;
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(md, sig, &sl, (unsigned char *)msg, (size_t)mn), 1);
    EVP_MD_CTX_free(md);
    if (forge) EVP_PKEY_free(k);
    char b64[1024];
    ih_b64_encode(sig, sl, b64);
    ih_err e = ih_payment_notify(f->c, ts, "nonce-1", b64, body, strlen(body));
    ih_buf_free(&text);
    return e;
}

/* The trade number the channel gave an order when it was created. */
static const char *channel_trade_no(const char *order_no)
{
    static char trade[64];
    trade[0] = '\0';
    FILE *fp = fopen(pay_state, "r");
    char line[2048];
    while (fp && fgets(line, sizeof line, fp)) {
        json_t *m = json_loads(line, 0, NULL);
        if (!strcmp(json_string_value(json_object_get(m, "op")), "create") &&
            !strcmp(json_string_value(json_object_get(m, "order_no")), order_no))
            snprintf(trade, sizeof trade, "%s", json_string_value(json_object_get(m, "trade_no")));
        json_decref(m);
    }
    if (fp) fclose(fp);
    return trade;
}

/* The patient orders (visit fee, or rx) and the channel confirms. */
static void pay(fx *f, int64_t visit, int64_t rx)
{
    json_t *o = NULL, *b = rx ? json_pack("{s:s, s:I}", "channel", "wechat", "prescription_id", (json_int_t)rx)
                               : json_pack("{s:s}", "channel", "wechat");
    CALL(ih_payment_order(f->c, &f->pat, visit, b, &o));
    json_t *p = json_object_get(o, "payment");
    const char *order = json_string_value(json_object_get(p, "order_no"));
    CALL(channel_says(f, "paid", order, channel_trade_no(order), json_string_value(json_object_get(p, "amount")), NULL,
                      0, false));
    json_decref(b);
    json_decref(o);
}

/* The code in the last message of `template` to `phone` ("" if none). */
static const char *sms_code(const char *phone, const char *template)
{
    static char code[8];
    code[0] = '\0';
    FILE *fp = fopen(sms_file, "r");
    char line[2048];
    while (fp && fgets(line, sizeof line, fp)) {
        json_t *m = json_loads(line, 0, NULL);
        const char *c = json_string_value(json_object_get(json_object_get(m, "params"), "code"));
        if (!strcmp(json_string_value(json_object_get(m, "phone")), phone) &&
            !strcmp(json_string_value(json_object_get(m, "template")), template))
            snprintf(code, sizeof code, "%s", c ? c : "");
        json_decref(m);
    }
    if (fp) fclose(fp);
    return code;
}

static int setup(void **state, ih_store_kind kind)
{
    fx *f = calloc(1, sizeof *f);
    fake_now = INT64_C(1790050400000); /* 2026-09-22 12:13 Beijing */
    ih_clock_set(fake_clock, NULL);
    t_base_open(&f->b, kind, IH_SUITE_INTL, NULL, 0);
    payment_channel(f);
    ih_identity_opts io = t_identity_opts(&f->b);
    T_OK(ih_identity_new(&io, &f->id));
    ih_report_opts ro = {.store = f->b.s, .keys = f->b.kr, .audit = f->b.a, .profile = "tianjin", .organ_id = "O1",
                         .unit_id = "U1", .organ_name = "示例互联网医院"};
    T_OK(ih_report_new(&ro, &f->r));
    ih_clinic_opts co = {.store = f->b.s, .keys = f->b.kr, .audit = f->b.a, .identity = f->id, .report = f->r,
                         .utc_offset_minutes = 480,
                         .privacy_version = "v1", .agreement_version = "v1", .realname_timeout_s = 5,
                         .registrations_per_minute = 100, .rx_max_days = 7, .rx_valid_days = 3,
                         .break_glass_hours = 4, .sms_command = sms_gateway(f), .pay_command = pay_prog,
                         .pay_notify_key = f->pay_key};
    T_OK(ih_clinic_new(&co, &f->c));
    f->sys = viewer(0, IH_ROLE_SYSADMIN);
    f->sec = viewer(0, IH_ROLE_SECADMIN);
    json_t *b, *o;
    b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "code", "NK", "name", "内科", "subject_code", "03.04", "category_code",
                  "03", "kind", "clinical");
    CALL(ih_department_create(f->c, &f->sys, b, &o));
    f->dep = json_integer_value(json_object_get(o, "id"));
    json_decref(b);
    json_decref(o);
    /* a doctor, enabled online; a pharmacist */
    char id1[19], id2[19], id3[19];
    int64_t da = account(f, "doc.care", IH_ROLE_DOCTOR), pa = account(f, "ph.care", IH_ROLE_PHARMACIST);
    f->doc = viewer(da, IH_ROLE_DOCTOR);
    f->ph = viewer(pa, IH_ROLE_PHARMACIST);
    b = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:[I]}", "account_id", (json_int_t)da, "name",
                  "医生甲", "cert_type", "1", "cert_no", fmt_id(id1, "11010119800101001"), "sex", "1", "birth_date",
                  "1980-01-01", "title_code", "233", "subject_code", "03.04", "qualification_no", "Q1", "practice_no",
                  "P1", "practice_years", 10, "departments", (json_int_t)f->dep);
    CALL(ih_staff_create(f->c, &f->sys, b, &o));
    f->staff = json_integer_value(json_object_get(o, "id"));
    json_decref(b);
    json_decref(o);
    CALL(ih_staff_set_online(f->c, &f->sec, f->staff, true, NULL, &o));
    json_decref(o);
    b = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:[I]}", "account_id", (json_int_t)pa, "name",
                  "药师乙", "cert_type", "1", "cert_no", fmt_id(id2, "11010119800202002"), "sex", "2", "birth_date",
                  "1980-02-02", "title_code", "243", "subject_code", "03.04", "qualification_no", "Q2", "practice_no",
                  "P2", "practice_years", 8, "departments", (json_int_t)f->dep);
    CALL(ih_staff_create(f->c, &f->sys, b, &o));
    json_decref(b);
    json_decref(o);
    /* a second pharmacist: who reviewed does not dispense */
    char id5[19];
    int64_t pa2 = account(f, "ph.care2", IH_ROLE_PHARMACIST);
    f->ph2 = viewer(pa2, IH_ROLE_PHARMACIST);
    b = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:[I]}", "account_id", (json_int_t)pa2,
                  "name", "药师丁", "cert_type", "1", "cert_no", fmt_id(id5, "11010119810505005"), "sex", "1",
                  "birth_date", "1981-05-05", "title_code", "244", "subject_code", "03.04", "qualification_no", "Q5",
                  "practice_no", "P5", "practice_years", 6, "departments", (json_int_t)f->dep);
    CALL(ih_staff_create(f->c, &f->sys, b, &o));
    json_decref(b);
    json_decref(o);
    /* today's shift, responding within 30 minutes */
    char today[11];
    time_t t = (time_t)(fake_now / 1000 + 8 * 3600);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(today, sizeof today, "%Y-%m-%d", &tm);
    b = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:i, s:i, s:s}", "staff_id", (json_int_t)f->staff, "department_id",
                  (json_int_t)f->dep, "day", today, "start_time", "08:00", "end_time", "20:00", "consult_type", "1",
                  "capacity", 2, "response_minutes", 30, "fee", "20.00");
    CALL(ih_schedule_create(f->c, &f->sys, b, &o));
    f->shift = json_integer_value(json_object_get(o, "id"));
    json_decref(b);
    json_decref(o);
    /* a drug, and a patient who registers */
    b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "hosp_code", "H1", "name", "氨氯地平片", "spec",
                  "5mg*7片", "unit", "盒", "manufacturer", "示例", "dosage_form", "片剂", "drug_class", "1", "price",
                  "21.50", "restricted", 0);
    CALL(ih_drug_create(f->c, &f->sys, b, &o));
    f->drug = json_integer_value(json_object_get(o, "id"));
    json_decref(b);
    json_decref(o);
    json_t *icd = NULL;
    ih_viewer console = f->sys;
    const char *csv = "code,name\nI10.x00,原发性高血压\n";
    T_OK(ih_icd_import_csv(f->c, &console, csv, strlen(csv), &icd));
    json_decref(icd);
    ih_actor anon = {.id = 0, .role = "anonymous"};
    b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "username", "pat.care", "password",
                  "Care-Patient-77!", "name", "患者丙", "cert_type", "1", "cert_no", fmt_id(id3, "11010119700303003"),
                  "sex", "1", "birth_date", "1970-03-03", "phone", "13900009999", "consents", "privacy", "v1",
                  "agreement", "v1");
    CALL(ih_patient_register(f->c, &anon, b, &o));
    f->pat = viewer(json_integer_value(json_object_get(o, "account_id")), IH_ROLE_PATIENT);
    json_decref(b);
    json_decref(o);
    *state = f;
    return 0;
}

static int setup_sqlite(void **s) { return setup(s, IH_STORE_SQLITE); }
static int setup_pg(void **s) { return setup(s, IH_STORE_PG); }

static int teardown(void **state)
{
    fx *f = *state;
    ih_clinic_free(f->c);
    ih_extsig_free(f->pay_key);
    EVP_PKEY_free(f->channel);
    ih_report_free(f->r);
    ih_identity_free(f->id);
    t_base_close(&f->b);
    free(f);
    ih_clock_set(NULL, NULL);
    return 0;
}

static int64_t request(fx *f, const char *kind)
{
    json_t *b = json_pack("{s:s, s:I, s:s, s:s, s:s}", "kind", kind, "schedule_id", (json_int_t)f->shift, "complaint",
                          "复诊", "first_diagnosis", "2025 示例医院 高血压", "disease_history", "高血压");
    json_t *o = NULL;
    CALL(ih_visit_request(f->c, &f->pat, b, &o));
    int64_t id = json_integer_value(json_object_get(o, "id"));
    json_decref(b);
    json_decref(o);
    return id;
}

static void write_record(fx *f, int64_t v)
{
    json_t *o = NULL, *b = json_pack("{s:s, s:s, s:[s], s:s, s:s}", "chief_complaint", "头晕", "present_history",
                                     "高血压3年", "diagnosis_codes", "I10.x00", "diagnosis", "原发性高血压",
                                     "opinion", "继续用药");
    CALL(ih_record_add(f->c, &f->doc, v, b, &o));
    json_decref(b);
    json_decref(o);
}

static const char *status_of(fx *f, int64_t visit)
{
    static char st[16];
    ih_buf text = IH_BUF_INIT;
    CALL(ih_visit_get(f->c, &f->pat, visit, 0, 10, &text));
    json_t *o = json_loads(text.p, 0, NULL);
    assert_non_null(o);
    snprintf(st, sizeof st, "%s", json_string_value(json_object_get(o, "status")));
    json_decref(o);
    ih_buf_free(&text);
    return st;
}

static void t_unanswered_request_expires(void **state)
{
    fx *f = *state;
    int64_t v = request(f, "consult");
    int n;
    fake_now += 29 * 60000;
    T_OK(ih_visit_expire_due(f->c, &n));
    assert_int_equal(n, 0);
    assert_string_equal(status_of(f, v), "requested");
    fake_now += 2 * 60000; /* past the promised 30 minutes */
    T_OK(ih_visit_expire_due(f->c, &n));
    assert_int_equal(n, 1);
    assert_string_equal(status_of(f, v), "expired");
    /* and an expired request cannot be accepted any more */
    json_t *b = json_object(), *o = NULL;
    assert_int_equal(ih_visit_accept(f->c, &f->doc, v, b, &o), IH_E_STATE);
    json_decref(b);
    /* the shift's capacity counts live requests only: two more fit */
    request(f, "consult");
    request(f, "consult");
    json_t *c = json_pack("{s:s, s:I, s:s}", "kind", "consult", "schedule_id", (json_int_t)f->shift, "complaint", "x");
    assert_int_equal(ih_visit_request(f->c, &f->pat, c, &o), IH_E_STATE); /* full */
    json_decref(c);
}

/* 14.2. A shift that is over takes no requests; one that has not begun
 * promises its response time from its start. */
static void t_past_shift_not_bookable(void **state)
{
    fx *f = *state;
    fake_now += (9 * 3600 + 6 * 60 + 40) * INT64_C(1000); /* 21:20 local: today's 08:00-20:00 shift is over */
    json_t *o = NULL, *b = json_pack("{s:s, s:I, s:s}", "kind", "consult", "schedule_id", (json_int_t)f->shift,
                                     "complaint", "咳嗽");
    assert_int_equal(ih_visit_request(f->c, &f->pat, b, &o), IH_E_STATE);
    json_decref(b);
    ih_err_clear();
    /* tomorrow 08:00-12:00 */
    b = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:i, s:i, s:s}", "staff_id", (json_int_t)f->staff, "department_id",
                  (json_int_t)f->dep, "day", "2026-09-23", "start_time", "08:00", "end_time", "12:00", "consult_type",
                  "1", "capacity", 2, "response_minutes", 30, "fee", "20.00");
    CALL(ih_schedule_create(f->c, &f->sys, b, &o));
    int64_t shift = json_integer_value(json_object_get(o, "id"));
    json_decref(b);
    json_decref(o);
    b = json_pack("{s:s, s:I, s:s}", "kind", "consult", "schedule_id", (json_int_t)shift, "complaint", "咳嗽");
    CALL(ih_visit_request(f->c, &f->pat, b, &o));
    json_decref(b);
    assert_string_equal(json_string_value(json_object_get(o, "respond_by")), "2026-09-23T00:30:00.000Z");
    json_decref(o);
}

static void t_approved_prescription_expires(void **state)
{
    fx *f = *state;
    int64_t v = request(f, "followup");
    json_t *b = json_pack("{s:b}", "followup_confirmed", 1), *o;
    CALL(ih_visit_accept(f->c, &f->doc, v, b, &o));
    json_decref(b);
    json_decref(o);
    write_record(f, v);
    b = json_pack("{s:s, s:[s], s:[{s:I, s:s, s:s, s:s, s:s, s:i, s:i}]}", "recipe_type", "1", "diagnosis_codes",
                  "I10.x00", "items", "drug_id", (json_int_t)f->drug, "route", "1", "frequency", "qd", "dosage", "5",
                  "dose_unit", "mg", "quantity", 2, "days", 7);
    CALL(ih_rx_issue(f->c, &f->doc, v, b, &o));
    int64_t rx = json_integer_value(json_object_get(o, "id"));
    assert_string_equal(json_string_value(json_object_get(o, "total_fee")), "43.00");
    json_decref(b);
    json_decref(o);
    /* a signature needs the doctor's full session */
    ih_viewer weak = f->doc;
    weak.strong = false;
    b = json_pack("{s:s, s:[s], s:[]}", "recipe_type", "1", "diagnosis_codes", "I10.x00", "items");
    assert_int_equal(ih_rx_issue(f->c, &weak, v, b, &o), IH_E_FORBIDDEN);
    json_decref(b);
    b = json_pack("{s:s}", "decision", "approve");
    CALL(ih_rx_review(f->c, &f->ph, rx, b, &o));
    json_decref(b);
    json_decref(o);
    int n;
    fake_now += 2 * 86400000LL;
    T_OK(ih_rx_expire_due(f->c, &n));
    assert_int_equal(n, 0);
    fake_now += 2 * 86400000LL; /* past the 3 days of validity */
    b = json_pack("{s:s}", "delivery_type", "0");
    assert_int_equal(ih_rx_dispense(f->c, &f->ph2, rx, b, &o), IH_E_STATE);
    T_OK(ih_rx_expire_due(f->c, &n));
    assert_int_equal(n, 1);
    CALL(ih_rx_get(f->c, &f->pat, rx, &o));
    assert_string_equal(json_string_value(json_object_get(o, "status")), "expired");
    assert_string_equal(json_string_value(json_object_get(o, "delivery_type")), "4");
    json_decref(o);
    assert_int_equal(ih_rx_dispense(f->c, &f->ph2, rx, b, &o), IH_E_STATE);
    json_decref(b);
    /* the offline bundle verifies */
    json_t *bundle;
    T_OK(ih_rx_bundle(f->c, rx, &bundle));
    char msg[256];
    T_OK(ih_rx_bundle_verify(bundle, msg, sizeof msg));
    assert_non_null(strstr(msg, "'approve' signed by the pharmacist"));
    json_object_set_new(json_object_get(bundle, "review"), "decision", json_string("reject"));
    assert_int_equal(ih_rx_bundle_verify(bundle, msg, sizeof msg), IH_E_INTEGRITY);
    json_decref(bundle);
}

/* The text view (ih_row_json_write, the visit read) and the object view
 * (ih_row_json, everything else) show the same members for every role and
 * relation: masked, hidden, unset, code names, money, times, booleans. */
/* 14.3. Every code table a record field uses is listed for the API, each
 * sorted (lookups are binary searches) with a unique key, and a refusal
 * names the values or where to get them. */
static void t_code_tables_listed(void **state)
{
    (void)state;
    size_t nt;
    ih_table *const *tables = ih_clinic_tables(&nt);
    for (size_t i = 0; i < nt; i++)
        for (int k = 0; k < tables[i]->n; k++) {
            const ih_code_table *c = tables[i]->fields[k].codes;
            if (c && ih_code_table_find(c->key) != c)
                fail_msg("%s.%s uses a code table GET /api/v1/codes does not list", tables[i]->name,
                         tables[i]->fields[k].name);
        }
    for (size_t i = 0; i < ih_code_tables_count; i++) {
        const ih_code_table *t = ih_code_tables[i];
        assert_ptr_equal(ih_code_table_find(t->key), t);
        for (size_t k = 1; k < t->n; k++)
            if (strcmp(t->codes[k - 1].code, t->codes[k].code) >= 0) fail_msg("%s is not sorted at %zu", t->key, k);
        for (size_t k = 0; k < t->n; k++) assert_ptr_equal(ih_code_name(t, t->codes[k].code), t->codes[k].name);
    }
    assert_int_equal(ih_code_reject(&ih_codes_drug_class, "recipe_type"), IH_E_INVALID);
    assert_non_null(strstr(ih_err_public(), "1 西药, 2 中成药, 3 中药饮片"));
    assert_non_null(strstr(ih_err_public(), "GET /api/v1/codes/drug_class"));
    assert_int_equal(ih_code_reject(&ih_codes_route, "route"), IH_E_INVALID);
    assert_non_null(strstr(ih_err_public(), "GET /api/v1/codes/route"));
    ih_err_clear();
}

static void t_view_text_matches_objects(void **state)
{
    (void)state;
    ih_row p, v;
    ih_row_init(&p, &ih_t_patient);
    p.id = 7;
    ih_row_set_int(&p, "account_id", 31);
    ih_row_set_str(&p, "name", "张小明");
    ih_row_set_str(&p, "cert_type", "01");
    ih_row_set_str(&p, "cert_no", "11010519491231002X");
    ih_row_set_str(&p, "sex", "1");
    ih_row_set_str(&p, "birth_date", "1949-12-31");
    ih_row_set_str(&p, "phone", "13800138000");
    ih_row_set_str(&p, "allergies", "青霉素\n\"磺胺\"");
    ih_row_set_int(&p, "updated_at", INT64_C(1718185594026));
    ih_row_init(&v, &ih_t_visit);
    v.id = 9;
    ih_row_set_str(&v, "kind", "followup");
    ih_row_set_str(&v, "consult_type", "1");
    ih_row_set_int(&v, "fee", 5050);
    ih_row_set_str(&v, "complaint", "头晕\t三天");
    ih_row_set_int(&v, "followup_confirmed", 1);
    ih_row_set_int(&v, "guardian_present", 0);
    ih_row_set_int(&v, "label", 3);
    ih_row_set_int(&v, "requested_at", 0);
    const ih_row *rows[] = {&p, &v};
    for (int k = 0; k < 2; k++)
        for (int role = IH_ROLE_NONE; role < IH_ROLE__COUNT; role++)
            for (int rel = IH_REL_SELF; rel < IH_REL__COUNT; rel++) {
                json_t *want;
                T_OK(ih_row_json(rows[k], (ih_role)role, (ih_relation)rel, &want));
                ih_buf text = IH_BUF_INIT;
                ih_jw w;
                ih_jw_init(&w, &text);
                ih_jw_open(&w, '{');
                ih_row_json_write(rows[k], (ih_role)role, (ih_relation)rel, &w);
                ih_jw_close(&w, '}');
                T_OK(w.err);
                json_t *got = json_loads(text.p, 0, NULL);
                assert_non_null(got);
                if (!json_equal(got, want)) fail_msg("views differ for row %d role %d rel %d: %s", k, role, rel, text.p);
                /* and what the jansson dump prints, member for member, in order */
                ih_buf dumped = IH_BUF_INIT;
                T_OK(ih_json_dump(want, JSON_COMPACT, &dumped));
                assert_string_equal(dumped.p, text.p);
                json_decref(got);
                json_decref(want);
                ih_buf_free(&dumped);
                ih_buf_free(&text);
            }
    ih_row_free(&p);
    ih_row_free(&v);
}

/* ---- shared steps ------------------------------------------------------------------ */

/* json_pack a body, call, free the body and return the output (or fail). */
#define DO(expr_call, ...)                                                                                     \
    ({                                                                                                         \
        json_t *b__ = json_pack(__VA_ARGS__), *o__ = NULL;                                                     \
        assert_non_null(b__);                                                                                  \
        json_t *body = b__;                                                                                    \
        CALL(expr_call);                                                                                       \
        json_decref(b__);                                                                                      \
        o__;                                                                                                   \
    })

static int64_t id_of(json_t *o)
{
    int64_t id = json_integer_value(json_object_get(o, "id"));
    json_decref(o);
    return id;
}

/* A whole follow-up: accepted, a message, a record, a prescription reviewed
 * and dispensed, closed, evaluated; an adverse event.  *rx gets the
 * prescription. */
static int64_t journey(fx *f, int64_t *rx)
{
    int64_t v = request(f, "followup");
    json_decref(DO(ih_visit_accept(f->c, &f->doc, v, body, &o__), "{s:b}", "followup_confirmed", 1));
    json_decref(DO(ih_message_post(f->c, &f->pat, v, body, &o__), "{s:s}", "body", "头晕两天，血压偏高"));
    json_decref(DO(ih_record_add(f->c, &f->doc, v, body, &o__), "{s:s, s:s, s:[s], s:s, s:s}", "chief_complaint", "头晕",
                   "present_history", "高血压3年", "diagnosis_codes", "I10.x00", "diagnosis", "原发性高血压", "opinion",
                   "继续用药"));
    *rx = id_of(DO(ih_rx_issue(f->c, &f->doc, v, body, &o__),
                   "{s:s, s:[s], s:[{s:I, s:s, s:s, s:s, s:s, s:i, s:i}]}", "recipe_type", "1", "diagnosis_codes",
                   "I10.x00", "items", "drug_id", (json_int_t)f->drug, "route", "1", "frequency", "qd", "dosage", "5",
                   "dose_unit", "mg", "quantity", 2, "days", 7));
    json_decref(DO(ih_rx_review(f->c, &f->ph, *rx, body, &o__), "{s:s}", "decision", "approve"));
    pay(f, v, *rx);
    json_decref(DO(ih_rx_dispense(f->c, &f->ph2, *rx, body, &o__), "{s:s}", "delivery_type", "0"));
    json_t *o = NULL;
    CALL(ih_visit_close(f->c, &f->doc, v, &o));
    json_decref(o);
    json_decref(DO(ih_evaluation_add(f->c, &f->pat, v, body, &o__), "{s:i, s:i, s:s}", "satisfaction", 5, "score", 9,
                   "text", "医生很耐心"));
    json_decref(DO(ih_adverse_report(f->c, &f->doc, body, &o__), "{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}",
                   "visit_id", (json_int_t)v, "kind", "2", "description", "服药后轻度头晕", "cause", "剂量偏大",
                   "measures", "减量观察", "damage_degree", "2", "improvements", "加强用药交代", "department_id",
                   (json_int_t)f->dep, "event_date", "2026-09-20"));
    return v;
}

/* Every care read works, through the services as the API calls them. */
static void reads_work(fx *f, int64_t v, int64_t rx)
{
    ih_buf text = IH_BUF_INIT;
    CALL(ih_visit_get(f->c, &f->pat, v, 0, 10, &text));
    assert_non_null(strstr(text.p, "头晕两天"));
    ih_buf_free(&text);
    json_t *o = NULL;
    CALL(ih_record_list(f->c, &f->doc, v, &o));
    const char *dx = json_string_value(json_object_get(json_array_get(o, 0), "diagnosis"));
    assert_non_null(dx);
    assert_string_equal(dx, "原发性高血压");
    json_decref(o);
    CALL(ih_rx_get(f->c, &f->pat, rx, &o));
    json_decref(o);
    CALL(ih_patient_me(f->c, &f->pat, &o));
    json_decref(o);
    CALL(ih_adverse_list(f->c, &f->doc, &o));
    json_decref(o);
}

/* 1. The clinical and personal keys rotate and the old versions retire at
 * once: every care table and the outbox were re-sealed first, so a keyring
 * that never saw the old versions opens everything. */
static void t_rotation_reseals_every_care_table(void **state)
{
    fx *f = *state;
    int64_t rx, v = journey(f, &rx);
    T_OK(ih_keys_rotate(f->b.s, f->b.kr, IH_KP_CLINICAL, NULL, NULL, NULL));
    T_OK(ih_keys_rotate(f->b.s, f->b.kr, IH_KP_PERSONAL, NULL, NULL, NULL));
    ih_catalog *cat = malloc(sizeof *cat);
    ih_catalog_build(cat, f->b.s, f->b.kr, f->id, f->c, f->r);
    ih_reseal_report r;
    T_OK(ih_catalog_reseal(cat, f->b.a, 0, &r));
    if (r.refused[0]) fail_msg("%s", r.refused);
    assert_int_equal(r.retired, 2);
    assert_int_equal(r.remaining, 0);
    /* a keyring loaded now holds v2 only: nothing may still need v1 */
    ih_keyring *fresh;
    uint8_t kek[32];
    memset(kek, T_KEK_BYTE, 32);
    T_OK(ih_keyring_new(IH_SUITE_INTL, kek, &fresh));
    T_OK(ih_keys_load(f->b.s, fresh));
    ih_catalog_build(cat, f->b.s, fresh, f->id, f->c, f->r);
    ih_integrity_report ir;
    T_OK(ih_catalog_scan(cat, f->b.a, &ir));
    assert_string_equal(ir.schema_problem, "");
    assert_int_equal(ir.bad, 0);
    assert_int_equal(ir.unopenable, 0);
    assert_true(ir.sealed_rows > 10);
    ih_keyring_free(fresh);
    free(cat);
    reads_work(f, v, rx);
}

/* ---- hardening: rows that grant access are verified where they are used ------------ */

/* A new staff member (account, staff record in department dep). */
static ih_viewer new_staff(fx *f, const char *user, ih_role role, int64_t dep, const char *id17, const char *title,
                           bool online, int64_t *staff_id)
{
    int64_t acct = account(f, user, role);
    char idn[19];
    json_t *o = DO(ih_staff_create(f->c, &f->sys, body, &o__),
                   "{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:[I]}", "account_id", (json_int_t)acct,
                   "name", "员工", "cert_type", "1", "cert_no", fmt_id(idn, id17), "sex", "1", "birth_date",
                   "1980-01-01", "title_code", title, "subject_code", "03.04", "qualification_no", "Q9",
                   "practice_no", "P9", "practice_years", 10, "departments", (json_int_t)dep);
    *staff_id = id_of(o);
    if (online) {
        json_t *x = NULL;
        CALL(ih_staff_set_online(f->c, &f->sec, *staff_id, true, NULL, &x));
        json_decref(x);
    }
    return viewer(acct, role);
}

/* An accepted follow-up with its medical record (prescriptions follow one). */
static int64_t accepted_visit(fx *f)
{
    int64_t v = request(f, "followup");
    json_decref(DO(ih_visit_accept(f->c, &f->doc, v, body, &o__), "{s:b}", "followup_confirmed", 1));
    write_record(f, v);
    return v;
}

static int64_t patient_id(fx *f)
{
    json_t *o = NULL;
    CALL(ih_patient_me(f->c, &f->pat, &o));
    int64_t id = json_integer_value(json_object_get(o, "id"));
    json_decref(o);
    return id;
}

static ih_err read_visit(fx *f, const ih_viewer *v, int64_t visit)
{
    ih_buf text = IH_BUF_INIT;
    ih_err e = ih_visit_get(f->c, v, visit, 0, 10, &text);
    ih_buf_free(&text);
    ih_err_clear();
    return e;
}

static ih_err read_patient(fx *f, const ih_viewer *v, int64_t patient)
{
    json_t *o = NULL;
    ih_err e = ih_patient_get(f->c, v, patient, &o);
    json_decref(o);
    ih_err_clear();
    return e;
}

static ih_integrity_report scan(fx *f)
{
    ih_catalog *cat = malloc(sizeof *cat);
    ih_catalog_build(cat, f->b.s, f->b.kr, f->id, f->c, f->r);
    ih_integrity_report r;
    T_OK(ih_catalog_scan(cat, f->b.a, &r));
    free(cat);
    return r;
}

/* 5. A forged break-glass grant and an inserted department membership grant
 * nothing; tampered care rows are found by the scan. */
static void t_forged_rows_grant_nothing(void **state)
{
    fx *f = *state;
    int64_t v = accepted_visit(f), pid = patient_id(f), doc2_staff, nurse_staff;
    json_t *o = DO(ih_department_create(f->c, &f->sys, body, &o__), "{s:s, s:s, s:s, s:s, s:s}", "code", "WK", "name",
                   "外科", "subject_code", "04", "category_code", "04", "kind", "clinical");
    int64_t dep2 = id_of(o);
    ih_viewer doc2 = new_staff(f, "doc.two", IH_ROLE_DOCTOR, f->dep, "11010119800101003", "233", true, &doc2_staff);
    ih_viewer nurse = new_staff(f, "nurse.other", IH_ROLE_NURSE, dep2, "11010119800101005", "253", false, &nurse_staff);
    assert_int_equal(read_visit(f, &doc2, v), IH_E_FORBIDDEN);
    assert_int_equal(read_visit(f, &nurse, v), IH_E_FORBIDDEN);
    char sql[512];
    bool pg = f->b.kind == IH_STORE_PG;
    snprintf(sql, sizeof sql,
             "INSERT INTO break_glass (id, staff_id, patient_id, reason_enc, granted_at, expires_at, rv, mac) "
             "VALUES (9001, %lld, %lld, %s, 0, 4102444800000, 1, %s)",
             (long long)doc2_staff, (long long)pid, pg ? "decode('01020304', 'hex')" : "X'01020304'",
             pg ? "decode('00', 'hex')" : "X'00'");
    t_sql(f->b.s, sql);
    assert_int_not_equal(read_visit(f, &doc2, v), IH_OK);
    assert_int_not_equal(read_patient(f, &doc2, pid), IH_OK);
    snprintf(sql, sizeof sql, "INSERT INTO staff_department (staff_id, department_id) VALUES (%lld, %lld)",
             (long long)nurse_staff, (long long)f->dep);
    t_sql(f->b.s, sql);
    assert_int_equal(read_visit(f, &nurse, v), IH_E_FORBIDDEN);
    assert_int_equal(read_patient(f, &nurse, pid), IH_E_FORBIDDEN);
    json_t *list = NULL;
    CALL(ih_visit_list(f->c, &nurse, NULL, &(ih_page){.limit = 50}, &list, NULL));
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    /* tampered care rows: the scan finds each */
    int64_t rx, v2 = journey(f, &rx);
    snprintf(sql, sizeof sql, "UPDATE prescription SET status = 'issued' WHERE id = %lld", (long long)rx);
    t_sql(f->b.s, sql);
    snprintf(sql, sizeof sql, "UPDATE visit SET doctor_id = %lld WHERE id = %lld", (long long)doc2_staff, (long long)v2);
    t_sql(f->b.s, sql);
    ih_integrity_report r = scan(f);
    assert_true(r.bad >= 3); /* the grant, the prescription, the visit */
}

/* 4. Suspension ends the member's sessions and every clinical power. */
static void t_suspension_ends_clinical_authority(void **state)
{
    fx *f = *state;
    int64_t v = accepted_visit(f), pid = patient_id(f);
    ih_login_req rq = {.username = "doc.care", .password = "Care-Test-Pass-77!", .ip = "127.0.0.1"};
    ih_login_result lr;
    T_OK(ih_identity_login(f->id, &rq, &lr));
    ih_principal p;
    T_OK(ih_identity_authenticate(f->id, lr.token, false, "127.0.0.1", &p));
    json_t *o = NULL;
    CALL(ih_staff_set_status(f->c, &f->sec, f->staff, "suspended", "执业资格暂停", &o));
    json_decref(o);
    assert_int_not_equal(ih_identity_authenticate(f->id, lr.token, false, "127.0.0.1", &p), IH_OK);
    ih_err_clear();
    /* and the services refuse whatever path the request came by */
    assert_int_equal(read_visit(f, &f->doc, v), IH_E_FORBIDDEN);
    assert_int_equal(read_patient(f, &f->doc, pid), IH_E_FORBIDDEN);
    json_t *b = json_pack("{s:s, s:[s], s:[{s:I, s:s, s:s, s:s, s:s, s:i, s:i}]}", "recipe_type", "1", "diagnosis_codes",
                          "I10.x00", "items", "drug_id", (json_int_t)f->drug, "route", "1", "frequency", "qd", "dosage",
                          "5", "dose_unit", "mg", "quantity", 1, "days", 7);
    assert_int_equal(ih_rx_issue(f->c, &f->doc, v, b, &o), IH_E_FORBIDDEN);
    json_decref(b);
    b = json_pack("{s:s, s:s, s:[s], s:s, s:s}", "chief_complaint", "c", "present_history", "p", "diagnosis_codes",
                  "I10.x00", "diagnosis", "d", "opinion", "o");
    assert_int_equal(ih_record_add(f->c, &f->doc, v, b, &o), IH_E_FORBIDDEN);
    json_decref(b);
    b = json_pack("{s:s}", "reason", "急诊抢救需要查看既往病史记录");
    assert_int_equal(ih_break_glass(f->c, &f->doc, pid, b, &o), IH_E_FORBIDDEN);
    json_decref(b);
    b = json_pack("{s:s}", "body", "继续服药"); /* the doctor's staff row read with the visit: suspended all the same */
    assert_int_equal(ih_message_post(f->c, &f->doc, v, b, &o), IH_E_FORBIDDEN);
    json_decref(b);
    ih_err_clear();
    /* reinstated: reads again; online care only once enabled again */
    CALL(ih_staff_set_status(f->c, &f->sec, f->staff, "active", "复核通过", &o));
    json_decref(o);
    assert_int_equal(read_visit(f, &f->doc, v), IH_OK);
    b = json_pack("{s:s}", "body", "继续服药");
    assert_int_equal(ih_message_post(f->c, &f->doc, v, b, &o), IH_E_FORBIDDEN);
    CALL(ih_staff_set_online(f->c, &f->sec, f->staff, true, NULL, &o));
    json_decref(o);
    CALL(ih_message_post(f->c, &f->doc, v, b, &o));
    json_decref(o);
    json_decref(b);
}

/* Copy row id of table into <table>_copy, to put back later. */
static void keep_copy(fx *f, const char *table, int64_t id)
{
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TABLE %s_copy AS SELECT * FROM %s WHERE id = %lld", table, table, (long long)id);
    t_sql(f->b.s, sql);
}

/* Put the kept copy's columns back over row id. */
static void put_back(fx *f, const char *table, int64_t id, const char *const *cols)
{
    char sql[2048];
    size_t n = (size_t)snprintf(sql, sizeof sql, "UPDATE %s SET ", table);
    for (int i = 0; cols[i]; i++)
        n += (size_t)snprintf(sql + n, sizeof sql - n, "%s%s = (SELECT %s FROM %s_copy)", i ? ", " : "", cols[i], cols[i],
                              table);
    snprintf(sql + n, sizeof sql - n, " WHERE id = %lld", (long long)id);
    t_sql(f->b.s, sql);
}

/* 6. An older copy of a row, with its old valid MAC, put back: refused where
 * it is used; a deleted row: found by the scan. */
static void t_replayed_rows_are_refused(void **state)
{
    fx *f = *state;
    /* a disabled account enabled again */
    int64_t acct = account(f, "replay.me", IH_ROLE_NURSE);
    keep_copy(f, "account", acct);
    CALL(ih_identity_set_enabled(f->id, &f->sys.actor, IH_ROLE_SYSADMIN, acct, false, "离职"));
    static const char *const acols[] = {"status", "disabled_reason", "disabled_note_enc", "rv", "mac", NULL};
    put_back(f, "account", acct, acols);
    ih_login_req rq = {.username = "replay.me", .password = "Care-Test-Pass-77!", .ip = "127.0.0.1"};
    ih_login_result lr;
    assert_int_not_equal(ih_identity_login(f->id, &rq, &lr), IH_OK);
    json_t *o = NULL;
    assert_int_equal(ih_identity_get(f->id, acct, &o), IH_E_INTEGRITY);
    ih_err_clear();
    /* a level 5 put back to 3 */
    int64_t v = accepted_visit(f);
    keep_copy(f, "visit", v);
    json_decref(DO(ih_visit_label(f->c, &f->sec, v, body, &o__), "{s:i, s:s}", "label", 5, "reason", "精神科"));
    static const char *const vcols[] = {"label", "updated_at", "rv", "mac", NULL};
    put_back(f, "visit", v, vcols);
    assert_int_equal(read_visit(f, &f->doc, v), IH_E_INTEGRITY);
    /* a dispensed prescription made dispensable again */
    int64_t v2 = accepted_visit(f);
    int64_t rx = id_of(DO(ih_rx_issue(f->c, &f->doc, v2, body, &o__),
                          "{s:s, s:[s], s:[{s:I, s:s, s:s, s:s, s:s, s:i, s:i}]}", "recipe_type", "1",
                          "diagnosis_codes", "I10.x00", "items", "drug_id", (json_int_t)f->drug, "route", "1",
                          "frequency", "qd", "dosage", "5", "dose_unit", "mg", "quantity", 1, "days", 7));
    json_decref(DO(ih_rx_review(f->c, &f->ph, rx, body, &o__), "{s:s}", "decision", "approve"));
    pay(f, v2, rx);
    keep_copy(f, "prescription", rx);
    json_decref(DO(ih_rx_dispense(f->c, &f->ph2, rx, body, &o__), "{s:s}", "delivery_type", "0"));
    static const char *const rcols[] = {"status", "delivery_type", "delivery_firm", "finished_at", "updated_at", "rv",
                                        "mac", NULL};
    put_back(f, "prescription", rx, rcols);
    json_t *b = json_pack("{s:s}", "delivery_type", "0");
    assert_int_equal(ih_rx_dispense(f->c, &f->ph, rx, b, &o), IH_E_INTEGRITY);
    json_decref(b);
    ih_err_clear();
    /* a deleted consent */
    t_sql(f->b.s, "DELETE FROM consent WHERE id = (SELECT min(id) FROM consent)");
    ih_integrity_report r = scan(f);
    assert_true(r.older >= 3); /* the account, the visit, the prescription */
    assert_true(r.missing >= 1);
}

/* A message reads the visit, its patient and its doctor in one statement
 * (on PostgreSQL wider than 64 columns): each row is still checked where
 * it is used — the patient's row (whose account may write) and the
 * doctor's (who is told) — and a write that meets a changed one fails
 * whole, its message not kept. */
static void t_message_parties_checked(void **state)
{
    fx *f = *state;
    int64_t v = accepted_visit(f);
    json_decref(DO(ih_message_post(f->c, &f->pat, v, body, &o__), "{s:s}", "body", "今天血压138/86"));
    json_decref(DO(ih_message_post(f->c, &f->doc, v, body, &o__), "{s:s}", "body", "继续服药，一周后复诊"));
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM message WHERE visit_id = %lld", (long long)v);
    assert_int_equal(t_sql_int(f->b.s, sql), 2);
    json_t *b = json_pack("{s:s}", "body", "收到"), *o = NULL;
    char upd[256], years[256];
    snprintf(years, sizeof years, "SELECT practice_years FROM staff WHERE id = (SELECT doctor_id FROM visit WHERE id = %lld)",
             (long long)v);
    int64_t was = t_sql_int(f->b.s, years);
    snprintf(upd, sizeof upd, "UPDATE staff SET practice_years = %lld WHERE id = (SELECT doctor_id FROM visit WHERE id = %lld)",
             (long long)was + 1, (long long)v);
    t_sql(f->b.s, upd);
    assert_int_equal(ih_message_post(f->c, &f->pat, v, b, &o), IH_E_INTEGRITY);
    ih_err_clear();
    snprintf(upd, sizeof upd, "UPDATE staff SET practice_years = %lld WHERE id = (SELECT doctor_id FROM visit WHERE id = %lld)",
             (long long)was, (long long)v);
    t_sql(f->b.s, upd); /* as it was: its MAC verifies again */
    CALL(ih_message_post(f->c, &f->pat, v, b, &o));
    json_decref(o);
    snprintf(upd, sizeof upd, "UPDATE patient SET account_id = %lld WHERE id = %lld", (long long)f->doc.actor.id,
             (long long)patient_id(f));
    t_sql(f->b.s, upd);
    assert_int_equal(ih_message_post(f->c, &f->pat, v, b, &o), IH_E_INTEGRITY);
    ih_err_clear();
    assert_int_equal(t_sql_int(f->b.s, sql), 3);
    json_decref(b);
}

/* How many rows of table hold `text` (UTF-8 bytes) in column col. */
static int64_t holding(fx *f, const char *table, const char *col, const char *text)
{
    char sql[512];
    if (f->b.kind == IH_STORE_PG)
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE position(convert_to('%s', 'UTF8') IN %s::bytea) > 0",
                 table, text, col);
    else
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE instr(CAST(%s AS BLOB), CAST('%s' AS BLOB)) > 0", table,
                 col, text);
    return t_sql_int(f->b.s, sql);
}

/* 12. Free text people type is sealed where it is kept, and the audit
 * journal names the objects, never the words. */
static void t_free_text_sealed_never_journaled(void **state)
{
    fx *f = *state;
    int64_t v = request(f, "followup");
    json_decref(DO(ih_visit_refuse(f->c, &f->doc, v, body, &o__), "{s:s}", "reason", "患者HIV阳性，需线下专科就诊"));
    /* the patient reads the reason; nothing of it is in the clear */
    ih_buf text = IH_BUF_INIT;
    CALL(ih_visit_get(f->c, &f->pat, v, 0, 10, &text));
    assert_non_null(strstr(text.p, "HIV阳性"));
    ih_buf_free(&text);
    assert_int_equal(holding(f, "visit", "refuse_reason_enc", "HIV"), 0);
    assert_int_equal(t_sql_int(f->b.s, "SELECT count(*) FROM visit WHERE refuse_reason IS NOT NULL"), 0);
    /* a relabel, a prescription rejected, a disable, a statistics decision */
    int64_t v2 = accepted_visit(f);
    json_decref(DO(ih_visit_label(f->c, &f->sec, v2, body, &o__), "{s:i, s:s}", "label", 5, "reason", "精神分裂症随访"));
    int64_t rx = id_of(DO(ih_rx_issue(f->c, &f->doc, v2, body, &o__),
                          "{s:s, s:[s], s:[{s:I, s:s, s:s, s:s, s:s, s:i, s:i}]}", "recipe_type", "1",
                          "diagnosis_codes", "I10.x00", "items", "drug_id", (json_int_t)f->drug, "route", "1",
                          "frequency", "qd", "dosage", "5", "dose_unit", "mg", "quantity", 1, "days", 7));
    json_decref(DO(ih_rx_review(f->c, &f->ph, rx, body, &o__), "{s:s, s:s}", "decision", "reject", "reason",
                   "与抗逆转录病毒药物相互作用"));
    int64_t acct = account(f, "leaving.soon", IH_ROLE_NURSE);
    CALL(ih_identity_set_enabled(f->id, &f->sys.actor, IH_ROLE_SYSADMIN, acct, false, "产假休养"));
    json_t *acc = NULL;
    CALL(ih_identity_get(f->id, acct, &acc));
    assert_string_equal(json_string_value(json_object_get(acc, "disabled_note")), "产假休养");
    json_decref(acc);
    const char *words[] = {"HIV", "精神分裂", "逆转录", "产假"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        assert_int_equal(holding(f, "audit_event", "entry", words[i]), 0);
        assert_int_equal(holding(f, "visit", "label_reason_enc", words[i]), 0);
        assert_int_equal(holding(f, "prescription", "review_reason_enc", words[i]), 0);
        assert_int_equal(holding(f, "account", "disabled_note_enc", words[i]), 0);
        assert_int_equal(holding(f, "account", "disabled_reason", words[i]), 0);
    }
    assert_int_equal(t_sql_int(f->b.s, "SELECT count(*) FROM prescription WHERE review_reason IS NOT NULL"), 0);
}

static ih_err glass(fx *f, const ih_viewer *v, int64_t patient, const char *reason, int64_t *grant)
{
    json_t *b = json_pack("{s:s}", "reason", reason), *o = NULL;
    ih_err e = ih_break_glass(f->c, v, patient, b, &o);
    if (grant) *grant = e == IH_OK ? json_integer_value(json_object_get(o, "id")) : 0;
    json_decref(b);
    json_decref(o);
    ih_err_clear();
    return e;
}

/* 9. Break-glass takes a real reason, is limited per hour, per day and by
 * grants awaiting review, and each grant is reviewed once. */
static void t_break_glass_limits_and_review(void **state)
{
    fx *f = *state;
    int64_t pid = patient_id(f), g[8];
    const char *filler[] = {"aaaaaaaaaa", "1234567890", "abcdefghijk", "ababababab", "急诊急诊急诊急诊急诊"};
    for (size_t i = 0; i < sizeof filler / sizeof filler[0]; i++)
        assert_int_equal(glass(f, &f->doc, pid, filler[i], NULL), IH_E_INVALID);
    const char *why = "夜间急诊，患者昏迷，需查看既往用药与过敏史";
    for (int i = 0; i < 3; i++) T_OK(glass(f, &f->doc, pid, why, &g[i]));
    assert_int_equal(glass(f, &f->doc, pid, why, NULL), IH_E_RATE_LIMITED); /* 3 per hour */
    fake_now += 3600001;
    T_OK(glass(f, &f->doc, pid, why, &g[3]));
    T_OK(glass(f, &f->doc, pid, why, &g[4]));
    assert_int_equal(glass(f, &f->doc, pid, why, NULL), IH_E_RATE_LIMITED); /* 5 await review */
    /* the security administrator reviews */
    json_t *o = NULL, *b = json_pack("{s:s}", "verdict", "maybe");
    assert_int_equal(ih_break_glass_review(f->c, &f->sec, g[0], b, &o), IH_E_INVALID);
    json_decref(b);
    json_decref(DO(ih_break_glass_review(f->c, &f->sec, g[0], body, &o__), "{s:s, s:s}", "verdict", "justified", "note",
                   "已电话核实急诊情况"));
    b = json_pack("{s:s}", "verdict", "justified");
    assert_int_equal(ih_break_glass_review(f->c, &f->sec, g[0], b, &o), IH_E_STATE); /* once */
    json_decref(b);
    T_OK(glass(f, &f->doc, pid, why, &g[5]));
    /* an unjustified grant ends at once */
    json_t *list = NULL;
    CALL(ih_break_glass_list(f->c, &f->sec, true, &list));
    assert_int_equal(json_array_size(list), 5);
    json_decref(list);
    json_decref(DO(ih_break_glass_review(f->c, &f->sec, g[5], body, &o__), "{s:s}", "verdict", "unjustified"));
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM break_glass WHERE id = %lld AND expires_at <= %lld", (long long)g[5],
             (long long)fake_now);
    assert_int_equal(t_sql_int(f->b.s, sql), 1);
}

static ih_err self_service(fx *f, ih_err (*fn)(ih_clinic *, const ih_actor *, json_t *, json_t **), json_t *b,
                           char token[64])
{
    ih_actor anon = {.id = 0, .role = "anonymous", .ip = "127.0.0.1"};
    json_t *o = NULL;
    ih_err e = fn(f->c, &anon, b, &o);
    json_decref(b);
    const char *t = json_string_value(json_object_get(o, "registration"));
    if (!t) t = json_string_value(json_object_get(o, "reset"));
    if (token) snprintf(token, 64, "%s", t ? t : "");
    json_decref(o);
    return e;
}

static ih_err confirm(fx *f, const char *token, const char *code, const char *pw)
{
    ih_actor anon = {.id = 0, .role = "anonymous", .ip = "127.0.0.1"};
    json_t *b = json_pack("{s:s, s:s, s:s}", "reset", token, "code", code, "new_password", pw);
    ih_err e = ih_patient_reset_confirm(f->c, &anon, b);
    json_decref(b);
    ih_err_clear();
    return e;
}

/* 3 and 14. A registration waits for the code sent to its phone, which
 * expires (and is then cleared); a patient's password is reset only with the
 * code sent to the phone they registered, never by an administrator. */
static void t_sms_codes_register_and_reset(void **state)
{
    fx *f = *state;
    char tok[64], id4[19];
    json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "username", "pat.sms", "password",
                          "Care-Patient-77!", "name", "患者丁", "cert_type", "1", "cert_no",
                          fmt_id(id4, "11010119750404004"), "sex", "2", "birth_date", "1975-04-04", "phone",
                          "13900008888", "consents", "privacy", "v1", "agreement", "v1");
    T_OK(self_service(f, ih_patient_register_start, b, tok));
    assert_int_equal(strlen(sms_code("13900008888", "register_code")), 6);
    assert_int_equal(t_sql_int(f->b.s, "SELECT count(*) FROM sms_code WHERE body_enc IS NOT NULL"), 1);
    /* ten minutes later the code has expired, and the job clears it */
    fake_now += 10 * 60000 + 1;
    b = json_pack("{s:s, s:s}", "registration", tok, "code", sms_code("13900008888", "register_code"));
    assert_int_equal(self_service(f, ih_patient_register_verify, b, NULL), IH_E_INVALID);
    int n = 0;
    T_OK(ih_sms_codes_expire_due(f->c, &n));
    assert_int_equal(n, 1);
    assert_int_equal(t_sql_int(f->b.s, "SELECT count(*) FROM sms_code WHERE body_enc IS NOT NULL OR code_enc IS NOT NULL"),
                     0);
    assert_int_equal(t_sql_int(f->b.s, "SELECT count(*) FROM patient"), 1);

    /* the administrator cannot reset a patient's password */
    char otp[32];
    assert_int_equal(ih_identity_reset_password(f->id, &f->sys.actor, f->pat.actor.id, otp), IH_E_FORBIDDEN);
    ih_err_clear();
    /* the patient can, with the registered phone */
    char cert[19];
    fmt_id(cert, "11010119700303003");
    T_OK(self_service(f, ih_patient_reset_start, json_pack("{s:s, s:s}", "cert_no", cert, "phone", "13900001234"), tok));
    assert_string_equal(sms_code("13900001234", "reset_unmatched"), "");
    assert_int_equal(confirm(f, tok, "000000", "Fresh-Patient-88!"), IH_E_INVALID);
    T_OK(self_service(f, ih_patient_reset_start, json_pack("{s:s, s:s}", "cert_no", cert, "phone", "13900009999"), tok));
    const char *code = sms_code("13900009999", "reset_code");
    assert_int_equal(strlen(code), 6);
    char wrong[12];
    snprintf(wrong, sizeof wrong, "%06d", (atoi(code) + 1) % 1000000);
    assert_int_equal(confirm(f, tok, wrong, "Fresh-Patient-88!"), IH_E_INVALID);
    assert_int_equal(confirm(f, tok, code, "Care-Patient-77!"), IH_E_WEAK_PASSWORD); /* the current one */
    T_OK(confirm(f, tok, code, "Fresh-Patient-88!"));
    assert_int_equal(confirm(f, tok, code, "Other-Patient-99!"), IH_E_INVALID); /* used */
    char sql[120];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM password_history WHERE account_id = %lld", (long long)f->pat.actor.id);
    assert_int_equal(t_sql_int(f->b.s, sql), 2);
    ih_login_req lr = {.username = "pat.care", .password = "Fresh-Patient-88!", .ip = "127.0.0.1"};
    ih_login_result res;
    T_OK(ih_identity_login(f->id, &lr, &res));
}

static ih_err fill_fn(ih_tx *tx, void *arg)
{
    (void)arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO filler (x) VALUES (zeroblob(512))", &st));
    return ih_stmt_exec(st);
}

/* 19. When the audit journal cannot be written (a full disk), an audited
 * read answers 503 audit_unavailable and nothing of the record: the event
 * is durable before the answer leaves, or there is no answer. */
static void t_full_disk_read_is_audit_unavailable(void **state)
{
    fx *f = *state;
    int64_t v = request(f, "followup");
    if (f->b.kind == IH_STORE_SQLITE) {
        t_sql(f->b.s, "CREATE TABLE filler (x BLOB)");
        char sql[80];
        snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld",
                 (long long)t_sql_int(f->b.s, "SELECT page_count FROM pragma_page_count()"));
        t_sql(f->b.s, sql);
        /* and no free page left inside the file either */
        while (ih_store_write(f->b.s, fill_fn, NULL) == IH_OK) {
        }
        ih_err_clear();
    } else {
        /* the journal's rows reach the disk at commit: that is where it fails */
        t_sql(f->b.s, "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                      "RAISE EXCEPTION USING ERRCODE = 'disk_full', MESSAGE = 'could not extend file'; END $$");
        t_sql(f->b.s, "CREATE CONSTRAINT TRIGGER disk_full AFTER INSERT ON audit_event DEFERRABLE INITIALLY DEFERRED "
                      "FOR EACH ROW EXECUTE FUNCTION disk_full()");
    }
    /* reads go on until the journal's last free room is used up */
    ih_buf text = IH_BUF_INIT;
    ih_err e = IH_OK;
    for (int i = 0; i < 5000 && e == IH_OK; i++) {
        ih_buf_reset(&text);
        e = ih_visit_get(f->c, &f->pat, v, 0, 10, &text);
    }
    assert_int_equal(e, IH_E_AUDIT);
    assert_int_equal(ih_err_http_status(e), 503);
    assert_int_equal(text.len, 0);
    ih_buf_free(&text);
    ih_err_clear();
    if (f->b.kind == IH_STORE_SQLITE) {
        t_sql(f->b.s, "PRAGMA max_page_count = 1073741823");
        t_sql(f->b.s, "DROP TABLE filler");
    } else {
        t_sql(f->b.s, "DROP TRIGGER disk_full ON audit_event");
    }
    assert_string_equal(status_of(f, v), "requested");
}

static int64_t drug(fx *f, const char *code, const char *name, const char *allergy_class)
{
    json_t *o = NULL, *b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "hosp_code", code, "name", name,
                                     "spec", "0.25g*24粒", "unit", "盒", "manufacturer", "示例", "dosage_form", "胶囊剂",
                                     "drug_class", "1", "price", "8.50", "restricted", 0);
    if (allergy_class) json_object_set_new(b, "allergy_class", json_string(allergy_class));
    CALL(ih_drug_create(f->c, &f->sys, b, &o));
    int64_t id = json_integer_value(json_object_get(o, "id"));
    json_decref(b);
    json_decref(o);
    return id;
}

static ih_err prescribe(fx *f, int64_t v, int64_t drug_id, const char *override, int64_t *rx)
{
    json_t *o = NULL, *b = json_pack("{s:s, s:[s], s:[{s:I, s:s, s:s, s:s, s:s, s:i, s:i}]}", "recipe_type", "1",
                                     "diagnosis_codes", "I10.x00", "items", "drug_id", (json_int_t)drug_id, "route", "1",
                                     "frequency", "tid", "dosage", "0.5", "dose_unit", "g", "quantity", 1, "days", 5);
    if (override) json_object_set_new(b, "allergy_override", json_pack("{s:s}", "reason", override));
    ih_err e = ih_rx_issue(f->c, &f->doc, v, b, &o);
    if (rx) *rx = e == IH_OK ? json_integer_value(json_object_get(o, "id")) : 0;
    json_decref(b);
    json_decref(o);
    return e;
}

/* 14.8. A prescription follows the visit's record; a drug of a class the
 * patient is recorded as allergic to needs an override with a real reason
 * (audited); who reviewed does not dispense. */
static void t_clinical_safety(void **state)
{
    fx *f = *state;
    int64_t v = request(f, "followup"), rx;
    json_decref(DO(ih_visit_accept(f->c, &f->doc, v, body, &o__), "{s:b}", "followup_confirmed", 1));
    assert_int_equal(prescribe(f, v, f->drug, NULL, NULL), IH_E_STATE);
    assert_non_null(strstr(ih_err_public(), "medical record first"));
    write_record(f, v);
    /* the patient records a penicillin allergy; amoxicillin is one by its name,
     * the compound by its declared class */
    json_decref(DO(ih_patient_me_update(f->c, &f->pat, body, &o__), "{s:s}", "allergies", "阿莫西林、磺胺过敏"));
    int64_t amox = drug(f, "H90", "阿莫西林胶囊", NULL), smz = drug(f, "H91", "复方制剂甲", "sulfonamide");
    assert_int_equal(prescribe(f, v, amox, NULL, NULL), IH_E_STATE);
    assert_string_equal(ih_err_field(), "allergy_override");
    assert_non_null(strstr(ih_err_public(), "青霉素类"));
    assert_int_equal(prescribe(f, v, smz, NULL, NULL), IH_E_STATE);
    assert_non_null(strstr(ih_err_public(), "磺胺类"));
    assert_int_equal(prescribe(f, v, amox, "aaaaaaaaaa", NULL), IH_E_INVALID);
    ih_err_clear();
    T_OK(prescribe(f, v, amox, "皮试阴性，既往过敏史经核实为误报", &rx));
    assert_int_equal(t_sql_int(f->b.s, "SELECT count(*) FROM audit_event WHERE action = 'rx.allergy_override'"), 1);
    assert_int_equal(t_sql_int(f->b.s, "SELECT count(*) FROM prescription WHERE allergy_override_enc IS NOT NULL"), 1);
    T_OK(prescribe(f, v, f->drug, NULL, NULL)); /* amlodipine: no class the patient named */
    /* four eyes at the pharmacy */
    json_decref(DO(ih_rx_review(f->c, &f->ph, rx, body, &o__), "{s:s}", "decision", "approve"));
    json_t *o = NULL, *b = json_pack("{s:s}", "delivery_type", "0");
    assert_int_equal(ih_rx_dispense(f->c, &f->ph, rx, b, &o), IH_E_FORBIDDEN);
    json_decref(b);
    ih_err_clear();
    pay(f, v, rx);
    json_decref(DO(ih_rx_dispense(f->c, &f->ph2, rx, body, &o__), "{s:s}", "delivery_type", "0"));
    char sql[120];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM prescription WHERE id = %lld AND dispenser_id IS NOT NULL",
             (long long)rx);
    assert_int_equal(t_sql_int(f->b.s, sql), 1);
}

/* The isPay of the platform record `method` of prescription rx ("" if none). */
static const char *reported_pay(fx *f, const char *method)
{
    static char out[4];
    out[0] = '\0';
    json_t *l = NULL;
    T_OK(ih_report_list(f->r, NULL, 0, 100, &l));
    size_t i;
    json_t *row;
    ih_actor op = {.id = 0, .role = "console"};
    json_array_foreach(l, i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "method")), method)) continue;
        json_t *one = NULL;
        T_OK(ih_report_show(f->r, &op, json_integer_value(json_object_get(row, "id")), false, &one));
        const char *v = json_string_value(json_object_get(json_object_get(one, "record"), "isPay"));
        if (!v) fail_msg("%s: %s", method, json_string_value(json_object_get(row, "last_error")));
        snprintf(out, sizeof out, "%s", v);
        json_decref(one);
    }
    json_decref(l);
    return out;
}

/* 14.1. Only the channel's signed notification marks an order paid;
 * dispensing waits for it; the platform hears of the prescription when it is
 * final, with the pay state as it is; refunds go through the channel too. */
static void t_payment_confirmed_by_channel(void **state)
{
    fx *f = *state;
    int64_t v = accepted_visit(f), rx;
    T_OK(prescribe(f, v, f->drug, NULL, &rx));
    json_t *o = NULL, *b = json_pack("{s:s, s:I}", "channel", "wechat", "prescription_id", (json_int_t)rx);
    assert_int_equal(ih_payment_order(f->c, &f->pat, v, b, &o), IH_E_STATE); /* not approved yet */
    ih_err_clear();
    json_decref(DO(ih_rx_review(f->c, &f->ph, rx, body, &o__), "{s:s}", "decision", "approve"));
    assert_string_equal(reported_pay(f, "uploadRecipeIndicators"), ""); /* not final: not reported */
    CALL(ih_payment_order(f->c, &f->pat, v, b, &o));
    json_t *p = json_object_get(o, "payment");
    char order[48], amount[24];
    snprintf(order, sizeof order, "%s", json_string_value(json_object_get(p, "order_no")));
    snprintf(amount, sizeof amount, "%s", json_string_value(json_object_get(p, "amount")));
    assert_string_equal(json_string_value(json_object_get(p, "state")), "pending");
    assert_string_equal(amount, "21.50"); /* the server's: the prescription's total, not what anyone says */
    assert_non_null(json_object_get(json_object_get(o, "pay"), "prepay_id"));
    json_decref(o);
    /* the same pending order when asked again */
    CALL(ih_payment_order(f->c, &f->pat, v, b, &o));
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "payment"), "order_no")), order);
    json_decref(o);
    json_decref(b);
    /* not paid: no dispensing */
    b = json_pack("{s:s}", "delivery_type", "0");
    assert_int_equal(ih_rx_dispense(f->c, &f->ph2, rx, b, &o), IH_E_STATE);
    ih_err_clear();
    /* what does not verify changes nothing */
    assert_int_equal(channel_says(f, "paid", order, "T1", amount, NULL, 0, true), IH_E_AUTH_FAILED);
    assert_int_equal(channel_says(f, "paid", order, "T1", amount, NULL, -3600, false), IH_E_AUTH_FAILED);
    assert_int_equal(channel_says(f, "paid", order, "T1", "0.01", NULL, 0, false), IH_E_CONFLICT);
    ih_err_clear();
    assert_int_equal(ih_rx_dispense(f->c, &f->ph2, rx, b, &o), IH_E_STATE);
    ih_err_clear();
    /* the channel confirms, twice: one change */
    T_OK(channel_says(f, "paid", order, "T1", amount, NULL, 0, false));
    T_OK(channel_says(f, "paid", order, "T1", amount, NULL, 0, false));
    assert_int_equal(t_sql_int(f->b.s, "SELECT count(*) FROM audit_event WHERE action = 'payment.paid'"), 1);
    CALL(ih_rx_dispense(f->c, &f->ph2, rx, b, &o));
    json_decref(o);
    json_decref(b);
    assert_string_equal(reported_pay(f, "uploadRecipeIndicators"), "1");
    assert_string_equal(reported_pay(f, "uploadRecipeVerificationIndicators"), "1");
    /* a dispensed prescription is not refunded here */
    int64_t pid = t_sql_int(f->b.s, "SELECT max(id) FROM payment");
    b = json_pack("{s:s}", "reason", "患者要求退费，药品未取");
    assert_int_equal(ih_payment_refund(f->c, &f->sys, pid, b, &o), IH_E_STATE);
    json_decref(b);
    ih_err_clear();
    /* an approved prescription paid for, then expired: refunded through the channel */
    int64_t v2 = accepted_visit(f), rx2;
    T_OK(prescribe(f, v2, f->drug, NULL, &rx2));
    json_decref(DO(ih_rx_review(f->c, &f->ph, rx2, body, &o__), "{s:s}", "decision", "approve"));
    pay(f, v2, rx2);
    fake_now += 4 * 86400000LL;
    int n;
    T_OK(ih_rx_expire_due(f->c, &n));
    int64_t pid2 = t_sql_int(f->b.s, "SELECT max(id) FROM payment");
    json_t *r = DO(ih_payment_refund(f->c, &f->sys, pid2, body, &o__), "{s:s}", "reason", "处方过期未取药，退还药费");
    assert_string_equal(json_string_value(json_object_get(r, "state")), "refunding");
    char refund_no[48], order2[48], trade2[48];
    snprintf(refund_no, sizeof refund_no, "%s", json_string_value(json_object_get(r, "refund_no")));
    snprintf(order2, sizeof order2, "%s", json_string_value(json_object_get(r, "order_no")));
    snprintf(trade2, sizeof trade2, "%s", json_string_value(json_object_get(r, "trade_no")));
    snprintf(amount, sizeof amount, "%s", json_string_value(json_object_get(r, "amount")));
    json_decref(r);
    T_OK(channel_says(f, "refunded", order2, trade2, amount, refund_no, 0, false));
    r = NULL;
    CALL(ih_payment_get(f->c, &f->pat, pid2, &r));
    assert_string_equal(json_string_value(json_object_get(r, "state")), "refunded");
    json_decref(r);
    /* another patient's order is not theirs to read */
    assert_int_equal(ih_payment_get(f->c, &f->doc, pid2, &r), IH_E_FORBIDDEN);
    ih_err_clear();
}

/* The department list is whole however many there are: it is read in pages
 * (it once stopped silently at 1024). */
/* The ids of a list, as "1,2,3". */
static void ids_text(json_t *list, char *out, size_t n)
{
    size_t i, len = 0;
    json_t *x;
    out[0] = '\0';
    json_array_foreach(list, i, x)
    len += (size_t)snprintf(out + len, n - len, "%s%lld", i ? "," : "", (long long)json_integer_value(json_object_get(x, "id")));
}

/* Lists page newest first (a patient with years of follow-ups sees the
 * latest, not the first fifty), and a visit's prescriptions are asked for by
 * the visit (the console listed a doctor's first fifty and looked among
 * them for the visit's). */
static void t_lists_newest_first_and_by_visit(void **state)
{
    fx *f = *state;
    int64_t rx1, rx2;
    int64_t v1 = journey(f, &rx1), v2 = journey(f, &rx2);
    json_t *o;
    int64_t next;
    char got[64], want[64];
    CALL(ih_rx_list(f->c, &f->pat, NULL, v2, &(ih_page){.limit = 50}, &o, &next));
    ids_text(o, got, sizeof got);
    snprintf(want, sizeof want, "%lld", (long long)rx2);
    assert_string_equal(got, want);
    assert_int_equal(next, -1);
    json_decref(o);
    CALL(ih_rx_list(f->c, &f->doc, NULL, v1, &(ih_page){.limit = 50}, &o, NULL));
    ids_text(o, got, sizeof got);
    snprintf(want, sizeof want, "%lld", (long long)rx1);
    assert_string_equal(got, want);
    json_decref(o);
    /* newest first, a page of one at a time, for the doctor's prescriptions and the patient's visits */
    ih_page pg = {.newest = true, .limit = 1};
    CALL(ih_rx_list(f->c, &f->doc, NULL, 0, &pg, &o, &next));
    ids_text(o, got, sizeof got);
    snprintf(want, sizeof want, "%lld", (long long)rx2);
    assert_string_equal(got, want);
    assert_int_equal(next, rx2);
    json_decref(o);
    pg.before = next;
    CALL(ih_rx_list(f->c, &f->doc, NULL, 0, &pg, &o, &next));
    ids_text(o, got, sizeof got);
    snprintf(want, sizeof want, "%lld", (long long)rx1);
    assert_string_equal(got, want);
    json_decref(o);
    pg = (ih_page){.newest = true, .limit = 50};
    CALL(ih_visit_list(f->c, &f->pat, NULL, &pg, &o, &next));
    ids_text(o, got, sizeof got);
    snprintf(want, sizeof want, "%lld,%lld", (long long)v2, (long long)v1);
    assert_string_equal(got, want);
    assert_int_equal(next, -1);
    json_decref(o);
    pg = (ih_page){.limit = 1};
    CALL(ih_visit_list(f->c, &f->pat, NULL, &pg, &o, &next));
    ids_text(o, got, sizeof got);
    snprintf(want, sizeof want, "%lld", (long long)v1);
    assert_string_equal(got, want);
    assert_int_equal(next, v1);
    json_decref(o);
}

static void t_department_list_whole(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 1100; i++) {
        char code[16];
        snprintf(code, sizeof code, "D%04d", i);
        json_t *o = DO(ih_department_create(f->c, &f->sys, body, &o__), "{s:s, s:s, s:s, s:s, s:s}", "code", code,
                       "name", "科室", "subject_code", "03.04", "category_code", "03", "kind", "clinical");
        json_decref(o);
    }
    json_t *l = NULL;
    CALL(ih_department_list(f->c, false, &l));
    assert_int_equal(json_array_size(l), 1101); /* with the fixture's NK */
    const char *prev = "";
    size_t i;
    json_t *d;
    json_array_foreach(l, i, d)
    {
        const char *code = json_string_value(json_object_get(d, "code"));
        assert_true(strcmp(prev, code) < 0);
        prev = code;
    }
    json_decref(l);
}

/* 登记医务人员 offers the active clinical accounts with no staff record,
 * newest first, however many registered ones lie between them: a page of one
 * walks past two registered doctors to the nurse behind them. */
static void t_staff_candidates_skip_registered(void **state)
{
    fx *f = *state;
    int64_t older = account(f, "nurse.old", IH_ROLE_NURSE), s1, s2;
    new_staff(f, "doc.reg1", IH_ROLE_DOCTOR, f->dep, "11010119800101031", "233", false, &s1);
    new_staff(f, "doc.reg2", IH_ROLE_DOCTOR, f->dep, "11010119800101033", "233", false, &s2);
    int64_t newer = account(f, "nurse.new", IH_ROLE_NURSE);
    account(f, "patient.acct", IH_ROLE_PATIENT);
    ih_account_new pending = {.username = "doc.pending", .role = IH_ROLE_DOCTOR, .password = "Care-Test-Pass-77!"};
    int64_t pid;
    T_OK(ih_identity_create(f->id, &f->sys.actor, &pending, NULL, &pid));
    json_t *l = NULL;
    CALL(ih_staff_candidates(f->c, &f->sys, 0, 100, &l));
    assert_int_equal(json_array_size(l), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "id")), newer);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 1), "id")), older);
    json_decref(l);
    CALL(ih_staff_candidates(f->c, &f->sys, 0, 1, &l));
    assert_int_equal(json_array_size(l), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "id")), newer);
    json_decref(l);
    CALL(ih_staff_candidates(f->c, &f->sys, newer, 1, &l));
    assert_int_equal(json_array_size(l), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "id")), older);
    json_decref(l);
    CALL(ih_staff_candidates(f->c, &f->sys, older, 1, &l)); /* only the fixture's registered staff below */
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
}

#define CASES(s)                                                                                                      \
    cmocka_unit_test_setup_teardown(t_unanswered_request_expires, s, teardown),                                       \
        cmocka_unit_test_setup_teardown(t_approved_prescription_expires, s, teardown),                               \
        cmocka_unit_test_setup_teardown(t_past_shift_not_bookable, s, teardown),                                     \
        cmocka_unit_test_setup_teardown(t_rotation_reseals_every_care_table, s, teardown),                           \
        cmocka_unit_test_setup_teardown(t_forged_rows_grant_nothing, s, teardown),                                   \
        cmocka_unit_test_setup_teardown(t_suspension_ends_clinical_authority, s, teardown),                          \
        cmocka_unit_test_setup_teardown(t_replayed_rows_are_refused, s, teardown),                                   \
        cmocka_unit_test_setup_teardown(t_free_text_sealed_never_journaled, s, teardown),                            \
        cmocka_unit_test_setup_teardown(t_break_glass_limits_and_review, s, teardown),                               \
        cmocka_unit_test_setup_teardown(t_sms_codes_register_and_reset, s, teardown),                                \
        cmocka_unit_test_setup_teardown(t_full_disk_read_is_audit_unavailable, s, teardown),                         \
        cmocka_unit_test_setup_teardown(t_clinical_safety, s, teardown),                                             \
        cmocka_unit_test_setup_teardown(t_payment_confirmed_by_channel, s, teardown),                                \
        cmocka_unit_test_setup_teardown(t_department_list_whole, s, teardown),                                       \
        cmocka_unit_test_setup_teardown(t_lists_newest_first_and_by_visit, s, teardown),                            \
        cmocka_unit_test_setup_teardown(t_message_parties_checked, s, teardown),                                     \
        cmocka_unit_test_setup_teardown(t_staff_candidates_skip_registered, s, teardown)

int main(void)
{
    ih_log_setup("stderr", IH_LOG_ERROR + 1, "test");
    ih_json_init();
    if (ih_crypto_init() != IH_OK) return 1;
    const struct CMUnitTest plain[] = {cmocka_unit_test(t_view_text_matches_objects),
                                       cmocka_unit_test(t_code_tables_listed)};
    if (cmocka_run_group_tests_name("care/views", plain, NULL, NULL)) return 1;
    const struct CMUnitTest sq[] = {CASES(setup_sqlite)};
    const struct CMUnitTest pg[] = {CASES(setup_pg)};
    int rc = cmocka_run_group_tests_name("care/sqlite", sq, NULL, NULL);
    rc += cmocka_run_group_tests_name("care/postgres", pg, NULL, NULL);
    return rc;
}
