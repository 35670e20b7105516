/* outbound.c — HL7 v2 messages from outbox facts, and their ACKs (outbound.h). */
#include "exchange/outbound.h"

#include "exchange/hl7.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const ih_hl7_delims D = {'|', '^', '~', '\\', '&'};

typedef struct {
    ih_buf *b;
    ih_err e;
    int segments;
} writer;

/* A segment from fmt: literal HL7 structure, each %s an argument escaped
 * (NULL: empty), each %r one already in HL7 form.  Segments are separated
 * by CR. */
static void seg(writer *w, const char *fmt, ...)
{
    if (w->e != IH_OK) return;
    va_list ap;
    va_start(ap, fmt);
    if (w->segments++) w->e = ih_buf_puts(w->b, "\r");
    for (const char *p = fmt; *p && w->e == IH_OK; p++) {
        if (p[0] == '%' && (p[1] == 's' || p[1] == 'r')) {
            const char *s = va_arg(ap, const char *);
            if (s) w->e = p[1] == 's' ? ih_hl7_escape(w->b, s, &D) : ih_buf_puts(w->b, s);
            p++;
        } else
            w->e = ih_buf_append(w->b, p, 1);
    }
    va_end(ap);
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* HL7 TS in local time with its zone: YYYYMMDDHHMMSS+ZZZZ ("" for 0). */
static void ts(int64_t ms, int off, char out[24])
{
    if (ms <= 0) {
        out[0] = '\0';
        return;
    }
    time_t t = (time_t)(ms / 1000 + (int64_t)off * 60);
    struct tm tm;
    gmtime_r(&t, &tm);
    int a = (off < 0 ? -off : off) % (24 * 60);
    char date[16];
    strftime(date, sizeof date, "%Y%m%d%H%M%S", &tm);
    snprintf(out, 24, "%.14s%c%02d%02d", date, off < 0 ? '-' : '+', a / 60, a % 60);
}

static int64_t num(const json_t *o, const char *k) { return (int64_t)json_integer_value(json_object_get(o, k)); }

static void id_text(int64_t v, char out[24]) { snprintf(out, 24, "%lld", (long long)v); }

/* MSH, PID and PV1: common to every message. */
static void header(writer *w, const ih_peer *p, const char *type, const char *control_id, const json_t *f, int64_t now,
                   int off)
{
    char when[24], structure[16] = "";
    ts(now, off, when);
    bool v23 = !strcmp(p->version, "2.3");
    if (!v23) snprintf(structure, sizeof structure, "%.3s_%.3s", type, type + 4);
    char msgtype[24];
    snprintf(msgtype, sizeof msgtype, "%.3s^%.3s%s%s", type, type + 4, structure[0] ? "^" : "", structure);
    const char *charset = !strcmp(p->charset, "GB18030") ? "GB 18030-2000" : "UNICODE UTF-8";
    /* MSH-3/4 us as the peer knows us, MSH-5/6 the peer */
    seg(w, "MSH|^~\\&|%s|%s|%s|%s|%s||%r|%s|P|%s|||AL|NE||%s", p->receiving_app, p->receiving_facility,
        p->sending_app, p->sending_facility, when, msgtype, control_id, p->version, charset);

    const json_t *pt = json_object_get(f, "patient");
    char pid[24], visit[24], doc[24];
    id_text(num(pt, "id"), pid);
    id_text(num(f, "visit_id"), visit);
    const json_t *d = json_object_get(f, "doctor");
    id_text(num(d, "id"), doc);
    char birth[16] = "";
    const char *b = str(pt, "birth_date"); /* YYYY-MM-DD */
    if (strlen(b) == 10) snprintf(birth, sizeof birth, "%.4s%.2s%.2s", b, b + 5, b + 8);
    const char *sex = !strcmp(str(pt, "sex"), "1") ? "M" : !strcmp(str(pt, "sex"), "2") ? "F" : "U";
    const char *mrn = str(f, "mrn"), *cert = str(pt, "cert_no");
    /* PID-3: the peer's MRN when linked, ours, and the national ID */
    ih_buf id3 = IH_BUF_INIT;
    ih_err e = IH_OK;
    if (*mrn) {
        e = ih_hl7_escape(&id3, mrn, &D);
        if (e == IH_OK) e = ih_buf_puts(&id3, "^^^");
        if (e == IH_OK) e = ih_hl7_escape(&id3, p->sending_app, &D);
        if (e == IH_OK) e = ih_buf_puts(&id3, "^MR~");
    }
    if (e == IH_OK) e = ih_buf_printf(&id3, "%s^^^IHOS^PI", pid);
    if (e == IH_OK && *cert) {
        e = ih_buf_puts(&id3, "~");
        if (e == IH_OK) e = ih_hl7_escape(&id3, cert, &D);
        if (e == IH_OK) e = ih_buf_puts(&id3, "^^^^NI");
    }
    if (e != IH_OK) w->e = e;
    seg(w, "PID|1||%r||%s||%s|%s", id3.p, str(pt, "name"), birth, sex);
    ih_buf_free(&id3);
    const json_t *dep = json_object_get(f, "department");
    seg(w, "PV1|1|O|%s^^^%s|||||%s^%s|||||||||||%s", str(dep, "name"), p->receiving_facility, doc, str(d, "name"),
        visit);
}

static void order(writer *w, const json_t *f, int off, bool imaging)
{
    const json_t *o = json_object_get(f, "order"), *d = json_object_get(f, "doctor");
    char when[24], doc[24];
    ts(num(o, "created_at"), off, when);
    id_text(num(d, "id"), doc);
    /* ORC-1 NW for a new order, CA when the doctor withdrew it (ORC-16 why) */
    if (!strcmp(str(o, "status"), "cancelled")) {
        char at[24]; /* ORC-9: when it was withdrawn */
        ts(num(o, "cancelled_at"), off, at);
        seg(w, "ORC|CA|%s|||||||%s|||%s^%s||||^%s", str(o, "order_no"), at, doc, str(d, "name"),
            str(o, "cancel_reason"));
    }
    else seg(w, "ORC|NW|%s|||||||%s|||%s^%s", str(o, "order_no"), when, doc, str(d, "name"));
    /* OBR-4 the service, -6 requested, -13 the clinical question, -16 the
     * ordering doctor; imaging: -18 the accession number, -24 the modality */
    seg(w, "OBR|1|%s||%s^%s^L||%s|||||||%s|||%s^%s||%s||||||%s", str(o, "order_no"), str(o, "code"), str(o, "name"),
        when, str(o, "note"), doc, str(d, "name"), imaging ? str(o, "accession") : NULL,
        imaging ? str(o, "modality") : NULL);
}

static void rx(writer *w, const json_t *f, int off)
{
    const json_t *d = json_object_get(f, "doctor");
    char when[24], doc[24];
    ts(num(f, "reviewed_at"), off, when);
    id_text(num(d, "id"), doc);
    seg(w, "ORC|NW|%s|||||||%s|||%s^%s", str(f, "recipe_no"), when, doc, str(d, "name"));
    size_t i;
    const json_t *it;
    json_array_foreach(json_object_get(f, "items"), i, it)
    {
        char qty[24], days[24];
        id_text(num(it, "quantity"), qty);
        id_text(num(it, "days"), days);
        const char *code = *str(it, "hosp_code") ? str(it, "hosp_code") : str(it, "national_code");
        /* RXE-1 quantity/timing (frequency, days), -2 the drug, -3 the dose
         * and -5 its unit, -10 the quantity dispensed and -11 its unit,
         * -21 the remark */
        seg(w, "RXE|^%s^D%s|%s^%s^HOSP|%s||%s|%s||||%s|%s||||||||||%s", str(it, "frequency"), days, code,
            str(it, "name"), str(it, "dosage"), str(it, "dose_unit"), str(it, "spec"), qty, str(it, "unit"),
            str(it, "remark"));
        seg(w, "RXR|%s", str(it, "route"));
    }
}

static void charge(writer *w, const json_t *f, int off)
{
    const json_t *c = json_object_get(f, "charge");
    char when[24], amount[32], id[24];
    ts(num(c, "paid_at"), off, when);
    int64_t fen = num(c, "amount");
    snprintf(amount, sizeof amount, "%lld.%02lld", (long long)(fen / 100), (long long)(fen % 100));
    id_text(num(c, "id"), id);
    bool drug = num(c, "prescription_id") > 0;
    seg(w, "EVN|P03|%s", when);
    /* FT1-2 our transaction id, -4 the date, -6 CG (charge), -7 the item,
     * -10 quantity, -11 the amount; -8 the channel's trade number */
    seg(w, "FT1|1|%s||%s||CG|%s^%s|%s||1|%s", id, when, drug ? "RX" : "VISIT", drug ? "药费" : "诊察费",
        str(c, "trade_no"), amount);
}

static void record(writer *w, const json_t *f, int off)
{
    const json_t *d = json_object_get(f, "doctor");
    char when[24], doc[24], docno[64];
    ts(num(f, "created_at"), off, when);
    id_text(num(d, "id"), doc);
    snprintf(docno, sizeof docno, "IHOS-REC-%lld-%lld", (long long)num(f, "visit_id"), (long long)num(f, "revision"));
    seg(w, "EVN|T02|%s", when);
    /* TXA-2 outpatient record, -3 text, -4 activity time, -5 the author,
     * -12 the document number, -17 authenticated (signed) */
    seg(w, "TXA|1|OP^门诊病历|TX|%s|%s^%s|||||||%s|||||AU", when, doc, str(d, "name"), docno);
    static const struct {
        const char *key, *name;
    } parts[] = {{"chief_complaint", "主诉"}, {"present_history", "现病史"}, {"diagnosis_codes", "诊断编码"},
                 {"diagnosis", "诊断"},       {"opinion", "处理意见"},       {"assist_result", "辅助检查"}};
    int n = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        const char *v = str(f, parts[i].key);
        if (!*v) continue;
        char set[12];
        snprintf(set, sizeof set, "%d", ++n);
        seg(w, "OBX|%s|TX|%s^%s^IHOS||%s||||||F", set, parts[i].key, parts[i].name, v);
    }
}

/* A remote-care report the invited experts returned (care/consult.h):
 * MDM^T02, a document (TXA-2 RC, its type), or ORU^R01, an observation
 * (OBR-4 its type, result status F); either way the opinion as a TX OBX,
 * the ECG measurements as NM OBX, and each expert who signed. */
static void consult(writer *w, const json_t *f, int off, bool oru)
{
    const json_t *k = json_object_get(f, "consult");
    const json_t *ex = json_object_get(k, "experts"), *lead = json_array_get(ex, 0);
    char when[24], no[40], lead_id[24];
    ts(num(k, "returned_at"), off, when);
    snprintf(no, sizeof no, "IHOS-RC-%lld", (long long)num(k, "id"));
    id_text(num(lead, "id"), lead_id);
    if (oru) {
        /* OBR-2/3 our number, -4 the service, -7 when, -16 the lead expert, -22 reported, -25 final */
        seg(w, "OBR|1|%s|%s|%s^%s^IHOS|||%s|||||||||%s^%s||||||%s|||F", no, no, str(k, "type"), str(k, "type_name"), when,
            lead_id, str(lead, "name"), when);
    } else {
        seg(w, "EVN|T02|%s", when);
        seg(w, "TXA|1|RC^%s|TX|%s|%s^%s|||||||%s|||||AU", str(k, "type_name"), when, lead_id, str(lead, "name"), no);
    }
    int n = 0;
    char set[12];
    snprintf(set, sizeof set, "%d", ++n);
    seg(w, "OBX|%s|TX|REPORT^会诊意见^IHOS||%s||||||F", set, str(k, "report"));
    static const struct {
        const char *key, *name, *unit;
    } m[] = {{"hr", "心率", "/min"}, {"pr", "PR间期", "ms"}, {"qrs", "QRS时限", "ms"},
             {"qt", "QT间期", "ms"}, {"qtc", "QTc", "ms"},   {"axis", "电轴", "deg"}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        if (!json_is_integer(json_object_get(k, m[i].key))) continue;
        char v[24], code[16];
        id_text(num(k, m[i].key), v);
        snprintf(code, sizeof code, "%s", m[i].key);
        for (char *c = code; *c; c++) *c = (char)(*c - 32 * (*c >= 'a' && *c <= 'z'));
        snprintf(set, sizeof set, "%d", ++n);
        seg(w, "OBX|%s|NM|%s^%s^IHOS||%s|%s|||||F", set, code, m[i].name, v, m[i].unit);
    }
    size_t i;
    const json_t *e;
    json_array_foreach(ex, i, e)
    {
        char id[24];
        id_text(num(e, "id"), id);
        snprintf(set, sizeof set, "%d", ++n);
        /* OBX-16: who is responsible for the observation */
        seg(w, "OBX|%s|ST|EXPERT^会诊专家^IHOS||%s||||||F|||||%s^%s", set, str(e, "name"), id, str(e, "name"));
    }
}

ih_err ih_outbound_build(const ih_peer *peer, const char *type, const char *control_id, const json_t *fact, int64_t now_ms,
                         int utc_offset_minutes, ih_buf *out)
{
    writer w = {out, IH_OK, 0};
    header(&w, peer, type, control_id, fact, now_ms, utc_offset_minutes);
    if (!strcmp(type, "OML^O21") || !strcmp(type, "ORM^O01"))
        order(&w, fact, utc_offset_minutes, !strcmp(str(json_object_get(fact, "order"), "kind"), "imaging"));
    else if (!strcmp(type, "OMG^O19")) order(&w, fact, utc_offset_minutes, true);
    else if (!strcmp(type, "RDE^O11")) rx(&w, fact, utc_offset_minutes);
    else if (!strcmp(type, "DFT^P03")) charge(&w, fact, utc_offset_minutes);
    else if (!strcmp(type, "MDM^T02") && json_object_get(fact, "consult")) consult(&w, fact, utc_offset_minutes, false);
    else if (!strcmp(type, "MDM^T02")) record(&w, fact, utc_offset_minutes);
    else if (!strcmp(type, "ORU^R01") && json_object_get(fact, "consult")) consult(&w, fact, utc_offset_minutes, true);
    else return ih_fail(IH_E_INTERNAL, "no writer for %s", type);
    if (w.e == IH_OK) w.e = ih_buf_puts(out, "\r");
    return w.e;
}

/* A code as the operator may see it: letters, digits, '.', '-', '_'. */
static bool token(const char *s) { return *s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_") == strlen(s); }

ih_ack_kind ih_outbound_ack(const char *reply, size_t n, const char *control_id, ih_ack_reply *out)
{
    memset(out, 0, sizeof *out);
    ih_hl7 *m = NULL;
    if (ih_hl7_parse(reply, n, &m) != IH_OK) {
        snprintf(out->text, sizeof out->text, "the answer is not an HL7 message");
        return IH_ACK_PROTOCOL;
    }
    ih_buf v = IH_BUF_INIT;
    ih_ack_kind k = IH_ACK_PROTOCOL;
    if (!ih_hl7_value(m, "MSA", 1, 1, &v) || v.len != 2) {
        snprintf(out->text, sizeof out->text, "the answer has no MSA-1");
        goto out;
    }
    snprintf(out->code, sizeof out->code, "%s", v.p);
    if (!ih_hl7_value(m, "MSA", 2, 1, &v) || strcmp(v.p, control_id)) {
        snprintf(out->text, sizeof out->text, "the answer acknowledges another message");
        goto out;
    }
    const char *c = out->code;
    if (!strcmp(c, "AA") || !strcmp(c, "CA")) k = IH_ACK_ACCEPTED;
    else if (!strcmp(c, "AE") || !strcmp(c, "AR") || !strcmp(c, "CE") || !strcmp(c, "CR")) k = IH_ACK_REFUSED;
    else {
        snprintf(out->text, sizeof out->text, "MSA-1 '%s' is no acknowledgement code", c);
        goto out;
    }
    /* the peer's words: ERR-8 (v2.5), else MSA-3; its code: ERR-3.1, else ERR-1.4 */
    if (ih_hl7_value(m, "ERR", 8, 1, &v) || ih_hl7_value(m, "MSA", 3, 1, &v)) snprintf(out->text, sizeof out->text, "%s", v.p);
    if ((ih_hl7_value(m, "ERR", 3, 1, &v) || ih_hl7_value(m, "ERR", 1, 4, &v)) && v.len < sizeof out->error && token(v.p))
        snprintf(out->error, sizeof out->error, "%s", v.p);
out:
    ih_buf_wipe(&v);
    ih_hl7_free(m);
    return k;
}
