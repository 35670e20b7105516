"""The care workflow over HTTPS on a demo hospital: whole journeys, every
illegal transition refused and audited, the clinical rules, labels and
break-glass, signatures verified offline, 防统方, and the route × role ×
own/other authorisation matrix."""
import json
import os
import sqlite3
import urllib.parse

from tests.integration.harness import IhosTestCase, Instance, demo_accounts, login, must_login, run_ihos


class Hospital:
    """A demo instance with sessions for its people."""

    def __init__(self, inst):
        self.inst = inst
        self.accts = demo_accounts(inst)
        self.sessions = {}
        self.admins = {}
        self.recorded = set()

    def s(self, username):
        if username not in self.sessions:
            self.sessions[username] = must_login(self.inst, self.accts[username])
        return self.sessions[username]

    def relogin(self, username):
        self.sessions.pop(username, None)
        return self.s(username)

    def doctor_of_staff(self, staff_id):
        for u, a in self.accts.items():
            if a.role == "doctor" and self.s(u).req("GET", "/api/v1/me/staff").json()["id"] == staff_id:
                return u
        raise AssertionError("no doctor account for staff %d" % staff_id)

    def schedules(self):
        return self.inst.request("GET", "/api/v1/schedules").json()["schedules"]

    def shift_of(self, doctor, offset=0):
        """A shift of the given doctor account still taking requests (the
        offset-th): from noon (+08:00) today's morning shift is over."""
        sid = self.s(doctor).req("GET", "/api/v1/me/staff").json()["id"]
        mine = [x for x in self.schedules() if x["staff_id"] == sid and x["open"]]
        return mine[offset % len(mine)]

    def drug(self, q, restricted=False):
        s = self.s("pharmacist01")
        drugs = s.req("GET", "/api/v1/drugs?limit=500&q=" + urllib.parse.quote(q)).json()["drugs"]
        return [d for d in drugs if d["restricted"] == restricted][0]

    def followup(self, patient, doctor, accept=True, label=None, **extra):
        shift = self.shift_of(doctor)
        body = {"kind": "followup", "schedule_id": shift["id"], "complaint": "高血压复诊，血压控制不佳",
                "first_diagnosis": "2025-03 示例医院 原发性高血压", "disease_history": "高血压5年"}
        body.update(extra)
        r = self.s(patient).req("POST", "/api/v1/visits", body)
        assert r.status == 201, r
        v = r.json()
        if accept:
            b = {"followup_confirmed": True}
            if label:
                b["label"] = label
            r = self.s(doctor).req("POST", "/api/v1/visits/%d/accept" % v["id"], b)
            assert r.status == 200, r
        return v["id"]

    def record(self, doctor, visit):
        """The visit's medical record (a prescription follows one)."""
        r = self.s(doctor).req("POST", "/api/v1/visits/%d/records" % visit, {
            "chief_complaint": "血压控制不佳", "present_history": "高血压5年", "diagnosis_codes": ["I10.x00"],
            "diagnosis": "原发性高血压", "opinion": "继续用药"})
        assert r.status == 201, r
        self.recorded.add(visit)

    def pay(self, patient, visit, rx=None, channel="wechat"):
        """The patient orders and the channel confirms; returns the order."""
        body = {"channel": channel}
        if rx:
            body["prescription_id"] = rx
        r = self.s(patient).req("POST", "/api/v1/visits/%d/payments" % visit, body)
        assert r.status == 201, r
        order = r.json()["payment"]
        status, text = self.inst.channel_notify("paid", order["order_no"])
        assert status == 200, (status, text)
        return order

    def prescribe(self, doctor, visit, drug_name="氨氯地平", quantity=1, days=7):
        if visit not in self.recorded:
            r = self.s(doctor).req("GET", "/api/v1/visits/%d/records" % visit)
            if r.status != 200 or not r.json()["records"]:
                self.record(doctor, visit)
            self.recorded.add(visit)
        d = self.drug(drug_name)
        r = self.s(doctor).req("POST", "/api/v1/visits/%d/prescriptions" % visit, {
            "recipe_type": "1", "diagnosis_codes": ["I10.x00"],
            "items": [{"drug_id": d["id"], "route": "1", "frequency": "qd", "dosage": "5", "dose_unit": "mg",
                       "quantity": quantity, "days": days}]})
        assert r.status == 201, r
        return r.json()


def audit_actions(inst, **filters):
    """Actions (with outcomes) in the journal, read directly (SQLite)."""
    db = sqlite3.connect(inst.path("ihos.db"))
    rows = db.execute("SELECT action, object_type, object_id, outcome FROM audit_event ORDER BY seq").fetchall()
    db.close()
    return rows


class JourneyTest(IhosTestCase):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.ctmp = tempfile.mkdtemp(prefix="ihos-care-")
        cls.inst = Instance(cls.ctmp, demo=True)
        cls.inst.set_conf("care", "detect_block", "false")
        cls.inst.start()
        cls.h = Hospital(cls.inst)

    @classmethod
    def tearDownClass(cls):
        import shutil
        try:
            cls.inst.stop()
        finally:
            shutil.rmtree(cls.ctmp, ignore_errors=True)

    def test_whole_journey(self):
        h = self.h
        pat, doc, ph = "patient010", "doctor01", "pharmacist01"
        v = h.followup(pat, doc, accept=False)
        self.assertEqual(h.s(pat).req("GET", "/api/v1/visits/%d" % v).json()["status"], "requested")
        r = h.s(doc).req("POST", "/api/v1/visits/%d/accept" % v, {"followup_confirmed": True})
        self.assertEqual(r.json()["status"], "accepted")
        for who, text in ((pat, "医生您好，最近血压150/95"), (doc, "请继续服药，每日监测血压"), (pat, "好的，谢谢")):
            r = h.s(who).req("POST", "/api/v1/visits/%d/messages" % v, {"body": text})
            self.assertEqual(r.status, 201, r)
        got = h.s(pat).req("GET", "/api/v1/visits/%d" % v).json()
        self.assertEqual([m["body"] for m in got["messages"]][0], "医生您好，最近血压150/95")
        self.assertEqual([m["sender_role"] for m in got["messages"]], ["patient", "doctor", "patient"])
        # the record, and a correction as a second signed revision
        rec = {"chief_complaint": "血压控制不佳", "present_history": "高血压5年，规律服药", "diagnosis_codes": ["I10.x00"],
               "diagnosis": "原发性高血压", "opinion": "继续用药，调整剂量"}
        r = h.s(doc).req("POST", "/api/v1/visits/%d/records" % v, rec)
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.json()["signature"])
        err = self.assertError(h.s(doc).req("POST", "/api/v1/visits/%d/records" % v, rec), 400, "invalid_field")
        self.assertEqual(err["field"], "correction_reason")
        r = h.s(doc).req("POST", "/api/v1/visits/%d/records" % v, dict(rec, opinion="继续用药", correction_reason="剂量笔误"))
        self.assertEqual(r.json()["revision"], 2)
        recs = h.s(pat).req("GET", "/api/v1/visits/%d/records" % v).json()["records"]
        self.assertEqual([x["revision"] for x in recs], [1, 2])
        self.assertEqual(recs[0]["diagnosis_codes"][0], {"code": "I10.x00", "name": "原发性高血压"})
        # prescription, review, delivery
        rx = h.prescribe(doc, v)
        self.assertEqual(rx["status"], "issued")
        self.assertEqual(rx["items"][0]["route"], "1")
        queue = h.s(ph).req("GET", "/api/v1/prescriptions?status=issued&limit=200").json()["prescriptions"]
        self.assertIn(rx["id"], [x["id"] for x in queue])
        self.assertNotIn("pay_state", [x for x in queue if x["id"] == rx["id"]][0])  # nothing to pay before approval
        r = h.s(ph).req("POST", "/api/v1/prescriptions/%d/review" % rx["id"], {"decision": "approve"})
        self.assertEqual(r.json()["status"], "approved")
        self.assertTrue(r.json()["review_signature"])
        # dispensing waits for the payment the channel confirms; another pharmacist dispenses
        ph2 = "pharmacist03"
        self.assertError(h.s(ph2).req("POST", "/api/v1/prescriptions/%d/dispense" % rx["id"], {"delivery_type": "0"}),
                         409, "invalid_state")
        # a patient cannot claim a payment: the amount and trade number are the channel's
        err = self.assertError(h.s(pat).req("POST", "/api/v1/visits/%d/payments" % v, {
            "amount": "0.01", "channel": "wechat", "trade_no": "WX0001"}), 400, "invalid_field")
        self.assertIn(err["field"], ("amount", "trade_no"))
        fee_order = h.pay(pat, v)
        self.assertEqual(fee_order["amount"], got["fee"])
        self.assertError(h.s(pat).req("POST", "/api/v1/visits/%d/payments" % v, {"channel": "wechat"}), 409,
                         "already_exists")
        def pay_state():  # what the patient's page shows: 去支付 until the channel confirms
            return h.s(pat).req("GET", "/api/v1/prescriptions/%d" % rx["id"]).json()["pay_state"]
        self.assertEqual(pay_state(), "due")
        r = h.s(pat).req("POST", "/api/v1/visits/%d/payments" % v, {"channel": "alipay", "prescription_id": rx["id"]})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(pay_state(), "pending")
        order = r.json()["payment"]
        self.assertEqual((order["amount"], order["state"]), (rx["total_fee"], "pending"))
        self.assertTrue(r.json()["pay"]["prepay_id"])
        # a notification with a wrong amount changes nothing; the right one pays
        status, _ = self.inst.channel_notify("paid", order["order_no"], amount="0.01")
        self.assertEqual(status, 409)
        self.assertEqual(h.s(pat).req("GET", "/api/v1/payments/%d" % order["id"]).json()["state"], "pending")
        status, _ = self.inst.channel_notify("paid", order["order_no"])
        self.assertEqual(status, 200)
        self.assertEqual(h.s(pat).req("GET", "/api/v1/payments/%d" % order["id"]).json()["state"], "paid")
        self.assertEqual(pay_state(), "paid")
        r = h.s(ph2).req("POST", "/api/v1/prescriptions/%d/dispense" % rx["id"],
                         {"delivery_type": "1", "delivery_firm": "示例快递"})
        self.assertEqual(r.json()["status"], "delivered")
        # close and evaluate
        self.assertEqual(h.s(doc).req("POST", "/api/v1/visits/%d/close" % v).json()["status"], "closed")
        r = h.s(pat).req("POST", "/api/v1/visits/%d/evaluation" % v, {"satisfaction": 5, "score": 9, "text": "耐心细致"})
        self.assertEqual(r.status, 201, r)
        # signatures verify offline; a tampered bundle does not
        bundle = os.path.join(self.ctmp, "rx-%d.json" % rx["id"])
        run_ihos("rx", "export", self.inst.dir, str(rx["id"]), "--out", bundle)
        p = run_ihos("rx", "verify", bundle)
        self.assertIn("signed by the pharmacist", p.stdout)
        with open(bundle) as f:
            b = json.load(f)
        b["prescription"]["items"] = b["prescription"]["items"].replace('"quantity":1', '"quantity":9')
        bad = bundle + ".bad"
        with open(bad, "w") as f:
            json.dump(b, f)
        p = run_ihos("rx", "verify", bad, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("doctor's signature does not verify", p.stdout)
        acts = [a[0] for a in audit_actions(self.inst)]
        for a in ("visit.request", "visit.accept", "message.create", "record.create", "record.revise", "rx.issue",
                  "rx.approve", "rx.dispense", "payment.order", "payment.paid", "visit.close", "visit.evaluate",
                  "visit.read",
                  "rx.export"):
            self.assertIn(a, acts)

    def test_illegal_transitions_are_refused_and_audited(self):
        h = self.h
        pat, doc, ph = "patient011", "doctor02", "pharmacist02"
        v = h.followup(pat, doc, accept=False)
        self.assertError(h.s(doc).req("POST", "/api/v1/visits/%d/close" % v), 409, "invalid_state")
        self.assertError(h.s(pat).req("POST", "/api/v1/visits/%d/messages" % v, {"body": "早"}), 409, "invalid_state")
        h.s(doc).req("POST", "/api/v1/visits/%d/accept" % v, {"followup_confirmed": True})
        self.assertError(h.s(doc).req("POST", "/api/v1/visits/%d/accept" % v, {"followup_confirmed": True}), 409,
                         "invalid_state")
        self.assertError(h.s(pat).req("POST", "/api/v1/visits/%d/cancel" % v), 409, "invalid_state")
        self.assertError(h.s(pat).req("POST", "/api/v1/visits/%d/evaluation" % v, {"satisfaction": 1, "score": 1,
                                                                                    "text": "x"}), 409, "invalid_state")
        rx = h.prescribe(doc, v)
        self.assertError(h.s(ph).req("POST", "/api/v1/prescriptions/%d/dispense" % rx["id"], {"delivery_type": "0"}),
                         409, "invalid_state")
        h.s(ph).req("POST", "/api/v1/prescriptions/%d/review" % rx["id"], {"decision": "reject", "reason": "剂量不当"})
        self.assertError(h.s(ph).req("POST", "/api/v1/prescriptions/%d/review" % rx["id"], {"decision": "approve"}),
                         409, "invalid_state")
        self.assertError(h.s(doc).req("POST", "/api/v1/prescriptions/%d/cancel" % rx["id"]), 409, "invalid_state")
        refused = [a for a in audit_actions(self.inst) if a[3] != "success" and a[2] in (str(v), str(rx["id"]))]
        self.assertGreaterEqual(len(refused), 7, refused)
        # the database itself refuses to change or delete a record, a visit, a message
        h.s(doc).req("POST", "/api/v1/visits/%d/records" % v, {
            "chief_complaint": "c", "present_history": "p", "diagnosis_codes": ["I10.x00"], "diagnosis": "d",
            "opinion": "o"})
        h.s(pat).req("POST", "/api/v1/visits/%d/messages" % v, {"body": "谢谢"})
        db = sqlite3.connect(self.inst.path("ihos.db"), isolation_level=None)  # autocommit: hold no lock
        try:
            for sql in ("UPDATE record SET label = 1", "DELETE FROM record", "DELETE FROM visit",
                        "DELETE FROM message", "DELETE FROM prescription"):
                with self.assertRaises(sqlite3.DatabaseError, msg=sql):
                    db.execute(sql)
        finally:
            db.close()

    def test_clinical_rules(self):
        h = self.h
        pat, doc = "patient012", "doctor03"
        shift = h.shift_of(doc)
        # a follow-up needs its offline first diagnosis
        err = self.assertError(h.s(pat).req("POST", "/api/v1/visits", {
            "kind": "followup", "schedule_id": shift["id"], "complaint": "复诊", "disease_history": "x"}),
            400, "invalid_field")
        self.assertEqual(err["field"], "first_diagnosis")
        v = h.followup(pat, doc, accept=False)
        err = self.assertError(h.s(doc).req("POST", "/api/v1/visits/%d/accept" % v), 400, "invalid_field")
        self.assertEqual(err["field"], "followup_confirmed")
        h.s(doc).req("POST", "/api/v1/visits/%d/accept" % v, {"followup_confirmed": True})
        # a prescription follows the visit's medical record (14.8)
        d = h.drug("氨氯地平")
        err = self.assertError(h.s(doc).req("POST", "/api/v1/visits/%d/prescriptions" % v, {
            "recipe_type": "1", "diagnosis_codes": ["I10.x00"],
            "items": [{"drug_id": d["id"], "route": "1", "frequency": "qd", "dosage": "5", "dose_unit": "mg",
                       "quantity": 1, "days": 7}]}), 409, "invalid_state")
        self.assertIn("medical record", err["message"])
        h.record(doc, v)
        # restricted drugs never; days bounded; only the treating doctor
        narcotic = h.drug("吗啡", restricted=True)
        err = self.assertError(h.s(doc).req("POST", "/api/v1/visits/%d/prescriptions" % v, {
            "recipe_type": "1", "diagnosis_codes": ["I10.x00"],
            "items": [{"drug_id": narcotic["id"], "route": "1", "frequency": "bid", "dosage": "30", "dose_unit": "mg",
                       "quantity": 1, "days": 3}]}), 400, "invalid_field")
        self.assertIn("restricted", err["message"])
        d = h.drug("氨氯地平")
        err = self.assertError(h.s(doc).req("POST", "/api/v1/visits/%d/prescriptions" % v, {
            "recipe_type": "1", "diagnosis_codes": ["I10.x00"],
            "items": [{"drug_id": d["id"], "route": "1", "frequency": "qd", "dosage": "5", "dose_unit": "mg",
                       "quantity": 1, "days": 8}]}), 400, "invalid_field")
        self.assertEqual(err["field"], "days")
        err = self.assertError(h.s(doc).req("POST", "/api/v1/visits/%d/prescriptions" % v, {
            "recipe_type": "1", "diagnosis_codes": ["Z99.999"],
            "items": [{"drug_id": d["id"], "route": "1", "frequency": "qd", "dosage": "5", "dose_unit": "mg",
                       "quantity": 1, "days": 7}]}), 400, "invalid_field")
        self.assertEqual(err["field"], "diagnosis_codes")
        self.assertError(h.s("doctor04").req("POST", "/api/v1/visits/%d/prescriptions" % v, {
            "recipe_type": "1", "diagnosis_codes": ["I10.x00"], "items": []}), 403, "forbidden")
        # a consultation gives advice: no prescription
        r = h.s(pat).req("POST", "/api/v1/visits", {"kind": "consult", "schedule_id": shift["id"], "complaint": "咨询"})
        c = r.json()["id"]
        h.s(doc).req("POST", "/api/v1/visits/%d/accept" % c)
        self.assertError(h.s(doc).req("POST", "/api/v1/visits/%d/prescriptions" % c, {
            "recipe_type": "1", "diagnosis_codes": ["I10.x00"],
            "items": [{"drug_id": d["id"], "route": "1", "frequency": "qd", "dosage": "5", "dose_unit": "mg",
                       "quantity": 1, "days": 7}]}), 409, "invalid_state")
        # a child under 6 is seen with a guardian present
        kids = [u for u in h.accts if u.startswith("patient") and int(u[7:]) % 20 == 8]
        kid = kids[0]
        me = h.s(kid).req("GET", "/api/v1/me/patient").json()
        self.assertIsNotNone(me["guardian_name"])
        err = self.assertError(h.s(kid).req("POST", "/api/v1/visits", {
            "kind": "consult", "schedule_id": shift["id"], "complaint": "发热"}), 400, "invalid_field")
        self.assertEqual(err["field"], "guardian_present")
        r = h.s(kid).req("POST", "/api/v1/visits", {"kind": "consult", "schedule_id": shift["id"], "complaint": "发热",
                                                     "guardian_present": True})
        self.assertEqual(r.status, 201, r)
        # a department request lands on a shift of that department
        dep = shift["department_id"]
        r = h.s(pat).req("POST", "/api/v1/visits", {"kind": "consult", "department_id": dep, "complaint": "咨询"})
        self.assertEqual(r.json()["department_id"], dep)

    def test_labels_and_break_glass(self):
        h = self.h
        pat, doc, other = "patient013", "doctor05", "doctor06"
        v = h.followup(pat, doc, label=5)
        pid = h.s(pat).req("GET", "/api/v1/me/patient").json()["id"]
        self.assertEqual(h.s(pat).req("GET", "/api/v1/visits/%d" % v).status, 200)
        self.assertEqual(h.s(doc).req("GET", "/api/v1/visits/%d" % v).status, 200)
        # another doctor: nothing without a relationship
        self.assertError(h.s(other).req("GET", "/api/v1/patients/%d" % pid), 403, "forbidden")
        err = self.assertError(h.s(other).req("POST", "/api/v1/patients/%d/break-glass" % pid, {"reason": "急"}), 400,
                               "invalid_field")
        self.assertEqual(err["field"], "reason")
        r = h.s(other).req("POST", "/api/v1/patients/%d/break-glass" % pid, {"reason": "急诊会诊，患者意识不清需查既往史"})
        self.assertEqual(r.status, 201, r)
        # never a level-5 visit, nor the person of a patient seen only at level 5
        self.assertError(h.s(other).req("GET", "/api/v1/visits/%d" % v), 403, "forbidden")
        self.assertError(h.s(other).req("GET", "/api/v1/patients/%d" % pid), 403, "forbidden")
        self.assertTrue(self.inst.wait_events("access.break_glass"))
        grants = h.s(self._secadmin()).req("GET", "/api/v1/break-glass").json()["grants"]
        self.assertIn("急诊会诊", grants[0]["reason"])
        self.assertIn("access.break_glass", [a[0] for a in audit_actions(self.inst)])
        # the security administrator relabels; the label is all they see
        r = h.s(self._secadmin()).req("PUT", "/api/v1/visits/%d/label" % v, {"label": 3, "reason": "复核后降级"})
        self.assertEqual(r.json(), {"id": v, "label": 3, "status": "accepted"})
        self.assertEqual(h.s(other).req("GET", "/api/v1/visits/%d" % v).status, 200)  # break-glass, level 3
        view = h.s(other).req("GET", "/api/v1/patients/%d" % pid).json()
        self.assertRegex(view["cert_no"], r"^\d{6}\*{8}")  # care view: still masked

    def _secadmin(self):
        if "secadmin" not in self.h.accts:
            from tests.integration.harness import complete_setup, initial_credentials
            creds = initial_credentials(self.inst)
            for role, acct in creds.items():
                complete_setup(self.inst, acct, "Strong-%s-Pass-2026!" % role.capitalize())
                self.h.accts[role] = acct
        return "secadmin"

    def test_statistics_report_needs_a_second_person(self):
        h = self.h
        v = h.followup("patient014", "doctor07")
        rx = h.prescribe("doctor07", v)
        h.s("pharmacist03").req("POST", "/api/v1/prescriptions/%d/review" % rx["id"], {"decision": "approve"})
        ph = h.s("pharmacist03")
        r = ph.req("POST", "/api/v1/stats-requests", {"report": "drug_usage", "purpose": "药事委员会季度用药分析",
                                                        "window_from": "2000-01-01", "window_to": "2099-12-31"})
        self.assertEqual(r.status, 201, r)
        sid = r.json()["id"]
        self.assertError(ph.req("POST", "/api/v1/stats-requests/%d/run" % sid), 409, "invalid_state")
        self.assertError(ph.req("POST", "/api/v1/stats-requests/%d/decision" % sid, {"approve": True, "reason": "x"}),
                         403, "forbidden")
        sec = h.s(self._secadmin())
        r = sec.req("POST", "/api/v1/stats-requests/%d/decision" % sid, {"approve": True, "reason": "用途正当"})
        self.assertEqual(r.json()["status"], "approved")
        rows = ph.req("POST", "/api/v1/stats-requests/%d/run" % sid).json()["rows"]
        self.assertTrue(any("氨氯地平" in x["drug"] for x in rows), rows)
        self.assertError(ph.req("POST", "/api/v1/stats-requests/%d/run" % sid), 409, "invalid_state")
        acts = [a[0] for a in audit_actions(self.inst)]
        for a in ("stats.request", "stats.approve", "stats.run"):
            self.assertIn(a, acts)
        self.assertNotIn("tongfang.suspected", acts)


class TongfangTest(IhosTestCase):
    """A scripted sales rep is caught; a doctor working through their own
    patients and a pharmacist working the queue are not."""

    def test_detector(self):
        inst = self.instance(demo=True)
        inst.set_conf("care", "detect_max_doctors", "2")
        inst.set_conf("care", "detect_max_drugs", "50")
        inst.set_conf("care", "detect_off_hours", "00:00-00:01")
        inst.start()
        h = Hospital(inst)
        rxs = []
        for i, doc in enumerate(("doctor01", "doctor02", "doctor03", "doctor04")):
            v = h.followup("patient02%d" % i, doc)
            rxs.append(h.prescribe(doc, v, drug_name=("氨氯地平", "二甲双胍", "阿托伐他汀", "奥美拉唑")[i]))
        # a doctor working through their own prescriptions
        for _ in range(3):
            self.assertEqual(h.s("doctor01").req("GET", "/api/v1/prescriptions/%d" % rxs[0]["id"]).status, 200)
        # a pharmacist who reviews what they open
        for rx in rxs[:3]:
            self.assertEqual(h.s("pharmacist01").req("GET", "/api/v1/prescriptions/%d" % rx["id"]).status, 200)
            h.s("pharmacist01").req("POST", "/api/v1/prescriptions/%d/review" % rx["id"], {"decision": "approve"})
        # a "sales rep" with a pharmacist's account opens the queue's prescriptions of
        # several doctors without reviewing any: a per-doctor ranking in the making
        rep = h.s("pharmacist02")
        v = h.followup("patient030", "doctor05")
        rxs.append(h.prescribe("doctor05", v))
        v = h.followup("patient031", "doctor06")
        rxs.append(h.prescribe("doctor06", v, drug_name="二甲双胍"))
        statuses = [rep.req("GET", "/api/v1/prescriptions/%d" % rx["id"]).status for rx in rxs[3:]]
        self.assertEqual(statuses[:2], [200, 200])
        self.assertEqual(statuses[2], 401, statuses)  # the third doctor: the session is ended
        self.assertEqual(rep.req("GET", "/api/v1/me").status, 401)
        acts = audit_actions(inst)
        suspects = [a for a in acts if a[0] == "tongfang.suspected"]
        self.assertEqual(len(suspects), 1, suspects)
        self.assertIn("auth.session_blocked", [a[0] for a in acts])
        alert = inst.events("tongfang.suspected")
        self.assertEqual(alert[0]["alert"], "true")
        self.assertEqual(alert[0]["notify"], "secadmin")


class MatrixTest(IhosTestCase):
    """Every clinical route, by every role, on their own object and on
    someone else's: what is not theirs is refused (403, audited)."""

    def test_route_role_matrix(self):
        inst = self.instance(demo=True)
        inst.set_conf("care", "detect_block", "false")
        inst.start()
        h = Hospital(inst)
        from tests.integration.harness import complete_setup, initial_credentials
        for role, acct in initial_credentials(inst).items():
            complete_setup(inst, acct, "Strong-%s-Pass-2026!" % role.capitalize())
            h.accts[role] = acct
        own = {"patient": "patient040", "doctor": "doctor08"}
        other = {"patient": "patient041", "doctor": "doctor09"}
        v_own = h.followup(own["patient"], own["doctor"])
        v_other = h.followup(other["patient"], other["doctor"])
        rx_own = h.prescribe(own["doctor"], v_own)["id"]
        rx_other = h.prescribe(other["doctor"], v_other)["id"]
        pid_own = h.s(own["patient"]).req("GET", "/api/v1/me/patient").json()["id"]
        pid_other = h.s(other["patient"]).req("GET", "/api/v1/me/patient").json()["id"]
        people = {"patient": own["patient"], "doctor": own["doctor"], "pharmacist": "pharmacist04", "nurse": "nurse02",
                  "sysadmin": "sysadmin", "secadmin": "secadmin", "auditadmin": "auditadmin"}
        # (method, path with {v}/{rx}/{p}, body, roles allowed on their own object)
        routes = [
            ("GET", "/api/v1/visits/{v}", None, {"patient", "doctor"}),
            ("POST", "/api/v1/visits/{v}/messages", {"body": "你好"}, {"patient", "doctor"}),
            ("GET", "/api/v1/visits/{v}/records", None, {"patient", "doctor"}),
            ("POST", "/api/v1/visits/{v}/records", {"chief_complaint": "c", "present_history": "p",
                                                    "diagnosis_codes": ["I10.x00"], "diagnosis": "d", "opinion": "o"},
             {"doctor"}),
            ("POST", "/api/v1/visits/{v}/media", {"kind": "video", "started_at": "2026-11-22T08:00:00Z",
                                                  "ended_at": "2026-11-22T08:10:00Z"}, {"doctor"}),
            ("GET", "/api/v1/prescriptions/{rx}", None, {"patient", "doctor", "pharmacist"}),
            ("GET", "/api/v1/patients/{p}", None, {"doctor", "pharmacist", "sysadmin"}),
            ("PUT", "/api/v1/visits/{v}/label", {"label": 3, "reason": "复核"}, {"secadmin"}),
            ("POST", "/api/v1/prescriptions/{rx}/cancel", None, {"doctor"}),  # last: it changes state
        ]
        relation_checked = {"patient", "doctor"}
        problems = []
        for method, path, body, allowed in routes:
            for role, user in people.items():
                for whose, ids in (("own", (v_own, rx_own, pid_own)), ("other", (v_other, rx_other, pid_other))):
                    p = path.replace("{v}", str(ids[0])).replace("{rx}", str(ids[1])).replace("{p}", str(ids[2]))
                    r = h.s(user).req(method, p, body)
                    refused = r.status in (401, 403)
                    should = role not in allowed or (whose == "other" and role in relation_checked)
                    # a pharmacist reads any prescription awaiting review: that is the queue
                    if role == "pharmacist" and "/prescriptions/" in p and method == "GET":
                        should = False
                    if refused != should:
                        problems.append("%s %s as %s (%s): %d" % (method, path, role, whose, r.status))
        anon = inst.request("GET", "/api/v1/visits/%d" % v_own)
        self.assertEqual(anon.status, 401)
        self.assertEqual(problems, [])
        denied = [a for a in audit_actions(inst) if a[0] == "access.denied"]
        self.assertGreater(len(denied), 20)
