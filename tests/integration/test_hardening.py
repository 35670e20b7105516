"""The holes an independent security test found (issue: Hardening), each
shown closed against a running server: every test here failed before its
fix.  Unit tests on both store backends cover the same rules where the
store matters (test_keys, test_audit, test_identity, test_care)."""
import os
import re
import sqlite3
import time

from tests.integration.harness import IhosTestCase, run_ihos
from tests.integration.test_care import Hospital


def sql(inst, q, *args):
    db = sqlite3.connect(inst.path("ihos.db"), isolation_level=None)
    try:
        return db.execute(q, args).fetchall()
    finally:
        db.close()


class ClinicalKeyRotation(IhosTestCase):
    """1. Rotating the clinical (and personal) key and re-encrypting with no
    grace re-seals every care table and the outbox before the old version
    is retired; every record still reads, and the scan agrees."""

    def care_data(self, h):
        pat, doc, ph = "patient030", "doctor02", "pharmacist01"
        v = h.followup(pat, doc)
        for who, text in ((pat, "头晕两天"), (doc, "请测量血压")):
            assert h.s(who).req("POST", "/api/v1/visits/%d/messages" % v, {"body": text}).status == 201
        rec = {"chief_complaint": "头晕", "present_history": "高血压3年", "diagnosis_codes": ["I10.x00"],
               "diagnosis": "原发性高血压", "opinion": "继续用药"}
        assert h.s(doc).req("POST", "/api/v1/visits/%d/records" % v, rec).status == 201
        rx = h.prescribe(doc, v)
        assert h.s(ph).req("POST", "/api/v1/prescriptions/%d/review" % rx["id"], {"decision": "approve"}).status == 200
        assert h.s(ph).req("POST", "/api/v1/prescriptions/%d/dispense" % rx["id"], {"delivery_type": "0"}).status == 200
        assert h.s(doc).req("POST", "/api/v1/visits/%d/close" % v).status == 200
        r = h.s(pat).req("POST", "/api/v1/visits/%d/evaluation" % v, {"satisfaction": 5, "score": 9, "text": "很好"})
        assert r.status == 201, r
        dep = h.s(doc).req("GET", "/api/v1/me/staff").json()["departments"][0]["id"]
        r = h.s(doc).req("POST", "/api/v1/adverse-events", {
            "visit_id": v, "kind": "2", "description": "服药后轻度头晕", "cause": "剂量偏大", "measures": "减量观察",
            "damage_degree": "2", "improvements": "加强用药交代", "department_id": dep, "event_date": "2026-01-05"})
        assert r.status == 201, r
        other = h.s("patient031").req("GET", "/api/v1/me/patient").json()["id"]
        r = h.s("doctor03").req("POST", "/api/v1/patients/%d/break-glass" % other, {"reason": "急诊转入，需要查看既往用药史"})
        assert r.status == 201, r
        return pat, doc, v, rx["id"]

    def reads(self, h, pat, doc, v, rx):
        got = h.s(pat).req("GET", "/api/v1/visits/%d" % v)
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.json()["messages"][0]["body"], "头晕两天")
        recs = h.s(doc).req("GET", "/api/v1/visits/%d/records" % v)
        self.assertEqual(recs.status, 200, recs)
        self.assertEqual(recs.json()["records"][0]["diagnosis"], "原发性高血压")
        r = h.s(pat).req("GET", "/api/v1/prescriptions/%d" % rx)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(h.s(pat).req("GET", "/api/v1/me/patient").status, 200)
        self.assertEqual(h.s(doc).req("GET", "/api/v1/adverse-events").status, 200)

    def test_rotate_reencrypt_no_grace(self):
        inst = self.instance(demo=True)
        inst.start()
        h = Hospital(inst)
        pat, doc, v, rx = self.care_data(h)
        self.assertGreater(sql(inst, "SELECT count(*) FROM outbox")[0][0], 0)
        for purpose in ("clinical", "personal"):
            run_ihos("key", "rotate", inst.dir, "--purpose", purpose)
        p = run_ihos("key", "reencrypt", inst.dir, "--grace-seconds", "0")
        self.assertRegex(p.stdout, r"re-sealed \d+ rows; 0 remain under old keys; 2 old key versions retired")
        status = run_ihos("key", "status", inst.dir).stdout
        self.assertRegex(status, r"clinical\s+v1\s+retired")
        self.assertRegex(status, r"personal\s+v1\s+retired")
        # the running server reads what another process re-sealed moments ago
        self.reads(h, pat, doc, v, rx)
        self.assertEqual(inst.stop(), 0)
        p = run_ihos("integrity", "scan", inst.dir)
        self.assertIn("OK:", p.stdout)
        inst.start()
        h.sessions.clear()
        self.reads(h, pat, doc, v, rx)

    def test_scan_sees_rows_under_a_retired_version(self):
        """A version retired while rows still used it (by hand: the guard
        would refuse) is an integrity failure, not OK."""
        inst = self.instance(demo=True)
        inst.start()
        h = Hospital(inst)
        self.care_data(h)
        self.assertEqual(inst.stop(), 0)
        run_ihos("key", "rotate", inst.dir, "--purpose", "clinical")
        sql(inst, "UPDATE dek SET state = 'retired', wrapped = NULL WHERE purpose = 2 AND version = 1")
        p = run_ihos("integrity", "scan", inst.dir, check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertRegex(p.stdout, r"\d+ of \d+ sealed rows are under a key version this instance no longer holds")
