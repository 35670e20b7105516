"""Point-in-time restore from pgBackRest's continuous WAL archive, and
readiness while the database is away (a PostgreSQL server of the test's own).

A PostgreSQL server archives every WAL segment with pgBackRest into a
repository on another path (on real servers: another machine or an object
store; docs/deployment.md); a full backup is taken; ihos writes departments
before and after a chosen moment; the server is lost; pgBackRest restores
the backup and replays the archive to that moment.  ihosd then refuses to
start (the database is older than the audit checkpoints signed outside it)
until the operator accepts the restore; afterwards exactly the writes from
before the moment are there and the audit journal verifies.  Bounded: under
a minute.
"""
import os
import shutil
import subprocess
import time

from tests.integration.harness import IHOSD, IhosTestCase, run_ihos, setup_admins

PGBIN = sorted((os.path.join("/usr/lib/postgresql", v, "bin") for v in os.listdir("/usr/lib/postgresql")),
               key=lambda p: int(os.path.basename(os.path.dirname(p))))[-1]
AS_PG = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class PitrTest(IhosTestCase):
    def setUp(self):
        super().setUp()
        os.chmod(self.tmp, 0o755)
        self.pg = os.path.join(self.tmp, "pg")  # socket directory and pgBackRest's files
        os.makedirs(os.path.join(self.pg, "repo"))
        self.data = os.path.join(self.pg, "data")
        self.port = 5432
        if AS_PG:
            shutil.chown(self.pg, "postgres")
            shutil.chown(os.path.join(self.pg, "repo"), "postgres")
        self.conf = os.path.join(self.pg, "pgbackrest.conf")
        with open(self.conf, "w") as f:
            f.write("[global]\nrepo1-path=%s/repo\ncompress-type=lz4\nrepo1-retention-full=2\nlog-path=%s\nlock-path=%s\n"
                    "spool-path=%s\nlog-level-console=warn\n\n[ihos]\npg1-path=%s\npg1-socket-path=%s\npg1-port=%d\n"
                    % (self.pg, self.pg, self.pg, self.pg, self.data, self.pg, self.port))
        os.chmod(self.conf, 0o644)
        self.as_pg([os.path.join(PGBIN, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                    "--locale=C.UTF-8"])
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            f.write("listen_addresses = ''\nunix_socket_directories = '%s'\nport = %d\nwal_level = replica\n"
                    "archive_mode = on\narchive_command = 'pgbackrest --config=%s --stanza=ihos archive-push %%p'\n"
                    "archive_timeout = 5\nmax_wal_senders = 3\n" % (self.pg, self.port, self.conf))
        self.start_pg()
        self.backrest("stanza-create")
        self.psql("CREATE ROLE ihos LOGIN", "CREATE DATABASE ihos OWNER ihos")

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.stop_pg()

    def as_pg(self, argv, check=True, timeout=120):
        p = subprocess.run(AS_PG + argv, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("%s: %s%s" % (" ".join(argv), p.stdout, p.stderr))
        return p

    def start_pg(self):
        self.as_pg([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.pg, "server.log"), "-w",
                    "-t", "60", "start"])

    def stop_pg(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.as_pg([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"], check=False)

    def backrest(self, *args):
        return self.as_pg(["pgbackrest", "--config=" + self.conf, "--stanza=ihos", *args], timeout=300).stdout

    def psql(self, *sql, db="postgres"):
        argv = ["psql", "-X", "-q", "-At", "-h", self.pg, "-p", str(self.port), "-U", "postgres", "-d", db]
        for s in sql:
            argv += ["-c", s]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()

    def test_ready_follows_the_database(self):
        """/readyz (the load balancer's check) says 503 while the database is down and 200
        again once it is back, while /healthz (liveness) stays 200 throughout."""
        url = "host=%s port=%d user=ihos dbname=ihos connect_timeout=2" % (self.pg, self.port)
        inst = self.instance(store="postgres", pg_url=url)
        inst.start()
        self.assertEqual(inst.request("GET", "/readyz").status, 200)
        self.stop_pg()
        time.sleep(1.2)  # past the one-second answer cache
        r = inst.request("GET", "/readyz")
        self.assertEqual(r.status, 503)
        self.assertEqual(r.json()["error"]["code"], "unavailable")
        self.assertEqual(inst.request("GET", "/healthz").status, 200)
        self.start_pg()
        deadline = time.time() + 20
        while time.time() < deadline and inst.request("GET", "/readyz").status != 200:
            time.sleep(0.3)
        self.assertEqual(inst.request("GET", "/readyz").status, 200)
        inst.stop()
        events = [l for l in inst.log_lines if '"event":"server.not_ready"' in l or '"event":"server.ready"' in l]
        self.assertEqual(len(events), 2, events)  # one line each way, not one per check

    def test_restore_to_a_moment(self):
        self.backrest("backup", "--type=full", "--start-fast")
        url = "host=%s port=%d user=ihos dbname=ihos" % (self.pg, self.port)
        inst = self.instance(store="postgres", pg_url=url)
        inst.start()
        sysa = setup_admins(inst)["sysadmin"][1]

        def department(code):
            r = sysa.req("POST", "/api/v1/departments", {"code": code, "name": "科室" + code, "kind": "clinical",
                                                          "subject_code": "03.04", "category_code": "03"})
            self.assertEqual(r.status, 201, r)
        for code in ("BEFORE1", "BEFORE2"):
            department(code)
        time.sleep(1)
        moment = self.psql("SELECT now()")
        time.sleep(1)
        for code in ("AFTER1", "AFTER2"):
            department(code)
        inst.stop()
        self.psql("SELECT pg_switch_wal()")
        self.backrest("check")  # waits until the last segment is in the archive
        # the server is lost; pgBackRest restores the backup and replays to the moment
        self.stop_pg()
        shutil.rmtree(self.data)
        self.backrest("restore", "--type=time", "--target=" + moment, "--target-action=promote")
        self.start_pg()
        deadline = time.time() + 30
        while time.time() < deadline and self.psql("SELECT pg_is_in_recovery()") != "f":
            time.sleep(0.5)
        codes = set(self.psql("SELECT code FROM department", db="ihos").split())
        self.assertEqual(codes, {"BEFORE1", "BEFORE2"})
        # ihosd sees a database older than its checkpoints and waits for the operator
        p = subprocess.run([IHOSD, "--dir", inst.dir, "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("accept-restore", p.stderr)
        run_ihos("audit", "accept-restore", inst.dir)
        v = run_ihos("audit", "verify", inst.dir, check=False)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        inst.start()
        have = {d["code"] for d in sysa.req("GET", "/api/v1/departments").json()["departments"]}
        self.assertEqual(have, {"BEFORE1", "BEFORE2"})
        with open(os.path.join(self.pg, "server.log")) as f:
            self.assertIn("recovery stopping before commit", f.read())
