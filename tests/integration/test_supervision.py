"""The supervision connector against a local test double of the Tianjin
platform (platform_double.py; the connector is the real one): journeys
produce exactly the expected uploads with the right fields; outages, hangs
and 5xx lose nothing and duplicate nothing; kill -9 loses nothing and only
duplicates what was logged as possibly duplicated; a data error is
dead-lettered, the rest keeps flowing, and `ihos report retry` delivers it
after a fix."""
import collections
import json
import os
import re
import signal
import time

from tests.integration.harness import IhosTestCase, run_ihos
from tests.integration.platform_double import Platform
from tests.integration.test_care import Hospital


def wait(cond, timeout, step=0.5):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


class SupervisionTest(IhosTestCase):
    def connect(self, inst, platform, **conf):
        inst.set_conf("report", "enabled", "true")
        inst.set_conf("report", "gateway_url", platform.url)
        inst.set_conf("report", "app_key", platform.app_key)
        inst.set_conf("report", "ca_file", platform.cert)
        inst.set_conf("report", "timeout", "3")
        inst.set_conf("care", "detect_block", "false")
        for k, v in conf.items():
            inst.set_conf("report", k, v)
        p = run_ihos("report", "set-secret", inst.dir, input=platform.app_secret + "\n")
        self.assertIn("stored", p.stdout)

    def status(self, inst):
        return json.loads(run_ihos("report", "status", inst.dir).stdout)

    def drained(self, inst):
        st = self.status(inst)["states"]
        return not any(st.get(k) for k in ("pending", "sending", "unknown"))

    def journey(self, h, patient, doctor, pharmacist="pharmacist01"):
        """A whole follow-up; returns its ids."""
        v = h.followup(patient, doctor)
        h.s(patient).req("POST", "/api/v1/visits/%d/messages" % v, {"body": "复诊"})
        r = h.s(doctor).req("POST", "/api/v1/visits/%d/records" % v, {
            "chief_complaint": "血压控制不佳", "present_history": "高血压5年", "diagnosis_codes": ["I10.x00"],
            "diagnosis": "原发性高血压", "opinion": "继续用药"})
        assert r.status == 201, r
        rx = h.prescribe(doctor, v)
        assert h.s(pharmacist).req("POST", "/api/v1/prescriptions/%d/review" % rx["id"], {"decision": "approve"}).status == 200
        h.pay(patient, v, rx["id"])
        other = "pharmacist04" if pharmacist != "pharmacist04" else "pharmacist03"
        assert h.s(other).req("POST", "/api/v1/prescriptions/%d/dispense" % rx["id"], {"delivery_type": "0"}).status == 200
        assert h.s(doctor).req("POST", "/api/v1/visits/%d/close" % v).status == 200
        r = h.s(patient).req("POST", "/api/v1/visits/%d/evaluation" % v, {"satisfaction": 4, "score": 8, "text": "好"})
        assert r.status == 201, r
        return v, rx

    def test_journeys_produce_the_expected_uploads(self):
        platform = Platform(self.tmp).start()
        self.addCleanup(platform.stop)
        inst = self.instance(demo=True)
        self.connect(inst, platform)
        inst.start()
        h = Hospital(inst)
        v, rx = self.journey(h, "patient050", "doctor01")
        sys_dep = h.s("doctor01").req("GET", "/api/v1/me/staff").json()["departments"][0]["id"]
        r = h.s("doctor01").req("POST", "/api/v1/adverse-events", {
            "visit_id": v, "kind": "2", "description": "服药后轻度头晕", "cause": "剂量偏大", "measures": "减量观察",
            "damage_degree": "2", "improvements": "加强用药交代", "department_id": sys_dep, "event_date": "2026-01-05"})
        self.assertEqual(r.status, 201, r)
        self.assertTrue(wait(lambda: self.drained(inst), 60), self.status(inst))
        self.assertEqual(len(platform.by_method("uploadDrugCatalogue")), 108)
        [ref] = platform.by_method("uploadReferralIndicators")
        pat = h.s("patient050").req("GET", "/api/v1/me/patient").json()
        self.assertEqual(ref["bussID"], str(v))
        self.assertEqual(ref["patientCertID"], pat["cert_no"])
        self.assertEqual(ref["patientName"], pat["name"])
        self.assertEqual(ref["mainDiagnoseCode"], "I10.x00")
        self.assertEqual(ref["referralFlag"], "1")
        self.assertEqual(ref["answerFlag"], "1")
        self.assertRegex(ref["applyDate"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        self.assertEqual((ref["organID"], ref["unitID"]), ("12345678901234567X", "U0001"))
        [emr] = platform.by_method("uploadElectMedicalRecord")
        self.assertEqual((emr["caseNo"], emr["diagnosisCode"]), (str(v), "I10.x00"))
        [recipe] = platform.by_method("uploadRecipeIndicators")
        self.assertEqual(recipe["recipeID"], rx["recipe_no"])
        self.assertEqual(recipe["bussSource"], "4")
        self.assertEqual(recipe["icdName"], "原发性高血压")
        self.assertTrue(recipe["auditDoctor"])
        self.assertEqual(recipe["orderList"][0]["drcode"], rx["items"][0]["hosp_code"])
        [disp] = platform.by_method("uploadRecipeVerificationIndicators")
        self.assertEqual((disp["recipeID"], disp["deliveryType"]), (rx["recipe_no"], "0"))
        [ev] = platform.by_method("uploadBusinessInfoAfter")
        self.assertEqual((ev["bussID"], ev["satisfaction"], ev["scoring"]), (str(v), 4, 8))
        [ae] = platform.by_method("pushMedicalDispute")
        self.assertEqual((ae["patientName"], ae["damageDegree"]), (pat["name"], "2"))
        # the evaluation went only after the visit it evaluates
        order = [m for m, _ in platform.records]
        self.assertLess(order.index("uploadReferralIndicators"), order.index("uploadBusinessInfoAfter"))
        self.assertEqual(platform.errors, [])
        # metrics
        m = inst.metrics()
        self.assertRegex(m, r'ihos_report_sent_total\{method="uploadRecipeIndicators"\} 1\b')
        self.assertIn('ihos_report_queue{state="pending"} 0', m)

    def test_daily_empty_adverse_call(self):
        platform = Platform(self.tmp).start()
        self.addCleanup(platform.stop)
        inst = self.instance()
        self.connect(inst, platform)
        inst.start()
        self.assertTrue(wait(lambda: any(m == "pushMedicalDispute" for m, _ in platform.calls), 30), platform.calls)
        self.assertEqual(platform.by_method("pushMedicalDispute"), [])  # an empty list

    def test_outage_hang_and_5xx_lose_nothing(self):
        platform = Platform(self.tmp).start()
        port = platform.port
        platform.stop()  # down: journeys run while nothing listens (60 s)
        inst = self.instance(demo=True)
        self.connect(inst, platform)
        inst.start()
        h = Hospital(inst)
        t0 = time.time()
        ids = [self.journey(h, "patient06%d" % i, "doctor0%d" % (i + 1)) for i in range(3)]
        time.sleep(max(0, 60 - (time.time() - t0)))
        self.assertEqual(self.status(inst)["states"].get("sent", 0), 0)
        platform.start(port)
        self.addCleanup(platform.stop)
        # answering 5xx, then busy, then hanging for a while
        platform.mode = "5xx"
        time.sleep(5)
        platform.mode = "busy"
        time.sleep(5)
        platform.hang_seconds = 5
        platform.mode = "hang"
        time.sleep(8)
        platform.mode = "ok"
        self.assertTrue(wait(lambda: self.drained(inst), 150), self.status(inst))
        counts = collections.Counter((m, r.get("bussID") or r.get("recipeID") or r.get("hospDrcode") or r.get("caseNo")
                                      or r.get("evaluateID") or r.get("eventID")) for m, r in platform.records)
        self.assertEqual([k for k, n in counts.items() if n > 1], [])  # nothing twice
        self.assertEqual(len(platform.by_method("uploadReferralIndicators")), 3)  # nothing lost
        self.assertEqual(len(platform.by_method("uploadRecipeIndicators")), 3)
        self.assertEqual(len(platform.by_method("uploadDrugCatalogue")), 108)
        self.assertTrue(any(o in ("503", "busy", "hung") for _, o in platform.calls))

    def test_kill_minus_nine_during_uploads(self):
        platform = Platform(self.tmp).start()
        self.addCleanup(platform.stop)
        inst = self.instance(demo=True)
        self.connect(inst, platform)
        # the platform stores and then never answers: the connector cannot know
        platform.mode = "store_then_hang"
        platform.hang_seconds = 30
        inst.start()
        self.assertTrue(wait(lambda: len(platform.records) >= 1, 30))
        inst.proc.send_signal(signal.SIGKILL)
        inst.proc.wait()
        inst.kill()
        platform.mode = "ok"
        inst.start()
        self.assertTrue(wait(lambda: self.drained(inst), 90), self.status(inst))
        keys = collections.Counter(r["hospDrcode"] for m, r in platform.records if m == "uploadDrugCatalogue")
        self.assertEqual(len(keys), 108)  # nothing lost
        dup = {k for k, n in keys.items() if n > 1}
        self.assertTrue(dup)  # records whose answer never came were sent again...
        unanswered = {r["hospDrcode"] for m, r in platform.unanswered if m == "uploadDrugCatalogue"}
        self.assertLessEqual(dup, unanswered)  # ...only those (one per uploader worker in flight)...
        self.assertTrue(all(keys[k] == 2 for k in dup))
        logged = "\n".join(l for l in inst.log_lines if "report.possible_duplicate" in l)
        self.assertTrue(logged)  # ...and that is logged for the operator

    def test_data_error_dead_letter_and_retry(self):
        platform = Platform(self.tmp).start()
        self.addCleanup(platform.stop)
        inst = self.instance(demo=True)
        self.connect(inst, platform)
        platform.mode = "data_error_for"
        platform.data_error_method = "uploadRecipeIndicators"
        inst.start()
        h = Hospital(inst)
        v, rx = self.journey(h, "patient070", "doctor02")
        self.assertTrue(wait(lambda: self.drained(inst), 60), self.status(inst))
        st = self.status(inst)
        self.assertEqual(st["states"].get("dead"), 1, st)
        self.assertEqual(len(platform.by_method("uploadReferralIndicators")), 1)  # the rest kept flowing
        self.assertEqual(len(platform.by_method("uploadRecipeVerificationIndicators")), 1)
        dead = json.loads(run_ihos("report", "list", inst.dir, "--state", "dead").stdout)
        self.assertEqual(dead[0]["method"], "uploadRecipeIndicators")
        self.assertIn("forced data error", dead[0]["last_error"])
        self.assertTrue(inst.wait_events("report.dead"))
        shown = json.loads(run_ihos("report", "show", inst.dir, str(dead[0]["id"])).stdout)
        self.assertEqual(shown["record"]["recipeID"], rx["recipe_no"])
        # 14.5: personal values masked unless asked for, and both views audited
        me = h.s("patient070").req("GET", "/api/v1/me/patient").json()
        rec = shown["record"]
        self.assertEqual(rec["patientName"], me["name"][0] + "*" * (len(me["name"]) - 1))
        self.assertEqual(rec["patientCertID"], me["cert_no"][:6] + "********" + me["cert_no"][14:])
        self.assertNotIn(me["cert_no"], json.dumps(shown, ensure_ascii=False))
        full = json.loads(run_ihos("report", "show", inst.dir, str(dead[0]["id"]), "--unmask").stdout)
        self.assertEqual(full["record"]["patientCertID"], me["cert_no"])
        aud = inst.path("ihos.db")
        import sqlite3
        db = sqlite3.connect(aud)
        entries = [bytes(r[0]) for r in db.execute("SELECT entry FROM audit_event WHERE action = 'report.show' "
                                                     "ORDER BY seq")]
        db.close()
        self.assertEqual(len(entries), 2, entries)
        self.assertTrue(b"masked" in entries[0] and b"unmasked" not in entries[0], entries[0])
        self.assertIn(b"unmasked", entries[1])
        # fixed on the platform's side: re-send
        platform.mode = "ok"
        run_ihos("report", "retry", inst.dir, str(dead[0]["id"]))
        self.assertTrue(wait(lambda: len(platform.by_method("uploadRecipeIndicators")) == 1, 30))
        self.assertTrue(wait(lambda: self.drained(inst), 30))
        self.assertEqual(self.status(inst)["states"].get("dead", 0), 0)
        p = run_ihos("report", "retry", inst.dir, str(dead[0]["id"]), check=False)
        self.assertEqual(p.returncode, 1)  # a sent row is not re-sent blindly
