"""Foundation: ihos init, ihosd over HTTPS, config errors, limits, shutdown."""
import os
import re
import signal
import socket
import sqlite3
import ssl
import stat
import subprocess
import threading
import time

from tests.integration.harness import IHOSD, IhosTestCase, pg_create_db, psql, run_ihos


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class InitTest(IhosTestCase):
    def test_layout_and_permissions(self):
        inst = self.instance()
        d = inst.dir
        self.assertEqual(mode(d), 0o700)
        self.assertEqual(mode(inst.path("keys")), 0o700)
        self.assertEqual(mode(inst.path("audit")), 0o700)
        self.assertEqual(mode(inst.path("backups")), 0o700)
        for f in ("ihos.conf", "keys/kek", "keys/tls.key", "keys/tls.crt", "keys/metrics-token", "ihos.db"):
            self.assertEqual(mode(inst.path(f)), 0o600, f)
        self.assertEqual(os.path.getsize(inst.path("keys/kek")), 32)
        with open(inst.path("ihos.conf")) as f:
            conf = f.read()
        self.assertIn("suite = intl", conf)
        self.assertIn("backend = sqlite", conf)
        # The certificate is ECDSA P-256 and valid for 127.0.0.1.
        out = subprocess.run(["openssl", "x509", "-in", inst.path("keys/tls.crt"), "-noout", "-text"],
                             capture_output=True, text=True).stdout
        self.assertIn("prime256v1", out)
        self.assertIn("IP Address:127.0.0.1", out)
        self.assertIn("fingerprint", inst.init_output.stdout)

    def test_gm_suite_recorded(self):
        inst = self.instance(suite="gm")
        with open(inst.path("ihos.conf")) as f:
            self.assertIn("suite = gm", f.read())

    def test_refuses_non_empty_dir(self):
        d = os.path.join(self.tmp, "full")
        os.mkdir(d)
        open(os.path.join(d, "something"), "w").close()
        p = run_ihos("init", d, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not empty", p.stderr)
        self.assertEqual(os.listdir(d), ["something"])

    def test_bad_arguments(self):
        d = os.path.join(self.tmp, "x")
        for args, words in ((["--suite", "rsa"], "--suite"), (["--store", "postgres"], "--pg-url"),
                            (["--store", "mysql"], "--store"), (["--demo", "--demo-patients", "9"], "--demo-patients"),
                            (["--demo", "--demo-patients", "1001"], "--demo-patients"),
                            (["--demo", "--demo-patients", "12x"], "--demo-patients"),
                            (["--demo-patients", "50"], "only goes with --demo")):
            p = run_ihos("init", d, *args, check=False)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(words, p.stderr)
            self.assertFalse(os.path.exists(d))

    def test_failure_leaves_nothing(self):
        d = os.path.join(self.tmp, "pgfail")
        p = run_ihos("init", d, "--store", "postgres", "--pg-url",
                     "host=/nonexistent-socket-dir port=1 dbname=x connect_timeout=2", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("nothing was left behind", p.stderr)
        self.assertFalse(os.path.exists(d))
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)


    def test_config_elsewhere(self):
        """--config puts ihos.conf where a package keeps it; the directory links to it."""
        etc = os.path.join(self.tmp, "etc")
        os.mkdir(etc)
        conf = os.path.join(etc, "ihos.conf")
        for bad, words in (("etc/ihos.conf", "absolute path"),):
            p = run_ihos("init", os.path.join(self.tmp, "rel"), "--config", bad, check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(words, p.stderr)
        inst = self.instance(extra=("--config", conf))
        self.assertEqual(os.readlink(inst.path("ihos.conf")), conf)
        self.assertEqual(mode(conf), 0o600)
        inst.start()
        self.assertEqual(inst.request("GET", "/healthz").status, 200)
        inst.stop()
        # an existing file is never overwritten
        p = run_ihos("init", os.path.join(self.tmp, "second"), "--config", conf, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("refusing to overwrite", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "second")))

    def test_log_file_reopened_on_sighup(self):
        inst = self.instance()
        log = os.path.join(self.tmp, "ihosd.log")
        inst.set_conf("log", "target", "file")
        p = subprocess.run([IHOSD, "--dir", inst.dir, "--check-config"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("[log] target = file needs file", p.stderr)
        inst.set_conf("log", "file", log)
        proc = subprocess.Popen([IHOSD, "--dir", inst.dir, "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE,
                                text=True)
        try:
            def logged(path, what):
                deadline = time.time() + 20
                while time.time() < deadline:
                    if os.path.exists(path):
                        with open(path) as f:
                            if what in f.read():
                                return True
                    time.sleep(0.1)
                return False
            self.assertTrue(logged(log, "server.started"))
            self.assertEqual(mode(log), 0o600)
            os.rename(log, log + ".1")
            proc.send_signal(signal.SIGHUP)
            self.assertTrue(logged(log, "log.reopened"))
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(30), 0)
            self.assertTrue(logged(log, "server.stopped"))
            with open(log + ".1") as f:
                self.assertNotIn("server.stopped", f.read())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            err = proc.stderr.read()
            proc.stderr.close()
        self.assertNotIn("server.started", err)  # the log went to the file, not stderr


class ConfigTest(IhosTestCase):
    def test_check_config_ok(self):
        inst = self.instance()
        p = subprocess.run([IHOSD, "--dir", inst.dir, "--check-config"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_unknown_key_names_file_and_line(self):
        inst = self.instance()
        inst.set_conf("server", "colour", "blue")
        with open(inst.path("ihos.conf")) as f:
            lines = f.read().splitlines()
        lineno = lines.index("colour = blue") + 1
        for args in (["--check-config"], []):
            p = subprocess.run([IHOSD, "--dir", inst.dir, *args], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 1)
            self.assertIn(f"ihos.conf:{lineno}: unknown key 'colour' in section [server]", p.stderr)

    def test_bad_value(self):
        inst = self.instance()
        inst.set_conf("server", "workers", "-3")
        p = subprocess.run([IHOSD, "--dir", inst.dir], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, r"ihos\.conf:\d+: \[server\] workers: must be an integer")

    def test_missing_required_key(self):
        inst = self.instance()
        with open(inst.path("ihos.conf")) as f:
            conf = f.read().replace("suite = intl\n", "")
        with open(inst.path("ihos.conf"), "w") as f:
            f.write(conf)
        p = subprocess.run([IHOSD, "--dir", inst.dir], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("missing required key 'suite' in section [instance]", p.stderr)

    def test_key_files_must_be_private(self):
        inst = self.instance()
        os.chmod(inst.path("keys", "kek"), 0o644)
        p = subprocess.run([IHOSD, "--dir", inst.dir], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("kek", p.stderr)
        self.assertIn("readable or writable by others", p.stderr)
        os.chmod(inst.path("keys", "kek"), 0o600)
        os.chmod(inst.path("keys"), 0o755)
        p = subprocess.run([IHOSD, "--dir", inst.dir], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)

    def test_help(self):
        p = subprocess.run([IHOSD, "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--check-config", p.stdout)
        p = run_ihos("help")
        self.assertIn("init DIR", p.stdout)


class ServerTest(IhosTestCase):
    def setUp(self):
        super().setUp()
        self.inst = self.instance()
        self.inst.set_conf("server", "max_body", "2048")
        self.inst.set_conf("server", "request_timeout", "1")
        self.inst.start()

    def test_healthz_and_security_headers(self):
        r = self.inst.request("GET", "/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"status": "ok"})
        self.assertEqual(self.inst.request("GET", "/readyz").json(), {"status": "ok"})
        self.assertEqual(r.header("cache-control"), "no-store")
        self.assertIn("max-age=", r.header("strict-transport-security"))
        self.assertEqual(r.header("x-content-type-options"), "nosniff")
        self.assertEqual(r.header("x-frame-options"), "DENY")
        self.assertIn("default-src 'none'", r.header("content-security-policy"))
        self.assertTrue(r.header("x-request-id"))
        self.assertIsNone(r.header("x-ihos-demo"))
        self.assertIsNone(r.header("server"))

    def test_error_envelopes(self):
        self.assertError(self.inst.request("GET", "/no/such/thing"), 404, "not_found")
        self.assertError(self.inst.request("DELETE", "/healthz"), 405, "method_not_allowed")

    def test_malformed_http_gets_400_envelope(self):
        data = self.inst.raw_exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)
        self.assertIn(b'"code":"bad_request"', data)
        self.assertIn(b"Connection: close", data)

    def test_body_over_limit_is_413(self):
        r = self.inst.request("POST", "/healthz", raw_body=b"x" * 4096, headers={"Content-Type": "application/json"})
        self.assertError(r, 413, "payload_too_large")

    def test_plaintext_to_tls_port_is_told_to_use_https(self):
        # plain HTTP: one fixed 400 that says so (as nginx does), nothing served
        data = self.inst.raw_exchange(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", tls=False)
        self.assertTrue(data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data)
        self.assertIn(b"use https://", data)
        self.assertNotIn(b"ok", data.split(b"\r\n\r\n", 1)[1])
        # anything else that is not TLS: closed without a byte
        self.assertEqual(self.inst.raw_exchange(b"\x00\x01garbage\r\n\r\n", tls=False), b"")

    def test_tls_versions(self):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            s = self.inst.raw_tls_socket(minimum_version=v, maximum_version=v)
            self.assertEqual(s.version(), {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v])
            s.close()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            import warnings
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            self.skipTest("this Python/OpenSSL cannot even offer TLS 1.1")
        with socket.create_connection(("127.0.0.1", self.inst.port), timeout=5) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
                ctx.wrap_socket(raw).do_handshake()

    def test_slow_client_is_cut_off(self):
        s = self.inst.raw_tls_socket()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 12")  # and then nothing
        t0 = time.time()
        data = s.recv(4096)
        elapsed = time.time() - t0
        s.close()
        self.assertEqual(data, b"")
        self.assertLess(elapsed, 5)

    def test_keep_alive_and_pipelining(self):
        c = self.inst.connection()
        for _ in range(20):
            self.assertEqual(self.inst.request("GET", "/healthz", conn=c).status, 200)
        c.close()
        data = self.inst.raw_exchange(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                                      b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 2)

    def test_metrics_for_the_scraper(self):
        self.inst.request("GET", "/healthz")
        text = self.inst.metrics()
        self.assertIn('ihos_http_responses_total{code="2xx"}', text)
        self.assertIn("ihos_store_commits_total", text)
        self.assertIn("ihos_process_resident_memory_bytes", text)

    def test_concurrent_clients(self):
        errors = []

        def client():
            try:
                c = self.inst.connection()
                for _ in range(25):
                    r = self.inst.request("GET", "/healthz", conn=c)
                    if r.status != 200:
                        errors.append(r.status)
                c.close()
            except Exception as e:  # noqa: BLE001 — collected and asserted below
                errors.append(repr(e))

        threads = [threading.Thread(target=client) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])

    def test_sigterm_finishes_in_flight_request(self):
        s = self.inst.raw_tls_socket()
        body = b'{"a":1}'
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
                  + body[:3])
        time.sleep(0.2)
        self.inst.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # The listener is closed while we are still talking.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.inst.port), timeout=2).close()
        s.sendall(body[3:])
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 405 "), data)  # POST /healthz: answered, not dropped
        self.assertIn(b"Connection: close", data)
        self.assertEqual(self.inst.stop(), 0)
        self.assertTrue(self.inst.wait_events("server.stopped"))


class WaitingRequestTest(IhosTestCase):
    """A request waiting on the database holds up no one else: the worker that
    waits hands the epoll set to another first (net/server.c, leader and
    followers), with as few as two workers."""

    def test_others_are_served_while_one_waits(self):
        inst = self.instance()
        inst.set_conf("server", "workers", "2")
        inst.start()
        db = sqlite3.connect(inst.path("ihos.db"), timeout=5, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")  # ihosd's writer now waits for this lock
        done = {}

        c = inst.connection(timeout=60)
        self.assertEqual(inst.request("GET", "/healthz", conn=c).status, 200)  # TLS is set up: the write
        # below is read by whichever worker leads, not by one that did a handshake

        def waiting_write():  # a failed login is journaled: a write
            done["status"] = inst.request("POST", "/api/v1/sessions", conn=c,
                                          body={"username": "nobody", "password": "wrong password"}).status

        t = threading.Thread(target=waiting_write)
        t.start()
        try:
            time.sleep(1)
            self.assertTrue(t.is_alive(), "the write did not wait for the lock")
            for path in ("/healthz", "/api/v1/public", "/app/", "/readyz"):
                c = inst.connection(timeout=5)  # a new connection: a TLS handshake too
                r = inst.request("GET", path, conn=c)
                c.close()
                self.assertEqual(r.status, 200, path)
            self.assertTrue(t.is_alive(), "the write finished while the database was locked")
        finally:
            db.execute("ROLLBACK")
            db.close()
            t.join(30)
            c.close()
        self.assertEqual(done.get("status"), 401)


class DemoTest(IhosTestCase):
    def test_demo_header_and_log(self):
        inst = self.instance(demo=True).start()
        r = inst.request("GET", "/healthz")
        self.assertEqual(r.header("x-ihos-demo"), "1")
        self.assertEqual(inst.request("GET", "/nope").header("x-ihos-demo"), "1")
        self.assertTrue(inst.wait_events("server.demo"))


class PostgresInstanceTest(IhosTestCase):
    def test_init_and_serve_on_postgres(self):
        url = pg_create_db()
        inst = self.instance(store="postgres", pg_url=url).start()
        self.assertEqual(inst.request("GET", "/healthz").status, 200)
        self.assertEqual(psql("SELECT value FROM instance_meta WHERE key = 'suite'", url), "intl")
        self.assertEqual(inst.stop(), 0)
        # A second init against the same database is refused, locally nothing remains.
        d = os.path.join(self.tmp, "again")
        p = run_ihos("init", d, "--store", "postgres", "--pg-url", url, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("already holds an ihos instance", p.stderr)
        self.assertFalse(os.path.exists(d))


class BuildTest(IhosTestCase):
    def test_plain_make_builds_the_release_binaries(self):
        """`make` with no target builds build/ihosd and build/ihos (the README's promise)."""
        root = os.path.join(os.path.dirname(__file__), "..", "..")
        # -n: print, do not run; -B: as if everything were out of date, so the link shows
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
        p = subprocess.run(["make", "-n", "-B"], cwd=root, capture_output=True, text=True,
                           timeout=120, env=env)  # as a person types it, not as `make test`'s child
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("build/ihosd", p.stdout)
        self.assertIn("build/ihos", p.stdout.replace("build/ihosd", ""))
        self.assertNotIn("build/san", p.stdout)


class DocsTest(IhosTestCase):
    def test_every_config_key_is_documented(self):
        """docs/configuration.md has a row for every key ihos init writes."""
        inst = self.instance()
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "configuration.md")) as f:
            doc = f.read()
        section = None
        keys = []
        with open(inst.path("ihos.conf")) as f:
            for line in f:
                m = re.match(r"\[(\w+)\]", line)
                if m:
                    section = m.group(1)
                m = re.match(r"(\w+)\s*=", line)
                if m:
                    keys.append((section, m.group(1)))
        self.assertGreater(len(keys), 40)
        for sec, key in keys:
            self.assertIn("| %s | %s |" % (sec, key), doc, "docs/configuration.md lacks [%s] %s" % (sec, key))

    def test_every_route_is_in_openapi(self):
        """docs/openapi.yaml describes every route with its method and permission."""
        root = os.path.join(os.path.dirname(__file__), "..", "..")
        routes = re.findall(r'RF?\(IH_([A-Z]+), "([^"]*)", IH_PERM_([A-Z_]+),',
                            open(os.path.join(root, "src", "api", "routes.c")).read())
        perms = dict(re.findall(r'\[IH_PERM_([A-Z_]+)\] = \{"([^"]+)"',
                                open(os.path.join(root, "src", "policy", "perm.c")).read()))
        doc = open(os.path.join(root, "docs", "openapi.yaml")).read()
        ops = {}
        path = method = None
        for line in doc.splitlines():
            m = re.match(r"^  (/\S*):$", line)
            if m:
                path = re.sub(r"\{[a-z]+\}", "{}", m.group(1))
                continue
            m = re.match(r"^    (get|post|put|patch|delete):$", line)
            if m and path:
                method = m.group(1).upper()
                continue
            m = re.match(r"^      x-ihos-permission: (\S+)$", line)
            if m and path and method:
                ops[(method, path)] = m.group(1)
        self.assertEqual(len(ops), len(routes))
        for method, path, perm in routes:
            self.assertEqual(ops.get((method, path)), perms.get(perm, perm.lower()), "%s %s" % (method, path))
