/* inbound.c — see inbound.h. */
#include "exchange/inbound.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "crypto/suite.h"
#include "exchange/mllp.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ih_inbound_text_free(ih_inbound_text *t)
{
    ih_buf *all[] = {&t->type,     &t->control_id, &t->mrn,        &t->cert_no, &t->name,
                     &t->prior_mrn, &t->order_no,  &t->placer_no, &t->title,      &t->observed_at, &t->content,
                     &t->visit_no, &t->department, &t->doctor,     &t->encounter_at, &t->diagnoses};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ih_buf_wipe(all[i]);
}

/* seg/field/rep/comp into out; false when absent; *bad set on bad escapes. */
static bool get(const ih_hl7 *m, int seg, int field, int rep, int comp, ih_buf *out, bool *bad)
{
    ih_err e = IH_OK;
    bool present = ih_hl7_get(m, seg, field, rep, comp, 1, out, &e);
    if (e != IH_OK) *bad = true;
    return present && e == IH_OK;
}

static ih_err copy(ih_buf *dst, const ih_buf *src)
{
    ih_buf_reset(dst);
    return ih_buf_append(dst, src->p ? src->p : "", src->len);
}

/* HL7 TS (YYYYMMDD[HHMM[SS]][.S][+ZZZZ]) as "YYYY-MM-DDTHH:MM:SS[+ZZ:ZZ]";
 * false when it is not one. */
static bool ts_iso(const char *ts, ih_buf *out)
{
    size_t n = strspn(ts, "0123456789");
    if (n != 8 && n != 10 && n != 12 && n != 14) return false;
    char d[15] = "00000000000000";
    memcpy(d, ts, n);
    int mo = (d[4] - '0') * 10 + d[5] - '0', dd = (d[6] - '0') * 10 + d[7] - '0';
    int hh = (d[8] - '0') * 10 + d[9] - '0', mi = (d[10] - '0') * 10 + d[11] - '0', ss = (d[12] - '0') * 10 + d[13] - '0';
    if (mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh > 23 || mi > 59 || ss > 60) return false;
    const char *rest = ts + n;
    if (*rest == '.') rest += 1 + strspn(rest + 1, "0123456789");
    ih_buf_reset(out);
    ih_buf_printf(out, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s", d, d + 4, d + 6, d + 8, d + 10, d + 12);
    if ((*rest == '+' || *rest == '-') && strlen(rest) == 5 && strspn(rest + 1, "0123456789") == 4)
        ih_buf_printf(out, "%c%.2s:%.2s", rest[0], rest + 1, rest + 3);
    else if (*rest)
        return false;
    return true;
}

static ih_err fail(char *why, size_t n, const char *reason)
{
    snprintf(why, n, "%s", reason);
    return IH_E_INVALID;
}

/* PID: MRN, ID number, name. */
static ih_err map_pid(const ih_hl7 *m, ih_his_msg *out, ih_inbound_text *t, bool *bad)
{
    int pid = ih_hl7_find(m, "PID", 0);
    if (pid < 0) return IH_OK;
    ih_buf v = IH_BUF_INIT, type = IH_BUF_INIT;
    int reps = ih_hl7_reps(m, pid, 3);
    for (int r = 1; r <= reps; r++) {
        if (!get(m, pid, 3, r, 1, &v, bad)) continue;
        get(m, pid, 3, r, 5, &type, bad);
        const char *ty = type.p ? type.p : "";
        if (!strcmp(ty, "NI") || !strcmp(ty, "ID") || !strcmp(ty, "NNCHN")) {
            if (!t->cert_no.len) IH_TRY(copy(&t->cert_no, &v));
        } else if (!strcmp(ty, "MR") || (!ty[0] && !t->mrn.len)) {
            if (!strcmp(ty, "MR") || !t->mrn.len) IH_TRY(copy(&t->mrn, &v));
        }
    }
    if (!t->cert_no.len && get(m, pid, 19, 1, 1, &v, bad)) IH_TRY(copy(&t->cert_no, &v));
    /* the name: family (XPN.1, its first sub-component) and given (XPN.2), joined */
    if (get(m, pid, 5, 1, 1, &v, bad)) IH_TRY(copy(&t->name, &v));
    if (get(m, pid, 5, 1, 2, &v, bad)) IH_TRY(ih_buf_append(&t->name, v.p, v.len));
    ih_buf_free(&v);
    ih_buf_free(&type);
    out->mrn = t->mrn.len ? t->mrn.p : NULL;
    out->cert_no = t->cert_no.len ? t->cert_no.p : NULL;
    out->name = t->name.len ? t->name.p : NULL;
    return IH_OK;
}

/* An outpatient encounter: PV1 with patient class O, its visit number and
 * time, and the DG1 diagnoses.  Absent (or another class): nothing. */
static ih_err map_encounter(const ih_hl7 *m, ih_his_msg *out, ih_inbound_text *t, bool *bad, char *why, size_t why_n)
{
    int pv1 = ih_hl7_find(m, "PV1", 0);
    ih_buf v = IH_BUF_INIT;
    ih_err e = IH_OK;
    if (pv1 < 0 || !get(m, pv1, 2, 1, 1, &v, bad) || strcmp(v.p, "O")) goto out;
    if (!get(m, pv1, 19, 1, 1, &t->visit_no, bad) || t->visit_no.len > 64) {
        e = fail(why, why_n, "an outpatient PV1 without a visit number (PV1-19) of at most 64 characters");
        goto out;
    }
    if (!get(m, pv1, 44, 1, 1, &v, bad) || !ts_iso(v.p, &t->encounter_at)) {
        e = fail(why, why_n, "an outpatient PV1 without its time (PV1-44, YYYYMMDDHHMMSS)");
        goto out;
    }
    if (get(m, pv1, 3, 1, 1, &v, bad) || get(m, pv1, 10, 1, 1, &v, bad)) e = copy(&t->department, &v);
    if (e == IH_OK && get(m, pv1, 7, 1, 2, &v, bad)) e = copy(&t->doctor, &v);
    if (e == IH_OK && get(m, pv1, 7, 1, 3, &v, bad)) e = ih_buf_append(&t->doctor, v.p, v.len);
    json_t *dx = json_array();
    if (e == IH_OK && !dx) e = ih_fail(IH_E_NOMEM, "diagnoses");
    for (int s = 0, n = ih_hl7_segment_count(m); e == IH_OK && s < n; s++) {
        if (strcmp(ih_hl7_segment_name(m, s), "DG1")) continue;
        ih_buf code = IH_BUF_INIT, name = IH_BUF_INIT;
        bool hc = get(m, s, 3, 1, 1, &code, bad), hn = get(m, s, 3, 1, 2, &name, bad);
        if ((hc || hn) && json_array_size(dx) < 20 &&
            json_array_append_new(dx, json_pack("{s:s, s:s}", "code", hc ? code.p : "", "name", hn ? name.p : "")) != 0)
            e = ih_fail(IH_E_NOMEM, "diagnosis");
        ih_buf_free(&code);
        ih_buf_free(&name);
    }
    if (e == IH_OK) e = ih_json_dump(dx, JSON_COMPACT | JSON_ENSURE_ASCII, &t->diagnoses);
    json_decref(dx);
    if (e == IH_OK) {
        out->visit_no = t->visit_no.p;
        out->encounter_at = t->encounter_at.p;
        out->department = t->department.len ? t->department.p : NULL;
        out->doctor = t->doctor.len ? t->doctor.p : NULL;
        out->diagnoses = t->diagnoses.p;
    }
out:
    ih_buf_free(&v);
    return e;
}

/* OBR and its OBX segments: order, kind, title, time and the observations. */
static ih_err map_result(const ih_hl7 *m, ih_his_msg *out, ih_inbound_text *t, bool *bad, char *why, size_t why_n)
{
    int obr = ih_hl7_find(m, "OBR", 0);
    if (obr < 0) return fail(why, why_n, "ORU^R01 without OBR");
    ih_buf v = IH_BUF_INIT;
    if (get(m, obr, 3, 1, 1, &v, bad) || get(m, obr, 2, 1, 1, &v, bad)) IH_TRY(copy(&t->order_no, &v));
    if (get(m, obr, 2, 1, 1, &v, bad)) IH_TRY(copy(&t->placer_no, &v));
    if (get(m, obr, 4, 1, 2, &v, bad) || get(m, obr, 4, 1, 1, &v, bad)) IH_TRY(copy(&t->title, &v));
    if (get(m, obr, 7, 1, 1, &v, bad) && !ts_iso(v.p, &t->observed_at)) {
        ih_buf_free(&v);
        return fail(why, why_n, "OBR-7 is not an HL7 time (YYYYMMDDHHMMSS)");
    }
    static const char *const imaging[] = {"RAD", "CT", "MR", "US", "NMR", "XRC", "RX", "CUS", "OUS", "VUS", "EC"};
    snprintf(t->kind, sizeof t->kind, "lab");
    if (get(m, obr, 24, 1, 1, &v, bad))
        for (size_t i = 0; i < sizeof imaging / sizeof imaging[0]; i++)
            if (!strcmp(v.p, imaging[i])) snprintf(t->kind, sizeof t->kind, "imaging");
    json_t *obs = json_array();
    ih_err e = obs ? IH_OK : ih_fail(IH_E_NOMEM, "observations");
    int n = ih_hl7_segment_count(m);
    static const struct { const char *key; int field, comp; } cols[] = {
        {"code", 3, 1}, {"name", 3, 2}, {"value", 5, 1}, {"units", 6, 1},
        {"range", 7, 1}, {"flag", 8, 1}, {"status", 11, 1}, {"value_type", 2, 1},
    };
    for (int s = obr + 1; e == IH_OK && s < n; s++) {
        const char *name = ih_hl7_segment_name(m, s);
        if (!strcmp(name, "OBR")) break; /* one order per message is what ihos keeps */
        if (strcmp(name, "OBX")) continue;
        json_t *o = json_object();
        for (size_t c = 0; o && c < sizeof cols / sizeof cols[0]; c++)
            if (get(m, s, cols[c].field, 1, cols[c].comp, &v, bad))
                json_object_set_new(o, cols[c].key, json_stringn(v.p, v.len));
        if (!o || json_array_append_new(obs, o) != 0) e = ih_fail(IH_E_NOMEM, "observation");
    }
    ih_buf_free(&v);
    if (e == IH_OK && json_array_size(obs) == 0) e = fail(why, why_n, "ORU^R01 without OBX");
    if (e == IH_OK) e = ih_json_dump(obs, JSON_COMPACT | JSON_ENSURE_ASCII, &t->content);
    json_decref(obs);
    IH_TRY(e);
    out->kind = IH_HIS_RESULT;
    out->order_no = t->order_no.len ? t->order_no.p : NULL;
    out->placer_no = t->placer_no.len ? t->placer_no.p : NULL;
    out->title = t->title.len ? t->title.p : NULL;
    out->observed_at = t->observed_at.len ? t->observed_at.p : NULL;
    out->result_kind = t->kind;
    out->content = t->content.p;
    return IH_OK;
}

ih_err ih_inbound_map(const ih_hl7 *m, const ih_peer *peer, ih_his_msg *out, ih_inbound_text *t, char *why,
                      size_t why_n)
{
    memset(out, 0, sizeof *out);
    out->peer = peer->name;
    bool bad = false;
    ih_buf code = IH_BUF_INIT, trig = IH_BUF_INIT, v = IH_BUF_INIT;
    int msh = ih_hl7_find(m, "MSH", 0);
    ih_err e = IH_OK;
    if (!get(m, msh, 9, 1, 1, &code, &bad) || !get(m, msh, 9, 1, 2, &trig, &bad))
        e = fail(why, why_n, "MSH-9 has no message type and trigger event");
    if (e == IH_OK && !get(m, msh, 10, 1, 1, &t->control_id, &bad)) e = fail(why, why_n, "MSH-10 has no control id");
    if (e == IH_OK && t->control_id.len > 64) e = fail(why, why_n, "MSH-10 is longer than 64 characters");
    if (e == IH_OK) e = ih_buf_printf(&t->type, "%s^%s", code.p, trig.p);
    if (e == IH_OK && !ih_list_has(peer->accept, t->type.p)) {
        snprintf(why, why_n, "%s is not a message type this peer may send (accept in exchange.conf)", t->type.p);
        e = IH_E_INVALID;
    }
    /* MSH-5/6, when sent, must be ihos as the peer's section names it */
    if (e == IH_OK && peer->receiving_app[0] && get(m, msh, 5, 1, 1, &v, &bad) && strcmp(v.p, peer->receiving_app))
        e = fail(why, why_n, "MSH-5 names another receiving application");
    if (e == IH_OK && peer->receiving_facility[0] && get(m, msh, 6, 1, 1, &v, &bad) &&
        strcmp(v.p, peer->receiving_facility))
        e = fail(why, why_n, "MSH-6 names another receiving facility");
    if (e == IH_OK) {
        out->type = t->type.p;
        out->control_id = t->control_id.p;
        const char *ty = t->type.p;
        if (!strcmp(ty, "ADT^A04") || !strcmp(ty, "ADT^A08") || !strcmp(ty, "ADT^A28") || !strcmp(ty, "ADT^A31"))
            out->kind = IH_HIS_PATIENT;
        else if (!strcmp(ty, "ADT^A40")) {
            out->kind = IH_HIS_MERGE;
            int mrg = ih_hl7_find(m, "MRG", 0);
            if (mrg >= 0 && get(m, mrg, 1, 1, 1, &v, &bad)) e = copy(&t->prior_mrn, &v);
            out->prior_mrn = t->prior_mrn.len ? t->prior_mrn.p : NULL;
        } else if (!strcmp(ty, "ORU^R01"))
            e = IH_OK;
        else {
            snprintf(why, why_n, "%s is not a message ihos takes in", ty);
            e = IH_E_INVALID;
        }
    }
    if (e == IH_OK && ih_hl7_find(m, "PID", 0) < 0) e = fail(why, why_n, "the message has no PID segment");
    if (e == IH_OK) e = map_pid(m, out, t, &bad);
    if (e == IH_OK && out->kind == IH_HIS_PATIENT) e = map_encounter(m, out, t, &bad, why, why_n);
    if (e == IH_OK && !strcmp(t->type.p, "ORU^R01")) e = map_result(m, out, t, &bad, why, why_n);
    if (e == IH_OK && bad) e = fail(why, why_n, "a field's escapes do not decode to UTF-8 text");
    ih_buf_free(&code);
    ih_buf_free(&trig);
    ih_buf_free(&v);
    return e;
}

/* The length of s without a last character cut short (a reason may have
 * been truncated into a fixed buffer in the middle of a UTF-8 sequence). */
static size_t utf8_whole(const char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--;
    if (i == 0) return n;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return n - (i - 1) < want ? i - 1 : n;
}

ih_err ih_inbound_ack(const ih_hl7 *m, const ih_peer *peer, const char *code, const char *text_in, ih_buf *out)
{
    char text[256];
    snprintf(text, sizeof text, "%s", text_in);
    text[utf8_whole(text)] = '\0';
    ih_hl7_delims d = {'|', '^', '~', '\\', '&'};
    ih_buf app = IH_BUF_INIT, fac = IH_BUF_INIT, ctl = IH_BUF_INIT, trig = IH_BUF_INIT, ver = IH_BUF_INIT;
    bool bad = false;
    if (m) {
        int msh = ih_hl7_find(m, "MSH", 0);
        get(m, msh, 3, 1, 1, &app, &bad);
        get(m, msh, 4, 1, 1, &fac, &bad);
        get(m, msh, 10, 1, 1, &ctl, &bad);
        get(m, msh, 9, 1, 2, &trig, &bad);
        get(m, msh, 12, 1, 1, &ver, &bad);
    }
    char ts[32], id[40];
    time_t now = (time_t)(ih_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y%m%d%H%M%S+0000", &tm);
    uint8_t rnd[3];
    ih_err e = ih_random(rnd, sizeof rnd);
    snprintf(id, sizeof id, "IH%lld%02x%02x%02x", (long long)ih_now_ms(), rnd[0], rnd[1], rnd[2]);
    if (e == IH_OK) e = ih_buf_puts(out, "MSH|^~\\&|");
    if (e == IH_OK) e = ih_hl7_escape(out, peer->receiving_app[0] ? peer->receiving_app : "IHOS", &d);
    if (e == IH_OK) e = ih_buf_puts(out, "|");
    if (e == IH_OK) e = ih_hl7_escape(out, peer->receiving_facility, &d);
    if (e == IH_OK) e = ih_buf_puts(out, "|");
    if (e == IH_OK) e = ih_hl7_escape(out, app.len ? app.p : peer->sending_app, &d);
    if (e == IH_OK) e = ih_buf_puts(out, "|");
    if (e == IH_OK) e = ih_hl7_escape(out, fac.len ? fac.p : peer->sending_facility, &d);
    if (e == IH_OK) e = ih_buf_printf(out, "|%s||ACK^", ts);
    if (e == IH_OK) e = ih_hl7_escape(out, trig.len ? trig.p : "", &d);
    if (e == IH_OK) e = ih_buf_printf(out, "^ACK|%s|P|", id);
    if (e == IH_OK) e = ih_hl7_escape(out, ver.len ? ver.p : peer->version, &d);
    if (e == IH_OK)
        e = ih_buf_printf(out, "|||||%s\rMSA|%s|", strcmp(peer->charset, "UTF-8") ? "GB 18030-2000" : "UNICODE UTF-8",
                          code);
    if (e == IH_OK) e = ih_hl7_escape(out, ctl.len ? ctl.p : "", &d);
    if (e == IH_OK) e = ih_buf_puts(out, "|");
    if (e == IH_OK) e = ih_hl7_escape(out, text, &d);
    if (e == IH_OK) e = ih_buf_puts(out, "\r");
    if (e == IH_OK && strcmp(code, "AA")) { /* ERR: code 207 (application error) or 200 (unsupported) */
        e = ih_buf_printf(out, "ERR|||%s^%s^HL70357|E||||", !strcmp(code, "AR") ? "200" : "207",
                          !strcmp(code, "AR") ? "Unsupported or refused" : "Application internal error");
        if (e == IH_OK) e = ih_hl7_escape(out, text, &d);
        if (e == IH_OK) e = ih_buf_puts(out, "\r");
    }
    ih_buf_free(&app);
    ih_buf_free(&fac);
    ih_buf_free(&ctl);
    ih_buf_free(&trig);
    ih_buf_free(&ver);
    return e;
}

/* The ACK in the peer's charset, framed. */
static ih_err send_ack(const ih_hl7 *m, const ih_peer *peer, const char *code, const char *text, ih_buf *ack)
{
    ih_buf utf8 = IH_BUF_INIT, wire = IH_BUF_INIT;
    ih_err e = ih_inbound_ack(m, peer, code, text, &utf8);
    if (e == IH_OK) e = ih_hl7_from_utf8(peer->charset, utf8.p, utf8.len, &wire);
    if (e == IH_OK) e = ih_mllp_wrap(wire.p, wire.len, ack);
    ih_buf_free(&utf8);
    ih_buf_free(&wire);
    return e;
}

ih_err ih_inbound_handle(ih_clinic *c, const ih_peer *peer, const char *payload, size_t n, ih_buf *ack)
{
    ih_buf text = IH_BUF_INIT;
    ih_hl7 *m = NULL;
    char why[200] = "";
    ih_err e = ih_hl7_to_utf8(peer->charset, payload, n, &text);
    if (e != IH_OK) snprintf(why, sizeof why, "the message is not valid %s text", peer->charset);
    if (e == IH_OK) {
        e = ih_hl7_parse(text.p, text.len, &m);
        if (e != IH_OK) snprintf(why, sizeof why, "%s", ih_err_detail());
    }
    ih_his_msg msg;
    ih_inbound_text t = {0};
    if (e == IH_OK) e = ih_inbound_map(m, peer, &msg, &t, why, sizeof why);
    if (e != IH_OK) { /* AR: refused as it is */
        ih_err_clear();
        ih_log(IH_LOG_WARN, "exchange.refused", "peer", peer->name, "reason", why, NULL);
        e = send_ack(m, peer, "AR", why, ack);
    } else {
        ih_his_ack r;
        e = ih_his_receive(c, &msg, &r);
        if (e != IH_OK) { /* nothing recorded: AE, the sender tries again */
            ih_log(IH_LOG_ERROR, "exchange.not_applied", "peer", peer->name, "type", msg.type, "detail",
                   ih_err_detail(), NULL);
            snprintf(why, sizeof why, "ihos could not record the message now (%s); send it again", ih_err_name(e));
            e = send_ack(m, peer, "AE", why, ack);
        } else {
            if (r.duplicate)
                ih_log(IH_LOG_INFO, "exchange.duplicate", "peer", peer->name, "control_id", msg.control_id, NULL);
            e = send_ack(m, peer, r.code, r.text, ack);
        }
    }
    ih_inbound_text_free(&t);
    ih_hl7_free(m);
    ih_buf_wipe(&text);
    return e;
}
