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


class RollbackAtStart(IhosTestCase):
    """6. A whole older database put back, with the local checkpoint file cut
    to match, passes nothing: ihosd refuses to start and `ihos audit verify`
    fails, because the anchor (off the database owner's reach) holds the
    newer signed checkpoint.  A deliberate restore is accepted explicitly."""

    def test_older_database_refused(self):
        from tests.integration.harness import IHOSD, make_staff, setup_admins
        import shutil
        import subprocess
        anchor = os.path.join(self.tmp, "anchor")
        os.mkdir(anchor, 0o700)
        inst = self.instance()
        inst.set_conf("audit", "anchor_dir", anchor)
        inst.start()
        admins = setup_admins(inst)
        self.assertEqual(inst.stop(), 0)
        old_db = os.path.join(self.tmp, "old.db")
        shutil.copy(inst.path("ihos.db"), old_db)
        old_cp = os.path.join(self.tmp, "old.checkpoints")
        shutil.copy(inst.path("audit", "checkpoints"), old_cp)
        inst.start()
        for role, (acct, _) in admins.items():
            from tests.integration.harness import login
            login(inst, acct)  # more events, a newer checkpoint
        self.assertEqual(inst.stop(), 0)
        self.assertTrue(os.listdir(anchor))
        # the attack: the older database and a checkpoint file cut to match it
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(inst.path("ihos.db" + suffix)):
                os.unlink(inst.path("ihos.db" + suffix))
        shutil.copy(old_db, inst.path("ihos.db"))
        shutil.copy(old_cp, inst.path("audit", "checkpoints"))
        p = subprocess.run([IHOSD, "--dir", inst.dir, "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("rolled back", p.stderr)
        self.assertIn("audit.rollback_detected", p.stderr)
        v = run_ihos("audit", "verify", inst.dir, check=False)
        self.assertEqual(v.returncode, 1, v.stdout)
        self.assertIn("rolled back", v.stdout)
        # a restore on purpose: accepted explicitly, audited, and then it starts
        a = run_ihos("audit", "accept-restore", inst.dir)
        self.assertIn("goes on from the restored checkpoint", a.stdout)
        inst.start()
        self.assertEqual(inst.stop(), 0)
        self.assertIn("OK:", run_ihos("audit", "verify", inst.dir).stdout)
        self.assertIn(("audit.restore_accepted",), sql(inst, "SELECT action FROM audit_event WHERE action = "
                                                             "'audit.restore_accepted'"))


class SuspendedDoctor(IhosTestCase):
    """4. A suspended doctor's session ends at once and no clinical power is
    left (the unit tests cover each service on both backends)."""

    def test_suspension_over_https(self):
        from tests.integration.harness import complete_setup, initial_credentials
        inst = self.instance(demo=True)
        inst.start()
        h = Hospital(inst)
        v = h.followup("patient040", "doctor04")
        doc = h.s("doctor04")
        staff = doc.req("GET", "/api/v1/me/staff").json()["id"]
        self.assertEqual(doc.req("GET", "/api/v1/visits/%d" % v).status, 200)
        creds = initial_credentials(inst)
        sys_acct = creds["sysadmin"]
        sys_s = complete_setup(inst, sys_acct, "Strong-Sysadmin-Pass-2026!")
        r = sys_s.req("POST", "/api/v1/staff/%d/status" % staff, {"status": "suspended", "reason": "执业资格暂停"})
        self.assertEqual(r.status, 200, r)
        r = doc.req("GET", "/api/v1/visits/%d" % v)
        self.assertEqual(r.status, 401, r)
        # a fresh login is no way around it
        fresh = h.relogin("doctor04")
        self.assertError(fresh.req("GET", "/api/v1/visits/%d" % v), 403, "forbidden")
        self.assertError(fresh.req("POST", "/api/v1/visits/%d/messages" % v, {"body": "继续服药"}), 403, "forbidden")
        pid = h.s("patient040").req("GET", "/api/v1/me/patient").json()["id"]
        self.assertError(fresh.req("POST", "/api/v1/patients/%d/break-glass" % pid,
                                   {"reason": "急诊抢救需要查看既往病史记录"}), 403, "forbidden")


class ForgedRows(IhosTestCase):
    """5. Rows inserted in the database grant nothing: a break-glass grant
    with a garbage MAC, a department membership with none."""

    def test_forged_grant_and_membership(self):
        inst = self.instance(demo=True)
        inst.start()
        h = Hospital(inst)
        v = h.followup("patient041", "doctor05")
        pid = h.s("patient041").req("GET", "/api/v1/me/patient").json()["id"]
        other = h.s("doctor06")
        other_staff = other.req("GET", "/api/v1/me/staff").json()["id"]
        self.assertError(other.req("GET", "/api/v1/visits/%d" % v), 403, "forbidden")
        sql(inst, "INSERT INTO break_glass (id, staff_id, patient_id, reason_enc, granted_at, expires_at, rv, mac) "
                  "VALUES (99001, ?, ?, X'0102', 0, 4102444800000, 1, X'00')", other_staff, pid)
        r = other.req("GET", "/api/v1/visits/%d" % v)
        self.assertIn(r.status, (403, 500), r)
        self.assertNotIn(b"complaint", r.body)
        self.assertTrue(inst.events("integrity.violation"))
        # a nurse of another department, joined to this one by an inserted row
        dep = h.s("doctor05").req("GET", "/api/v1/me/staff").json()["departments"][0]["id"]
        nurses = [u for u, a in h.accts.items() if a.role == "nurse"]
        for n in nurses:
            deps = [d["id"] for d in h.s(n).req("GET", "/api/v1/me/staff").json()["departments"]]
            if dep not in deps:
                ns = h.s(n)
                nurse_staff = ns.req("GET", "/api/v1/me/staff").json()["id"]
                break
        else:
            self.skipTest("every demo nurse works in that department")
        sql(inst, "INSERT INTO staff_department (staff_id, department_id) VALUES (?, ?)", nurse_staff, dep)
        self.assertError(ns.req("GET", "/api/v1/visits/%d" % v), 403, "forbidden")
        self.assertNotIn(v, [x["id"] for x in ns.req("GET", "/api/v1/visits?limit=200").json()["visits"]])


class SlowReaders(IhosTestCase):
    """7. Clients that pipeline requests and never read the answers hold no
    worker: everyone else is still answered at once."""

    def test_pipelining_non_readers_block_nobody(self):
        import socket
        inst = self.instance()
        inst.set_conf("server", "workers", "4")
        inst.start()
        request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2000
        hogs = []
        for _ in range(12):  # three times the workers
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.settimeout(10)
            raw.connect(("127.0.0.1", inst.port))
            tls = inst.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1")
            tls.sendall(request)
            hogs.append(tls)
        try:
            time.sleep(1.0)  # their responses fill the socket buffers
            for _ in range(5):
                t0 = time.monotonic()
                r = inst.request("GET", "/healthz")
                self.assertEqual(r.status, 200)
                self.assertLess(time.monotonic() - t0, 2.0, "a slow reader held the workers")
            metrics = inst.request("GET", "/metrics").body.decode()
            parked = int(re.search(r"^ihos_http_write_parked_total (\d+)", metrics, re.M).group(1))
            self.assertGreater(parked, 0)
        finally:
            for h in hogs:
                h.close()


class SecondFactorReplacement(IhosTestCase):
    """8. A stolen session alone cannot replace the owner's authenticator."""

    def test_needs_password_and_current_code(self):
        from tests.integration.harness import make_staff, must_login, setup_admins
        inst = self.instance()
        inst.start()
        admins = setup_admins(inst)
        doc = make_staff(inst, admins, "dr.owner")
        s = must_login(inst, doc)
        err = self.assertError(s.req("POST", "/api/v1/me/totp"), 400, "invalid_field")
        self.assertEqual(err["field"], "password")
        err = self.assertError(s.req("POST", "/api/v1/me/totp", {"password": doc.password}), 401,
                               "authentication_failed")
        self.assertEqual(err["field"], "totp")
        self.assertError(s.req("POST", "/api/v1/me/totp", {"password": "not-the-password", "totp": doc.next_code()}),
                         401, "authentication_failed")
        r = s.req("POST", "/api/v1/me/totp", {"password": doc.password, "totp": doc.next_code()})
        self.assertEqual(r.status, 201, r)
        self.assertIn("otpauth://", r.json()["otpauth_uri"])


class ListsAreCounted(IhosTestCase):
    """10. A list shows what it shows: the pharmacists' queue no longer lists
    doctors and drugs (opening one is a counted read), and a list that shows
    prescriptions in full counts each one."""

    def test_queue_list_is_no_statistics(self):
        inst = self.instance(demo=True)
        inst.set_conf("care", "detect_max_doctors", "2")
        inst.set_conf("care", "detect_max_drugs", "50")
        inst.set_conf("care", "detect_off_hours", "00:00-00:01")
        inst.start()
        h = Hospital(inst)
        rxs = []
        for i, doc in enumerate(("doctor01", "doctor02", "doctor03", "doctor04")):
            v = h.followup("patient06%d" % i, doc)
            rxs.append(h.prescribe(doc, v))
        rep = h.s("pharmacist02")
        queue = rep.req("GET", "/api/v1/prescriptions?status=issued&limit=200")
        self.assertEqual(queue.status, 200, queue)
        listed = {x["id"]: x for x in queue.json()["prescriptions"]}
        for rx in rxs:
            self.assertIn(rx["id"], listed)
            item = listed[rx["id"]]
            for hidden in ("doctor_id", "items", "total_fee", "diagnosis_codes", "patient_id"):
                self.assertNotIn(hidden, item)
        # opening them one by one is what counts: the third doctor ends it
        statuses = [rep.req("GET", "/api/v1/prescriptions/%d" % rx["id"]).status for rx in rxs]
        self.assertEqual(statuses[:2], [200, 200])
        self.assertEqual(statuses[2], 401, statuses)
        self.assertTrue(inst.events("tongfang.suspected"))


class SecondAdministrator(IhosTestCase):
    """13. The security administrator alone cannot widen access to personal
    data or narrow the auditor; a role change is proposed, another
    administrator decides, and the staff record must match the new role."""

    def test_proposals_and_decisions(self):
        from tests.integration.harness import complete_setup, initial_credentials, login
        inst = self.instance(demo=True)
        inst.start()
        h = Hospital(inst)
        creds = initial_credentials(inst)
        adm = {r: complete_setup(inst, a, "Strong-%s-Pass-2026!" % r.capitalize()) for r, a in creds.items()}
        sec, sysa, aud = adm["secadmin"], adm["sysadmin"], adm["auditadmin"]
        # secadmin grants itself patient.read: only a proposal
        r = sec.req("PUT", "/api/v1/roles/secadmin/permissions/patient.read", {"granted": True})
        self.assertEqual(r.status, 202, r)
        grant = r.json()["approval"]
        self.assertEqual(grant["state"], "pending")
        self.assertError(sec.req("GET", "/api/v1/patients?limit=5"), 403, "forbidden")
        self.assertError(sec.req("POST", "/api/v1/approvals/%d" % grant["id"], {"decision": "approve"}), 403,
                         "forbidden")
        # narrowing the auditor: a proposal too
        r = sec.req("PUT", "/api/v1/roles/auditadmin/permissions/audit.export", {"granted": False})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(aud.req("GET", "/api/v1/audit/export").status, 200)
        r = aud.req("POST", "/api/v1/approvals/%d" % r.json()["approval"]["id"], {"decision": "reject"})
        self.assertEqual(r.json()["approval"]["state"], "rejected")
        self.assertEqual(aud.req("GET", "/api/v1/audit/export").status, 200)
        # the grant, approved by the system administrator, takes effect
        r = sysa.req("POST", "/api/v1/approvals/%d" % grant["id"], {"decision": "approve"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sec.req("GET", "/api/v1/patients?limit=5").status, 200)
        # a pharmacist made a doctor: proposed, approved, and still no doctor's powers
        ph = h.s("pharmacist03")
        acct_id = ph.req("GET", "/api/v1/me").json()["id"]
        r = sec.req("PUT", "/api/v1/accounts/%d/role" % acct_id, {"role": "doctor"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(ph.req("GET", "/api/v1/me").json()["role"], "pharmacist")
        r = aud.req("POST", "/api/v1/approvals/%d" % r.json()["approval"]["id"], {"decision": "approve"})
        self.assertEqual(r.status, 200, r)
        as_doctor = h.relogin("pharmacist03")
        self.assertEqual(as_doctor.req("GET", "/api/v1/me").json()["role"], "doctor")
        pid = h.s("patient070").req("GET", "/api/v1/me/patient").json()["id"]
        self.assertError(as_doctor.req("POST", "/api/v1/patients/%d/break-glass" % pid,
                                       {"reason": "急诊抢救需要查看既往病史记录"}), 403, "forbidden")
        acts = [x[0] for x in sql(inst, "SELECT action FROM audit_event WHERE action LIKE 'approval.%'")]
        self.assertEqual(sorted(set(acts)), ["approval.approve", "approval.propose", "approval.reject"])
