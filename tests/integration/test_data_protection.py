"""Data protection from outside: the restore drill on both backends, backups
that do not verify, the daily backup and its off-site copy, a passphrase KEK,
key and KEK rotation with the server up, integrity of edited rows, and no
secret in the raw bytes of the database or a backup."""
import os
import re
import shutil
import sqlite3
import subprocess
import time

from tests.integration.harness import (IhosTestCase, Instance, login, make_staff, pg_create_db, psql, run_ihos,
                                       setup_admins)


def raw_db_bytes(inst, pg_url=None):
    """Everything the database holds, as bytes: the SQLite files, or a plain
    pg_dump of the PostgreSQL database."""
    if pg_url:
        p = subprocess.run(["pg_dump", "--no-owner", "-d", pg_url], capture_output=True, timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stdout
    out = b""
    for name in ("ihos.db", "ihos.db-wal"):
        path = inst.path(name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                out += f.read()
    return out


def assert_no_secrets(test, blob, accounts, where):
    for a in accounts:
        for secret in (a.password, a.secret):
            test.assertNotIn(secret.encode(), blob, "%s holds %s's secret in the clear" % (where, a.username))


def write_fd(data):
    """A pipe's read end holding data (for --kek-passphrase-fd and friends)."""
    r, w = os.pipe()
    os.write(w, data.encode() + b"\n")
    os.close(w)
    return r


class RestoreDrill(IhosTestCase):
    """Seed, back up, destroy, restore: the data, the accounts and the audit
    journal come back intact, on a machine that has only the backup and the
    recovery key."""

    def drill(self, store):
        pg = pg_create_db() if store == "postgres" else None
        rk = os.path.join(self.tmp, "recovery.key")
        inst = self.instance(store=store, pg_url=pg, extra=("--recovery-key-out", rk))
        self.assertIn("RECOVERY KEY - shown only now", inst.init_output.stdout)
        self.assertEqual(os.stat(rk).st_mode & 0o777, 0o600)
        inst.start()
        admins = setup_admins(inst)
        staff = [make_staff(inst, admins, "dr.drill%d" % i) for i in range(3)]
        sys_s = admins["sysadmin"][1]
        # Only sysadmin takes backups; the auditor cannot.
        self.assertError(admins["auditadmin"][1].req("POST", "/api/v1/backups"), 403, "forbidden")
        r = sys_s.req("POST", "/api/v1/backups")
        self.assertEqual(r.status, 201, r)
        name = r.json()["name"]
        self.assertIn(name, [b["name"] for b in sys_s.req("GET", "/api/v1/backups").json()["backups"]])
        # A change after the backup is not in it.
        make_staff(inst, admins, "dr.after")
        accounts_then = sorted(a["username"] for a in sys_s.req("GET", "/api/v1/accounts?limit=500").json()["accounts"])
        self.assertEqual(inst.stop(), 0)
        backup = os.path.join(self.tmp, name)
        shutil.copy(inst.path("backups", name), backup)

        everyone = staff + [a for a, _ in admins.values()]
        assert_no_secrets(self, raw_db_bytes(inst, pg), everyone, "the database")
        with open(backup, "rb") as f:
            assert_no_secrets(self, f.read(), everyone, "the backup")

        p = run_ihos("backup", "verify", backup, "--recovery-key-file", rk)
        self.assertIn("OK: backup of instance", p.stdout)

        # Destroy the instance: its directory and its database.
        shutil.rmtree(inst.dir)
        self.instances.remove(inst)
        if pg:
            dbname = re.search(r"dbname=(\S+)", pg).group(1)
            psql("DROP DATABASE %s" % dbname)
        target = os.path.join(self.tmp, "restored")
        args = ["restore", backup, target, "--recovery-key-file", rk]
        new_pg = None
        if pg:
            new_pg = pg_create_db()
            args += ["--pg-url", new_pg]
        p = run_ihos(*args)
        self.assertIn("the audit journal verifies", p.stdout)
        self.assertIn("OK:", run_ihos("audit", "verify", target).stdout)
        self.assertIn("OK:", run_ihos("integrity", "scan", target).stdout)

        back = Instance.existing(target)
        self.instances.append(back)
        back.start()
        for a in staff:  # passwords and TOTP secrets (sealed under restored keys) work
            s = login(back, a)
            self.assertNotIsInstance(s, type(None))
            self.assertTrue(hasattr(s, "token"), s)
        sys_acct = admins["sysadmin"][0]
        s = login(back, sys_acct)
        self.assertTrue(hasattr(s, "token"), s)
        accounts_now = sorted(a["username"] for a in s.req("GET", "/api/v1/accounts?limit=500").json()["accounts"])
        self.assertEqual(accounts_now, sorted(set(accounts_then) - {"dr.after"}))
        self.assertEqual(back.stop(), 0)
        self.assertIn("OK:", run_ihos("audit", "verify", target).stdout)

    def test_drill_sqlite(self):
        self.drill("sqlite")

    def test_drill_postgres(self):
        self.drill("postgres")

    def test_drill_gm_suite(self):
        rk = os.path.join(self.tmp, "gm.key")
        inst = self.instance(suite="gm", extra=("--recovery-key-out", rk))
        inst.start()
        setup_admins(inst)
        self.assertEqual(inst.stop(), 0)
        backup = os.path.join(self.tmp, "gm.ihosb")
        run_ihos("backup", "create", inst.dir, "--to", backup)
        target = os.path.join(self.tmp, "gm-restored")
        self.assertIn("the audit journal verifies", run_ihos("restore", backup, target, "--recovery-key-file", rk).stdout)
        with open(os.path.join(target, "ihos.conf")) as f:
            self.assertIn("suite = gm", f.read())


class BadBackups(IhosTestCase):
    """Anything whose manifest, signature or ciphertext does not verify is
    refused, and a refused restore leaves nothing behind."""

    def setUp(self):
        super().setUp()
        self.rk = os.path.join(self.tmp, "recovery.key")
        self.inst = self.instance(extra=("--recovery-key-out", self.rk))
        self.inst.start()
        setup_admins(self.inst)
        self.backup = os.path.join(self.tmp, "good.ihosb")
        # The CLI backs up while the server runs (an online snapshot).
        p = run_ihos("backup", "create", self.inst.dir, "--to", self.backup)
        self.assertIn("wrote", p.stdout)
        with open(self.backup, "rb") as f:
            self.good = f.read()

    def variant(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def refused(self, path, rk=None, why=None):
        p = run_ihos("backup", "verify", path, "--recovery-key-file", rk or self.rk, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("FAILED", p.stdout)
        if why:
            self.assertIn(why, p.stdout)
        target = os.path.join(self.tmp, "target")
        p = run_ihos("restore", path, target, "--recovery-key-file", rk or self.rk, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("restore refused", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertFalse(os.path.exists(target), "a refused restore left files behind")

    def test_good_backup_verifies(self):
        p = run_ihos("backup", "verify", self.backup, "--pubkey", self.inst.path("keys", "audit.pub"))
        self.assertIn("OK: backup of instance", p.stdout)
        # Without a trusted key the embedded one is named so it can be compared.
        p = run_ihos("backup", "verify", self.backup)
        self.assertIn("compare its fingerprint", p.stdout)

    def test_flipped_ciphertext_byte(self):
        data = bytearray(self.good)
        data[len(b"IHOSBACKUP 1\n") + 5000] ^= 0x01
        self.refused(self.variant("flip.ihosb", bytes(data)))

    def test_edited_manifest(self):
        text = self.good
        i = text.rindex(b'"suite":"intl"')
        data = text[:i] + b'"suite":"intm"' + text[i + len(b'"suite":"intl"'):]
        self.refused(self.variant("manifest.ihosb", data))

    def test_truncated(self):
        self.refused(self.variant("short.ihosb", self.good[:len(self.good) // 2]))
        self.refused(self.variant("empty.ihosb", b""))

    def test_signed_by_another_instance(self):
        other_rk = os.path.join(self.tmp, "other.key")
        other = self.instance(name="other", extra=("--recovery-key-out", other_rk))
        # The other instance's recovery key neither trusts this signature nor opens the data key.
        self.refused(self.backup, rk=other_rk)

    def test_restore_into_non_empty_dir(self):
        target = os.path.join(self.tmp, "occupied")
        os.makedirs(target)
        with open(os.path.join(target, "keep.txt"), "w") as f:
            f.write("mine")
        p = run_ihos("restore", self.backup, target, "--recovery-key-file", self.rk, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not empty", p.stderr)
        self.assertEqual(os.listdir(target), ["keep.txt"])

    def test_sqlite_backup_needs_no_pg_url(self):
        p = run_ihos("restore", self.backup, os.path.join(self.tmp, "t"), "--recovery-key-file", self.rk,
                     "--pg-url", "host=/nonexistent", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--pg-url does not apply", p.stderr)


class DailyBackup(IhosTestCase):
    def test_daily_backup_copied_off_site(self):
        offsite = os.path.join(self.tmp, "offsite")
        os.makedirs(offsite)
        inst = self.instance()
        inst.set_conf("backup", "daily_at", "00:00")
        inst.set_conf("backup", "offsite_dir", offsite)
        inst.start()
        # the off-site directory also holds the audit anchor (ihos-<id>.checkpoints)
        backups = lambda: [f for f in os.listdir(offsite) if not f.endswith(".checkpoints")]
        deadline = time.time() + 30
        while time.time() < deadline and not backups():
            time.sleep(0.5)
        copies = backups()
        self.assertEqual(len(copies), 1, copies)
        self.assertIn(copies[0], os.listdir(inst.path("backups")))
        with open(os.path.join(offsite, copies[0]), "rb") as a, open(inst.path("backups", copies[0]), "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual(inst.stop(), 0)
        db = sqlite3.connect(inst.path("ihos.db"))
        rows = db.execute("SELECT action, outcome FROM audit_event WHERE action LIKE 'backup.%' ORDER BY seq").fetchall()
        db.close()
        self.assertEqual(rows, [("backup.create", "success"), ("backup.offsite", "success")])
        # Another node taking the jobs over the same day has none of this node's files (an
        # older ihos kept "done today" in backups/.last-daily): the shared journal says it.
        marker = inst.path("backups", ".last-daily")
        if os.path.exists(marker):
            os.remove(marker)
        inst.start()
        time.sleep(8)  # the job's first look is 5 s after the start
        self.assertEqual(inst.stop(), 0)
        self.assertEqual(backups(), copies)
        self.assertEqual(sorted(os.listdir(inst.path("backups"))), sorted(copies))

    def test_failed_copy_is_an_alert_and_an_event(self):
        inst = self.instance()
        inst.set_conf("backup", "daily_at", "00:00")
        inst.set_conf("backup", "offsite_command", "/bin/false")
        inst.start()
        deadline = time.time() + 30
        while time.time() < deadline and not inst.events("backup.offsite_failed"):
            time.sleep(0.5)
        ev = inst.events("backup.offsite_failed")
        self.assertTrue(ev, "no alert for the failed off-site copy")
        self.assertEqual(ev[0].get("alert"), "true")
        self.assertEqual(inst.stop(), 0)
        db = sqlite3.connect(inst.path("ihos.db"))
        rows = db.execute("SELECT outcome FROM audit_event WHERE action = 'backup.offsite'").fetchall()
        db.close()
        self.assertEqual(len(rows), 1)
        self.assertNotEqual(rows[0][0], "success")


class PassphraseKek(IhosTestCase):
    PASS = "correct horse battery staple 2026"

    def test_passphrase_instance(self):
        rk = os.path.join(self.tmp, "recovery.key")
        fd = write_fd(self.PASS)
        inst = self.instance(extra=("--kek-passphrase-fd", str(fd), "--recovery-key-out", rk), pass_fds=(fd,))
        os.close(fd)
        self.assertFalse(os.path.exists(inst.path("keys", "kek")))
        self.assertTrue(os.path.exists(inst.path("keys", "kek.salt")))
        # No passphrase: a clear refusal.
        with self.assertRaises(AssertionError) as cm:
            inst.start(timeout=30)
        self.assertIn("IHOS_KEK_PASSPHRASE_FD", str(cm.exception))
        # A wrong passphrase: refused as wrong.
        fd = write_fd("not the passphrase at all")
        with self.assertRaises(AssertionError) as cm:
            inst.start(timeout=30, env={"IHOS_KEK_PASSPHRASE_FD": str(fd)}, pass_fds=(fd,))
        os.close(fd)
        self.assertIn("passphrase is wrong", str(cm.exception))
        # The right one.
        fd = write_fd(self.PASS)
        inst.start(timeout=30, env={"IHOS_KEK_PASSPHRASE_FD": str(fd)}, pass_fds=(fd,))
        os.close(fd)
        admins = setup_admins(inst)
        doc = make_staff(inst, admins, "dr.pass")
        self.assertEqual(inst.stop(), 0)

        # Change the passphrase; the old one stops working, the new one works.
        new = "a brand new passphrase 2027"
        cur, nxt = write_fd(self.PASS), write_fd(new)
        p = run_ihos("key", "rotate-kek", inst.dir, "--new-passphrase-fd", str(nxt),
                     env={"IHOS_KEK_PASSPHRASE_FD": str(cur)}, pass_fds=(cur, nxt))
        os.close(cur)
        os.close(nxt)
        self.assertIn("new passphrase", p.stdout)
        fd = write_fd(self.PASS)
        with self.assertRaises(AssertionError):
            inst.start(timeout=30, env={"IHOS_KEK_PASSPHRASE_FD": str(fd)}, pass_fds=(fd,))
        os.close(fd)
        fd = write_fd(new)
        inst.start(timeout=30, env={"IHOS_KEK_PASSPHRASE_FD": str(fd)}, pass_fds=(fd,))
        os.close(fd)
        self.assertTrue(hasattr(login(inst, doc), "token"))
        self.assertEqual(inst.stop(), 0)

        # A backup of it restores with the recovery key alone.
        backup = os.path.join(self.tmp, "pass.ihosb")
        fd = write_fd(new)
        run_ihos("backup", "create", inst.dir, "--to", backup, env={"IHOS_KEK_PASSPHRASE_FD": str(fd)}, pass_fds=(fd,))
        os.close(fd)
        target = os.path.join(self.tmp, "restored")
        run_ihos("restore", backup, target, "--recovery-key-file", rk)
        back = Instance.existing(target)
        self.instances.append(back)
        back.start()
        self.assertTrue(hasattr(login(back, doc), "token"))


class KeysWhileRunning(IhosTestCase):
    def test_rotation_and_kek_rotation_with_server_up(self):
        inst = self.instance()
        inst.start()
        admins = setup_admins(inst)
        early = make_staff(inst, admins, "dr.early")
        p = run_ihos("key", "rotate", inst.dir, "--purpose", "totp")
        self.assertIn("totp key v2 added", p.stdout)
        run_ihos("key", "rotate-kek", inst.dir)
        time.sleep(11)  # the server reloads keys every 10 s
        self.assertTrue(inst.wait_events("keys.kek_reloaded"))
        late = make_staff(inst, admins, "dr.late")  # sealed under totp v2
        status = run_ihos("key", "status", inst.dir).stdout
        self.assertRegex(status, r"totp\s+v1\s+active")
        self.assertRegex(status, r"totp\s+v2\s+active")
        p = run_ihos("key", "reencrypt", inst.dir, "--grace-seconds", "0")
        self.assertRegex(p.stdout, r"re-sealed [1-9]\d* rows; 0 remain under old keys; 1 old key versions retired")
        status = run_ihos("key", "status", inst.dir).stdout
        self.assertRegex(status, r"totp\s+v1\s+retired")
        for a in (early, late) + tuple(a for a, _ in admins.values()):
            self.assertTrue(hasattr(login(inst, a), "token"), a.username)
        self.assertEqual(inst.stop(), 0)
        inst.start()  # and after a restart, from the rotated KEK file
        self.assertTrue(hasattr(login(inst, early), "token"))
        self.assertEqual(inst.stop(), 0)
        db = sqlite3.connect(inst.path("ihos.db"))
        actions = [r[0] for r in db.execute("SELECT action FROM audit_event WHERE action LIKE 'key.%'")]
        db.close()
        for a in ("key.rotate", "key.rotate_kek", "key.reencrypt", "key.retire"):
            self.assertIn(a, actions)
        self.assertIn("OK:", run_ihos("audit", "verify", inst.dir).stdout)


class TamperedRows(IhosTestCase):
    """An edited password hash or role, tampered or swapped ciphertext: each
    is found by `ihos integrity scan` and refused at login."""

    def setUp(self):
        super().setUp()
        self.inst = self.instance()
        self.inst.start()
        self.admins = setup_admins(self.inst)
        self.a = make_staff(self.inst, self.admins, "dr.alpha")
        self.b = make_staff(self.inst, self.admins, "nurse.beta", role="nurse")
        self.assertEqual(self.inst.stop(), 0)
        self.assertIn("OK:", run_ihos("integrity", "scan", self.inst.dir).stdout)

    def edit(self, sql, *args):
        db = sqlite3.connect(self.inst.path("ihos.db"))
        db.execute(sql, args)
        db.commit()
        db.close()

    def detected(self, who):
        p = run_ihos("integrity", "scan", self.inst.dir, check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertRegex(p.stdout, r"FAILED:\n  1 of \d+ protected rows fail")
        self.inst.start()
        r = self.inst.request("POST", "/api/v1/sessions",
                              {"username": who.username, "password": who.password, "totp": who.next_code()})
        self.assertIn(r.status, (401, 500), r)
        if r.status == 500:
            self.assertEqual(r.json()["error"]["code"], "integrity_error")
        self.assertTrue(self.inst.wait_events("integrity.violation"), "no alert in the log")

    def test_edited_password_hash(self):
        self.edit("UPDATE account SET pw_hash = (SELECT pw_hash FROM account WHERE username_lc = 'nurse.beta') "
                  "WHERE username_lc = 'dr.alpha'")
        self.a.password = self.b.password  # the attacker's aim: log in as alpha with beta's password
        self.detected(self.a)

    def test_edited_role(self):
        self.edit("UPDATE account SET role = 'pharmacist' WHERE username_lc = 'nurse.beta'")
        self.detected(self.b)

    def test_tampered_totp_ciphertext(self):
        self.edit("UPDATE account SET totp_enc = substr(totp_enc, 1, 20) || X'00' || substr(totp_enc, 22) "
                  "WHERE username_lc = 'dr.alpha'")
        self.detected(self.a)

    def test_swapped_totp_ciphertext(self):
        self.edit("UPDATE account SET totp_enc = (SELECT totp_enc FROM account WHERE username_lc = 'nurse.beta') "
                  "WHERE username_lc = 'dr.alpha'")
        self.detected(self.a)


class NoPlaintextTest(IhosTestCase):
    """The database and a backup hold none of the synthetic names, ID
    numbers, phones or clinical texts written through the API."""

    def test_raw_bytes_of_database_and_backup(self):
        from tests.integration.test_care import Hospital
        inst = self.instance(demo=True)
        inst.start()
        h = Hospital(inst)
        secrets = []
        for i, (pat, doc) in enumerate((("patient090", "doctor01"), ("patient091", "doctor02"))):
            me = h.s(pat).req("GET", "/api/v1/me/patient").json()
            secrets += [me["name"], me["cert_no"], me["phone"]]
            v = h.followup(pat, doc, complaint="胸闷气短第%d周" % i)
            for who, text in ((pat, "夜间阵发性呼吸困难%d次" % i), (doc, "建议加用利尿剂观察%d" % i)):
                self.assertEqual(h.s(who).req("POST", "/api/v1/visits/%d/messages" % v, {"body": text}).status, 201)
                secrets.append(text)
            secrets.append("胸闷气短第%d周" % i)
        r = h.s(pat).req("GET", "/api/v1/me")  # keep the session warm
        self.assertEqual(r.status, 200)
        backup = os.path.join(self.tmp, "b.ihosb")
        run_ihos("backup", "create", inst.dir, "--to", backup)
        self.assertEqual(inst.stop(), 0)
        with open(backup, "rb") as f:
            b = f.read()
        raw = raw_db_bytes(inst)
        for s in secrets:
            self.assertNotIn(s.encode(), raw, "%s is in the database" % s)
            self.assertNotIn(s.encode(), b, "%s is in the backup" % s)
