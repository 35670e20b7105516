"""What a new user tripped over (issue: the new user's findings), each shown
fixed against a running server.  Unit tests hold the parts where time or the
store matters: a past shift (test_care t_past_shift_not_bookable), code
tables (t_code_tables_listed), payments (t_payment_confirmed_by_channel),
clinical safety (t_clinical_safety); one form per value is
test_api_contract."""
import hashlib
import json
import os
import signal
import subprocess
import time

from tests.integration.harness import (BIN, IhosTestCase, complete_setup, initial_credentials, login, run_ihos)
from tests.integration.test_care import Hospital

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def sql(inst, q):
    import sqlite3
    db = sqlite3.connect(inst.path("ihos.db"))
    try:
        return db.execute(q).fetchall()
    finally:
        db.close()


class Payments(IhosTestCase):
    """1. Money is what the channel says: a forged or stale notification
    changes nothing; a refund for a service not given goes through the
    channel; nobody else can mark anything paid or refunded."""

    def test_channel_decides(self):
        inst = self.instance(demo=True)
        inst.start()
        h = Hospital(inst)
        sysa = complete_setup(inst, initial_credentials(inst)["sysadmin"], "Strong-Sysadmin-Pass-2026!")
        pat, doc = "patient041", "doctor02"
        v = h.followup(pat, doc, accept=False)
        r = h.s(pat).req("POST", "/api/v1/visits/%d/payments" % v, {"channel": "wechat"})
        self.assertEqual(r.status, 201, r)
        order = r.json()["payment"]
        # a notification signed with another key, or an old one, changes nothing
        import importlib.util
        spec = importlib.util.spec_from_file_location("pc", os.path.join(ROOT, "scripts", "pay-channel.py"))
        pc = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(pc)
        pc.STATE = os.path.join(inst.pay_dir, "pay-channel.jsonl")
        forger = os.path.join(self.tmp, "forger")
        os.makedirs(forger)
        pc.keygen(forger)
        body = pc.event("paid", order["order_no"])
        url, ca = "https://127.0.0.1:%d" % inst.port, inst.path("keys", "tls.crt")
        self.assertEqual(pc.notify(url, ca, os.path.join(forger, "pay-channel.key"), body)[0], 401)
        key = os.path.join(inst.pay_dir, "pay-channel.key")
        self.assertEqual(pc.notify(url, ca, key, body, timestamp=int(time.time()) - 3600)[0], 401)
        self.assertEqual(h.s(pat).req("GET", "/api/v1/payments/%d" % order["id"]).json()["state"], "pending")
        self.assertTrue(inst.wait_events("payment.notify_refused"))
        # the real one pays; the doctor refuses the visit; the fee comes back through the channel
        self.assertEqual(pc.notify(url, ca, key, body)[0], 200)
        self.assertEqual(h.s(doc).req("POST", "/api/v1/visits/%d/refuse" % v, {"reason": "非本科室诊疗范围"}).status, 200)
        self.assertError(h.s(pat).req("POST", "/api/v1/payments/%d/refund" % order["id"], {"reason": "医生拒诊退费"}),
                         403, "forbidden")
        r = sysa.req("POST", "/api/v1/payments/%d/refund" % order["id"], {"reason": "医生拒诊，退还诊查费"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["state"], "refunding")
        self.assertEqual(inst.channel_notify("refunded", order["order_no"])[0], 200)
        got = h.s(pat).req("GET", "/api/v1/payments/%d" % order["id"]).json()
        self.assertEqual((got["state"], got["paid"]), ("refunded", False))
        acts = {a for (a,) in sql(inst, "SELECT action FROM audit_event WHERE action LIKE 'payment.%'")}
        self.assertEqual(acts, {"payment.order", "payment.paid", "payment.notify", "payment.refund", "payment.refunded"})


class DemoAsDocumented(IhosTestCase):
    """6. `make run` keeps the demo's recovery key beside its credentials and
    says so: a demo backup can be restored.  And the journey of docs/care.md
    (scripts/demo-journey.sh, payment through the channel included) runs as
    written against it."""

    def test_demo_journey_and_backup(self):
        demo = os.path.join(self.tmp, "demo")
        env = dict(os.environ, IHOS_DEMO_DIR=demo, IHOS_BIN_DIR=BIN, IHOS_DEMO_LISTEN="127.0.0.1:0")
        p = subprocess.Popen([os.path.join(ROOT, "scripts", "run-demo.sh")], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 240
            err = ""
            while time.time() < deadline and "server.started" not in err:
                line = p.stderr.readline()
                if not line and p.poll() is not None:
                    break
                err += line
            self.assertIn("server.started", err)
            url = [json.loads(x)["url"] for x in err.splitlines() if '"server.started"' in x][0]
            j = subprocess.run([os.path.join(ROOT, "scripts", "demo-journey.sh"), demo, url], capture_output=True,
                               text=True, timeout=180)
            self.assertEqual(j.returncode, 0, j.stdout + j.stderr)
            self.assertIn("5. the patient ordered", j.stdout)
            self.assertIn("confirmed it: paid", j.stdout)
            self.assertIn("the journey is done", j.stdout)
            self.assertEqual(os.stat(os.path.join(demo, "recovery-key")).st_mode & 0o777, 0o600)
            backup = os.path.join(self.tmp, "demo.ihosbak")
            out = run_ihos("backup", "create", demo, "--to", backup).stdout
            # the SHA-256 is printed as sha256sum prints it (9)
            with open(backup, "rb") as f:
                self.assertIn(hashlib.sha256(f.read()).hexdigest(), out)
            r = run_ihos("restore", backup, os.path.join(self.tmp, "restored"), "--recovery-key-file",
                         os.path.join(demo, "recovery-key"), check=False)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            p.send_signal(signal.SIGTERM)
            out, _ = p.communicate(timeout=60)
        self.assertIn("RECOVERY KEY", out)
        self.assertIn(os.path.join(demo, "recovery-key"), out)


class SmallThings(IhosTestCase):
    """3, 7, 9: code tables over HTTP; a restricted session's 403 is audited;
    the auditor sees who acted; a doctor's list names the patients."""

    def test_codes_audits_and_names(self):
        inst = self.instance(demo=True)
        inst.start()
        h = Hospital(inst)
        # 3. every code table, with Chinese names; a 400 names the values or where they are
        tables = {t["key"] for t in inst.request("GET", "/api/v1/codes").json()["tables"]}
        self.assertTrue({"route", "frequency", "drug_class", "delivery_type", "cert_type", "title"} <= tables)
        route = inst.request("GET", "/api/v1/codes/route").json()
        self.assertIn({"code": "1", "name": "口服"}, route["codes"])
        self.assertError(inst.request("GET", "/api/v1/codes/nope"), 404, "not_found")
        v = h.followup("patient042", "doctor03")
        h.record("doctor03", v)
        d = h.drug("氨氯地平")
        err = self.assertError(h.s("doctor03").req("POST", "/api/v1/visits/%d/prescriptions" % v, {
            "recipe_type": "9", "diagnosis_codes": ["I10.x00"],
            "items": [{"drug_id": d["id"], "route": "1", "frequency": "qd", "dosage": "5", "dose_unit": "mg",
                       "quantity": 1, "days": 7}]}), 400, "invalid_field")
        self.assertIn("1 西药, 2 中成药, 3 中药饮片", err["message"])
        err = self.assertError(h.s("doctor03").req("POST", "/api/v1/visits/%d/prescriptions" % v, {
            "recipe_type": "1", "diagnosis_codes": ["I10.x00"],
            "items": [{"drug_id": d["id"], "route": "77", "frequency": "qd", "dosage": "5", "dose_unit": "mg",
                       "quantity": 1, "days": 7}]}), 400, "invalid_field")
        self.assertIn("GET /api/v1/codes/route", err["message"])
        # 7. a restricted (first-login) session's 403 is an audit event like any other
        creds = initial_credentials(inst)
        first = login(inst, creds["secadmin"], code=False)
        self.assertError(first.req("GET", "/api/v1/accounts"), 403, "password_change_required")
        aud = complete_setup(inst, creds["auditadmin"], "Strong-Auditadmin-Pass-2026!")
        ev = aud.req("GET", "/api/v1/audit/events?action=access.denied&limit=200").json()["events"]
        mine = [e for e in ev if e.get("actor_username") == creds["secadmin"].username]
        self.assertTrue(mine, ev)
        self.assertEqual(mine[-1]["actor_role"], "secadmin")  # 9: who, by name and role
        # a refused restricted drug is audited too
        narcotic = h.drug("吗啡", restricted=True)
        h.s("doctor03").req("POST", "/api/v1/visits/%d/prescriptions" % v, {
            "recipe_type": "1", "diagnosis_codes": ["I10.x00"],
            "items": [{"drug_id": narcotic["id"], "route": "1", "frequency": "qd", "dosage": "5", "dose_unit": "mg",
                       "quantity": 1, "days": 3}]})
        ev = aud.req("GET", "/api/v1/audit/events?action=rx.issue&outcome=failure&limit=50").json()["events"]
        self.assertTrue(any(e["object_type"] == "visit" and e["object_id"] == str(v) for e in ev), ev)
        # 9. a doctor's visit list names its patients
        mine = h.s("doctor03").req("GET", "/api/v1/visits").json()["visits"]
        me = h.s("patient042").req("GET", "/api/v1/me/patient").json()
        self.assertIn(me["name"], [x.get("patient_name") for x in mine])
