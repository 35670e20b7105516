"""The audit journal from outside: crash safety, CLI verification and proofs,
tamper detection, retention archives, syslog forwarding, witness."""
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import threading
import time

from tests.integration.harness import IhosTestCase, run_ihos, setup_admins


def failed_logins(inst, n):
    for i in range(n):
        inst.request("POST", "/api/v1/sessions", {"username": "nobody%d" % i, "password": "Wrong-Pass-1"})


class AuditQueryTest(IhosTestCase):
    def test_pages_both_ways(self):
        """The auditor's API pages through the journal oldest or newest first,
        each page saying where the next starts, and refuses an unknown order."""
        inst = self.instance()
        inst.set_conf("security", "ip_failures_per_minute", "1000")
        inst.set_conf("audit", "checkpoint_interval", "1")
        inst.start()
        for _ in range(3):  # a checkpoint after each burst
            failed_logins(inst, 4)
            time.sleep(1.3)
        aud = setup_admins(inst)["auditadmin"][1]
        q = "/api/v1/audit/events?action=auth.login&outcome=failure&limit=5"
        old, after = [], None
        while True:
            r = aud.req("GET", q + ("&after=%d" % after if after is not None else "")).json()
            self.assertNotIn("next_before", r)
            old += [e["seq"] for e in r["events"]]
            after = r["next_after"]
            if after is None:
                break
        self.assertEqual(len(old), 12)
        self.assertEqual(old, sorted(old))
        new, before = [], None
        while True:
            r = aud.req("GET", q + "&order=newest" + ("&before=%d" % before if before is not None else "")).json()
            new += [e["seq"] for e in r["events"]]
            before = r["next_before"]
            if before is None:
                break
        self.assertEqual(new, old[::-1])
        self.assertError(aud.req("GET", "/api/v1/audit/events?order=sideways"), 400, "invalid_field")
        exp = aud.req("GET", q.replace("events", "export") + "&order=newest")
        self.assertEqual(exp.status, 200)
        self.assertEqual(exp.header("X-Ihos-Next-Before"), str(new[4]))
        self.assertEqual([int(re.search(r'"seq": ?(\d+)', l).group(1)) for l in exp.body.decode().splitlines()], new[:5])
        # the signed checkpoints, newest first, page by page
        every = [c["size"] for c in aud.req("GET", "/api/v1/audit/checkpoints?limit=1000").json()["checkpoints"]]
        self.assertGreaterEqual(len(every), 3)
        self.assertEqual(every, sorted(every))
        got, before = [], None
        while True:
            r = aud.req("GET", "/api/v1/audit/checkpoints?order=newest&limit=2" +
                        ("&before=%d" % before if before is not None else "")).json()
            got += [c["size"] for c in r["checkpoints"]]
            before = r["next_before"]
            if before is None:
                break
        self.assertEqual(got[-len(every):], every[::-1])  # newer ones may have come meanwhile, at the front


class AuditCliTest(IhosTestCase):
    def test_kill_between_event_and_checkpoint(self):
        inst = self.instance()
        inst.set_conf("audit", "checkpoint_interval", "10")
        inst.set_conf("security", "ip_failures_per_minute", "1000")
        inst.start()
        failed_logins(inst, 20)
        inst.proc.send_signal(signal.SIGKILL)  # no final checkpoint
        inst.proc.wait()
        inst.kill()
        p = run_ihos("audit", "verify", inst.dir)
        self.assertIn("OK:", p.stdout)
        unsealed = re.search(r"(\d+) newest events are not yet covered", p.stdout)
        self.assertTrue(unsealed and int(unsealed.group(1)) >= 20, p.stdout)
        inst.start()  # the checkpointer seals the tail at start
        time.sleep(0.5)
        self.assertEqual(inst.stop(), 0)
        p = run_ihos("audit", "verify", inst.dir)
        self.assertIn("OK:", p.stdout)
        self.assertNotIn("not yet covered", p.stdout)

    def test_verify_names_an_edited_event(self):
        inst = self.instance()
        inst.set_conf("security", "ip_failures_per_minute", "1000")
        inst.start()
        failed_logins(inst, 5)
        self.assertEqual(inst.stop(), 0)
        db = sqlite3.connect(inst.path("ihos.db"))
        db.execute("DROP TRIGGER audit_event_no_update")
        seq = db.execute("SELECT min(seq) FROM audit_event WHERE action = 'auth.login'").fetchone()[0]
        db.execute("UPDATE audit_event SET outcome = 'success' WHERE seq = ?", (seq,))
        db.commit()
        db.close()
        p = run_ihos("audit", "verify", inst.dir, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("FAILED: event %d: its indexed columns do not match its content (edited)" % seq, p.stdout)

    def test_prove_and_check_offline(self):
        inst = self.instance()
        bundle = os.path.join(self.tmp, "proof.json")
        run_ihos("audit", "prove", inst.dir, "0", "--out", bundle)
        self.assertEqual(stat.S_IMODE(os.stat(bundle).st_mode), 0o600)
        pub = os.path.join(self.tmp, "audit.pub")
        with open(inst.path("keys/audit.pub")) as src, open(pub, "w") as dst:
            dst.write(src.read())
        p = run_ihos("audit", "check-proof", bundle, pub)
        self.assertIn("OK: event 0 (instance.init", p.stdout)
        with open(bundle) as f:
            text = f.read()
        with open(bundle, "w") as f:
            f.write(text.replace("instance.init", "instance.wipe"))
        p = run_ihos("audit", "check-proof", bundle, pub, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("FAILED", p.stdout)

    def test_gm_suite_journal(self):
        inst = self.instance(suite="gm")
        with open(inst.path("keys/audit.pub")) as f:
            pem = f.read()
        out = subprocess.run(["openssl", "pkey", "-pubin", "-noout", "-text"], input=pem, capture_output=True, text=True)
        self.assertIn("SM2", out.stdout + out.stderr)
        p = run_ihos("audit", "verify", inst.dir)
        self.assertIn("SM3/SM2", p.stdout)
        bundle = os.path.join(self.tmp, "gm.json")
        run_ihos("audit", "prove", inst.dir, "0", "--out", bundle)
        self.assertIn("OK:", run_ihos("audit", "check-proof", bundle, inst.path("keys/audit.pub")).stdout)

    def test_archive_months_and_check(self):
        inst = self.instance()
        p = run_ihos("audit", "archive", inst.dir)
        self.assertIn("nothing to archive", p.stdout)
        # A year and a half later, this month is long past retention.
        future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 540 * 86400))
        p = run_ihos("audit", "archive", inst.dir, "--now", future)
        self.assertIn("archived", p.stdout)
        files = sorted(os.listdir(inst.path("audit/archive")))
        self.assertTrue(files and all(f.endswith(".ihosa.zst") for f in files), files)
        arch = inst.path("audit/archive", files[0])
        self.assertEqual(stat.S_IMODE(os.stat(arch).st_mode), 0o600)
        p = run_ihos("audit", "check-archive", arch, inst.path("keys/audit.pub"))
        self.assertIn("OK:", p.stdout)
        p = run_ihos("audit", "verify", inst.dir)
        self.assertIn("OK:", p.stdout)
        self.assertIn("all verified", p.stdout)
        # zstd -d must be able to read it (a standard format), and a flipped byte is caught.
        with open(arch, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 1
        bad = os.path.join(self.tmp, "bad.ihosa.zst")
        with open(bad, "wb") as f:
            f.write(data)
        p = run_ihos("audit", "check-archive", bad, inst.path("keys/audit.pub"), check=False)
        self.assertEqual(p.returncode, 1)


class ForwardTest(IhosTestCase):
    def test_security_events_reach_syslog(self):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(10)
        inst = self.instance()
        inst.set_conf("audit", "syslog", "udp://127.0.0.1:%d" % rx.getsockname()[1])
        inst.start()
        inst.request("POST", "/api/v1/sessions", {"username": "intruder", "password": "Guess-Pass-1"})
        lines = []
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                lines.append(rx.recv(65536).decode())
            except socket.timeout:
                break
            if any("auth.login" in l for l in lines):
                break
        rx.close()
        login = [l for l in lines if "auth.login" in l]
        self.assertTrue(login, lines)
        self.assertRegex(login[0], r'^<84>1 \d{4}-\d\d-\d\dT[\d:.]+Z \S+ ihos - audit \[ihos@32473 seq="\d+" '
                                   r'actor="0" role="anonymous" ip="127.0.0.1" object="account" outcome="failure" '
                                   r'code="authentication_failed"\] auth.login unknown user$')
        self.assertEqual(inst.stop(), 0)
        self.assertTrue(os.path.exists(inst.path("audit/syslog.cursor")))


class WitnessTest(IhosTestCase):
    def test_checkpoints_go_to_the_witness(self):
        inst = self.instance()
        got = os.path.join(self.tmp, "witnessed")
        script = os.path.join(self.tmp, "witness.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\ncat >> %s\necho >> %s\n" % (got, got))
        os.chmod(script, 0o700)
        inst.set_conf("audit", "witness_command", script)
        inst.set_conf("audit", "checkpoint_interval", "1")
        inst.start()
        inst.request("POST", "/api/v1/sessions", {"username": "someone", "password": "Guess-Pass-1"})
        deadline = time.time() + 15
        def witnessed():
            if not os.path.exists(got):
                return False
            with open(got) as f:
                return "\u2014 ihos/" in f.read()
        while time.time() < deadline and not witnessed():
            time.sleep(0.2)
        self.assertEqual(inst.stop(), 0)
        with open(got) as f:
            text = f.read()
        self.assertRegex(text, r"ihos/[0-9a-f]{32}\n\d+\n[A-Za-z0-9+/=]{44}\n\n\u2014 ihos/[0-9a-f]{32} ")


class ConfigChangeTest(IhosTestCase):
    def test_config_edits_are_audited(self):
        """Editing ihos.conf between starts leaves a config.change event with both hashes."""
        inst = self.instance()

        def changes():
            db = sqlite3.connect(inst.path("ihos.db"))
            rows = [r[0] for r in db.execute("SELECT action FROM audit_event WHERE action = 'config.change'")]
            db.close()
            return rows

        inst.start()
        self.assertEqual(inst.stop(), 0)
        self.assertEqual(len(changes()), 1)  # the first start records the initial file
        inst.start()
        self.assertEqual(inst.stop(), 0)
        self.assertEqual(len(changes()), 1)  # unchanged
        inst.set_conf("security", "lockout_minutes", "60")
        inst.start()
        self.assertEqual(inst.stop(), 0)
        self.assertEqual(len(changes()), 2)
        self.assertIn("OK:", run_ihos("audit", "verify", inst.dir).stdout)
