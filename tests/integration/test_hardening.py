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
        h.pay(pat, v, rx["id"])
        assert h.s("pharmacist02").req("POST", "/api/v1/prescriptions/%d/dispense" % rx["id"],
                                       {"delivery_type": "0"}).status == 200
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
        self.assertTrue(inst.wait_events("integrity.violation"))
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
            metrics = inst.metrics()
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
        self.assertTrue(inst.wait_events("tongfang.suspected"))


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


def _patient(username, cert, phone, name="赵六"):
    from tests.integration.test_registry import patient_body
    return patient_body(username, name=name, cert=cert, phone=phone)


class ExistenceNotTold(IhosTestCase):
    """14. Registration answers the same whether or not an ID number is
    registered or a username (staff too) is taken; only whoever proves the
    phone by its SMS code is told, and the registered patient hears of it.
    2 (follow-up). Six concurrent registrations of one new ID number leave
    the audit journal whole, on both store backends."""

    def setUp(self):
        super().setUp()
        from tests.integration.harness import id_number, setup_admins
        self.id_number = id_number
        self.inst = self.instance()
        self.inst.set_conf("registry", "registrations_per_minute", "1000")
        self.inst.enable_sms()
        self.inst.start()
        self.admins = setup_admins(self.inst)

    def test_same_answer_whatever_exists(self):
        from tests.integration.harness import register_patient
        inst = self.inst
        cert = self.id_number(seq=401)
        self.assertEqual(register_patient(inst, _patient("first.one", cert, "13911110001")).status, 201)
        staff_name = self.admins["sysadmin"][0].username
        answers = [inst.request("POST", "/api/v1/patients", b) for b in (
            _patient("second.one", cert, "13911110002"),                         # ID number registered
            _patient(staff_name, self.id_number(seq=403), "13911110003"),        # a staff username
            _patient("first.one", self.id_number(seq=405), "13911110004"),       # a patient username
            _patient("fresh.one", self.id_number(seq=407), "13911110005"))]      # nothing exists
        self.assertEqual([a.status for a in answers], [202] * 4, answers)
        self.assertEqual({tuple(sorted(a.json())) for a in answers}, {("expires_at", "registration")})
        self.assertEqual({len(a.json()["registration"]) for a in answers}, {43})
        # every phone got a code, and the registered patient nothing yet
        for phone in ("13911110002", "13911110003", "13911110004", "13911110005"):
            self.assertEqual(len(inst.sms(phone, "register_code")), 1)
        self.assertEqual(inst.sms("13911110001", "register_attempt"), [])
        # a wrong code and an unknown token answer alike, and count
        tok = answers[0].json()["registration"]
        wrong = inst.request("POST", "/api/v1/patients/verify", {"registration": tok, "code": "000000"})
        if inst.last_code("13911110002", "register_code") != "000000":
            self.assertError(wrong, 400, "invalid_field")
        unknown = inst.request("POST", "/api/v1/patients/verify", {"registration": "A" * 43, "code": "123456"})
        self.assertEqual(unknown.json(), wrong.json() if wrong.status == 400 else unknown.json())
        # the holder of the phone learns it, and the registered patient is told
        verify = lambda a, phone, **kw: inst.request("POST", "/api/v1/patients/verify", dict(
            registration=a.json()["registration"], code=inst.last_code(phone, "register_code"), **kw))
        err = self.assertError(verify(answers[0], "13911110002"), 409, "already_exists")
        self.assertEqual(err["field"], "cert_no")
        self.assertEqual(len(inst.sms("13911110001", "register_attempt")), 1)
        # a taken username: told after the code, and another may be chosen with it
        err = self.assertError(verify(answers[1], "13911110003"), 409, "already_exists")
        self.assertEqual(err["field"], "username")
        r = verify(answers[1], "13911110003", username="second.two")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["username"], "second.two")
        # used codes open nothing twice
        self.assertError(verify(answers[1], "13911110003", username="second.three"), 400, "invalid_field")
        self.assertEqual(verify(answers[3], "13911110005").status, 201)

    def test_tries_and_phone_limits(self):
        inst = self.inst
        body = _patient("tries.one", self.id_number(seq=411), "13911110011")
        r = inst.request("POST", "/api/v1/patients", body)
        self.assertEqual(r.status, 202, r)
        code = inst.last_code("13911110011", "register_code")
        bad = "%06d" % ((int(code) + 1) % 1000000)
        for _ in range(5):
            self.assertError(inst.request("POST", "/api/v1/patients/verify",
                                          {"registration": r.json()["registration"], "code": bad}), 400, "invalid_field")
        # five tries spent: the right code no longer opens it
        self.assertError(inst.request("POST", "/api/v1/patients/verify",
                                      {"registration": r.json()["registration"], "code": code}), 400, "invalid_field")
        # a phone gets five codes an hour
        statuses = [inst.request("POST", "/api/v1/patients", _patient("tries.%d" % i, self.id_number(seq=413 + 2 * i),
                                                                      "13911110011")).status for i in range(5)]
        self.assertEqual(statuses, [202, 202, 202, 202, 429])
        # the gateway down: a clear 503, and an alert
        self.assertError(inst.request("POST", "/api/v1/patients", _patient("down.one", self.id_number(seq=431),
                                                                            "13800000000")), 503, "unavailable")
        self.assertTrue(inst.wait_events("sms.failed"))

    def concurrent(self, inst):
        import threading
        from tests.integration.harness import register_patient
        cert = self.id_number(seq=441)
        out = [None] * 6

        def one(i):
            out[i] = register_patient(inst, _patient("race.%d" % i, cert, "1391111%04d" % (100 + i))).status

        threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(sorted(out), [201, 409, 409, 409, 409, 409], out)
        self.assertEqual(inst.stop(), 0)
        v = run_ihos("audit", "verify", inst.dir, check=False)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertIn("OK:", v.stdout)

    def test_concurrent_registrations_sqlite(self):
        self.concurrent(self.inst)

    def test_concurrent_registrations_postgres(self):
        from tests.integration.harness import pg_create_db, setup_admins
        inst = self.instance(name="pg", store="postgres", pg_url=pg_create_db())
        inst.set_conf("registry", "registrations_per_minute", "1000")
        inst.enable_sms()
        inst.start()
        setup_admins(inst)
        self.concurrent(inst)


class PatientsOwnReset(IhosTestCase):
    """3. No administrator can take over a patient's account: the system
    administrator's password reset is refused for patients; a patient resets
    their own with a code sent to the phone they registered, and the answer
    to anyone else is the same as to them."""

    def test_reset_through_the_registered_phone(self):
        from tests.integration.harness import Account, complete_setup, initial_credentials, login, must_login
        inst = self.instance(demo=True)
        inst.enable_sms()
        inst.start()
        h = Hospital(inst)
        sysadmin = complete_setup(inst, initial_credentials(inst)["sysadmin"], "Strong-Sysadmin-Pass-2026!")
        pat = h.s("patient040")
        me = pat.req("GET", "/api/v1/me/patient").json()
        acct_id = pat.req("GET", "/api/v1/me").json()["id"]
        # the administrator's reset: refused, and the password still works
        self.assertError(sysadmin.req("POST", "/api/v1/accounts/%d/password-reset" % acct_id), 403, "forbidden")
        must_login(inst, h.accts["patient040"])
        # a matching and a non-matching request answer alike
        ok = inst.request("POST", "/api/v1/password-resets", {"cert_no": me["cert_no"], "phone": me["phone"]})
        other = inst.request("POST", "/api/v1/password-resets", {"cert_no": me["cert_no"], "phone": "13977770000"})
        self.assertEqual((ok.status, other.status), (202, 202))
        self.assertEqual(sorted(ok.json()), sorted(other.json()))
        self.assertEqual(inst.sms("13977770000", "reset_unmatched")[0]["params"], {})
        self.assertEqual(inst.sms("13977770000", "reset_code"), [])
        # the non-matching token opens nothing, whatever the code
        self.assertError(inst.request("POST", "/api/v1/password-resets/confirm", {
            "reset": other.json()["reset"], "code": "123456", "new_password": "Brand-New-Pass-2027!"}),
            400, "invalid_field")
        code = inst.last_code(me["phone"], "reset_code")
        confirm = lambda pw, c=code: inst.request("POST", "/api/v1/password-resets/confirm",
                                                  {"reset": ok.json()["reset"], "code": c, "new_password": pw})
        self.assertError(confirm("Brand-New-Pass-2027!", "%06d" % ((int(code) + 1) % 1000000)), 400, "invalid_field")
        self.assertError(confirm("password"), 400, "weak_password")  # told only after the code
        r = confirm("Brand-New-Pass-2027!")
        self.assertEqual(r.status, 200, r)
        # every session ended; the old password no longer works, the new one does
        self.assertError(pat.req("GET", "/api/v1/me"), 401, "unauthenticated")
        old = Account("patient040", h.accts["patient040"].password)
        self.assertNotIsInstance(login(inst, old), type(pat))
        must_login(inst, Account("patient040", "Brand-New-Pass-2027!"))
        # the code is used up
        self.assertError(confirm("Another-New-Pass-2028!"), 400, "invalid_field")
        acts = {x[0] for x in sql(inst, "SELECT action FROM audit_event WHERE action LIKE 'account.reset%' "
                                        "OR action = 'auth.password_reset_self'")}
        self.assertEqual(acts, {"account.reset_start", "account.reset_verify", "auth.password_reset_self"})


class LowFindings(IhosTestCase):
    """15–20 over HTTPS: HTTP framing refused as RFC 9112 says (16), adverse
    events name only visits their reporter cares for (17), /metrics needs a
    credential even on loopback and a trusted proxy's X-Forwarded-For names
    the client (18), bidirectional controls refused and one charset (20).
    15 and 19 are unit tests (test_identity, test_care: both backends)."""

    def test_strict_framing(self):
        inst = self.instance().start()
        for req in (b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
                    b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
                    b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"):
            out = inst.raw_exchange(req)
            self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out)
            self.assertEqual(out.count(b"HTTP/1.1 "), 1, out)  # nothing smuggled behind it

    def test_adverse_events_name_only_cared_for_visits(self):
        inst = self.instance(demo=True)
        inst.start()
        h = Hospital(inst)
        v = h.followup("patient033", "doctor02")
        dep = h.s("doctor03").req("GET", "/api/v1/me/staff").json()["departments"][0]["id"]
        body = {"kind": "2", "description": "服药后轻度头晕", "cause": "剂量偏大", "measures": "减量观察",
                "damage_degree": "2", "improvements": "加强用药交代", "department_id": dep, "event_date": "2026-01-05"}
        other = self.assertError(h.s("doctor03").req("POST", "/api/v1/adverse-events", dict(body, visit_id=v)), 403,
                                 "forbidden")
        missing = self.assertError(h.s("doctor03").req("POST", "/api/v1/adverse-events",
                                                       dict(body, visit_id=99999999)), 403, "forbidden")
        self.assertEqual(other, missing)  # no existence test either
        self.assertEqual(h.s("doctor03").req("POST", "/api/v1/adverse-events", body).status, 201)  # no visit named
        r = h.s("doctor02").req("POST", "/api/v1/adverse-events", dict(body, visit_id=v))
        self.assertEqual(r.status, 201, r)

    def test_metrics_credential_and_trusted_proxies(self):
        inst = self.instance()
        inst.set_conf("security", "ip_failures_per_minute", "3")
        inst.start()
        self.assertError(inst.request("GET", "/metrics"), 401, "unauthenticated")
        self.assertError(inst.request("GET", "/metrics", token="x" * 43), 401, "unauthenticated")
        self.assertIn("ihos_http_responses_total", inst.metrics())

        def failures(xff, n):
            return [inst.request("POST", "/api/v1/sessions", {"username": "nobody", "password": "wrong-password-1"},
                                 headers={"X-Forwarded-For": xff}).status for _ in range(n)]
        # not trusted: X-Forwarded-For is the client's own claim, ignored
        self.assertEqual(failures("10.0.0.1", 3), [401] * 3)
        self.assertEqual(failures("10.0.0.2", 1), [429])
        inst.stop()
        inst.set_conf("server", "trusted_proxies", "127.0.0.1/32")
        inst.start()
        # behind a trusted proxy each client has its own limit; what a client
        # put in front of the proxy's entry is not believed
        self.assertEqual(failures("10.0.0.1", 4), [401, 401, 401, 429])
        self.assertEqual(failures("10.0.0.2", 1), [401])
        self.assertEqual(failures("10.0.0.2, 10.0.0.3", 3), [401, 401, 401])
        self.assertEqual(failures("10.0.0.3", 1), [429])

    def test_bidi_controls_and_one_charset(self):
        inst = self.instance(demo=True)
        inst.start()
        h = Hospital(inst)
        v = h.followup("patient034", "doctor02")
        err = self.assertError(h.s("patient034").req("POST", "/api/v1/visits/%d/messages" % v,
                                                     {"body": "每日一次\u202e片01 服口"}), 400, "invalid_field")
        self.assertEqual(err["field"], "body")
        self.assertEqual(h.s("patient034").req("POST", "/api/v1/visits/%d/messages" % v,
                                               {"body": "每日一次，每次一片"}).status, 201)
        self.assertEqual(inst.request("GET", "/").header("content-type"), "text/html; charset=utf-8")
