"""harness.py — start real ihosd instances on 127.0.0.1 and talk HTTPS to them.

Only the Python standard library.  IHOS_BIN points at the build to test
(make test uses the sanitizer build); IHOS_TEST_PG at the throwaway
PostgreSQL cluster that make test starts.  Every server listens on
127.0.0.1 with port 0 (the kernel picks a free port), and is stopped at the
end of its test; a sanitizer report in its log fails the test.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

BIN = os.environ.get("IHOS_BIN") or os.path.join(os.path.dirname(__file__), "..", "..", "build", "san")
IHOS = os.path.join(BIN, "ihos")
IHOSD = os.path.join(BIN, "ihosd")
PG = os.environ.get("IHOS_TEST_PG", "")
SCRIPTS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
SMS_OUTBOX = os.path.join(SCRIPTS, "sms-outbox.py")
PAY_CHANNEL = os.path.join(SCRIPTS, "pay-channel.py")


def _pay_channel_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("pay_channel", PAY_CHANNEL)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def run_ihos(*args, check=True, input=None, timeout=120, env=None, pass_fds=()):
    """Run the CLI; returns CompletedProcess (text)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([IHOS, *args], capture_output=True, text=True, input=input, timeout=timeout, env=e,
                       pass_fds=pass_fds)
    if check and p.returncode != 0:
        raise AssertionError(f"ihos {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


_pg_counter = [0]


def pg_create_db():
    """A fresh database on the test cluster; returns its conninfo."""
    if not PG:
        raise AssertionError("PostgreSQL tests need IHOS_TEST_PG (set by 'make test')")
    _pg_counter[0] += 1
    name = f"it_{os.getpid()}_{_pg_counter[0]}"
    psql(f"CREATE DATABASE {name}")
    return re.sub(r"dbname=\S+", f"dbname={name}", PG)


def psql(sql, conninfo=None):
    p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", conninfo or PG, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"psql failed: {p.stderr.strip()}")
    return p.stdout.strip()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


class Instance:
    """One instance directory plus, once started, one ihosd process."""

    def __init__(self, tmp, name="inst", suite="intl", store="sqlite", pg_url=None, demo=False, extra=(),
                 pass_fds=(), demo_patients=100):
        self.dir = os.path.join(tmp, name)
        args = ["init", self.dir, "--suite", suite, "--store", store, "--listen", "127.0.0.1:0"]
        if pg_url:
            args += ["--pg-url", pg_url]
        if demo:  # the tests use patient001…patient091: half the demo's 200 is enough (an Argon2id hash each)
            args += ["--demo"] + (["--demo-patients", str(demo_patients)] if demo_patients else [])
        args += list(extra)
        self.init_output = run_ihos(*args, pass_fds=pass_fds)
        self.proc = None
        self.port = None
        self.log_lines = []
        self._log_thread = None
        self.pay_dir = None
        self.recorded = None
        if demo:  # the demo hospital takes payments through the channel double
            self.enable_payments()

    # -- configuration ------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def set_conf(self, section, key, value):
        """Set (or add) key in [section] of ihos.conf."""
        p = self.path("ihos.conf")
        with open(p) as f:
            lines = f.read().splitlines()
        out, cur, done = [], None, False
        for line in lines:
            m = re.match(r"\[(\w+)\]", line)
            if m:
                if cur == section and not done:
                    out.append(f"{key} = {value}")
                    done = True
                cur = m.group(1)
            elif cur == section and re.match(rf"{re.escape(key)}\s*=", line):
                line = f"{key} = {value}"
                done = True
            out.append(line)
        if not done:
            if cur != section:
                out.append(f"[{section}]")
            out.append(f"{key} = {value}")
        with open(p, "w") as f:
            f.write("\n".join(out) + "\n")
        self.conf_changed = True

    def retrust(self):
        """What the operator does after a deliberate configuration change:
        record the new ihos.conf in the trust manifest (L3 8.1.4.6), so
        ihosd does not report it as tampered.  Instances whose KEK comes from
        a passphrase are left as they are (the CLI would need it)."""
        if getattr(self, "conf_changed", False) and os.path.exists(self.path("keys", "kek")):
            run_ihos("trust", "record", self.dir)
        self.conf_changed = False

    def metrics(self):
        """GET /metrics as the scraper does: with the token ihos init wrote."""
        with open(self.path("keys", "metrics-token")) as f:
            token = f.read().strip()
        r = self.request("GET", "/metrics", token=token)
        assert r.status == 200, r
        return r.body.decode()

    def metric(self, name):
        """One unlabelled metric's value (None when it is not there)."""
        for line in self.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def enable_payments(self):
        """The payment channel: scripts/pay-channel.py, with a key of its own."""
        self.pay_dir = self.dir + "-paychannel"
        os.makedirs(self.pay_dir, exist_ok=True)
        subprocess.run(["/usr/bin/python3", PAY_CHANNEL, "keygen", self.pay_dir], check=True, timeout=60)
        shutil.copy(os.path.join(self.pay_dir, "pay-channel.pub"), self.path("keys", "pay-channel.pub"))
        os.chmod(self.path("keys", "pay-channel.pub"), 0o600)
        self.set_conf("payment", "channel_command", PAY_CHANNEL)
        self.set_conf("payment", "notify_public_key", "keys/pay-channel.pub")

    def channel_notify(self, kind, order_no, **changes):
        """The channel tells ihosd an order was paid (kind "paid") or refunded;
        changes alter the body (a wrong amount…).  Returns (status, text)."""
        m = _pay_channel_module()
        m.STATE = os.path.join(self.pay_dir, "pay-channel.jsonl")
        body = m.event(kind, order_no)
        body.update(changes)
        return m.notify("https://127.0.0.1:%d" % self.port, self.path("keys", "tls.crt"),
                        os.path.join(self.pay_dir, "pay-channel.key"), body)

    def enable_sms(self):
        """The SMS gateway: scripts/sms-outbox.py, writing to sms-outbox.jsonl here."""
        self.set_conf("registry", "sms_command", SMS_OUTBOX)

    def sms(self, phone=None, template=None):
        """Messages the SMS gateway was given, oldest first."""
        try:
            with open(self.path("sms-outbox.jsonl")) as f:
                msgs = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
        return [m for m in msgs if (phone is None or m["phone"] == phone) and
                (template is None or m["template"] == template)]

    def last_code(self, phone, template):
        msgs = self.sms(phone, template)
        assert msgs, "no %s message to %s" % (template, phone)
        return msgs[-1]["params"]["code"]

    # -- process ------------------------------------------------------------
    @classmethod
    def existing(cls, path):
        """An instance directory made some other way (a restore)."""
        inst = cls.__new__(cls)
        inst.dir, inst.init_output, inst.proc, inst.port = path, None, None, None
        inst.log_lines, inst._log_thread = [], None
        inst.pay_dir, inst.recorded = None, None
        return inst

    @classmethod
    def running(cls, path, port):
        """An instance someone else started, serving on port (benches)."""
        inst = cls.existing(path)
        inst.port = port
        return inst

    def start(self, timeout=20, env=None, pass_fds=()):
        self.retrust()
        e = dict(os.environ)
        e["IHOS_SMS_OUTBOX"] = self.path("sms-outbox.jsonl")
        if self.pay_dir:
            e["IHOS_PAY_STATE"] = os.path.join(self.pay_dir, "pay-channel.jsonl")
        if env:
            e.update(env)
        self.log_lines = []
        self.proc = subprocess.Popen([IHOSD, "--dir", self.dir, "--listen", "127.0.0.1:0"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=e,
                                     pass_fds=pass_fds)
        started = threading.Event()

        def reader():
            for line in self.proc.stderr:
                self.log_lines.append(line.rstrip("\n"))
                if '"event":"server.started"' in line:
                    m = re.search(r'"url":"https://127\.0\.0\.1:(\d+)"', line)
                    if m:
                        self.port = int(m.group(1))
                    started.set()

        self._log_thread = threading.Thread(target=reader, daemon=True)
        self._log_thread.start()
        deadline = time.time() + timeout
        while time.time() < deadline and not started.is_set():
            if self.proc.poll() is not None:
                break
            started.wait(0.05)
        if not started.is_set() or not self.port:
            self.kill()
            raise AssertionError("ihosd did not start:\n" + "\n".join(self.log_lines[-30:]))
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stop the server; returns its exit status.  Fails on sanitizer reports."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("ihosd did not stop within %ds" % timeout)
        if self._log_thread:
            self._log_thread.join(5)
        self.proc.stderr.close()
        self.proc = None
        self.check_log()
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._log_thread:
            self._log_thread.join(5)
        if self.proc:
            self.proc.stderr.close()
        self.proc = None

    def check_log(self):
        bad = [l for l in self.log_lines if "ERROR: AddressSanitizer" in l or "runtime error:" in l
               or "ERROR: LeakSanitizer" in l]
        if bad:
            raise AssertionError("sanitizer report in ihosd log:\n" + "\n".join(self.log_lines[-60:]))

    def wait_events(self, name, timeout=10):
        """events(name), waiting (bounded) for the log reader to have seen one:
        a line ihosd wrote before answering may still be in the pipe."""
        deadline = time.time() + timeout
        while True:
            found = self.events(name)
            if found or time.time() >= deadline:
                return found
            time.sleep(0.05)

    def events(self, name):
        out = []
        for l in self.log_lines:
            if f'"event":"{name}"' in l:
                try:
                    out.append(json.loads(l))
                except ValueError:
                    pass
        return out

    # -- HTTPS --------------------------------------------------------------
    def ssl_context(self, **kw):
        ctx = ssl.create_default_context(cafile=self.path("keys", "tls.crt"))
        for k, v in kw.items():
            setattr(ctx, k, v)
        return ctx

    def connection(self, timeout=30):
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.ssl_context())

    def request(self, method, path, body=None, headers=None, conn=None, token=None, raw_body=None):
        own = conn is None
        c = conn or self.connection()
        h = dict(headers or {})
        data = None
        if raw_body is not None:
            data = raw_body
        elif body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if token:
            h["Authorization"] = "Bearer " + token
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        if own:
            c.close()
        if self.recorded is not None:  # a contract test keeps what the API answered
            self.recorded.append((method, path, resp))
        return resp

    def raw_tls_socket(self, timeout=10, **ctxkw):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return self.ssl_context(**ctxkw).wrap_socket(s, server_hostname="127.0.0.1")

    def raw_exchange(self, data, tls=True):
        """Send raw bytes (over TLS, or plain TCP); everything the server sends
        until it closes (a reset after our unread bytes ends it too)."""
        s = self.raw_tls_socket() if tls else socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        s.close()
        return out


class IhosTestCase(unittest.TestCase):
    """Gives each test a temp dir and stops every instance it started."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ihos-it-")
        self.instances = []

    def tearDown(self):
        errors = []
        for inst in self.instances:
            try:
                inst.stop()
            except AssertionError as e:
                errors.append(str(e))
        shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            raise AssertionError("\n".join(errors))

    def instance(self, *a, **kw):
        inst = Instance(self.tmp, *a, **kw)
        self.instances.append(inst)
        return inst

    def assertError(self, resp, status, code):
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.header("content-type"), "application/json")
        err = resp.json()["error"]
        self.assertEqual(err["code"], code, resp)
        self.assertTrue(err["message"])
        return err


# ---- identity helpers ------------------------------------------------------------

import base64 as _b64
import hmac as _hmac
import struct as _struct


def totp(secret_b32, step=None, digits=6, alg="sha1"):
    """RFC 6238, written here from the RFC: an implementation independent of the server's."""
    key = _b64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    if step is None:
        step = int(time.time()) // 30
    mac = _hmac.new(key, _struct.pack(">Q", step), alg).digest()
    off = mac[-1] & 0x0F
    code = (_struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % (10 ** digits)
    return str(code).zfill(digits)


class Account:
    """Credentials of one account, and the last TOTP step it used (codes are single-use)."""

    def __init__(self, username, password, secret=None, role=None, id=None):
        self.username, self.password, self.secret, self.role, self.id = username, password, secret, role, id
        self.last_step = 0

    def next_code(self):
        """A code for a step the server has not seen: now-1, now or now+1, else wait.
        now-1 only early in the step: a request that crosses into the next step
        would otherwise arrive two steps late (a slow machine failed a login so)."""
        while True:
            t = time.time()
            now = int(t) // 30
            step = max(now - 1 if t % 30 < 20 else now, self.last_step + 1)
            if step <= now + 1:
                self.last_step = step
                return totp(self.secret, step)
            time.sleep(1)


class Session:
    def __init__(self, inst, token, csrf, body):
        self.inst, self.token, self.csrf, self.body = inst, token, csrf, body

    def req(self, method, path, body=None, **kw):
        return self.inst.request(method, path, body=body, token=self.token, **kw)


def login(inst, acct, code=True):
    body = {"username": acct.username, "password": acct.password}
    if code and acct.secret:
        body["totp"] = acct.next_code()
    r = inst.request("POST", "/api/v1/sessions", body=body)
    if r.status != 201:
        return r
    j = r.json()
    return Session(inst, j["token"], j["csrf_token"], j)


def initial_credentials(inst):
    out = {}
    with open(inst.path("initial-credentials")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            role, user, pw = line.split()
            out[role] = Account(user, pw, role=role)
    return out


def complete_setup(inst, acct, new_password):
    """First login: change the password, enrol TOTP; returns a full session."""
    s = login(inst, acct, code=False)
    assert isinstance(s, Session), s
    r = s.req("POST", "/api/v1/me/password", {"old_password": acct.password, "new_password": new_password})
    assert r.status == 204, r
    acct.password = new_password
    r = s.req("POST", "/api/v1/me/totp", {"password": new_password})
    assert r.status == 201, r
    uri = r.json()["otpauth_uri"]
    acct.secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
    r = s.req("POST", "/api/v1/me/totp/confirm", {"code": acct.next_code()})
    assert r.status == 204, r
    return s


def make_staff(inst, admins, username, role="doctor", password=None):
    """A new, active, set-up staff account: created by sysadmin, activated by
    secadmin, first login completed.  Returns its Account (with TOTP secret)."""
    sys_s, sec_s = admins["sysadmin"][1], admins["secadmin"][1]
    r = sys_s.req("POST", "/api/v1/accounts", {"username": username, "role": role})
    assert r.status == 201, r
    j = r.json()
    acct = Account(username, j["one_time_password"], role=role, id=j["account"]["id"])
    r = sec_s.req("POST", "/api/v1/accounts/%d/activate" % acct.id)
    assert r.status == 200, r
    complete_setup(inst, acct, password or "Clinic-%s-Pw-77!" % username.replace(".", ""))
    return acct


def setup_admins(inst):
    """All three administrators past first login: {role: (Account, Session)}."""
    creds = initial_credentials(inst)
    out = {}
    for role, acct in creds.items():
        s = complete_setup(inst, acct, "Strong-%s-Pass-2026!" % role.capitalize())
        out[role] = (acct, s)
    return out


# ---- synthetic people and the demo hospital ------------------------------------------

def register_patient(inst, body, username=None):
    """Self-registration in its two steps: the details (202), then the code
    the SMS gateway was given for the phone.  Returns the last response
    (the first one when it was not 202)."""
    r = inst.request("POST", "/api/v1/patients", body)
    if r.status != 202:
        return r
    verify = {"registration": r.json()["registration"], "code": inst.last_code(body["phone"], "register_code")}
    if username:
        verify["username"] = username
    return inst.request("POST", "/api/v1/patients/verify", verify)


def id_number(region="110101", birth="19900307", seq=123):
    """A valid-format fictional 身份证 number: region, birth date, sequence
    (odd: male) and the GB 11643 check character, computed here."""
    first = "%s%s%03d" % (region, birth, seq % 1000)
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first + "10X98765432"[sum(int(c) * k for c, k in zip(first, w)) % 11]


def demo_accounts(inst):
    """{username: Account} from a demo instance's demo-credentials.json."""
    with open(inst.path("demo-credentials.json")) as f:
        creds = json.load(f)
    return {c["username"]: Account(c["username"], c["password"], c["totp_secret"], role=c["role"]) for c in creds}


def must_login(inst, acct):
    s = login(inst, acct)
    assert isinstance(s, Session), s
    return s
