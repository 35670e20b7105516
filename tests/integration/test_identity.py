"""Identity over HTTPS: first login, two factors, lockout, sessions, CSRF,
throttling, and the separation of the three administrators."""
import json
import os
import shutil
import stat
import subprocess
import threading
import time

from tests.integration.harness import (Account, IhosTestCase, Session, complete_setup, initial_credentials,
                                       login, setup_admins, totp)

FAILED = {"error": {"code": "authentication_failed",
                    "message": "Login failed: the username, password or code is wrong, or the account cannot log in."}}


class IdentityTest(IhosTestCase):
    """One instance with its administrators set up, shared by the tests below."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        from tests.integration.harness import Instance
        cls.ctmp = tempfile.mkdtemp(prefix="ihos-id-")
        cls.inst = Instance(cls.ctmp)
        cls.inst.set_conf("security", "ip_failures_per_minute", "1000")
        cls.inst.start()
        cls.admins = setup_admins(cls.inst)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.inst.stop()
        finally:
            shutil.rmtree(cls.ctmp, ignore_errors=True)

    def staff(self, username, role="doctor"):
        """A new, active, set-up staff account (created by sysadmin, activated by secadmin)."""
        sys_s = self.admins["sysadmin"][1]
        sec_s = self.admins["secadmin"][1]
        r = sys_s.req("POST", "/api/v1/accounts", {"username": username, "role": role})
        self.assertEqual(r.status, 201, r)
        j = r.json()
        self.assertEqual(j["account"]["status"], "pending")
        acct = Account(username, j["one_time_password"], role=role, id=j["account"]["id"])
        self.assertEqual(sec_s.req("POST", "/api/v1/accounts/%d/activate" % acct.id).status, 200)
        complete_setup(self.inst, acct, "Clinic-%s-Pw-77!" % username.replace(".", ""))
        return acct

    def test_initial_credentials(self):
        mode = stat.S_IMODE(os.stat(self.inst.path("initial-credentials")).st_mode)
        self.assertEqual(mode, 0o600)
        names = [a.username for a in initial_credentials(self.inst).values()]
        self.assertEqual(len(names), 3)
        for n in names:
            self.assertNotIn(n, ("admin", "root", "sysadmin", "secadmin", "auditadmin"))

    def test_first_login_is_restricted(self):
        sys_s = self.admins["sysadmin"][1]
        r = sys_s.req("POST", "/api/v1/accounts", {"username": "dr.first", "role": "doctor"})
        acct = Account("dr.first", r.json()["one_time_password"], id=r.json()["account"]["id"])
        # Pending: the same 401 as a wrong password.
        r = self.inst.request("POST", "/api/v1/sessions", {"username": "dr.first", "password": acct.password})
        self.assertEqual((r.status, r.json()), (401, FAILED))
        self.admins["secadmin"][1].req("POST", "/api/v1/accounts/%d/activate" % acct.id)
        s = login(self.inst, acct, code=False)
        self.assertTrue(s.body["must_change_password"] and s.body["must_enrol_totp"])
        self.assertError(s.req("GET", "/api/v1/me/sessions"), 403, "password_change_required")
        me = s.req("GET", "/api/v1/me").json()
        self.assertTrue(me["restricted"])
        self.assertEqual(me["permissions"], [])

    def test_totp_agrees_with_oathtool(self):
        acct = self.staff("dr.oath")
        if not shutil.which("oathtool"):
            self.fail("oathtool is not installed (make test installs it)")
        now = int(time.time()) // 30
        for step in (now - 1, now, now + 1, 1234567):
            out = subprocess.run(["oathtool", "--totp", "-b", acct.secret, "--now",
                                  time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(step * 30))],
                                 capture_output=True, text=True, check=True).stdout.strip()
            self.assertEqual(out, totp(acct.secret, step))
        # ...and the server takes oathtool's code.
        code = subprocess.run(["oathtool", "--totp", "-b", acct.secret], capture_output=True, text=True).stdout.strip()
        acct.last_step = int(time.time()) // 30
        r = self.inst.request("POST", "/api/v1/sessions",
                              {"username": acct.username, "password": acct.password, "totp": code})
        if r.status != 201:  # the step may just have been used by setup; the next one is fine
            time.sleep(31 - time.time() % 30)
            code = subprocess.run(["oathtool", "--totp", "-b", acct.secret], capture_output=True, text=True).stdout.strip()
            r = self.inst.request("POST", "/api/v1/sessions",
                                  {"username": acct.username, "password": acct.password, "totp": code})
        self.assertEqual(r.status, 201, r)

    def test_same_401_for_every_failure(self):
        acct = self.staff("nurse.same", "nurse")
        locked = self.staff("nurse.locked", "nurse")
        for _ in range(5):
            self.inst.request("POST", "/api/v1/sessions", {"username": locked.username, "password": "Wrong-Pass-00"})
        attempts = [
            {"username": "nobody.here", "password": acct.password, "totp": "123456"},
            {"username": acct.username, "password": "Wrong-Pass-00", "totp": acct.next_code()},
            {"username": acct.username, "password": acct.password, "totp": "000000"},
            {"username": locked.username, "password": locked.password, "totp": locked.next_code()},
        ]
        for body in attempts:
            r = self.inst.request("POST", "/api/v1/sessions", body)
            self.assertEqual(r.status, 401)
            self.assertEqual(r.json(), FAILED, body["username"])

    def test_lockout_at_exactly_five(self):
        acct = self.staff("ph.lock", "pharmacist")
        for _ in range(4):
            self.assertEqual(self.inst.request("POST", "/api/v1/sessions",
                                               {"username": acct.username, "password": "Bad-Pass-77"}).status, 401)
        self.assertIsInstance(login(self.inst, acct), Session)  # the fifth try, correct: in
        for _ in range(5):
            self.inst.request("POST", "/api/v1/sessions", {"username": acct.username, "password": "Bad-Pass-77"})
        r = login(self.inst, acct)
        self.assertEqual(r.status, 401)  # locked now
        sec = self.admins["secadmin"][1]
        j = sec.req("GET", "/api/v1/accounts/%d" % acct.id).json()
        self.assertTrue(j["locked"])
        self.assertEqual(sec.req("POST", "/api/v1/accounts/%d/unlock" % acct.id).status, 200)
        self.assertIsInstance(login(self.inst, acct), Session)

    def test_cookie_needs_csrf_and_logout_ends_session(self):
        acct = self.staff("dr.cookie")
        s = login(self.inst, acct)
        cookie = {"Cookie": "ihos_session=" + s.token}
        self.assertEqual(self.inst.request("GET", "/api/v1/me/sessions", headers=cookie).status, 200)
        r = self.inst.request("POST", "/api/v1/me/totp", headers=cookie)
        self.assertError(r, 403, "csrf_failed")
        r = self.inst.request("POST", "/api/v1/me/totp", headers=dict(cookie, **{"X-CSRF-Token": "forged"}))
        self.assertError(r, 403, "csrf_failed")
        r = self.inst.request("DELETE", "/api/v1/sessions/current", headers=dict(cookie, **{"X-CSRF-Token": s.csrf}))
        self.assertEqual(r.status, 204)
        self.assertIn("Max-Age=0", r.header("set-cookie"))
        self.assertError(s.req("GET", "/api/v1/me"), 401, "unauthenticated")

    def test_login_cookie_attributes(self):
        acct = self.staff("dr.attrs")
        r = self.inst.request("POST", "/api/v1/sessions",
                              {"username": acct.username, "password": acct.password, "totp": acct.next_code()})
        c = r.header("set-cookie")
        for attr in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
            self.assertIn(attr, c)
        self.assertEqual(r.header("cache-control"), "no-store")

    def test_sessions_listed_and_revoked(self):
        acct = self.staff("dr.multi")
        a = login(self.inst, acct)
        b = login(self.inst, acct)
        lst = a.req("GET", "/api/v1/me/sessions").json()["sessions"]
        self.assertGreaterEqual(len(lst), 2)
        other = [x for x in lst if not x["current"]][0]["id"]
        self.assertEqual(a.req("DELETE", "/api/v1/me/sessions/%d" % other).status, 204)
        ids = [x["id"] for x in a.req("GET", "/api/v1/me/sessions").json()["sessions"]]
        self.assertNotIn(other, ids)
        # Someone else's session is not found.
        c = login(self.inst, self.staff("dr.other"))
        self.assertError(c.req("DELETE", "/api/v1/me/sessions/%d" % ids[0]), 404, "not_found")
        del b

    def test_disable_ends_sessions(self):
        acct = self.staff("dr.leaving")
        s = login(self.inst, acct)
        sys_s = self.admins["sysadmin"][1]
        r = sys_s.req("POST", "/api/v1/accounts/%d/disable" % acct.id, {"reason": "left the hospital"})
        self.assertEqual(r.json()["status"], "disabled")
        self.assertError(s.req("GET", "/api/v1/me"), 401, "unauthenticated")

    def test_accounts_by_role_newest_first(self):
        """The account list by role and newest first (the staff registrar's picker)."""
        sys_s = self.admins["sysadmin"][1]
        made = []
        for name, role in (("nurse.a", "nurse"), ("pharm.b", "pharmacist"), ("nurse.c", "nurse")):
            r = sys_s.req("POST", "/api/v1/accounts", {"username": name, "role": role})
            self.assertEqual(r.status, 201, r)
            made.append(r.json()["account"]["id"])
        every = sys_s.req("GET", "/api/v1/accounts?limit=500").json()["accounts"]
        want = sorted((a["id"] for a in every if a["role"] in ("nurse", "pharmacist")), reverse=True)
        self.assertEqual(want[:3], made[::-1])
        got, before = [], None
        while True:  # two at a time, newest first, to the end
            r = sys_s.req("GET", "/api/v1/accounts?role=nurse,pharmacist&order=newest&limit=2"
                          + ("&before=%d" % before if before else ""))
            self.assertEqual(r.status, 200, r)
            got += [a["id"] for a in r.json()["accounts"]]
            before = r.json()["next_before"]
            if before is None:
                break
        self.assertEqual(got, want)
        pending = sys_s.req("GET", "/api/v1/accounts?status=pending&role=pharmacist").json()["accounts"]
        self.assertIn(made[1], [a["id"] for a in pending])
        self.assertTrue(all(a["role"] == "pharmacist" and a["status"] == "pending" for a in pending))
        for bad in ("role=surgeon", "role=nurse,doctor,pharmacist,patient", "order=sideways"):
            self.assertError(sys_s.req("GET", "/api/v1/accounts?" + bad), 400, "invalid_field")

    def test_administrators_cannot_do_each_others_jobs(self):
        """The route x administrator matrix: each may do only its own job."""
        doc = self.staff("dr.matrix")
        # A second auditor (sysadmin creates, secadmin activates) to be the target
        # of administrator-account changes, so the real ones keep their sessions.
        r = self.admins["sysadmin"][1].req("POST", "/api/v1/accounts", {"username": "aud.deputy", "role": "auditadmin"})
        aud_id = r.json()["account"]["id"]
        self.admins["secadmin"][1].req("POST", "/api/v1/accounts/%d/activate" % aud_id)
        accounts = self.admins["sysadmin"][1].req("GET", "/api/v1/accounts?limit=500").json()["accounts"]
        sec_id = {a["username"]: a["id"] for a in accounts}[self.admins["secadmin"][0].username]
        routes = [
            ("GET", "/api/v1/accounts", None, {"sysadmin", "secadmin"}),
            ("POST", "/api/v1/accounts", {"username": "x.%s", "role": "nurse"}, {"sysadmin"}),
            ("POST", "/api/v1/accounts/%d/disable" % doc.id, {}, {"sysadmin"}),
            ("POST", "/api/v1/accounts/%d/enable" % doc.id, {}, {"sysadmin"}),
            ("PUT", "/api/v1/accounts/%d/expiry" % doc.id, {"expires_at": "2099-01-01"}, {"sysadmin"}),
            ("POST", "/api/v1/accounts/%d/password-reset" % doc.id, None, {"sysadmin"}),
            ("POST", "/api/v1/accounts/%d/unlock" % doc.id, None, {"secadmin"}),
            ("PUT", "/api/v1/accounts/%d/role" % doc.id, {"role": "nurse"}, {"secadmin"}),
            ("POST", "/api/v1/accounts/%d/totp-reset" % doc.id, None, {"secadmin"}),
            ("POST", "/api/v1/admin-accounts/%d/disable" % aud_id, {}, {"secadmin"}),
            ("POST", "/api/v1/admin-accounts/%d/enable" % aud_id, {}, {"secadmin"}),
            ("GET", "/api/v1/permissions", None, {"secadmin"}),
            ("PUT", "/api/v1/roles/sysadmin/permissions/metrics.read", {"granted": True}, {"secadmin"}),
            ("GET", "/api/v1/audit/events", None, {"auditadmin"}),
            ("GET", "/api/v1/audit/checkpoints", None, {"auditadmin"}),
            ("POST", "/api/v1/audit/verify", None, {"auditadmin"}),
            ("GET", "/api/v1/audit/export", None, {"auditadmin"}),
        ]
        n = 0
        for method, path, body, allowed in routes:
            for role in ("sysadmin", "secadmin", "auditadmin"):
                s = self.admins[role][1]
                b = dict(body) if isinstance(body, dict) else body
                if b and "username" in b:
                    n += 1
                    b["username"] = b["username"] % ("%s%d" % (role[:3], n))
                r = s.req(method, path, b)
                if role in allowed:
                    self.assertLess(r.status, 400, "%s %s as %s: %r" % (method, path, role, r))
                else:
                    self.assertError(r, 403, "forbidden")
        # No administrator can disable itself or another kind of administrator through the other's routes.
        sys_s = self.admins["sysadmin"][1]
        self.assertError(sys_s.req("POST", "/api/v1/accounts/%d/disable" % sec_id, {}), 403, "forbidden")
        sec_s = self.admins["secadmin"][1]
        self.assertError(sec_s.req("POST", "/api/v1/admin-accounts/%d/disable" % sec_id, {}), 403, "forbidden")
        # Nobody can grant an audit permission to a non-auditor.
        self.assertError(sec_s.req("PUT", "/api/v1/roles/sysadmin/permissions/audit.export", {"granted": True}),
                         403, "forbidden")
        self.assertError(sec_s.req("PUT", "/api/v1/roles/secadmin/permissions/account.create", {"granted": True}),
                         403, "forbidden")
        # A clinician has none of these (a fresh one: the matrix reset doc's credentials).
        d = login(self.inst, self.staff("dr.matrix2"))
        for method, path, body, _ in routes:
            self.assertIn(d.req(method, path, body).status, (403,), path)
        # And the refusals are in the journal, readable by the auditor only.
        aud = self.admins["auditadmin"][1]
        ev = aud.req("GET", "/api/v1/audit/events?action=access.denied&limit=1000").json()["events"]
        self.assertGreater(len(ev), 30)
        self.assertTrue(all(e["outcome"] == "failure" and e["error_code"] == "forbidden" for e in ev))

    def test_permission_change_takes_effect(self):
        sec = self.admins["secadmin"][1]
        sys_s = self.admins["sysadmin"][1]
        self.assertEqual(sys_s.req("GET", "/metrics").status, 200)
        r = sec.req("PUT", "/api/v1/roles/sysadmin/permissions/metrics.read", {"granted": False})
        self.assertEqual(r.status, 200, r)
        self.assertError(sys_s.req("GET", "/metrics"), 403, "forbidden")
        sec.req("PUT", "/api/v1/roles/sysadmin/permissions/metrics.read", {"granted": True})
        self.assertEqual(sys_s.req("GET", "/metrics").status, 200)
        holders = {p["name"]: p for p in sec.req("GET", "/api/v1/permissions").json()["permissions"]}
        self.assertEqual(holders["audit.read"]["bounds"], ["auditadmin"])

    def test_auditor_reads_verifies_exports(self):
        aud = self.admins["auditadmin"][1]
        ev = aud.req("GET", "/api/v1/audit/events?action=auth.login&outcome=success&limit=5").json()["events"]
        self.assertTrue(ev)
        for e in ev:
            self.assertEqual((e["action"], e["outcome"]), ("auth.login", "success"))
            for k in ("time", "actor_id", "actor_role", "ip", "object_type", "object_id"):
                self.assertIn(k, e)
        time.sleep(1.5)  # let a checkpoint seal (interval is at most 10 s; ask for verify regardless)
        v = aud.req("POST", "/api/v1/audit/verify").json()
        self.assertTrue(v["ok"], v)
        r = aud.req("GET", "/api/v1/audit/export?limit=50")
        self.assertEqual(r.header("content-type"), "application/x-ndjson")
        lines = r.body.decode().splitlines()
        self.assertTrue(all(json.loads(l)["seq"] >= 0 for l in lines))
        # Reading the journal is itself in the journal.
        ev = aud.req("GET", "/api/v1/audit/events?action=audit.export").json()["events"]
        self.assertTrue(ev)
        self.assertError(aud.req("GET", "/api/v1/audit/events?from=yesterday"), 400, "invalid_field")


class ThrottleTest(IhosTestCase):
    def test_failures_per_address_are_throttled(self):
        inst = self.instance()
        inst.set_conf("security", "ip_failures_per_minute", "5")
        inst.start()
        codes = [inst.request("POST", "/api/v1/sessions", {"username": "nobody", "password": "Wrong-123x"}).status
                 for _ in range(8)]
        self.assertEqual(codes[:5], [401] * 5)
        self.assertEqual(codes[5:], [429] * 3)

    def test_login_flood_gets_503_not_a_crash(self):
        inst = self.instance()
        inst.set_conf("security", "hash_threads", "1")
        inst.set_conf("security", "hash_queue", "1")
        inst.set_conf("security", "ip_failures_per_minute", "1000")
        inst.start()
        statuses = []

        def one():
            statuses.append(inst.request("POST", "/api/v1/sessions",
                                         {"username": "flood", "password": "Wrong-Pass-1"}).status)

        ts = [threading.Thread(target=one) for _ in range(24)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(len(statuses), 24)
        self.assertTrue(set(statuses) <= {401, 503}, statuses)
        self.assertIn(503, statuses)
        self.assertEqual(inst.request("GET", "/healthz").status, 200)
