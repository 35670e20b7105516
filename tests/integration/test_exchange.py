"""HL7 v2 from the hospital's HIS and LIS (issue 17): an independent peer built
on Debian's python3-hl7 (its MLLP client, its parser for the ACKs) sends ADT
and ORU to ihosd's MLLP listener on 127.0.0.1; ACKs only after the commit,
duplicates acknowledged and not applied again, the patient linked by the ID
number's blind index and never by name, a mismatch held for a person, results
seen by the treating doctor and refused to another, AR for what cannot be
taken, a GB18030 peer, frames split and joined."""
import json
import os
import socket
import ssl
import subprocess
import time
import unittest

from tests.integration.harness import IhosTestCase, id_number, must_login, setup_admins
from tests.integration.test_care import Hospital

try:
    import hl7
    import hl7.client
    HAVE_HL7 = True
except ImportError:
    HAVE_HL7 = False
from tests.integration.test_console import HAVE_BROWSER, login_ui
if HAVE_BROWSER:
    from selenium.webdriver.common.by import By
    from tests.integration.browser import Browser

PEERS = """[peer his]
listen = 127.0.0.1:0
tls = false
charset = UTF-8
version = 2.4
sending_application = HIS
sending_facility = HOSP
receiving_application = IHOS
receiving_facility = IH
accept = ADT^A04,ADT^A08,ADT^A28,ADT^A31,ADT^A40,ORU^R01
allow_from = 127.0.0.1

[peer lis]
listen = 127.0.0.1:0
tls = false
charset = GB18030
version = 2.4
sending_application = LIS
sending_facility = HOSP
receiving_application = IHOS
receiving_facility = IH
accept = ADT^A04,ORU^R01

[peer ris]
listen = 127.0.0.1:0
tls = true
charset = UTF-8
version = 2.5
sending_application = RIS
sending_facility = HOSP
receiving_application = IHOS
receiving_facility = IH
accept = ADT^A04
client_cert_sha256 = %(pin)s

[peer ecg]
listen = 127.0.0.1:0
tls = false
charset = UTF-8
version = 2.4
sending_application = ECG
sending_facility = HOSP
receiving_application = IHOS
receiving_facility = IH
accept = ORU^R01
allow_from = 192.0.2.0/24
"""

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


def adt(control, mrn, cert, name, event="A04", birth="19800512", sex="M", sending="HIS", encounter=None):
    family, given = name[0], name[1:]
    ids = "%s^^^HOSP^MR" % mrn + ("~%s^^^CHN^NI" % cert if cert else "")
    msg = ("MSH|^~\\&|%s|HOSP|IHOS|IH|20261201120000||ADT^%s^ADT_A01|%s|P|2.4\r"
           "EVN|%s|20261201120000\r"
           "PID|1||%s||%s^%s||%s|%s\r" % (sending, event, control, event, ids, family, given, birth, sex))
    if encounter:  # an outpatient visit at the hospital, with its diagnosis
        pv1 = [""] * 45  # PV1-1 … PV1-44
        pv1[1], pv1[2], pv1[3], pv1[7] = "1", "O", "心内科门诊^^^HOSP", "D001^李^医生"
        pv1[19], pv1[44] = encounter, "20250315093000"
        msg += "PV1|" + "|".join(pv1[1:]) + "\r" + "DG1|1||I10.x00^原发性高血压^ICD10|||F\r"
    return msg


def oru(control, mrn, cert, name, sending="HIS", placer="PL001", service="HM"):
    family, given = name[0], name[1:]
    return ("MSH|^~\\&|%s|HOSP|IHOS|IH|20261201130000||ORU^R01^ORU_R01|%s|P|2.4\r"
            "PID|1||%s^^^HOSP^MR~%s^^^CHN^NI||%s^%s\r"
            "OBR|1|%s|FL001|CBC^血常规|||20261201103000|||||||||||||||||%s\r"
            "OBX|1|NM|WBC^白细胞计数||6.5|10*9/L|3.5-9.5|N|||F\r"
            "OBX|2|NM|HGB^血红蛋白||98|g/L|115-150|L|||F\r" % (sending, control, mrn, cert, family, given, placer,
                                                               service))


def doctor_visit_page(inst, acct):
    """Chromium on the doctor's console, logged in, their first visit open."""
    b = Browser("https://127.0.0.1:%d" % inst.port)
    try:
        b.open("/app/")
        login_ui(b, acct)
        b.click_text("打开", "#main button")
    except BaseException:
        b.quit()
        raise
    return b


def ack_of(raw, encoding="utf-8"):
    """(MSA-1, MSA-2, MSA-3) parsed by python3-hl7 from a framed ACK."""
    assert raw.startswith(SB) and raw.endswith(EB + CR), raw
    msg = hl7.parse(raw[1:-2].decode(encoding))
    msa = msg.segment("MSA")
    return str(msa[1]), str(msa[2]), msg.unescape(str(msa[3]))


@unittest.skipUnless(HAVE_HL7, "needs Debian's python3-hl7 (scripts/deps.sh test)")
class HisInbound(IhosTestCase):
    def setUp(self):
        super().setUp()
        self.inst = inst = self.instance(demo=True)
        # the RIS presents a certificate of its own, pinned in exchange.conf
        self.ris_key, self.ris_crt = os.path.join(self.tmp, "ris.key"), os.path.join(self.tmp, "ris.crt")
        self.other_key, self.other_crt = os.path.join(self.tmp, "other.key"), os.path.join(self.tmp, "other.crt")
        for key, crt, cn in ((self.ris_key, self.ris_crt, "ris"), (self.other_key, self.other_crt, "other")):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                            "-days", "2", "-subj", "/CN=" + cn, "-keyout", key, "-out", crt], check=True,
                           capture_output=True, timeout=60)
        fp = subprocess.run(["openssl", "x509", "-in", self.ris_crt, "-noout", "-fingerprint", "-sha256"], check=True,
                            capture_output=True, text=True, timeout=60).stdout.strip().split("=", 1)[1]
        with open(inst.path("exchange.conf"), "w") as f:
            f.write(PEERS % {"pin": fp})
        os.chmod(inst.path("exchange.conf"), 0o600)
        inst.conf_changed = True  # the operator records the new file (trust manifest)
        inst.start()
        self.ports = {}
        deadline = time.time() + 10
        while len(self.ports) < 4 and time.time() < deadline:
            for e in inst.events("exchange.listening"):
                self.ports[e["peer"]] = int(e["port"])
            time.sleep(0.1)
        self.assertEqual(set(self.ports), {"his", "lis", "ris", "ecg"})
        self.h = Hospital(inst)
        me = self.h.s("patient042").req("GET", "/api/v1/me/patient").json()
        self.patient = me

    def send(self, peer, text, encoding="utf-8"):
        with hl7.client.MLLPClient("127.0.0.1", self.ports[peer], encoding=encoding) as c:
            c.socket.settimeout(20)
            return ack_of(c.send_message(text), encoding)

    def test_patients_results_and_acks(self):
        p = self.patient
        name, cert = p["name"], p["cert_no"]
        # linked by the ID number's blind index, the name agreeing
        self.assertEqual(self.send("his", adt("C1", "MRN-001", cert, name, encounter="V20250315001")),
                         ("AA", "C1", "patient linked"))
        # the same message id again: the same answer, nothing applied twice
        self.assertEqual(self.send("his", adt("C1", "MRN-001", cert, name, encounter="V20250315001")),
                         ("AA", "C1", "patient linked"))
        # the same ID number under another name: held for a person, never merged silently
        code, ctl, text = self.send("his", adt("C2", "MRN-002", cert, "张冒名"))
        self.assertEqual((code, ctl), ("AA", "C2"))
        self.assertIn("waits for review: the name differs", text)
        # an ID number ihos has no patient for: it waits unmatched
        other = id_number(birth="19700101", seq=777)
        self.assertIn("no ihos patient has this ID number", self.send("his", adt("C3", "MRN-003", other, "赵六"))[2])
        # no ID number at all: held (a name is never enough)
        self.assertIn("no ID number", self.send("his", adt("C4", "MRN-004", None, name))[2])

        # a lab result for the linked patient, sent twice under one id
        self.assertEqual(self.send("his", oru("R1", "MRN-001", cert, name)), ("AA", "R1", "result stored"))
        self.assertEqual(self.send("his", oru("R1", "MRN-001", cert, name))[0], "AA")
        visit = self.h.followup("patient042", "doctor03")
        self.assertTrue(visit)
        doc = self.h.s("doctor03")
        # the follow-up carries the hospital's outpatient visit as its first-diagnosis evidence
        ev = doc.req("GET", "/api/v1/visits/%d/evidence" % visit).json()["encounter"]
        self.assertEqual((ev["visit_no"], ev["encounter_at"], ev["department"], ev["doctor"]),
                         ("V20250315001", "2025-03-15T09:30:00", "心内科门诊", "李医生"))
        self.assertEqual(ev["diagnoses"], [{"code": "I10.x00", "name": "原发性高血压"}])
        r = doc.req("GET", "/api/v1/patients/%d/results" % p["id"])
        self.assertEqual(r.status, 200, r)
        results = r.json()["results"]
        self.assertEqual(len(results), 1)  # not applied twice
        res = results[0]
        self.assertEqual((res["kind"], res["title"], res["order_no"]), ("lab", "血常规", "FL001"))
        self.assertEqual(res["observed_at"], "2026-12-01T10:30:00")
        self.assertEqual([(o["code"], o["value"], o.get("flag")) for o in res["observations"]],
                         [("WBC", "6.5", "N"), ("HGB", "98", "L")])
        # … and in the doctor's console, in the visit
        if HAVE_BROWSER:
            b = doctor_visit_page(self.inst, self.h.accts["doctor03"])
            try:
                b.wait_text("白细胞计数", "#results")
                self.assertIn("原发性高血压", b.text("#evidence"))
                self.assertIn("偏低", b.text("#results"))
                b.shot("doctor-results")
                self.assertEqual(b.csp_violations(), [])
            finally:
                b.quit()
        # the patient sees their own; a doctor without a care relationship is refused (and it is audited)
        self.assertEqual(len(self.h.s("patient042").req("GET", "/api/v1/me/results").json()["results"]), 1)
        # a doctor with no care relationship (the patient record itself is refused to them)
        stranger = [u for u, a in sorted(self.h.accts.items()) if a.role == "doctor" and u != "doctor03" and
                    self.h.s(u).req("GET", "/api/v1/patients/%d" % p["id"]).status == 403][0]
        self.assertError(self.h.s(stranger).req("GET", "/api/v1/patients/%d/results" % p["id"]), 403, "forbidden")

        # refused as sent: AR with the reason, nothing recorded
        code, ctl, text = self.send("his", adt("C5", "MRN-005", cert, name, event="A01"))
        self.assertEqual((code, ctl), ("AR", "C5"))
        self.assertIn("ADT^A01 is not a message type this peer may send", text)
        code, _, text = self.send("his", "MSH|^~\\&|HIS|HOSP|OTHER|IH|20261201||ADT^A04|C6|P|2.4\rPID|1||X^^^H^MR\r")
        self.assertEqual(code, "AR")
        self.assertIn("MSH-5", text)
        code, _, _ = self.send("his", "this is not HL7")
        self.assertEqual(code, "AR")
        # a result without observations cannot be taken as sent: AR
        bad = oru("R2", "MRN-001", cert, name).split("\rOBX")[0] + "\r"
        code, ctl, text = self.send("his", bad)
        self.assertEqual((code, ctl), ("AR", "R2"))
        self.assertIn("without OBX", text)

        # ADT^A40: MRN-001 merged into MRN-100; the result stays with the patient
        merge = ("MSH|^~\\&|HIS|HOSP|IHOS|IH|20261201140000||ADT^A40^ADT_A39|M1|P|2.4\r"
                 "EVN|A40|20261201140000\rPID|1||MRN-100^^^HOSP^MR~%s^^^CHN^NI||%s^%s\rMRG|MRN-001^^^HOSP^MR\r"
                 % (cert, name[0], name[1:]))
        self.assertEqual(self.send("his", merge), ("AA", "M1", "merged"))
        self.assertEqual(len(doc.req("GET", "/api/v1/patients/%d/results" % p["id"]).json()["results"]), 1)
        self.assertEqual(self.send("his", oru("R3", "MRN-100", cert, name))[0], "AA")
        self.assertEqual(len(doc.req("GET", "/api/v1/patients/%d/results" % p["id"]).json()["results"]), 2)

        # a result naming an order of ihos's (OBR-2 placer IHO<id>) answers it: the lab order
        # becomes resulted and lists the result; an unknown placer number attaches to nothing
        order = doc.req("POST", "/api/v1/visits/%d/orders" % visit, {"kind": "lab", "code": "CBC", "name": "血常规"})
        self.assertEqual(order.status, 201, order)
        order = order.json()
        self.assertEqual(self.send("his", oru("R6", "MRN-100", cert, name, placer=order["order_no"]))[0], "AA")
        self.assertEqual(self.send("his", oru("R7", "MRN-100", cert, name, placer="IHO999999"))[0], "AA")
        # … and one for another person never attaches to it: a link not confirmed for anyone,
        # or one confirmed for another patient
        self.assertEqual(self.send("his", oru("R8", "MRN-003", other, "赵六", placer=order["order_no"]))[0], "AA")
        p2 = self.h.s("patient010").req("GET", "/api/v1/me/patient").json()
        self.assertEqual(self.send("his", adt("C9", "MRN-010", p2["cert_no"], p2["name"])), ("AA", "C9", "patient linked"))
        self.assertEqual(self.send("his", oru("R9", "MRN-010", p2["cert_no"], p2["name"], placer=order["order_no"]))[0],
                         "AA")
        mine = [o for o in doc.req("GET", "/api/v1/visits/%d/orders" % visit).json()["orders"] if o["id"] == order["id"]]
        self.assertEqual(mine[0]["status"], "resulted")
        results = doc.req("GET", "/api/v1/patients/%d/results" % p["id"]).json()["results"]
        self.assertEqual(mine[0]["result_ids"], [r["id"] for r in results if r["order_id"] == order["id"]])
        self.assertEqual(len(mine[0]["result_ids"]), 1)
        self.assertEqual(sum(1 for r in results if r["order_id"]), 1)
        self.assertError(doc.req("POST", "/api/v1/orders/%d/cancel" % order["id"], {"reason": "结果已出"}),
                         409, "invalid_state")

        # the waiting links, for the system administrator; linking needs the ID numbers to agree
        admins = setup_admins(self.inst)
        sysa = admins["sysadmin"][1]
        links = sysa.req("GET", "/api/v1/his-links").json()["links"]
        by_mrn = {l["mrn"]: l for l in links}
        self.assertEqual({"MRN-002", "MRN-003", "MRN-004"}, set(by_mrn))
        self.assertEqual(by_mrn["MRN-002"]["status"], "held")
        self.assertEqual(by_mrn["MRN-003"]["status"], "unmatched")
        self.assertNotIn(cert, json.dumps(links))  # masked for the administrator
        self.assertError(sysa.req("POST", "/api/v1/his-links/%d/resolve" % by_mrn["MRN-003"]["id"],
                                  {"patient_id": p["id"]}), 400, "invalid_field")
        r = sysa.req("POST", "/api/v1/his-links/%d/resolve" % by_mrn["MRN-002"]["id"],
                     {"patient_id": None, "reason": "冒用身份，已通知医务科"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["status"], "rejected")
        self.assertError(doc.req("GET", "/api/v1/his-links"), 403, "forbidden")

        # a result naming an order that came on a link held for review answers the order once
        # a person links it to the order's patient (not before)
        order2 = doc.req("POST", "/api/v1/visits/%d/orders" % visit, {"kind": "lab", "code": "GLU", "name": "血糖"})
        self.assertEqual(order2.status, 201, order2)
        order2 = order2.json()
        self.assertIn("waits for review", self.send("his", adt("C10", "MRN-006", cert, name + "某"))[2])
        self.assertEqual(self.send("his", oru("R10", "MRN-006", cert, name + "某", placer=order2["order_no"]))[0],
                         "AA")

        def order2_now():
            return [o for o in doc.req("GET", "/api/v1/visits/%d/orders" % visit).json()["orders"]
                    if o["id"] == order2["id"]][0]
        self.assertEqual((order2_now()["status"], order2_now()["result_ids"]), ("placed", []))
        held = [l for l in sysa.req("GET", "/api/v1/his-links").json()["links"] if l["mrn"] == "MRN-006"][0]
        r = sysa.req("POST", "/api/v1/his-links/%d/resolve" % held["id"], {"patient_id": p["id"]})
        self.assertEqual(r.status, 200, r)
        o2 = order2_now()
        self.assertEqual(o2["status"], "resulted")
        results = doc.req("GET", "/api/v1/patients/%d/results" % p["id"]).json()["results"]
        self.assertEqual(len(o2["result_ids"]), 1)
        self.assertEqual(o2["result_ids"], [x["id"] for x in results if x["order_id"] == order2["id"]])
        self.assertEqual(mine[0]["result_ids"], [x["id"] for x in results if x["order_id"] == order["id"]])

    def test_gb18030_peer_and_framing(self):
        p = self.patient
        name, cert = p["name"], p["cert_no"]
        # a GB18030 peer: the Chinese name decodes to the same text, so the link is made
        self.assertEqual(self.send("lis", adt("G1", "L-001", cert, name, sending="LIS"), encoding="gb18030"),
                         ("AA", "G1", "patient linked"))
        # frames split across reads, and two frames in one write: each ACKed, in order
        s = socket.create_connection(("127.0.0.1", self.ports["his"]), timeout=20)
        try:
            frame = SB + adt("S1", "MRN-010", cert, name).encode() + EB + CR
            for i in range(0, len(frame), 7):
                s.sendall(frame[i:i + 7])
                time.sleep(0.01)
            two = (SB + adt("S2", "MRN-011", cert, name).encode() + EB + CR +
                   SB + adt("S3", "MRN-012", cert, name).encode() + EB + CR)
            s.sendall(two)
            got = b""
            deadline = time.time() + 20
            while got.count(EB + CR) < 3 and time.time() < deadline:
                got += s.recv(65536)
        finally:
            s.close()
        acks = [ack_of(SB + a.split(SB, 1)[1] + EB + CR) for a in got.split(EB + CR) if a]
        self.assertEqual([(a[0], a[1]) for a in acks], [("AA", "S1"), ("AA", "S2"), ("AA", "S3")])
        # a TLS peer: MLLP inside TLS, ihosd's certificate verified, the peer's own pinned
        def tls_send(frame, cert=None):
            ctx = self.inst.ssl_context()
            if cert:
                ctx.load_cert_chain(*cert)
            raw = socket.create_connection(("127.0.0.1", self.ports["ris"]), timeout=10)
            got, t = b"", None
            try:
                t = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
                t.sendall(frame)
                while not got.endswith(EB + CR):
                    chunk = t.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError, socket.timeout):
                pass
            finally:
                (t or raw).close()
            return got

        frame = SB + adt("T1", "R-001", cert, name, sending="RIS").encode() + EB + CR
        self.assertEqual(ack_of(tls_send(frame, (self.ris_crt, self.ris_key))), ("AA", "T1", "patient linked"))
        # without a certificate, or with another one, nothing is taken
        self.assertEqual(tls_send(frame.replace(b"T1", b"T2")), b"")
        self.assertEqual(tls_send(frame.replace(b"T1", b"T3"), (self.other_crt, self.other_key)), b"")
        self.assertTrue(self.inst.wait_events("exchange.peer_refused"))
        # plaintext to the TLS listener is not answered
        plain = socket.create_connection(("127.0.0.1", self.ports["ris"]), timeout=5)
        try:
            plain.sendall(SB + adt("T4", "R-002", cert, name, sending="RIS").encode() + EB + CR)
            try:
                answer = plain.recv(65536)
            except (socket.timeout, ConnectionResetError):
                answer = b""
        finally:
            plain.close()
        self.assertNotIn(b"MSA", answer)
        # a connection from outside the peer's allow_from is closed unread
        # (the HIS's, from its allowed 127.0.0.1, went through above)
        refused_before = len(self.inst.events("exchange.peer_refused"))
        blocked = socket.create_connection(("127.0.0.1", self.ports["ecg"]), timeout=5)
        try:
            try:
                blocked.sendall(SB + oru("E1", "E-001", cert, name, sending="ECG").encode() + EB + CR)
                answer = blocked.recv(65536)
            except (socket.timeout, ConnectionResetError, BrokenPipeError):
                answer = b""
        finally:
            blocked.close()
        self.assertEqual(answer, b"")
        deadline = time.time() + 10
        while len(self.inst.events("exchange.peer_refused")) == refused_before and time.time() < deadline:
            time.sleep(0.1)
        last = self.inst.events("exchange.peer_refused")[-1]
        self.assertEqual((last["peer"], last["reason"]), ("ecg", "its address is not in allow_from"))


OUT_PEERS = """[peer his]
address = 127.0.0.1:%(his)d
tls = false
charset = UTF-8
version = 2.5
sending_application = HIS
sending_facility = HOSP
receiving_application = IHOS
receiving_facility = IH
accept = ADT^A04,ORU^R01
send = OML^O21,OMG^O19,RDE^O11,DFT^P03,MDM^T02
retry_max = 2
ack_timeout = 3

[peer lis]
address = 127.0.0.1:%(lis)d
tls = false
charset = GB18030
version = 2.3
sending_application = LIS
sending_facility = HOSP
receiving_application = IHOS
receiving_facility = IH
accept = ORU^R01
send = ORM^O01
orders = lab
retry_max = 2
ack_timeout = 3
"""


@unittest.skipUnless(HAVE_HL7, "needs Debian's python3-hl7 (scripts/deps.sh test)")
class HisOutbound(IhosTestCase):
    """What ihos tells the hospital, through the outbox: orders, the
    prescription for the hospital pharmacy, charges, the signed record; AE
    dead-lettered and retried by a person; a peer down for a minute and an
    ihosd killed while delivering lose nothing and keep the order."""

    def setUp(self):
        super().setUp()
        from tests.integration.hl7_peer import HisPeer
        self.refuse = set()  # order codes the HIS answers AE for
        self.his = HisPeer(decide=self._decide).start()
        self.lis = HisPeer(encoding="gb18030").start()
        self.addCleanup(self.his.stop)
        self.addCleanup(self.lis.stop)
        self.inst = inst = self.instance(demo=True)
        with open(inst.path("exchange.conf"), "w") as f:
            f.write(OUT_PEERS % {"his": self.his.port, "lis": self.lis.port})
        os.chmod(inst.path("exchange.conf"), 0o600)
        inst.conf_changed = True
        inst.start()
        self.h = Hospital(inst)
        self.sysa_acct, self.sysa = setup_admins(inst)["sysadmin"]

    def _decide(self, msg):
        try:
            code = str(msg.segment("OBR")[4][0][0])
        except (KeyError, IndexError):
            return "AA"
        return "AE" if code in self.refuse else "AA"

    def wait_for(self, peer, count, timeout=30):
        deadline = time.time() + timeout
        while len(peer.messages()) < count and time.time() < deadline:
            time.sleep(0.05)
        got = peer.messages()
        self.assertGreaterEqual(len(got), count, [c for c, _ in got])
        return got

    def outbox(self, state):
        r = self.sysa.req("GET", "/api/v1/his-outbox?state=" + state)
        self.assertEqual(r.status, 200, r)
        return r.json()["messages"]

    def order(self, doc, visit, code="CBC", kind="lab", **extra):
        body = {"kind": kind, "code": code, "name": "血常规" if kind == "lab" else "胸部CT平扫"}
        body.update(extra)
        r = self.h.s(doc).req("POST", "/api/v1/visits/%d/orders" % visit, body)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def test_orders_rx_charges_and_records(self):
        h = self.h
        pat, doc = "patient042", "doctor03"
        me = h.s(pat).req("GET", "/api/v1/me/patient").json()
        visit = h.followup(pat, doc)
        h.record(doc, visit)                                   # MDM^T02
        lab = self.order(doc, visit, note="乏力一周\n复查")       # OML^O21 to the HIS, ORM^O01 to the LIS
        img = self.order(doc, visit, kind="imaging", code="CT001", modality="CT")  # OMG^O19
        self.assertTrue(img["accession"].startswith("A") and len(img["accession"]) <= 16, img)
        # the order is checked: only the treating doctor, a known modality
        self.assertError(h.s("doctor01").req("POST", "/api/v1/visits/%d/orders" % visit,
                                             {"kind": "lab", "code": "X", "name": "x"}), 403, "forbidden")
        self.assertError(h.s(doc).req("POST", "/api/v1/visits/%d/orders" % visit,
                                      {"kind": "imaging", "code": "X", "name": "x", "modality": "ZZ"}),
                         400, "invalid_field")
        self.assertError(h.s(doc).req("POST", "/api/v1/visits/%d/orders" % visit,
                                      {"kind": "lab", "code": "A|B", "name": "x"}), 400, "invalid_field")
        orders = h.s(pat).req("GET", "/api/v1/visits/%d/orders" % visit).json()["orders"]
        self.assertEqual([o["order_no"] for o in orders], [lab["order_no"], img["order_no"]])
        # the patient wants the medicine from the hospital pharmacy: RDE^O11 once approved
        rx = h.prescribe(doc, visit)
        r = h.s(pat).req("POST", "/api/v1/prescriptions/%d/dispensing" % rx["id"], {"dispensing": "hospital"})
        self.assertEqual(r.status, 200, r)
        self.assertError(h.s("patient010").req("POST", "/api/v1/prescriptions/%d/dispensing" % rx["id"],
                                               {"dispensing": "delivery"}), 403, "forbidden")
        r = h.s("pharmacist01").req("POST", "/api/v1/prescriptions/%d/review" % rx["id"], {"decision": "approve"})
        self.assertEqual(r.status, 200, r)
        self.assertError(h.s(pat).req("POST", "/api/v1/prescriptions/%d/dispensing" % rx["id"],
                                      {"dispensing": "delivery"}), 409, "invalid_state")
        h.pay(pat, visit, rx=rx["id"])                          # DFT^P03

        got = self.wait_for(self.his, 5)
        types = [str(m.segment("MSH")[9][0][0]) + "^" + str(m.segment("MSH")[9][0][1]) for _, m in got]
        self.assertEqual(types, ["MDM^T02", "OML^O21", "OMG^O19", "RDE^O11", "DFT^P03"])  # in order
        for _, m in got:
            pid = m.segment("PID")
            self.assertEqual(str(pid[5]), me["name"])
            self.assertIn(me["cert_no"] + "^^^^NI", str(pid[3]))
            self.assertEqual(str(m.segment("MSH")[5]), "HIS")
        mdm, oml, omg, rde, dft = (m for _, m in got)
        self.assertEqual(str(mdm.segment("TXA")[17]), "AU")
        self.assertIn("原发性高血压", str(mdm))
        self.assertEqual(str(oml.segment("ORC")[2]), lab["order_no"])
        self.assertEqual(str(oml.segment("OBR")[13]), "乏力一周\\.br\\复查")  # escaped, never a new segment
        self.assertEqual(str(omg.segment("OBR")[18]), img["accession"])
        self.assertEqual(str(omg.segment("OBR")[24]), "CT")
        self.assertIn("氨氯地平", str(rde.segment("RXE")[2]))
        self.assertEqual(str(dft.segment("FT1")[6]), "CG")
        # the LIS (v2.3, GB18030) gets the lab order as ORM^O01, the name intact
        lis = self.wait_for(self.lis, 1)
        self.assertEqual(str(lis[0][1].segment("MSH")[9]), "ORM^O01")
        self.assertEqual(str(lis[0][1].segment("PID")[5]), me["name"])
        self.assertEqual(len(lis), 1)  # only what its send list takes

        # every row sent; the control id the peer saw is the row's
        deadline = time.time() + 10
        while len(self.outbox("sent")) < 6 and time.time() < deadline:
            time.sleep(0.1)
        sent = self.outbox("sent")
        self.assertEqual(len(sent), 6, sent)
        self.assertEqual({m["control_id"] for m in sent}, {c for c, _ in got} | {lis[0][0]})
        m = self.inst.metrics()
        self.assertIn('ihos_exchange_sent_total{peer="his"} 5', m)
        self.assertNotIn('state="sent"', m)  # the gauges are the backlog, not a count of every message sent

        # AE: dead-lettered with an alert, the next order still flows; a person retries it
        self.refuse.add("BAD")
        bad = self.order(doc, visit, code="BAD")
        after = self.order(doc, visit, code="GLU")
        got = self.wait_for(self.his, 7)
        self.assertEqual([str(m.segment("OBR")[2]) for _, m in got[5:]], [bad["order_no"], after["order_no"]])
        self.assertTrue(self.inst.wait_events("exchange.dead"))
        dead = self.outbox("dead")
        self.assertEqual(len(dead), 1, dead)
        self.assertEqual((dead[0]["object"], dead[0]["ack_code"]), ("order-%d" % bad["id"], "AE"))
        self.assertIsNone(dead[0]["detail"])  # what the HIS wrote may name the patient: kept sealed
        self.assertError(h.s(doc).req("GET", "/api/v1/his-outbox?state=dead"), 403, "forbidden")
        self.refuse.clear()
        if HAVE_BROWSER:  # the system administrator's console: 外发消息, the refused row, 重新发送
            b = Browser("https://127.0.0.1:%d" % self.inst.port)
            try:
                b.open("/app/")
                login_ui(b, self.sysa_acct)
                b.click_text("外发消息", "nav a")
                b.wait_text(dead[0]["control_id"], "#his-outbox")
                self.assertIn("对方应答原文已加密保存", b.text("#his-outbox"))
                b.click_in_row("#his-outbox tbody tr", dead[0]["control_id"])
                b.wait_text("没有该状态的消息", "#his-outbox")
                self.assertEqual(b.csp_violations(), [])
            finally:
                b.quit()
        else:
            r = self.sysa.req("POST", "/api/v1/his-outbox/%d/retry" % dead[0]["id"])
            self.assertEqual(r.status, 200, r)
        got = self.wait_for(self.his, 8)
        self.assertEqual(got[7][0], dead[0]["control_id"])  # the same MSH-10
        deadline = time.time() + 10
        while self.outbox("dead") and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.outbox("dead"), [])
        self.assertError(self.sysa.req("POST", "/api/v1/his-outbox/%d/retry" % dead[0]["id"]), 409, "invalid_state")

        # the doctor withdraws the GLU order: the HIS and the LIS get it again with ORC-1 CA and
        # the reason; only the treating doctor, only once, only with a reason
        self.assertError(h.s("doctor01").req("POST", "/api/v1/orders/%d/cancel" % after["id"], {"reason": "开错了"}),
                         403, "forbidden")
        self.assertError(h.s(doc).req("POST", "/api/v1/orders/%d/cancel" % after["id"], {}), 400, "invalid_field")
        lis_before = len(self.lis.messages())
        if HAVE_BROWSER:  # the doctor's console: the order's row, 撤销理由, 撤销申请
            b = doctor_visit_page(self.inst, h.accts[doc])
            try:
                b.wait_text(after["order_no"], "#orders")
                row = [r for r in b.all("#orders tbody tr") if after["order_no"] in r.text][0]
                row.find_element(By.NAME, "reason").send_keys("开错了项目，改开血脂")
                b.click_in_row("#orders tbody tr", after["order_no"])
                b.wait_text("已撤销：开错了项目，改开血脂", "#orders")
                self.assertEqual(b.csp_violations(), [])
            finally:
                b.quit()
        else:
            r = h.s(doc).req("POST", "/api/v1/orders/%d/cancel" % after["id"], {"reason": "开错了项目，改开血脂"})
            self.assertEqual(r.status, 200, r)
        got = self.wait_for(self.his, 9)
        orc = got[8][1].segment("ORC")
        self.assertEqual((str(orc[1]), str(orc[2])), ("CA", after["order_no"]))
        self.assertEqual(str(orc[16]), "^开错了项目，改开血脂")
        self.assertEqual(str(got[8][1].segment("MSH")[9][0][0]), "OML")
        lis = self.wait_for(self.lis, lis_before + 1)
        self.assertEqual(str(lis[-1][1].segment("ORC")[1]), "CA")
        self.assertError(h.s(doc).req("POST", "/api/v1/orders/%d/cancel" % after["id"], {"reason": "再撤一次"}),
                         409, "invalid_state")
        o = [x for x in h.s(doc).req("GET", "/api/v1/visits/%d/orders" % visit).json()["orders"] if x["id"] == after["id"]][0]
        self.assertEqual((o["status"], o["cancel_reason"]), ("cancelled", "开错了项目，改开血脂"))

        # an order the HIS refused, then withdrawn: the cancel goes only to the LIS, which had it, and
        # the refused placing is not sent again now
        self.refuse.add("TG")
        tg = self.order(doc, visit, code="TG")
        self.wait_for(self.his, 10)
        lis = self.wait_for(self.lis, lis_before + 2)
        deadline = time.time() + 10
        while not [m for m in self.outbox("dead") if m["object"] == "order-%d" % tg["id"]] and time.time() < deadline:
            time.sleep(0.1)
        dead = [m for m in self.outbox("dead") if m["object"] == "order-%d" % tg["id"]]
        self.assertEqual([m["peer"] for m in dead], ["his"])
        r = h.s(doc).req("POST", "/api/v1/orders/%d/cancel" % tg["id"], {"reason": "重复开单"})
        self.assertEqual(r.status, 200, r)
        lis = self.wait_for(self.lis, lis_before + 3)
        self.assertEqual((str(lis[-1][1].segment("ORC")[1]), str(lis[-1][1].segment("ORC")[2])), ("CA", tg["order_no"]))
        def tg_rows():
            return sorted((m["peer"], m["state"]) for s in ("pending", "sending", "sent", "dead", "unknown")
                          for m in self.outbox(s) if m["object"] == "order-%d" % tg["id"])
        want = [("his", "dead"), ("lis", "sent"), ("lis", "sent")]
        deadline = time.time() + 10
        while tg_rows() != want and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(tg_rows(), want)
        self.assertEqual(len(self.his.messages()), 10)  # nothing more to the HIS
        self.assertError(self.sysa.req("POST", "/api/v1/his-outbox/%d/retry" % dead[0]["id"]), 409, "invalid_state")

    def test_peer_down_and_kill_during_delivery(self):
        h = self.h
        pat, doc = "patient042", "doctor03"
        visit = h.followup(pat, doc)
        # the HIS is down for a minute: orders placed meanwhile wait, in order
        self.his.stop()
        placed = [self.order(doc, visit, code="L%02d" % i)["order_no"] for i in range(5)]
        self.assertTrue(self.inst.wait_events("exchange.retry"))
        time.sleep(float(os.environ.get("IHOS_PEER_DOWN_S", "60")))
        self.assertEqual([m for m in self.outbox("sent") if m["peer"] == "his"], [])
        self.assertEqual(len([m for m in self.outbox("pending") if m["peer"] == "his"]), 5)
        self.his.start()
        got = self.wait_for(self.his, 5)
        self.assertEqual([str(m.segment("OBR")[2]) for _, m in got], placed)  # nothing lost, order kept
        self.assertTrue(self.inst.wait_events("exchange.peer_up"))

        # kill -9 while a message waits for its ACK: after the restart it is sent
        # again with the same MSH-10 (the one documented duplicate), then the rest
        self.his.hold = True
        more = [self.order(doc, visit, code="K%02d" % i)["order_no"] for i in range(3)]
        deadline = time.time() + 20
        while len(self.his.messages()) < 6 and time.time() < deadline:
            time.sleep(0.05)
        in_flight = self.his.messages()[5][0]
        self.inst.kill()
        self.his.hold = False
        self.inst.start()
        try:
            got = self.wait_for(self.his, 9)
        except AssertionError:
            print("\n".join(l for l in self.inst.log_lines if "exchange" in l or "lease" in l))
            raise
        ids = [c for c, _ in got[5:]]
        self.assertEqual(ids[0], in_flight)
        self.assertEqual(ids.count(in_flight), 2, ids)  # at most the one in flight twice
        orders = []
        for c, m in got[5:]:
            no = str(m.segment("OBR")[2])
            if no not in orders:
                orders.append(no)
        self.assertEqual(orders, more)
        self.assertTrue(self.inst.wait_events("exchange.recovered"))
        deadline = time.time() + 10
        while len([m for m in self.outbox("sent") if m["peer"] == "his"]) < 8 and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(len([m for m in self.outbox("sent") if m["peer"] == "his"]), 8)


@unittest.skipUnless(HAVE_HL7, "needs Debian's python3-hl7 (scripts/deps.sh test)")
class HisOutboundTls(IhosTestCase):
    """The sender inside TLS: it verifies the peer's certificate against the
    peer's ca_file and shows its own; a peer whose certificate another CA
    signed gets nothing (the messages wait, exchange.retry says why)."""

    def _ca(self, name):
        key, crt = os.path.join(self.tmp, name + "-ca.key"), os.path.join(self.tmp, name + "-ca.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "2", "-subj", "/CN=" + name + " CA", "-keyout", key, "-out", crt], check=True,
                       capture_output=True, timeout=60)
        return key, crt

    def _server_ctx(self, ca_key, ca_crt, name, client_ca=None):
        key, csr, crt = (os.path.join(self.tmp, name + x) for x in (".key", ".csr", ".crt"))
        ext = os.path.join(self.tmp, name + ".ext")
        subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
                        "/CN=127.0.0.1", "-keyout", key, "-out", csr], check=True, capture_output=True, timeout=60)
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
                        "-days", "2", "-extfile", ext, "-out", crt], check=True, capture_output=True, timeout=60)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        ctx.verify_mode = ssl.CERT_REQUIRED  # the HIS wants to know who sends: ihosd's own certificate
        ctx.load_verify_locations(client_ca or self.inst.path("keys", "tls.crt"))
        return ctx

    def test_tls_peer_verified_both_ways(self):
        from tests.integration.hl7_peer import HisPeer
        self.inst = inst = self.instance(demo=True)
        good_key, good_ca = self._ca("his")
        other_key, _ = self._ca("other")
        his = HisPeer(ssl_context=self._server_ctx(good_key, good_ca, "his")).start()
        self.addCleanup(his.stop)
        # a peer whose certificate a CA the configuration does not name signed
        rogue = HisPeer(ssl_context=self._server_ctx(other_key, os.path.join(self.tmp, "other-ca.pem"), "rogue")).start()
        self.addCleanup(rogue.stop)
        # a peer that takes only clients another CA vouches for: it refuses ihosd's certificate
        strict = HisPeer(ssl_context=self._server_ctx(good_key, good_ca, "strict",
                                                      client_ca=os.path.join(self.tmp, "other-ca.pem"))).start()
        self.addCleanup(strict.stop)
        conf = ""
        for name, port in (("his", his.port), ("rogue", rogue.port), ("strict", strict.port)):
            conf += ("[peer %s]\naddress = 127.0.0.1:%d\ntls = true\nca_file = %s\ncharset = UTF-8\nversion = 2.5\n"
                     "sending_application = HIS\nsending_facility = HOSP\nreceiving_application = IHOS\n"
                     "receiving_facility = IH\nsend = OML^O21\nretry_max = 2\nack_timeout = 3\n\n") % (name, port, good_ca)
        with open(inst.path("exchange.conf"), "w") as f:
            f.write(conf)
        os.chmod(inst.path("exchange.conf"), 0o600)
        inst.conf_changed = True
        inst.start()
        h = Hospital(inst)
        visit = h.followup("patient042", "doctor03")
        r = h.s("doctor03").req("POST", "/api/v1/visits/%d/orders" % visit, {"kind": "lab", "code": "CBC", "name": "血常规"})
        self.assertEqual(r.status, 201, r)
        deadline = time.time() + 30
        while not his.messages() and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(len(his.messages()), 1, inst.events("exchange.retry"))
        self.assertEqual(str(his.messages()[0][1].segment("ORC")[2]), r.json()["order_no"])
        # ihosd showed its own certificate
        with open(inst.path("keys", "tls.crt")) as f:
            own = ssl.PEM_cert_to_DER_cert(f.read())
        self.assertEqual(his.peer_certs[0], own)
        # the rogue peer got nothing: the handshake failed on its certificate
        retries = [e for e in inst.wait_events("exchange.retry", timeout=20) if e.get("peer") == "rogue"]
        deadline = time.time() + 20
        while not retries and time.time() < deadline:
            time.sleep(0.2)
            retries = [e for e in inst.events("exchange.retry") if e.get("peer") == "rogue"]
        self.assertTrue(retries)
        self.assertIn("TLS", retries[0]["reason"])
        self.assertEqual(rogue.messages(), [])
        # the strict peer read nothing it would act on, and ihos says why it waits
        deadline = time.time() + 20
        strict_retries = []
        while not strict_retries and time.time() < deadline:
            time.sleep(0.2)
            strict_retries = [e for e in inst.events("exchange.retry") if e.get("peer") == "strict"]
        self.assertTrue(strict_retries)
        self.assertIn("closed the connection before its ACK", strict_retries[0]["reason"])
        self.assertEqual(strict.messages(), [])

try:
    from tests.integration.pacs_peer import HAVE_PACS, Pacs, ct_image, ecg, ecg_value, LEADS
except ImportError:  # pragma: no cover
    HAVE_PACS = False


RIS = """[peer ris]
listen = 127.0.0.1:0
tls = false
charset = UTF-8
version = 2.4
sending_application = RIS
sending_facility = HOSP
receiving_application = IHOS
receiving_facility = IH
accept = ADT^A04,ORU^R01
"""


@unittest.skipUnless(HAVE_PACS and HAVE_HL7,
                     "needs orthanc, orthanc-dicomweb, dcmtk, haproxy, python3-hl7 and root (scripts/deps.sh test)")
class PacsLink(IhosTestCase):
    """Imaging orders through the hospital's PACS (Debian's Orthanc behind TLS,
    dcmtk as the modality): the worklist entry the modality finds, the study
    linked by accession number, opened through ihosd by the treating doctor
    and refused (403, audited) to another; a 12-lead ECG as samples."""

    def setUp(self):
        super().setUp()
        self.wl = os.path.join(self.tmp, "worklists")
        self.pacs = Pacs(self.tmp, self.wl).start()
        self.addCleanup(self.pacs.stop)
        self.inst = inst = self.instance(demo=True)
        # ihosd starts with the PACS's previous password: the test rotates it (below)
        with open(inst.path("keys", "pacs-password"), "w") as f:
            f.write("the-previous-password\n")
        os.chmod(inst.path("keys", "pacs-password"), 0o600)
        inst.set_conf("pacs", "url", self.pacs.url)
        inst.set_conf("pacs", "username", "ihos")
        inst.set_conf("pacs", "ca_file", self.pacs.ca)
        inst.set_conf("pacs", "worklist_dir", self.wl)
        inst.set_conf("pacs", "poll_seconds", "1")
        with open(inst.path("exchange.conf"), "w") as f:  # the RIS sends the radiologists' reports
            f.write(RIS)
        os.chmod(inst.path("exchange.conf"), 0o600)
        inst.conf_changed = True
        inst.start()
        self.h = Hospital(inst)

    def ris(self, text):
        """(MSA-1, MSA-2, MSA-3) of a message the RIS sends."""
        port = self.wait(lambda: [int(e["port"]) for e in self.inst.events("exchange.listening")])[0]
        with hl7.client.MLLPClient("127.0.0.1", port) as c:
            c.socket.settimeout(20)
            return ack_of(c.send_message(text))

    def wait(self, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = what()
            if v:
                return v
            time.sleep(0.2)
        self.fail("timed out")

    def order(self, doc, visit, modality, code):
        r = self.h.s(doc).req("POST", "/api/v1/visits/%d/orders" % visit,
                              {"kind": "imaging", "code": code, "name": "胸部CT平扫", "modality": modality})
        self.assertEqual(r.status, 201, r)
        return r.json()

    def order_of(self, doc, visit, oid):
        return [o for o in self.h.s(doc).req("GET", "/api/v1/visits/%d/orders" % visit).json()["orders"]
                if o["id"] == oid][0]

    def test_worklist_study_and_access(self):
        h = self.h
        pat, doc, other = "patient042", "doctor03", "doctor01"
        me = h.s(pat).req("GET", "/api/v1/me/patient").json()
        visit = h.followup(pat, doc)
        # the operator changed Orthanc's password and the file: the first 401 reads it again
        with open(self.inst.path("keys", "pacs-password"), "w") as f:
            f.write(self.pacs.password + "\n")
        ct = self.order(doc, visit, "CT", "CT001")
        acc = ct["accession"]
        # the worklist entry, written whole, found by the modality's query
        wl = os.path.join(self.wl, acc + ".wl")
        self.wait(lambda: os.path.exists(wl))
        self.assertEqual([f for f in os.listdir(self.wl) if f.startswith(".")], [])  # no half-written file left
        # written once: the polls after it (every second here) leave the file as it is
        st = os.stat(wl)
        time.sleep(2.5)
        self.assertEqual((os.stat(wl).st_ino, os.stat(wl).st_mtime_ns), (st.st_ino, st.st_mtime_ns))
        # the order keeps its Study Instance UID when its entry is written again (a lost file, another node)
        def study_uid():
            out = subprocess.run(["dcmdump", "+P", "0020,000d", wl], capture_output=True, text=True, timeout=30).stdout
            return out.split("[", 1)[1].split("]", 1)[0]
        first = study_uid()
        self.assertRegex(first, r"^2\.25\.[1-9][0-9]{0,38}$")
        os.remove(wl)
        self.wait(lambda: os.path.exists(wl))
        self.assertEqual(study_uid(), first)
        found = self.pacs.worklist_query(acc)
        self.assertIn("Received Final Find Response (Success)", found)
        self.assertIn("[%s]" % acc, found)
        self.assertRegex(found, r"PN \[%s ?\]" % me["name"])  # the patient, in UTF-8 (DICOM pads to even length)
        self.assertIn("[胸部CT平扫]", found)
        self.assertIn("[CT]", found)
        self.assertNotIn(acc, self.pacs.worklist_query("A0000000000000"))
        # nothing to open yet
        self.assertError(h.s(doc).req("GET", "/api/v1/orders/%d/study" % ct["id"]), 404, "not_found")

        # the modality stores the study; ihos links it by accession number and removes the entry
        self.pacs.store(ct_image(self.tmp, acc, me["name"], "IH%d" % me["id"]))
        linked = self.wait(lambda: self.order_of(doc, visit, ct["id"])["study_uid"])
        self.assertTrue(linked.startswith("2.25."))
        self.assertTrue(self.inst.wait_events("pacs.password_reloaded"))
        self.assertFalse([l for l in self.inst.log_lines if self.pacs.password in l])  # never in the log
        self.wait(lambda: not os.path.exists(wl))
        self.assertTrue(self.inst.wait_events("pacs.study_linked"))
        self.assertEqual(self.order_of(doc, visit, ct["id"])["status"], "imaged")
        # the radiologist's report (ORU^R01, OBR-2 our placer number) answers the imaged order
        self.assertEqual(self.ris(adt("P1", "MRN-042", me["cert_no"], me["name"], sending="RIS")),
                         ("AA", "P1", "patient linked"))
        self.assertEqual(self.ris(oru("P2", "MRN-042", me["cert_no"], me["name"], "RIS", ct["order_no"], "CT"))[:2],
                         ("AA", "P2"))
        o = self.order_of(doc, visit, ct["id"])
        self.assertEqual((o["status"], len(o["result_ids"])), ("resulted", 1))

        # the treating doctor opens it through ihosd; the image comes through ihosd too
        r = h.s(doc).req("GET", "/api/v1/orders/%d/study" % ct["id"])
        self.assertEqual(r.status, 200, r)
        study = r.json()
        self.assertEqual(study["study_uid"], linked)
        series = study["series"][0]
        self.assertEqual(series["modality"], "CT")
        inst0 = series["instances"][0]
        r = h.s(doc).req("GET", "/api/v1/orders/%d/image?series=%s&instance=%s" % (ct["id"], series["uid"], inst0["uid"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "image/jpeg")
        self.assertTrue(r.body.startswith(b"\xff\xd8"))  # a JPEG
        # not a UID: refused before anything reaches the PACS
        self.assertError(h.s(doc).req("GET", "/api/v1/orders/%d/image?series=..%%2F..&instance=1" % ct["id"]),
                         400, "invalid_field")
        # another doctor: 403, and the refusal is in the journal
        self.assertError(h.s(other).req("GET", "/api/v1/orders/%d/study" % ct["id"]), 403, "forbidden")
        self.assertError(h.s(other).req("GET", "/api/v1/orders/%d/image?series=%s&instance=%s"
                                        % (ct["id"], series["uid"], inst0["uid"])), 403, "forbidden")
        admins = setup_admins(self.inst)
        audit = admins["auditadmin"][1]
        r = audit.req("GET", "/api/v1/audit/events?action=pacs.study_open")
        self.assertEqual(r.status, 200, r)
        ev = r.json()["events"]
        self.assertIn((doc, "success", str(ct["id"])), [(e["actor_username"], e["outcome"], e["object_id"]) for e in ev])
        self.assertNotIn(other, [e["actor_username"] for e in ev])
        denied = audit.req("GET", "/api/v1/audit/events?action=access.denied").json()["events"]
        self.assertIn((other, "his_order", str(ct["id"])),
                      [(e["actor_username"], e["object_type"], e["object_id"]) for e in denied])

        # a 12-lead ECG stored as a DICOM waveform: its samples, lead by lead
        eo = self.order(doc, visit, "ECG", "ECG12")
        self.wait(lambda: os.path.exists(os.path.join(self.wl, eo["accession"] + ".wl")))
        # its report comes before its study: the order is still asked of the PACS, answered once the study links
        self.assertEqual(self.ris(oru("P3", "MRN-042", me["cert_no"], me["name"], "RIS", eo["order_no"], "EC"))[0],
                         "AA")
        o = self.order_of(doc, visit, eo["id"])
        self.assertEqual((o["status"], len(o["result_ids"])), ("placed", 1))
        self.pacs.store(ecg(self.tmp, eo["accession"], me["name"], "IH%d" % me["id"]))
        self.wait(lambda: self.order_of(doc, visit, eo["id"])["study_uid"])
        self.assertEqual(self.order_of(doc, visit, eo["id"])["status"], "resulted")
        s = h.s(doc).req("GET", "/api/v1/orders/%d/study" % eo["id"]).json()["series"][0]
        self.assertTrue(s["instances"][0]["waveform"])
        r = h.s(doc).req("GET", "/api/v1/orders/%d/waveform?series=%s&instance=%s"
                         % (eo["id"], s["uid"], s["instances"][0]["uid"]))
        self.assertEqual(r.status, 200, r)
        w = r.json()
        self.assertEqual(w["frequency"], 500)
        self.assertEqual([c["label"] for c in w["channels"]], ["Lead " + l for l in LEADS])
        self.assertEqual(len(w["channels"][0]["samples"]), 5000)
        for lead in (0, 3, 11):  # the samples as stored, lead by lead, sample by sample
            self.assertEqual(w["channels"][lead]["samples"][100:400], [ecg_value(lead, k) for k in range(100, 400)])
        self.assertError(h.s(other).req("GET", "/api/v1/orders/%d/waveform?series=%s&instance=%s"
                                        % (eo["id"], s["uid"], s["instances"][0]["uid"])), 403, "forbidden")

        # the doctor's console: the orders of the visit, the CT image and the ECG drawn
        if HAVE_BROWSER:
            b = doctor_visit_page(self.inst, h.accts[doc])
            try:
                b.wait_text(eo["accession"], "#orders")
                b.click_in_row("#orders tbody tr", eo["accession"])
                b.find("#study canvas.ecg")
                b.shot("doctor-ecg")
                b.open("/app/")
                b.click_text("打开", "#main button")
                b.wait_text(acc, "#orders")
                b.click_in_row("#orders tbody tr", acc)
                img = b.find("#study img.dicom")
                deadline = time.time() + 20
                while not b.js("return arguments[0].complete && arguments[0].naturalWidth > 0", img) \
                        and time.time() < deadline:
                    time.sleep(0.1)
                self.assertTrue(b.js("return arguments[0].naturalWidth > 0", img))  # came through ihosd
                # the order form: an imaging order placed from the console
                b.open("/app/")
                b.click_text("打开", "#main button")
                b.submit("#order", kind="imaging", code="DX01", name="胸部正位片", modality="DX")
                b.wait_text("胸部正位片", "#orders")
                self.assertIn("等待检查", b.text("#orders"))
                self.assertEqual(b.csp_violations(), [])
            finally:
                b.quit()

        # the PACS's web side down: the worklist (files) is still written, and an alert says why nothing links
        self.pacs.proxy.terminate()
        self.pacs.proxy.wait(10)
        mr = self.order(doc, visit, "MR", "MR001")
        self.wait(lambda: os.path.exists(os.path.join(self.wl, mr["accession"] + ".wl")))
        self.assertTrue(self.inst.wait_events("pacs.unreachable", timeout=20))
        # the doctor withdraws the MR order: it leaves the worklist; an imaged order stays
        r = h.s(doc).req("POST", "/api/v1/orders/%d/cancel" % mr["id"], {"reason": "患者已在外院完成检查"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["status"], r.json()["cancel_reason"]), ("cancelled", "患者已在外院完成检查"))
        self.wait(lambda: not os.path.exists(os.path.join(self.wl, mr["accession"] + ".wl")))
        self.assertError(h.s(doc).req("POST", "/api/v1/orders/%d/cancel" % ct["id"], {"reason": "不需要了"}),
                         409, "invalid_state")
