"""Remote care between institutions (issue 19): a cooperation agreement, a
remote ECG and imaging consultation requested by the treating doctor with a
CT study and a 12-lead ECG from the hospital's PACS (Debian's Orthanc)
attached, approved by the medical office, accepted by the invited expert,
reported, signed by every expert, returned to the hospital's HIS (two
python3-hl7 peers: one takes MDM^T02, the other ORU^R01), acknowledged and
closed; experts see only the attached material and only until it closes;
illegal steps are 409 and journaled."""
import os
import time
import unittest

from tests.integration.harness import IhosTestCase, setup_admins
from tests.integration.pacs_peer import HAVE_WSI, ORTHANC, Pacs, ct_image, ecg, slide
from tests.integration.test_care import Hospital
from tests.integration.test_console import HAVE_BROWSER, login_ui
if HAVE_BROWSER:
    from tests.integration.browser import Browser

try:
    import hl7  # noqa: F401
    HAVE_HL7 = True
except ImportError:
    HAVE_HL7 = False

PEERS = """[peer his]
address = 127.0.0.1:%(his)d
tls = false
charset = UTF-8
version = 2.5
sending_application = HIS
sending_facility = HOSP
receiving_application = IHOS
receiving_facility = IH
accept = ADT^A04
send = MDM^T02
retry_max = 2
ack_timeout = 3

[peer emr]
address = 127.0.0.1:%(emr)d
tls = false
charset = UTF-8
version = 2.5
sending_application = EMR
sending_facility = HOSP
receiving_application = IHOS
receiving_facility = IH
accept = ADT^A04
send = ORU^R01,OMG^O19
orders = imaging
retry_max = 2
ack_timeout = 3
"""

AGREEMENT = {"partner": "示例省人民医院", "partner_organ_id": "12345678901234568X", "document_no": "YC-2026-001",
             "services": ["consult", "ecg", "imaging", "mdt"], "valid_from": "2026-01-01", "valid_to": "2099-12-31"}


def staff_of(h, username):
    r = h.s(username).req("GET", "/api/v1/me/staff")
    assert r.status == 200, r
    return r.json()


def make_medoffice(sysa, h, username):
    """A department of kind medoffice (医务科) and the doctor in it too."""
    r = sysa.req("POST", "/api/v1/departments", {"code": "YWK", "name": "医务科", "subject_code": "03.04",
                                                 "category_code": "03", "kind": "medoffice"})
    assert r.status == 201, r
    me = staff_of(h, username)
    deps = [d["id"] for d in me.get("departments", [])] + [r.json()["id"]]
    r = sysa.req("PATCH", "/api/v1/staff/%d" % me["id"], {"departments": deps})
    assert r.status in (200, 202), r
    return me["id"]


def scheduled_consult(h, sysa, doc, visit, experts, type_="consult", ag=None):
    """A request without material taken to `scheduled` under agreement ag
    (None: a new agreement, and doctor02 made the medical office); the first
    expert leads.  Returns (consult id, agreement)."""
    if ag is None:
        ag = sysa.req("POST", "/api/v1/agreements", AGREEMENT).json()
        make_medoffice(sysa, h, "doctor02")
    r = h.s(doc).req("POST", "/api/v1/consults", {
        "visit_id": visit, "agreement_id": ag["id"], "type": type_, "reason": "疑难病例", "purpose": "明确诊断",
        "summary": "高血压5年。", "proposed_at": "2026-12-03T02:00:00Z", "consent_by": "patient",
        "experts": [staff_of(h, e)["id"] for e in experts]})
    assert r.status == 201, r
    cid = r.json()["id"]
    for who, a, body in ((doc, "submit", None), ("doctor02", "approve", None), (experts[0], "accept", None),
                         (doc, "schedule", {"scheduled_at": "2026-12-03T02:00:00Z"})):
        r = h.s(who).req("POST", "/api/v1/consults/%d/%s" % (cid, a), body)
        assert r.status == 200, r
    return cid, ag


class ConsultBase(IhosTestCase):
    """Orthanc, two HL7 peers and an instance wired to them; no tests."""

    def setUp(self):
        super().setUp()
        from tests.integration.hl7_peer import HisPeer
        self.his, self.emr = HisPeer().start(), HisPeer().start()
        self.addCleanup(self.his.stop)
        self.addCleanup(self.emr.stop)
        self.wl = os.path.join(self.tmp, "worklists")
        self.pacs = Pacs(self.tmp, self.wl).start()
        self.addCleanup(self.pacs.stop)
        self.inst = inst = self.instance(demo=True)
        with open(inst.path("exchange.conf"), "w") as f:
            f.write(PEERS % {"his": self.his.port, "emr": self.emr.port})
        os.chmod(inst.path("exchange.conf"), 0o600)
        with open(inst.path("keys", "pacs-password"), "w") as f:
            f.write(self.pacs.password + "\n")
        os.chmod(inst.path("keys", "pacs-password"), 0o600)
        for k, v in (("url", self.pacs.url), ("username", "ihos"), ("ca_file", self.pacs.ca),
                     ("worklist_dir", self.wl), ("poll_seconds", "1")):
            inst.set_conf("pacs", k, v)
        inst.start()
        self.h = Hospital(inst)
        self.admins = setup_admins(inst)
        self.sysa = self.admins["sysadmin"][1]

    def wait(self, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = what()
            if v:
                return v
            time.sleep(0.2)
        self.fail("timed out")

    def staff_id(self, username):
        return staff_of(self.h, username)

    def make_medoffice(self, username):
        return make_medoffice(self.sysa, self.h, username)

    def imaged_order(self, doc, visit, modality, code, name, dicom):
        r = self.h.s(doc).req("POST", "/api/v1/visits/%d/orders" % visit,
                              {"kind": "imaging", "code": code, "name": name, "modality": modality})
        self.assertEqual(r.status, 201, r)
        o = r.json()
        self.wait(lambda: os.path.exists(os.path.join(self.wl, o["accession"] + ".wl")))
        self.pacs.store(dicom(o["accession"]))
        self.wait(lambda: [x for x in self.h.s(doc).req("GET", "/api/v1/visits/%d/orders" % visit).json()["orders"]
                           if x["id"] == o["id"] and x.get("study_uid")])
        return o

    def prepare(self):
        """The visit, its CT and ECG in the PACS, the agreement, the medical office."""
        h, pat, doc = self.h, "patient042", "doctor03"
        me = h.s(pat).req("GET", "/api/v1/me/patient").json()
        visit = h.followup(pat, doc)
        ct = self.imaged_order(doc, visit, "CT", "CT001", "胸部CT平扫",
                               lambda acc: ct_image(self.tmp, acc, me["name"], "IH%d" % me["id"]))
        eo = self.imaged_order(doc, visit, "ECG", "ECG12", "十二导联心电图",
                               lambda acc: ecg(self.tmp, acc, me["name"], "IH%d" % me["id"]))
        r = self.sysa.req("POST", "/api/v1/agreements", AGREEMENT)
        self.assertEqual(r.status, 201, r)
        ag = r.json()
        self.assertTrue(ag["valid"])
        mo = self.make_medoffice("doctor02")
        return visit, ct, eo, ag, mo

    def request(self, doc, visit, ag, expert, ct, eo, type_="ecg", experts=None):
        body = {"visit_id": visit, "agreement_id": ag["id"], "type": type_,
                "reason": "心电图提示ST段改变，需上级医院会诊", "purpose": "明确诊断并给出处理建议",
                "summary": "男，46岁，高血压5年，近1周活动后胸闷。", "qualifications": "副主任医师及以上，心血管专业",
                "proposed_at": "2026-12-03T02:00:00Z", "consent_by": "patient",
                "experts": experts or [expert],
                "materials": [{"kind": "study", "ref_id": ct["id"]}, {"kind": "ecg", "ref_id": eo["id"]}]}
        return self.h.s(doc).req("POST", "/api/v1/consults", body)


@unittest.skipUnless(HAVE_HL7 and os.path.exists(ORTHANC) and os.path.exists("/usr/bin/storescu"),
                     "needs python3-hl7, orthanc and dcmtk")
class RemoteConsultation(ConsultBase):
    def test_whole_consultation(self):
        h, doc, lead_u, mo_u, other_u = self.h, "doctor03", "doctor01", "doctor02", "doctor04"
        visit, ct, eo, ag, mo = self.prepare()
        lead = self.staff_id(lead_u)["id"]
        # refusals first: an agreement that does not cover the type; material not the patient's; an outsider
        r = self.request(doc, visit, ag, lead, ct, eo, type_="pathology")
        self.assertEqual(r.status, 201, r)
        pth = r.json()
        self.assertError(h.s(doc).req("POST", "/api/v1/consults/%d/submit" % pth["id"]), 409, "invalid_state")
        self.assertError(self.request(doc, visit, ag, lead, dict(ct, id=ct["id"] + 999), eo), 400, "invalid_field")
        self.assertError(self.request(doc, visit, ag, self.staff_id(doc)["id"], ct, eo), 400, "invalid_field")
        self.assertError(self.request(other_u, visit, ag, lead, ct, eo), 403, "forbidden")
        self.assertError(self.request(doc, visit, ag, lead, ct, eo, type_="mdt"), 400, "invalid_field")  # MDT: 2+

        r = self.request(doc, visit, ag, lead, ct, eo)
        self.assertEqual(r.status, 201, r)
        c = r.json()
        cid = c["id"]
        self.assertEqual((c["status"], c["you"]["requester"]), ("draft", True))
        self.assertEqual([m["kind"] for m in c["materials"]], ["study", "ecg"])
        mats = {m["kind"]: m["id"] for m in c["materials"]}
        act = lambda who, a, body=None: h.s(who).req("POST", "/api/v1/consults/%d/%s" % (cid, a), body)
        # the expert sees nothing before the medical office approves
        self.assertError(h.s(lead_u).req("GET", "/api/v1/consults/%d/materials/%d" % (cid, mats["study"])), 403,
                         "forbidden")
        self.assertError(act(lead_u, "accept"), 409, "invalid_state")  # a draft is not accepted
        self.assertError(act(doc, "approve-all"), 404, "not_found")  # no such step
        self.assertEqual(act(doc, "submit").json()["status"], "submitted")
        self.assertError(act(doc, "approve"), 403, "forbidden")  # not the medical office
        self.assertEqual(act(mo_u, "approve").json()["status"], "approved")
        self.assertError(act(mo_u, "accept"), 403, "forbidden")  # only the lead expert answers
        self.assertEqual(act(lead_u, "accept").json()["status"], "accepted")
        self.assertEqual(act(lead_u, "schedule", {"scheduled_at": "2026-12-03T02:00:00Z"}).json()["status"], "scheduled")
        self.assertError(act(lead_u, "report", {"report": "x"}), 409, "invalid_state")  # not in session yet
        self.assertEqual(act(doc, "start").json()["status"], "in_session")

        # the expert opens the attached study and ECG through ihosd (audited), nothing else
        r = h.s(lead_u).req("GET", "/api/v1/consults/%d/materials/%d" % (cid, mats["study"]))
        self.assertEqual(r.status, 200, r)
        series = r.json()["study"]["series"][0]
        r = h.s(lead_u).req("GET", "/api/v1/consults/%d/materials/%d/image?series=%s&instance=%s"
                            % (cid, mats["study"], series["uid"], series["instances"][0]["uid"]))
        self.assertEqual(r.status, 200, r)
        r = h.s(lead_u).req("GET", "/api/v1/consults/%d/materials/%d" % (cid, mats["ecg"]))
        es = r.json()["study"]["series"][0]
        r = h.s(lead_u).req("GET", "/api/v1/consults/%d/materials/%d/waveform?series=%s&instance=%s"
                            % (cid, mats["ecg"], es["uid"], es["instances"][0]["uid"]))
        self.assertEqual((r.status, len(r.json()["channels"])), (200, 12))
        self.assertError(h.s(lead_u).req("GET", "/api/v1/orders/%d/study" % ct["id"]), 403, "forbidden")  # not via the visit
        self.assertError(h.s(other_u).req("GET", "/api/v1/consults/%d/materials/%d" % (cid, mats["study"])), 403,
                         "forbidden")
        self.assertError(h.s(other_u).req("GET", "/api/v1/consults/%d" % cid), 403, "forbidden")

        # the report: an ECG gives its measurements; signed by the expert; returned
        self.assertError(act(lead_u, "report", {"report": "窦性心律"}), 400, "invalid_field")
        rep = {"report": "窦性心律，V4-V6导联ST段压低0.1mV，提示心肌缺血，建议冠脉CTA。", "hr": 72, "pr": 160, "qrs": 92,
               "qt": 380, "qtc": 415, "axis": 45}
        self.assertEqual(act(lead_u, "report", rep).json()["status"], "report_drafted")
        self.assertError(act(lead_u, "return"), 409, "invalid_state")  # not signed yet
        s = act(lead_u, "sign").json()
        self.assertEqual(s["status"], "signed")
        self.assertTrue(s["experts"][0]["signed_at"])
        self.assertError(act(lead_u, "sign"), 409, "invalid_state")
        self.assertEqual(act(lead_u, "return").json()["status"], "returned")

        # the hospital gets the report: MDM^T02 at the HIS, ORU^R01 at the EMR
        def got(peer, kind):
            return [m for c, m in peer.messages() if kind in str(m.segment("MSH")[9])]
        mdm = self.wait(lambda: got(self.his, "MDM"))[0]
        oru = self.wait(lambda: got(self.emr, "ORU"))[0]
        self.assertEqual(str(mdm.segment("TXA")[2][0][1]), "远程心电诊断")
        self.assertIn("心肌缺血", str(mdm.segment("OBX")[5]))
        self.assertEqual(str(oru.segment("OBR")[4][0][0]), "ecg")
        self.assertEqual(str(oru.segment("OBR")[25]), "F")
        obx = {str(o[3][0][0]): str(o[5]) for o in oru.segments("OBX")}
        self.assertEqual((obx["HR"], obx["QTC"]), ("72", "415"))
        self.assertIn("%d^^^IHOS^PI" % h.s("patient042").req("GET", "/api/v1/me/patient").json()["id"], str(oru.segment("PID")[3]))

        # the requester decides and closes; then the expert sees nothing more
        self.assertEqual(act(doc, "acknowledge", {"decision": "同意会诊意见，安排冠脉CTA"}).json()["status"], "acknowledged")
        self.assertEqual(act(doc, "close").json()["status"], "closed")
        self.assertError(h.s(lead_u).req("GET", "/api/v1/consults/%d/materials/%d" % (cid, mats["ecg"])), 403,
                         "forbidden")
        self.assertError(act(doc, "cancel"), 409, "invalid_state")

        # the journal: each step, each opening, each refusal
        audit = self.admins["auditadmin"][1]
        ev = audit.req("GET", "/api/v1/audit/events?object_type=consult&object_id=%d&limit=200" % cid).json()["events"]
        acts = [(e["action"], e["actor_username"], e["outcome"]) for e in ev]
        for want in ("create", "submit", "approve", "accept", "schedule", "start", "report", "sign", "return",
                     "acknowledge", "close"):
            self.assertIn("consult." + want, [a for a, _, o in acts if o == "success"])
        self.assertEqual(len([1 for a, u, o in acts if a == "consult.material_open" and u == lead_u and o == "success"]), 2)
        self.assertIn(("consult.accept", "doctor01", "failure"), acts)
        denied = audit.req("GET", "/api/v1/audit/events?action=access.denied&object_type=consult").json()["events"]
        self.assertIn(other_u, {e["actor_username"] for e in denied})

    @unittest.skipUnless(HAVE_WSI, "needs orthanc-wsi")
    def test_pathology_slide(self):
        """A remote pathology diagnosis on a whole slide: the expert reads the
        pyramid and its tiles through ihosd, and nothing of another series."""
        h, doc, lead_u = self.h, "doctor03", "doctor01"
        me = h.s("patient042").req("GET", "/api/v1/me/patient").json()
        visit = h.followup("patient042", doc)
        r = h.s(doc).req("POST", "/api/v1/visits/%d/orders" % visit,
                         {"kind": "imaging", "code": "PATH01", "name": "病理切片", "modality": "SM"})
        self.assertEqual(r.status, 201, r)
        o = r.json()
        for f in slide(self.tmp, o["accession"], "IH%d" % me["id"]):
            self.pacs.upload(f)
        self.wait(lambda: [x for x in h.s(doc).req("GET", "/api/v1/visits/%d/orders" % visit).json()["orders"]
                           if x["id"] == o["id"] and x.get("study_uid")])
        ag = self.sysa.req("POST", "/api/v1/agreements", dict(AGREEMENT, services=["pathology"])).json()
        self.make_medoffice("doctor02")
        body = {"visit_id": visit, "agreement_id": ag["id"], "type": "pathology", "reason": "切片诊断", "purpose": "明确病理诊断",
                "summary": "乳腺肿物穿刺活检。", "proposed_at": "2026-12-03T02:00:00Z", "consent_by": "patient",
                "experts": [self.staff_id(lead_u)["id"]], "materials": [{"kind": "study", "ref_id": o["id"]}]}
        r = h.s(doc).req("POST", "/api/v1/consults", body)
        self.assertEqual(r.status, 201, r)
        cid, mid = r.json()["id"], r.json()["materials"][0]["id"]
        for who, a in ((doc, "submit"), ("doctor02", "approve"), (lead_u, "accept")):
            self.assertEqual(h.s(who).req("POST", "/api/v1/consults/%d/%s" % (cid, a)).status, 200)
        base = "/api/v1/consults/%d/materials/%d" % (cid, mid)
        series = h.s(lead_u).req("GET", base).json()["study"]["series"][0]
        self.assertEqual(series["modality"], "SM")
        py = h.s(lead_u).req("GET", base + "/pyramid?series=" + series["uid"])
        self.assertEqual(py.status, 200, py)
        levels = py.json()["levels"]
        self.assertEqual(len(levels), 3)
        self.assertEqual((levels[0]["width"], levels[0]["height"]), (1024, 768))
        t = h.s(lead_u).req("GET", base + "/tile?series=%s&level=0&x=1&y=1" % series["uid"])
        self.assertEqual(t.status, 200, t)
        self.assertTrue(t.body.startswith(b"\xff\xd8"))
        # the treating doctor reads it from the order too; another series UID is not found; junk refused
        self.assertEqual(h.s(doc).req("GET", "/api/v1/orders/%d/pyramid?series=%s" % (o["id"], series["uid"])).status, 200)
        self.assertError(h.s(lead_u).req("GET", base + "/pyramid?series=1.2.3.4"), 404, "not_found")
        self.assertError(h.s(lead_u).req("GET", base + "/tile?series=%s&level=0&x=-1&y=0" % series["uid"]), 400,
                         "invalid_field")
        self.assertError(h.s("doctor04").req("GET", base + "/pyramid?series=" + series["uid"]), 403, "forbidden")

    def test_agreement_and_mdt(self):
        h, doc = self.h, "doctor03"
        visit, ct, eo, ag, mo = self.prepare()
        e1, e2 = self.staff_id("doctor01")["id"], self.staff_id("doctor04")["id"]
        r = self.request(doc, visit, ag, None, ct, eo, type_="mdt", experts=[e1, e2])
        self.assertEqual(r.status, 201, r)
        cid = r.json()["id"]
        act = lambda who, a, body=None: h.s(who).req("POST", "/api/v1/consults/%d/%s" % (cid, a), body)
        # a revoked agreement stops the request
        self.assertEqual(self.sysa.req("POST", "/api/v1/agreements/%d/revoke" % ag["id"]).status, 200)
        self.assertError(act(doc, "submit"), 409, "invalid_state")
        self.assertError(h.s(doc).req("POST", "/api/v1/agreements", AGREEMENT), 403, "forbidden")
        ag2 = self.sysa.req("POST", "/api/v1/agreements", dict(AGREEMENT, document_no="YC-2026-002")).json()
        self.assertFalse([a for a in h.s(doc).req("GET", "/api/v1/agreements").json()["agreements"]
                          if a["id"] == ag["id"] and a["valid"]])
        r = self.request(doc, visit, ag2, None, ct, eo, type_="mdt", experts=[e1, e2])
        cid = r.json()["id"]
        for who, a in ((doc, "submit"), ("doctor02", "approve"), ("doctor01", "accept")):
            self.assertEqual(act(who, a).status, 200)
        act(doc, "schedule", {"scheduled_at": "2026-12-03T02:00:00Z"})
        act(doc, "start")
        self.assertError(act("doctor04", "report", {"report": "x"}), 403, "forbidden")  # only the lead drafts
        act("doctor01", "report", {"report": "多学科讨论意见：建议冠脉CTA后再定治疗方案。"})
        self.assertEqual(act("doctor01", "sign").json()["status"], "report_drafted")  # one of two
        r = act("doctor04", "sign").json()
        self.assertEqual(r["status"], "signed")
        self.assertTrue(all(x["signed_at"] for x in r["experts"]))


@unittest.skipUnless(HAVE_HL7 and HAVE_BROWSER and os.path.exists(ORTHANC) and os.path.exists("/usr/bin/storescu"),
                     "needs python3-hl7, orthanc, dcmtk, chromium and chromium-driver")
class ConsultationInConsole(ConsultBase):
    """The same consultation, every step in the console (one Chromium, each
    person logging in in turn): the agreement by the system administrator,
    the request from the visit with the CT and the ECG attached, the medical
    office's approval, the expert's acceptance, the ECG drawn and the image
    shown, the report with its measurements, signed and returned (the HIS
    gets it), the requester's decision and the close."""

    def as_user(self, b, acct):
        if b.all("header button.logout"):
            b.click_text("退出", "header button")
            b.find(".login form")
        login_ui(b, acct)
        b.find("header #idle")

    def step(self, b, label):
        b.click_text(label, "#consult button")
        b.find("#consult[data-status]")

    def test_in_console(self):
        h, doc = self.h, "doctor03"
        me = h.s("patient042").req("GET", "/api/v1/me/patient").json()
        visit = h.followup("patient042", doc)
        self.imaged_order(doc, visit, "CT", "CT001", "胸部CT平扫",
                          lambda acc: ct_image(self.tmp, acc, me["name"], "IH%d" % me["id"]))
        self.imaged_order(doc, visit, "ECG", "ECG12", "十二导联心电图",
                          lambda acc: ecg(self.tmp, acc, me["name"], "IH%d" % me["id"]))
        if HAVE_WSI:  # a pathology slide too, read tile by tile: 8 x 6, 4 x 3 and 2 x 2 tiles of 128 pixels
            r = h.s(doc).req("POST", "/api/v1/visits/%d/orders" % visit,
                             {"kind": "imaging", "code": "PATH01", "name": "病理切片", "modality": "SM"})
            for f in slide(self.tmp, r.json()["accession"], "IH%d" % me["id"], tile=128):
                self.pacs.upload(f)
            self.wait(lambda: [x for x in h.s(doc).req("GET", "/api/v1/visits/%d/orders" % visit).json()["orders"]
                               if x["modality"] == "SM" and x.get("study_uid")])
        self.make_medoffice("doctor02")
        d1 = self.staff_id("doctor01")
        lead, dept = d1["id"], d1["departments"][0]["id"]
        # the experts one department at a time (a large hospital has more doctors than one list)
        every = [x["id"] for x in h.s(doc).req("GET", "/api/v1/consult-experts").json()["experts"]]
        r = h.s(doc).req("GET", "/api/v1/consult-experts?dept_id=%d" % dept)
        self.assertEqual(r.status, 200, r)
        in_dept = [x["id"] for x in r.json()["experts"]]
        self.assertIn(lead, in_dept)
        self.assertTrue(set(in_dept) < set(every), (in_dept, every))
        self.assertEqual(h.s(doc).req("GET", "/api/v1/consult-experts?dept_id=x").status, 400)
        # … as the staff list gives a department's doctors (the schedule form's picker)
        staff = self.sysa.req("GET", "/api/v1/staff?limit=500").json()["staff"]
        r = self.sysa.req("GET", "/api/v1/staff?kind=doctor&dept_id=%d" % dept)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([x["id"] for x in r.json()["staff"]],
                         [x["id"] for x in staff if x["kind"] == "doctor" and dept in [d["id"] for d in x["departments"]]])
        self.assertIn(lead, [x["id"] for x in r.json()["staff"]])
        self.assertLess(len(r.json()["staff"]), len(staff))
        self.assertEqual(self.sysa.req("GET", "/api/v1/staff?kind=surgeon").status, 400)
        b = Browser("https://127.0.0.1:%d" % self.inst.port)
        self.addCleanup(b.quit)
        b.open("/app/")
        # the system administrator records the agreement
        self.as_user(b, self.admins["sysadmin"][0])
        b.click_text("合作协议", "nav a")
        b.fill("form#agreement", partner="示例省人民医院", partner_organ_id="12345678901234568X", document_no="YC-2026-001",
               svc_ecg=True, svc_imaging=True)
        b.js("document.querySelector('#agreement [name=valid_from]').value = '2026-01-01';"
             "document.querySelector('#agreement [name=valid_to]').value = '2099-12-31';")
        b.click(b.find("#agreement button[type=submit]"))
        b.wait_text("YC-2026-001", "#agreements table")
        # the treating doctor requests it from the visit
        self.as_user(b, h.accts[doc])
        b.click_text("打开", "#main button")
        b.click_text("申请远程会诊", "#remote button")
        b.fill("#consult-form", reason="心电图提示ST段改变，需上级医院会诊")
        from selenium.webdriver.support.ui import Select
        Select(b.find("#consult-dept")).select_by_value(str(dept))  # the form is drawn again
        def leads():  # None while the form is being replaced
            try:
                return sorted(int(o.get_attribute("value")) for o in b.all("#consult-form [name=lead] option"))
            except Exception:
                return None
        self.wait(lambda: leads() == sorted(in_dept))
        self.assertEqual(b.find("#consult-form [name=reason]").get_attribute("value"), "心电图提示ST段改变，需上级医院会诊")
        b.fill("#consult-form", type="ecg", lead=str(lead), purpose="明确诊断并给出处理建议", qualifications="副主任医师及以上")
        b.js("document.querySelector('#consult-form [name=proposed_at]').value = '2026-12-03T10:00';")
        b.shot("consult-request")
        b.click(b.find("#consult-form button[type=submit]"))
        b.wait_text("草稿", "#consult h2")
        self.step(b, "提交申请")
        b.wait_text("待医务审批", "#consult h2")
        # the medical office approves
        self.as_user(b, h.accts["doctor02"])
        b.click_text("远程会诊", "nav a")
        b.click_text("打开", "#consults button")
        self.step(b, "医务审批通过")
        b.wait_text("待受邀方接受", "#consult h2")
        # the invited expert accepts, schedules, starts, reads the material, reports, signs, returns
        self.as_user(b, h.accts["doctor01"])
        b.click_text("远程会诊", "nav a")
        b.click_text("打开", "#consults button")
        self.step(b, "接受会诊")
        b.wait_text("已接受", "#consult h2")
        b.js("document.querySelector('#consult-schedule [name=scheduled_at]').value = '2026-12-03T10:00';")
        b.click(b.find("#consult-schedule button[type=submit]"))
        b.wait_text("已排期", "#consult h2")
        self.step(b, "开始会诊")
        b.wait_text("会诊中", "#consult h2")
        b.click_in_row("#consult-material tbody tr", "心电图")
        b.find("#consult-material canvas.ecg")
        b.shot("consult-expert-ecg")
        b.click_in_row("#consult-material tbody tr", "胸部CT平扫")
        b.find("#consult-material img.dicom")
        self.assertTrue(b.js("const i = document.querySelector('#consult-material img.dicom');"
                             "return i.complete && i.naturalWidth > 0;"))
        if HAVE_WSI:
            b.click_in_row("#consult-material tbody tr", "病理切片")
            b.find("#consult-material .slide img.tile")
            b.click_text("放大", "#consult-material button")
            b.find('#consult-material .slide[data-level="1"]')
            deadline = time.time() + 20
            while time.time() < deadline and not b.js(
                    "const t = [...document.querySelectorAll('#consult-material .slide img.tile')];"
                    "return t.length > 1 && t.every(i => i.complete && i.naturalWidth > 0);"):
                time.sleep(0.3)
            self.assertTrue(b.js("return [...document.querySelectorAll('#consult-material .slide img.tile')]"
                                 ".every(i => i.complete && i.naturalWidth > 0);"))
            b.shot("consult-expert-slide")
            # the finest level is never drawn whole: a window of 4 x 3 tiles, moved half a window at a time
            view = lambda: b.js("const s = document.querySelector('#consult-material .slide');"
                                "return [s.dataset.level, s.dataset.x0, s.dataset.y0, s.querySelectorAll('img.tile').length,"
                                "s.querySelector('img.tile').getAttribute('src').replace(/.*&level=/, '')];")
            self.assertEqual(view(), ["1", "0", "0", 12, "1&x=0&y=0"])  # 4 x 3: all of it
            b.click_text("放大", "#consult-material button")
            b.find('#consult-material .slide[data-level="0"]')
            self.assertEqual(view(), ["0", "2", "2", 12, "0&x=2&y=2"])  # the middle of 8 x 6
            b.click_text("右移", "#consult-material button")
            self.wait(lambda: view()[1] == "4")
            b.click_text("下移", "#consult-material button")
            self.wait(lambda: view()[2] == "3")
            self.assertEqual(view(), ["0", "4", "3", 12, "0&x=4&y=3"])  # the bottom right corner
            b.click_text("右移", "#consult-material button")  # at the edge: stays
            self.assertEqual(view()[1:3], ["4", "3"])
        b.fill("#consult-report-form", report="窦性心律，V4-V6导联ST段压低0.1mV，提示心肌缺血。", hr=72, pr=160, qrs=92,
               qt=380, qtc=415, axis=45)
        b.click(b.find("#consult-report-form button[type=submit]"))
        b.wait_text("报告待签名", "#consult h2")
        self.step(b, "签名确认报告")
        b.wait_text("已签名", "#consult h2")
        self.step(b, "发回报告")
        b.wait_text("报告已发回", "#consult h2")
        self.wait(lambda: [m for c, m in self.his.messages() if "MDM" in str(m.segment("MSH")[9])])
        self.wait(lambda: [m for c, m in self.emr.messages() if "ORU" in str(m.segment("MSH")[9])])
        # the requester records the decision and closes
        self.as_user(b, h.accts[doc])
        b.click_text("远程会诊", "nav a")
        b.click_text("打开", "#consults button")
        b.wait_text("提示心肌缺血", "#consult-report")
        b.submit("#consult-decide", decision="同意会诊意见，安排冠脉CTA")
        b.wait_text("已处理", "#consult h2")
        self.step(b, "结束会诊")
        b.wait_text("已结束", "#consult h2")
        b.shot("consult-closed")
        self.assertEqual(b.csp_violations(), [])
