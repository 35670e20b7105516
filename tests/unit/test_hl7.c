/* test_hl7.c — the exchange's building blocks: HL7 v2 parsing (delimiters,
 * addressing, escapes, limits, GB18030), MLLP framing (split reads, several
 * frames per read, junk, oversize and malformed frames), the peers file,
 * the outbound writer and the reading of a peer's ACK; how often the PACS is
 * asked about an order still waiting for its study; a DICOM waveform's
 * samples decoded, in microvolts, and the waveforms refused.
 * All people are synthetic. */
#include "support.h"

#include "exchange/hl7.h"
#include "exchange/mllp.h"
#include "exchange/outbound.h"
#include "exchange/pacs.h"
#include "exchange/peers.h"
#include "exchange/waveform.h"
#include "exchange/wsi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ih_buf v = IH_BUF_INIT; /* freed in main */

static const char *get(const ih_hl7 *m, const char *seg, int field, int rep, int comp, int sub)
{
    ih_err e;
    if (!ih_hl7_get(m, ih_hl7_find(m, seg, 0), field, rep, comp, sub, &v, &e)) return e == IH_OK ? NULL : "<error>";
    return v.p;
}

#define ADT                                                                                                           \
    "MSH|^~\\&|HIS|HOSP|IHOS|IH|20261201120000||ADT^A04^ADT_A01|MSG0001|P|2.5.1|||||CHN|UNICODE UTF-8\r"              \
    "EVN|A04|20261201120000\r"                                                                                       \
    "PID|1||MRN123^^^HIS^MR~110101199003071234^^^^ID||张^三^^^^^L||19900307|M|||北京市东城区^^北京^^100010\r"        \
    "PV1|1|O|0301^^^内科||||D001^李^四\r"

static void t_parse_and_address(void **state)
{
    (void)state;
    ih_hl7 *m;
    T_OK(ih_hl7_parse(ADT, strlen(ADT), &m));
    assert_int_equal(ih_hl7_segment_count(m), 4);
    assert_string_equal(ih_hl7_segment_name(m, 2), "PID");
    assert_string_equal(get(m, "MSH", 1, 1, 1, 1), "|");
    assert_string_equal(get(m, "MSH", 2, 1, 1, 1), "^~\\&");
    assert_string_equal(get(m, "MSH", 3, 1, 1, 1), "HIS");
    assert_string_equal(get(m, "MSH", 9, 1, 1, 1), "ADT");
    assert_string_equal(get(m, "MSH", 9, 1, 2, 1), "A04");
    assert_string_equal(get(m, "MSH", 10, 1, 1, 1), "MSG0001");
    assert_string_equal(get(m, "MSH", 12, 1, 1, 1), "2.5.1");
    assert_null(get(m, "MSH", 8, 1, 1, 1));  /* empty */
    assert_null(get(m, "MSH", 40, 1, 1, 1)); /* beyond the last field */
    assert_int_equal(ih_hl7_reps(m, ih_hl7_find(m, "PID", 0), 3), 2);
    assert_string_equal(get(m, "PID", 3, 1, 1, 1), "MRN123");
    assert_string_equal(get(m, "PID", 3, 1, 5, 1), "MR");
    assert_string_equal(get(m, "PID", 3, 2, 1, 1), "110101199003071234");
    assert_string_equal(get(m, "PID", 3, 2, 5, 1), "ID");
    assert_null(get(m, "PID", 3, 3, 1, 1));
    assert_string_equal(get(m, "PID", 5, 1, 1, 1), "张");
    assert_string_equal(get(m, "PID", 5, 1, 2, 1), "三");
    assert_string_equal(get(m, "PID", 11, 1, 3, 1), "北京");
    assert_string_equal(get(m, "PV1", 3, 1, 4, 1), "内科");
    assert_int_equal(ih_hl7_find(m, "OBX", 0), -1);
    assert_true(ih_hl7_value(m, "PV1", 7, 2, &v));
    assert_string_equal(v.p, "李");
    ih_hl7_free(m);
}

static void t_escapes_and_delimiters(void **state)
{
    (void)state;
    const char *msg = "MSH|^~\\&|A|B|C|D|20261201||ORU^R01|2|P|2.4\r"
                      "OBX|1|TX|||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X41\\\\.br\\g\\H\\h\\N\\\\Zq\\|N\r";
    ih_hl7 *m;
    T_OK(ih_hl7_parse(msg, strlen(msg), &m));
    assert_string_equal(get(m, "OBX", 5, 1, 1, 1), "a|b^c&d~e\\fA\ngh\\Zq\\");
    ih_hl7_free(m);
    /* an escape that decodes to a NUL, or to bytes that are not UTF-8, is refused */
    const char *bad[] = {"MSH|^~\\&|A|B|C|D|1||ORU^R01|3|P|2.4\rOBX|1|TX|||x\\X00\\y\r",
                         "MSH|^~\\&|A|B|C|D|1||ORU^R01|3|P|2.4\rOBX|1|TX|||x\\XFF\\y\r",
                         "MSH|^~\\&|A|B|C|D|1||ORU^R01|3|P|2.4\rOBX|1|TX|||x\\XZZ\\y\r"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        T_OK(ih_hl7_parse(bad[i], strlen(bad[i]), &m));
        assert_string_equal(get(m, "OBX", 5, 1, 1, 1), "<error>");
        ih_hl7_free(m);
    }
    /* other delimiters, from MSH-1 and MSH-2; LF and CRLF segment ends */
    const char *alt = "MSH#$%*@#A#B\r\nPID#1##X$Y%Z$W@V*Q\nNTE#1##line *T* one\r\r";
    T_OK(ih_hl7_parse(alt, strlen(alt), &m));
    assert_int_equal(ih_hl7_segment_count(m), 3);
    assert_string_equal(get(m, "MSH", 1, 1, 1, 1), "#");
    assert_string_equal(get(m, "PID", 3, 1, 2, 1), "Y");
    assert_string_equal(get(m, "PID", 3, 2, 1, 1), "Z");
    assert_string_equal(get(m, "PID", 3, 2, 2, 2), "V*Q"); /* a lone escape character stays as written */
    assert_string_equal(get(m, "NTE", 3, 1, 1, 1), "line @ one");
    /* what we escape parses back to itself */
    ih_buf out = IH_BUF_INIT;
    const char *text = "A#B$C%D*E@F\r\nG";
    T_OK(ih_buf_puts(&out, "MSH#$%*@#X\rNTE#1##"));
    T_OK(ih_hl7_escape(&out, text, ih_hl7_delims_of(m)));
    ih_hl7_free(m);
    T_OK(ih_hl7_parse(out.p, out.len, &m));
    assert_string_equal(get(m, "NTE", 3, 1, 1, 1), "A#B$C%D*E@F\nG");
    ih_hl7_free(m);
    ih_buf_free(&out);
}

static void t_refusals(void **state)
{
    (void)state;
    ih_hl7 *m = NULL;
    const char *cases[] = {"PID|1||X\r", "MSH", "MSH|^~\\&", "MSH|^~\\&\\|A\r", "MSH|^^\\&|A\r", "MSH|^~\\&|A\rP1\r",
                           "MSH|^~\\&|A\rpid|1\r", "MSH|^~\\&|A\rPIDX|1\r"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(ih_hl7_parse(cases[i], strlen(cases[i]), &m), IH_E_INVALID);
        assert_null(m);
        ih_err_clear();
    }
    assert_int_equal(ih_hl7_parse("MSH|^~\\&|\xff\r", 11, &m), IH_E_INVALID);
    assert_int_equal(ih_hl7_parse("MSH|^~\\&|A\0B\r", 12, &m), IH_E_INVALID);
    ih_buf big = IH_BUF_INIT;
    T_OK(ih_buf_puts(&big, "MSH|^~\\&|A\rOBX"));
    for (int i = 0; i < IH_HL7_MAX_FIELDS + 1; i++) T_OK(ih_buf_puts(&big, "|x"));
    assert_int_equal(ih_hl7_parse(big.p, big.len, &m), IH_E_TOO_LARGE);
    ih_buf_reset(&big);
    T_OK(ih_buf_puts(&big, "MSH|^~\\&|A\r"));
    for (int i = 0; i < IH_HL7_MAX_SEGMENTS; i++) T_OK(ih_buf_puts(&big, "NTE|1\r"));
    assert_int_equal(ih_hl7_parse(big.p, big.len, &m), IH_E_TOO_LARGE);
    ih_buf_free(&big);
    ih_err_clear();
}

static void t_gb18030(void **state)
{
    (void)state;
    /* 倈 is 82 7C and 俓 is 82 5C in GB18030: a byte parser would see '|' and '\' */
    const char *utf8 = "MSH|^~\\&|HIS|H|IHOS|I|1||ADT^A04|9|P|2.4\rPID|1||M9^^^HIS^MR||王^倈俓\r";
    ih_buf gb = IH_BUF_INIT, back = IH_BUF_INIT;
    T_OK(ih_hl7_from_utf8("GB18030", utf8, strlen(utf8), &gb));
    assert_non_null(memmem(gb.p, gb.len, "\x82\x7c\x82\x5c", 4));
    T_OK(ih_hl7_to_utf8("GB18030", gb.p, gb.len, &back));
    assert_string_equal(back.p, utf8);
    ih_hl7 *m;
    T_OK(ih_hl7_parse(back.p, back.len, &m));
    assert_string_equal(get(m, "PID", 5, 1, 2, 1), "倈俓");
    ih_hl7_free(m);
    assert_int_equal(ih_hl7_to_utf8("UTF-8", gb.p, gb.len, &back), IH_E_INVALID); /* a peer set up wrongly */
    assert_int_equal(ih_hl7_to_utf8("GB18030", "\x82", 1, &back), IH_E_INVALID);  /* truncated */
    assert_int_equal(ih_hl7_to_utf8("EBCDIC", "x", 1, &back), IH_E_CONFIG);
    ih_err_clear();
    ih_buf_free(&gb);
    ih_buf_free(&back);
}

typedef struct {
    int ok, too_large, invalid;
    char last[64];
} frames;

static ih_err on_frame(void *ctx, ih_err status, const char *p, size_t n)
{
    frames *f = ctx;
    if (status == IH_E_TOO_LARGE) f->too_large++;
    else if (status == IH_E_INVALID) f->invalid++;
    else {
        f->ok++;
        snprintf(f->last, sizeof f->last, "%.*s", (int)n, p);
    }
    return IH_OK;
}

static void t_mllp(void **state)
{
    (void)state;
    ih_mllp fr;
    ih_mllp_init(&fr, 32);
    frames f = {0};
    ih_buf w = IH_BUF_INIT;
    T_OK(ih_mllp_wrap("MSH|one", 7, &w));
    T_OK(ih_mllp_wrap("MSH|two", 7, &w));
    /* two frames in one read */
    T_OK(ih_mllp_feed(&fr, (const uint8_t *)w.p, w.len, on_frame, &f));
    assert_int_equal(f.ok, 2);
    assert_string_equal(f.last, "MSH|two");
    /* one frame split byte by byte, junk (CR LF) between frames */
    T_OK(ih_mllp_feed(&fr, (const uint8_t *)"\r\n", 2, on_frame, &f));
    for (size_t i = 0; i < 10; i++) T_OK(ih_mllp_feed(&fr, (const uint8_t *)w.p + i, 1, on_frame, &f));
    assert_int_equal(f.ok, 3);
    assert_string_equal(f.last, "MSH|one");
    /* too large: refused once, skipped to its end, the next one read normally */
    ih_buf big = IH_BUF_INIT;
    char payload[100];
    memset(payload, 'x', sizeof payload);
    T_OK(ih_mllp_wrap(payload, sizeof payload, &big));
    T_OK(ih_mllp_wrap("MSH|after", 9, &big));
    T_OK(ih_mllp_feed(&fr, (const uint8_t *)big.p, 50, on_frame, &f));
    T_OK(ih_mllp_feed(&fr, (const uint8_t *)big.p + 50, big.len - 50, on_frame, &f));
    assert_int_equal(f.too_large, 1);
    assert_int_equal(f.ok, 4);
    assert_string_equal(f.last, "MSH|after");
    /* 0x1C not followed by CR; 0x0B inside a frame */
    T_OK(ih_mllp_feed(&fr, (const uint8_t *)"\x0bMSH|bad\x1cX\x0bMSH|x\x0bMSH|good\x1c\r", 27, on_frame, &f));
    assert_int_equal(f.invalid, 2);
    assert_int_equal(f.ok, 5);
    assert_string_equal(f.last, "MSH|good");
    ih_buf_free(&w);
    ih_buf_free(&big);
    ih_mllp_free(&fr);
}

static void t_peers(void **state)
{
    (void)state;
    ih_peers ps;
    char err[512];
    const char *good = "# the hospital's HIS\n[peer his]\naddress = 10.1.2.3:2575\nlisten = 0.0.0.0:2576\ncharset = GB18030\n"
                       "version = 2.4\nsending_application = HIS\nsending_facility = HOSP\nreceiving_application = IHOS\n"
                       "receiving_facility = IH\naccept = ADT^A04,ORU^R01\nsend = OML^O21,DFT^P03\n"
                       "allow_from = 10.1.2.3, 10.1.8.0/24\n"
                       "[peer lis]\naddress = 127.0.0.1:2577\ntls = false\ncharset = UTF-8\nversion = 2.5.1\n"
                       "sending_application = LIS\nreceiving_application = IHOS\n"
                       "[peer pacs-ris]\naddress = 192.0.2.9:104\ntls = false\ntrusted_network = true\ncharset = UTF-8\n"
                       "version = 2.3\nsending_application = RIS\nreceiving_application = IHOS\n";
    T_OK(ih_peers_parse(good, "exchange.conf", &ps, err, sizeof err));
    assert_int_equal(ps.n, 3);
    assert_string_equal(ps.p[0].name, "his");
    assert_true(ps.p[0].tls); /* the default */
    assert_string_equal(ps.p[0].charset, "GB18030");
    assert_string_equal(ps.p[0].send, "OML^O21,DFT^P03");
    assert_string_equal(ps.p[0].orders, "lab,imaging"); /* the defaults */
    assert_int_equal(ps.p[0].retry_max_s, 300);
    assert_int_equal(ps.p[0].ack_timeout_s, 30);
    assert_false(ps.p[1].tls);
    assert_true(ps.p[2].trusted_network);
    assert_int_equal(ps.p[0].allow_from.n, 2);
    assert_true(ih_cidr_match(&ps.p[0].allow_from, "10.1.8.77"));
    assert_false(ih_cidr_match(&ps.p[0].allow_from, "10.1.2.4"));
    assert_string_equal(ps.p[0].allow_text, "10.1.2.3, 10.1.8.0/24");
    assert_int_equal(ps.p[1].allow_from.n, 0); /* none given: any address */
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"[peer his]\naddress = 10.1.2.3:2575\ntls = false\ncharset = UTF-8\nversion = 2.4\n"
         "sending_application = HIS\nreceiving_application = IHOS\n",
         "exchange.conf:7: peer his is not on loopback: it needs tls = true"},
        {"[peer his]\nadress = 1.2.3.4:1\n", "exchange.conf:2: unknown key 'adress'"},
        {"[peer his]\naddress = 1.2.3.4:1\naddress = 1.2.3.4:2\n", "exchange.conf:3: 'address' given twice"},
        {"[peer his]\naddress = 1.2.3.4:99999\n", "exchange.conf:2: 'address' must be HOST:PORT"},
        {"[peer his]\naddress = a b:1\n", "exchange.conf:2: 'address' must be HOST:PORT"},
        {"[peer his]\ncharset = latin1\n", "exchange.conf:2: charset must be UTF-8 or GB18030"},
        {"[peer his]\naccept = ADT|A04\n", "exchange.conf:2: 'accept': message types like ADT^A04,ORU^R01"},
        {"[peer his]\nsending_application = H|S\n", "exchange.conf:2: 'sending_application': 1 to 63 characters"},
        {"[peers]\naddress = 1.2.3.4:1\n", "exchange.conf:2: unknown section [peers]"},
        {"[peer His]\naddress = 1.2.3.4:1\n", "exchange.conf:2: peer name 'His'"},
        {"address = 1.2.3.4:1\n", "exchange.conf:1: 'address' outside a [peer NAME] section"},
        {"[peer a]\naddress = 127.0.0.1:1\n", "exchange.conf:2: peer a: charset, version"},
        {"[peer a]\nnot a line\n", "exchange.conf:2: not a key = value line"},
        {"[peer a]\nlisten = 127.0.0.1:1\ncharset = UTF-8\nversion = 2.4\nsending_application = A\n"
         "receiving_application = B\nsend = OML^O21\n",
         "exchange.conf:7: peer a: send needs address"},
        {"[peer a]\norders = blood\n", "exchange.conf:2: orders: lab, imaging or lab,imaging"},
        {"[peer a]\nretry_max = 0\n", "exchange.conf:2: 'retry_max': seconds, 1 to 3600"},
        {"[peer a]\nack_timeout = 5s\n", "exchange.conf:2: 'ack_timeout': seconds, 1 to 600"},
        /* a listener off loopback says who may connect (by certificate or by address) */
        {"[peer a]\nlisten = 0.0.0.0:2576\ncharset = UTF-8\nversion = 2.4\nsending_application = A\n"
         "receiving_application = B\n",
         "exchange.conf:6: peer a listens off loopback: say who may connect"},
        {"[peer a]\nallow_from = 10.1.2.300\n", "exchange.conf:2: allow_from: addresses or ranges"},
        {"[peer a]\nallow_from = \n", "exchange.conf:2: allow_from: addresses or ranges"},
        {"[peer a]\naddress = 10.1.2.3:2575\nallow_from = 10.1.2.3\ncharset = UTF-8\nversion = 2.4\n"
         "sending_application = A\nreceiving_application = B\n",
         "exchange.conf:7: peer a: allow_from needs listen"},
        /* keys after a refused section are not taken into no peer (found by fuzz_peers) */
        {"[peer h\x11s]\naddress = 1.2.3.4:1\ncharset = UTF-8\n[peer b]\nlisten = 1.2.3.4:1\n",
         "exchange.conf:2: peer name 'h\x11s'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ih_peers_parse(bad[i].text, "exchange.conf", &ps, err, sizeof err), IH_E_CONFIG);
        if (strncmp(err, bad[i].msg, strlen(bad[i].msg))) fail_msg("case %zu: got \"%s\"", i, err);
        assert_int_equal(ps.n, 0);
        ih_err_clear();
    }
    T_OK(ih_peers_load("/nonexistent/exchange.conf", &ps, err, sizeof err)); /* no file: no peers */
    assert_int_equal(ps.n, 0);
    assert_true(ih_peer_loopback("127.0.0.1:2575"));
    assert_true(ih_peer_loopback("[::1]:2575"));
    assert_false(ih_peer_loopback("10.0.0.1:2575"));
}

/* What ihos sends: the fields a HIS reads, escaped, the peer's charset. */
static void t_outbound(void **state)
{
    (void)state;
    ih_peer p = {.name = "his", .charset = "UTF-8", .version = "2.5", .sending_app = "HIS",
                 .sending_facility = "HOSP", .receiving_app = "IHOS", .receiving_facility = "IH"};
    json_t *f = json_pack("{s:s, s:I, s:{s:I, s:s, s:s, s:s, s:s}, s:{s:I, s:s}, s:{s:s},"
                          " s:{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}}",
                          "mrn", "MRN|7", "visit_id", (json_int_t)12, "patient", "id", (json_int_t)3, "name", "张三",
                          "cert_no", "110101199003071234", "sex", "2", "birth_date", "1990-03-07", "doctor", "id",
                          (json_int_t)5, "name", "李四", "department", "name", "内科", "order", "id", (json_int_t)9,
                          "kind", "imaging", "order_no", "IHO9", "code", "CT001", "name", "胸部CT^平扫", "note",
                          "咳嗽\n两周", "accession", "A2612010000009", "modality", "CT", "created_at",
                          (json_int_t)1796083200000);
    ih_buf out = IH_BUF_INIT;
    /* 2026-12-01 00:00 UTC is 08:00 in UTC+8 */
    T_OK(ih_outbound_build(&p, "OMG^O19", "IHOS77", f, 1796083200000, 480, &out));
    ih_hl7 *m;
    T_OK(ih_hl7_parse(out.p, out.len, &m));
    assert_string_equal(get(m, "MSH", 3, 1, 1, 1), "IHOS");
    assert_string_equal(get(m, "MSH", 5, 1, 1, 1), "HIS");
    assert_string_equal(get(m, "MSH", 7, 1, 1, 1), "20261201080000+0800");
    assert_string_equal(get(m, "MSH", 9, 1, 3, 1), "OMG_O19");
    assert_string_equal(get(m, "MSH", 10, 1, 1, 1), "IHOS77");
    assert_string_equal(get(m, "MSH", 18, 1, 1, 1), "UNICODE UTF-8");
    assert_string_equal(get(m, "PID", 3, 1, 1, 1), "MRN|7"); /* escaped, read back whole */
    assert_string_equal(get(m, "PID", 3, 2, 4, 1), "IHOS");
    assert_string_equal(get(m, "PID", 3, 3, 1, 1), "110101199003071234");
    assert_string_equal(get(m, "PID", 3, 3, 5, 1), "NI");
    assert_string_equal(get(m, "PID", 7, 1, 1, 1), "19900307");
    assert_string_equal(get(m, "PID", 8, 1, 1, 1), "F");
    assert_string_equal(get(m, "PV1", 19, 1, 1, 1), "12");
    assert_string_equal(get(m, "ORC", 2, 1, 1, 1), "IHO9");
    assert_string_equal(get(m, "OBR", 4, 1, 2, 1), "胸部CT^平扫");
    assert_string_equal(get(m, "OBR", 13, 1, 1, 1), "咳嗽\n两周");
    assert_string_equal(get(m, "OBR", 18, 1, 1, 1), "A2612010000009");
    assert_string_equal(get(m, "OBR", 24, 1, 1, 1), "CT");
    assert_int_equal(ih_hl7_segment_count(m), 5); /* MSH PID PV1 ORC OBR: the line break stayed inside */
    ih_hl7_free(m);
    /* v2.3: no message structure; the same fact as ORM^O01 */
    snprintf(p.version, sizeof p.version, "2.3");
    ih_buf_reset(&out);
    T_OK(ih_outbound_build(&p, "ORM^O01", "IHOS78", f, 1796083200000, 480, &out));
    T_OK(ih_hl7_parse(out.p, out.len, &m));
    assert_null(get(m, "MSH", 9, 1, 3, 1));
    assert_string_equal(get(m, "OBR", 18, 1, 1, 1), "A2612010000009");
    assert_string_equal(get(m, "ORC", 1, 1, 1, 1), "NW");
    ih_hl7_free(m);
    /* the doctor withdrew it: ORC-1 CA, ORC-9 when, ORC-16 why (escaped) */
    json_t *o = json_object_get(f, "order");
    json_object_set_new(o, "status", json_string("cancelled"));
    json_object_set_new(o, "cancel_reason", json_string("开错了|重开"));
    json_object_set_new(o, "cancelled_at", json_integer(1796086800000));
    ih_buf_reset(&out);
    T_OK(ih_outbound_build(&p, "ORM^O01", "IHOS80", f, 1796086800000, 480, &out));
    T_OK(ih_hl7_parse(out.p, out.len, &m));
    assert_string_equal(get(m, "ORC", 1, 1, 1, 1), "CA");
    assert_string_equal(get(m, "ORC", 2, 1, 1, 1), "IHO9");
    assert_string_equal(get(m, "ORC", 9, 1, 1, 1), "20261201090000+0800");
    assert_string_equal(get(m, "ORC", 16, 1, 2, 1), "开错了|重开");
    assert_string_equal(get(m, "OBR", 2, 1, 1, 1), "IHO9");
    ih_hl7_free(m);
    assert_int_equal(ih_outbound_build(&p, "ADT^A04", "IHOS79", f, 0, 0, &out), IH_E_INTERNAL);
    ih_err_clear();
    json_decref(f);
    ih_buf_free(&out);

    /* the answers */
    ih_ack_reply ack;
    const char *aa = "MSH|^~\\&|HIS|HOSP|IHOS|IH|20261201||ACK|A1|P|2.5\rMSA|AA|IHOS77\r";
    assert_int_equal(ih_outbound_ack(aa, strlen(aa), "IHOS77", &ack), IH_ACK_ACCEPTED);
    assert_string_equal(ack.code, "AA");
    assert_int_equal(ih_outbound_ack(aa, strlen(aa), "IHOS76", &ack), IH_ACK_PROTOCOL);
    const char *ae = "MSH|^~\\&|HIS|HOSP|IHOS|IH|20261201||ACK|A2|P|2.5\rMSA|AE|IHOS77|bad\rERR|||207|E||||未知项目\r";
    assert_int_equal(ih_outbound_ack(ae, strlen(ae), "IHOS77", &ack), IH_ACK_REFUSED);
    assert_string_equal(ack.code, "AE");
    assert_string_equal(ack.error, "207");
    assert_string_equal(ack.text, "未知项目");
    /* v2.3: the code in ERR-1.4; a code that is no token is not shown */
    const char *ae23 = "MSH|^~\\&|HIS|HOSP|IHOS|IH|20261201||ACK|A4|P|2.3\rMSA|AE|IHOS77|张三 不存在\rERR|PID^1^3^204\r";
    assert_int_equal(ih_outbound_ack(ae23, strlen(ae23), "IHOS77", &ack), IH_ACK_REFUSED);
    assert_string_equal(ack.error, "204");
    const char *odd_code = "MSH|^~\\&|HIS|HOSP|IHOS|IH|20261201||ACK|A5|P|2.5\rMSA|AR|IHOS77\rERR|||张三|E\r";
    assert_int_equal(ih_outbound_ack(odd_code, strlen(odd_code), "IHOS77", &ack), IH_ACK_REFUSED);
    assert_string_equal(ack.error, "");
    const char *odd = "MSH|^~\\&|HIS|HOSP|IHOS|IH|20261201||ACK|A3|P|2.5\rMSA|ZZ|IHOS77\r";
    assert_int_equal(ih_outbound_ack(odd, strlen(odd), "IHOS77", &ack), IH_ACK_PROTOCOL);
    assert_int_equal(ih_outbound_ack("junk", 4, "IHOS77", &ack), IH_ACK_PROTOCOL);
    ih_err_clear();
}

static void t_pacs_schedule(void **state)
{
    (void)state;
    const int64_t MIN = 60000, HOUR = 60 * MIN;
    assert_int_equal(ih_pacs_query_every_ms(0, 5), 5000);           /* just ordered: every poll */
    assert_int_equal(ih_pacs_query_every_ms(9 * MIN, 5), 5000);
    assert_int_equal(ih_pacs_query_every_ms(10 * MIN, 5), MIN);     /* then once a minute */
    assert_int_equal(ih_pacs_query_every_ms(23 * HOUR, 5), MIN);
    assert_int_equal(ih_pacs_query_every_ms(24 * HOUR, 5), 10 * MIN); /* after a day, every ten minutes */
    assert_int_equal(ih_pacs_query_every_ms(30 * 24 * HOUR, 5), 10 * MIN);
    assert_int_equal(ih_pacs_query_every_ms(11 * MIN, 120), 120000);   /* never more often than configured */
    assert_int_equal(ih_pacs_query_every_ms(0, 0), 5000);              /* unset: the default */
    assert_int_equal(ih_pacs_query_every_ms(-5000, 5), 5000);          /* a clock behind the order's time */
}

/* ---- DICOM waveforms, as Orthanc's /tags gives them ------------------------------------------ */

static json_t *tagv(const char *val) { return json_pack("{s:s, s:s}", "Type", "String", "Value", val); }
static json_t *seq1(json_t *item) { return json_pack("{s:s, s:[o]}", "Type", "Sequence", "Value", item); }

/* A channel definition; NULL leaves a tag out. */
static json_t *channel(const char *label, const char *sens, const char *unit, const char *base)
{
    json_t *d = json_pack("{s:o}", "003a,0208", seq1(json_pack("{s:o}", "0008,0104", tagv(label))));
    if (sens) json_object_set_new(d, "003a,0210", tagv(sens));
    if (unit) json_object_set_new(d, "003a,0211", seq1(json_pack("{s:o}", "0008,0100", tagv(unit))));
    if (base) json_object_set_new(d, "003a,0213", tagv(base));
    return d;
}

/* Two channels of `ns` samples at 500 Hz; the second's sensitivity, unit
 * and baseline as given. */
static json_t *group(const char *ns, const char *sens2, const char *unit2, const char *base2)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:{s:[o, o]}}", "003a,0005", tagv("2"), "003a,0010", tagv(ns),
                     "003a,001a", tagv("500"), "5400,1004", tagv("16"), "5400,1006", tagv("SS"), "003a,0200", "Value",
                     channel("Lead I", "1", "uV", NULL), channel("Lead II", sens2, unit2, base2));
}

/* 3 samples, multiplexed: (100, 5), (-200, -5), (300, 32767), little-endian */
static const uint8_t RAW[] = {0x64, 0x00, 0x05, 0x00, 0x38, 0xff, 0xfb, 0xff, 0x2c, 0x01, 0xff, 0x7f};

static ih_err decode(json_t *g, size_t n, json_t **out)
{
    *out = NULL;
    ih_err e = ih_waveform_decode(g, RAW, n, out);
    json_decref(g);
    return e;
}

static json_int_t sample(const json_t *w, size_t ch, size_t k)
{
    return json_integer_value(json_array_get(json_object_get(json_array_get(json_object_get(w, "channels"), ch), "samples"), k));
}

/* Each sample in microvolts: (stored + baseline) x sensitivity x correction
 * x the unit's microvolts; a channel in millivolts is not read as
 * microvolts, and what cannot be a voltage drawn to scale is refused — a
 * sensitivity of 1e300 or NaN, a pressure channel, a count that is not a
 * number, fewer bytes than samples. */
static void t_waveform_decode(void **state)
{
    (void)state;
    json_t *w;
    T_OK(decode(group("3", "2.5", "mV", "-5"), sizeof RAW, &w));
    assert_int_equal((int)json_real_value(json_object_get(w, "frequency")), 500);
    assert_string_equal(json_string_value(json_object_get(w, "unit")), "uV");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(w, "channels"), 1), "label")),
                        "Lead II");
    assert_int_equal(sample(w, 0, 0), 100);
    assert_int_equal(sample(w, 0, 1), -200);
    assert_int_equal(sample(w, 0, 2), 300);
    assert_int_equal(sample(w, 1, 0), 0);
    assert_int_equal(sample(w, 1, 1), -25000);
    assert_int_equal(sample(w, 1, 2), 81905000);
    json_decref(w);
    T_OK(decode(group("3", NULL, NULL, NULL), sizeof RAW, &w)); /* none given: microvolts, as stored */
    assert_int_equal(sample(w, 1, 2), 32767);
    json_decref(w);
    assert_int_equal(decode(group("3", "1e300", "uV", NULL), sizeof RAW, &w), IH_E_INVALID);
    assert_int_equal(decode(group("3", "nan", "uV", NULL), sizeof RAW, &w), IH_E_INVALID);
    assert_int_equal(decode(group("3", "1", "uV", "1e9"), sizeof RAW, &w), IH_E_INVALID);
    assert_int_equal(decode(group("3", "1", "mmHg", NULL), sizeof RAW, &w), IH_E_INVALID);
    assert_int_equal(decode(group("3abc", "1", "uV", NULL), sizeof RAW, &w), IH_E_INVALID);
    assert_int_equal(decode(group("99999999999", "1", "uV", NULL), sizeof RAW, &w), IH_E_INVALID);
    assert_int_equal(decode(group("3", "1", "uV", NULL), sizeof RAW - 1, &w), IH_E_INVALID);
    assert_null(w);
    ih_err_clear();
}

/* A slide's pyramid from the PACS: the shape orthanc-wsi 1.1 gives (one tile
 * size), the newer one (a tile size per level), and what no slide can be. */
static ih_err pyramid(const char *text, json_t **out)
{
    json_error_t je;
    json_t *py = json_loads(text, 0, &je);
    assert_non_null(py);
    ih_err e = ih_wsi_pyramid(py, "1.2.3", out);
    json_decref(py);
    return e;
}

static void t_wsi_pyramid(void **state)
{
    (void)state;
    json_t *p;
    T_OK(pyramid("{\"Sizes\":[[1024,768],[512,384],[256,192]],\"TilesCount\":[[4,3],[2,2],[1,1]],"
                 "\"TileWidth\":256,\"TileHeight\":256}", &p));
    json_t *l0 = json_array_get(json_object_get(p, "levels"), 0), *l2 = json_array_get(json_object_get(p, "levels"), 2);
    assert_int_equal(json_array_size(json_object_get(p, "levels")), 3);
    assert_int_equal(json_integer_value(json_object_get(l0, "width")), 1024);
    assert_int_equal(json_integer_value(json_object_get(l0, "tiles_x")), 4);
    assert_int_equal(json_integer_value(json_object_get(l0, "tiles_y")), 3);
    assert_int_equal(json_integer_value(json_object_get(l2, "tiles_y")), 1);
    assert_int_equal(json_integer_value(json_object_get(p, "tile_width")), 256);
    assert_string_equal(json_string_value(json_object_get(p, "series")), "1.2.3");
    json_decref(p);
    /* newer plugins: the tile size of each level */
    T_OK(pyramid("{\"Sizes\":[[100000,80000],[1000,800]],\"TilesCount\":[[196,157],[1,1]],"
                 "\"TilesSizes\":[[512,512],[1024,1024]]}", &p));
    assert_int_equal(json_integer_value(json_object_get(p, "tile_width")), 512);
    json_decref(p);
    static const char *const bad[] = {
        "{}",
        "{\"Sizes\":[],\"TilesCount\":[],\"TileWidth\":256,\"TileHeight\":256}",                   /* no level */
        "{\"Sizes\":[[1024,768]],\"TilesCount\":[[4,3],[1,1]],\"TileWidth\":256,\"TileHeight\":256}", /* counts differ */
        "{\"Sizes\":[[1024,768]],\"TilesCount\":[[4,3]]}",                                          /* no tile size */
        "{\"Sizes\":[[1024,768]],\"TilesCount\":[[4,3]],\"TileWidth\":0,\"TileHeight\":256}",
        "{\"Sizes\":[[1024,768]],\"TilesCount\":[[4,3]],\"TileWidth\":\"256\",\"TileHeight\":256}",
        "{\"Sizes\":[[-1024,768]],\"TilesCount\":[[-4,3]],\"TileWidth\":256,\"TileHeight\":256}",
        "{\"Sizes\":[[1024.5,768]],\"TilesCount\":[[4,3]],\"TileWidth\":256,\"TileHeight\":256}",
        "{\"Sizes\":[[1024,768]],\"TilesCount\":[[40,3]],\"TileWidth\":256,\"TileHeight\":256}",    /* tiles past it */
        "{\"Sizes\":[[1024,768]],\"TilesCount\":[[3,3]],\"TileWidth\":256,\"TileHeight\":256}",     /* not covered */
        "{\"Sizes\":[[1024,768,5]],\"TilesCount\":[[4,3]],\"TileWidth\":256,\"TileHeight\":256}",
        "{\"Sizes\":[[256000256,768]],\"TilesCount\":[[1000001,3]],\"TileWidth\":256,\"TileHeight\":256}",
        "{\"Sizes\":[[256,192],[1024,768]],\"TilesCount\":[[1,1],[4,3]],\"TileWidth\":256,\"TileHeight\":256}", /* coarse first */
        "{\"Sizes\":[[1024,768]],\"TilesCount\":[[4,3]],\"TilesSizes\":[[256,0]]}",
        "{\"Sizes\":[[1024,768]],\"TilesCount\":[[4,3]],\"TilesSizes\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = (json_t *)1;
        assert_int_equal(pyramid(bad[i], &p), IH_E_UNAVAILABLE);
        assert_null(p);
    }
    ih_err_clear();
}

int main(void)
{
    const struct CMUnitTest t[] = {cmocka_unit_test(t_outbound), cmocka_unit_test(t_parse_and_address), cmocka_unit_test(t_escapes_and_delimiters),
                                   cmocka_unit_test(t_refusals), cmocka_unit_test(t_gb18030), cmocka_unit_test(t_mllp),
                                   cmocka_unit_test(t_peers), cmocka_unit_test(t_pacs_schedule),
                                   cmocka_unit_test(t_waveform_decode), cmocka_unit_test(t_wsi_pyramid)};
    int rc = cmocka_run_group_tests_name("hl7", t, NULL, NULL);
    ih_buf_free(&v);
    return rc;
}
