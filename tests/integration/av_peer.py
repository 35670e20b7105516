"""The hospital's two audio-video systems for tests, in a network namespace
this helper creates (Janus gathers no loopback candidates): Debian's Janus
(videoroom plugin, HTTPS API on 10.214.N.2:8089 with a certificate from a CA
made here, signed-token authentication, the room admin key) and coturn
(TURN on 10.214.N.2:3478, REST-API shared secret, relays on the same
address).  Browsers and ihosd stay in this namespace and reach both over
the veth pair.  kill_janus() is the outage; stop() ends both and deletes the
pair and the namespace."""
import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import ssl
import subprocess
import time
import urllib.request

from tests.integration.netns import Netns, run

JANUS_LIB = "/usr/lib/x86_64-linux-gnu/janus"
HAVE_AV = os.path.exists("/usr/bin/janus") and os.path.exists("/usr/bin/turnserver")


class AvPeers:
    def __init__(self, tmp):
        self.tmp = tmp
        self.net = Netns("av", 214)
        self.ip = self.net.ip
        self.janus_url = "https://%s:8089/janus" % self.ip
        self.turn_url = "turn:%s:3478?transport=udp" % self.ip
        self.token_secret = secrets.token_hex(24)
        self.admin_key = secrets.token_hex(24)
        self.turn_secret = secrets.token_hex(24)
        self.ca = os.path.join(tmp, "av-ca.pem")
        self.janus = self.turn = None
        self.logs = []

    def _certs(self):
        ca_key, key = os.path.join(self.tmp, "av-ca.key"), os.path.join(self.tmp, "janus.key")
        csr, crt, ext = (os.path.join(self.tmp, n) for n in ("janus.csr", "janus.crt", "janus.ext"))
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=ihos test AV CA", "-keyout", ca_key, "-out", self.ca)
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
            "/CN=" + self.ip, "-keyout", key, "-out", csr)
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n" % self.ip)
        run("openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
            "-extfile", ext, "-out", crt)
        return crt, key

    def write_secrets(self, keys_dir):
        """The three shared secrets as ihosd reads them (0600 files)."""
        out = {}
        for name, v in (("janus-token-secret", self.token_secret), ("janus-admin-key", self.admin_key),
                        ("turn-secret", self.turn_secret)):
            p = os.path.join(keys_dir, name)
            with open(p, "w") as f:
                f.write(v + "\n")
            os.chmod(p, 0o600)
            out[name] = p
        return out

    def _janus_conf(self, crt, key):
        d = os.path.join(self.tmp, "janus-conf")
        for sub in ("plugins", "transports"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        # only the videoroom plugin and the HTTP transport are loaded
        for sub, so in (("plugins", "libjanus_videoroom.so"), ("transports", "libjanus_http.so")):
            link = os.path.join(d, sub, so)
            if not os.path.exists(link):
                os.symlink(os.path.join(JANUS_LIB, sub, so), link)
        with open(os.path.join(d, "janus.jcfg"), "w") as f:
            f.write('general: {\n configs_folder = "%s"\n plugins_folder = "%s/plugins"\n'
                    ' transports_folder = "%s/transports"\n debug_level = 4\n session_timeout = 60\n'
                    ' token_auth = true\n token_auth_secret = "%s"\n}\n'
                    'media: {\n rtp_port_range = "20000-20999"\n}\n'
                    'nat: {\n ice_enforce_list = "%s"\n}\n' % (d, d, d, self.token_secret, self.net.ns_if))
        with open(os.path.join(d, "janus.transport.http.jcfg"), "w") as f:
            f.write('general: {\n json = "plain"\n base_path = "/janus"\n http = false\n https = true\n'
                    ' secure_port = 8089\n secure_ip = "%s"\n}\nadmin: {\n admin_http = false\n admin_https = false\n}\n'
                    'certificates: {\n cert_pem = "%s"\n cert_key = "%s"\n}\n' % (self.ip, crt, key))
        with open(os.path.join(d, "janus.plugin.videoroom.jcfg"), "w") as f:
            f.write('general: {\n admin_key = "%s"\n lock_rtp_forward = true\n}\n' % self.admin_key)
        return d

    def start(self):
        crt, key = self._certs()
        self.net.start().reach_host()
        self.janus_conf = self._janus_conf(crt, key)
        self.start_janus()
        tlog = open(os.path.join(self.tmp, "coturn.log"), "w")
        self.logs.append(tlog)
        self.turn = self.net.popen(
            ["turnserver", "-n", "--listening-ip", self.ip, "--relay-ip", self.ip, "--listening-port", "3478",
             "--use-auth-secret", "--static-auth-secret", self.turn_secret, "--realm", "ihos.test", "--fingerprint",
             "--no-tls", "--no-dtls", "--no-cli", "--min-port", "40000", "--max-port", "40999", "--no-multicast-peers",
             "--log-file", "stdout", "--simple-log", "--userdb", os.path.join(self.tmp, "turndb"), "--pidfile", os.path.join(self.tmp, "coturn.pid")],
            stdout=tlog, stderr=subprocess.STDOUT)
        self.wait_janus()
        return self

    def start_janus(self):
        jlog = open(os.path.join(self.tmp, "janus.log"), "a")
        self.logs.append(jlog)
        self.janus = self.net.popen(["janus", "-F", self.janus_conf, "-C", os.path.join(self.janus_conf, "janus.jcfg"),
                                     "-o"], stdout=jlog, stderr=subprocess.STDOUT)

    def wait_janus(self, timeout=30):
        ctx = ssl.create_default_context(cafile=self.ca)
        deadline = time.time() + timeout
        while True:
            try:
                return json.loads(urllib.request.urlopen(self.janus_url + "/info", context=ctx, timeout=2).read())
            except OSError:
                if time.time() > deadline or self.janus.poll() is not None:
                    raise AssertionError("Janus did not start: " + self.log("janus")[-2000:])
                time.sleep(0.2)

    def kill_janus(self):
        if self.janus and self.janus.poll() is None:
            self.janus.send_signal(signal.SIGKILL)
            self.janus.wait(10)

    def log(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def token(self, expiry):
        """A Janus signed token as ihosd mints them (for the refusal tests)."""
        data = "%d,janus,janus.plugin.videoroom" % expiry
        sig = base64.b64encode(hmac.new(self.token_secret.encode(), data.encode(), hashlib.sha1).digest()).decode()
        return data + ":" + sig

    def janus_call(self, path, body):
        ctx = ssl.create_default_context(cafile=self.ca)
        req = urllib.request.Request(self.janus_url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req, context=ctx, timeout=10).read())

    def stop(self):
        Netns.end(self.janus, self.turn)
        self.janus = self.turn = None
        for f in self.logs:
            f.close()
        self.logs = []
        self.net.stop()
