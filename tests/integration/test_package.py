"""The Debian package on a clean Debian 12.

scripts/build-deb.sh builds it the standard way (dpkg-buildpackage, lintian
clean).  A minimal Debian 12 made by debootstrap (cached in
/var/cache/ihos-test between runs; IHOS_TEST_CACHE moves it) boots with
systemd in systemd-nspawn, sharing the host's network so that the test can
reach the server on 127.0.0.1.  In it: apt installs the package (the user,
its directories, the enabled unit), `ihos init` creates the instance under
/var/lib/ihos with its configuration in /etc/ihos, the unit starts and serves
HTTPS, sandboxed (no capabilities, no new privileges, a seccomp filter; the
`systemd-analyze security` exposure printed); `systemd-analyze verify`
passes; logrotate rotates the log and ihosd reopens it; purge removes the
package and keeps the hospital's data.  Bounded: a few minutes (the first
run downloads the base system).
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request
import ssl

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CACHE = os.environ.get("IHOS_TEST_CACHE", "/var/cache/ihos-test")
BASE = os.path.join(CACHE, "bookworm-minbase.tar")


def apt_mirror():
    """The Debian mirror this machine's apt uses (a CI machine may have its own)."""
    import glob
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as f:
            for line in f:
                if line.startswith("URIs:"):
                    for uri in line.split()[1:]:
                        if not uri.rstrip("/").endswith("-security"):
                            return uri
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        try:
            with open(path) as f:
                for line in f:
                    m = re.match(r"deb\s+(?:\[[^\]]*\]\s+)?(\S+)", line)
                    if m and "security" not in m.group(1):
                        return m.group(1)
        except OSError:
            pass
    return "http://deb.debian.org/debian"


MIRROR = apt_mirror()


def base_system(root):
    """A minimal Debian 12 with systemd in root, from the cache or debootstrap."""
    if not os.path.exists(BASE):
        os.makedirs(CACHE, exist_ok=True)
        work = tempfile.mkdtemp(prefix="debootstrap-", dir=CACHE)
        os.chmod(work, 0o755)  # to be the system's /
        try:
            p = subprocess.run(["debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv,dbus,man-db",
                                "bookworm", work, MIRROR], capture_output=True, text=True, timeout=900)
            if p.returncode != 0:
                raise AssertionError("debootstrap failed:\n" + p.stdout[-2000:] + p.stderr[-2000:])
            subprocess.run(["tar", "-C", work, "-cf", BASE + ".part", "."], check=True, timeout=300)
            os.rename(BASE + ".part", BASE)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    os.makedirs(root)
    subprocess.run(["tar", "-C", root, "-xf", BASE], check=True, timeout=300)
    os.chmod(root, 0o755)  # its users (messagebus, ihos) must reach /


class PackageTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ihos-pkg-")
        self.root = os.path.join(self.tmp, "root")
        self.nspawn = None
        self.port = 18000 + os.getpid() % 1000

    def tearDown(self):
        if self.nspawn and self.nspawn.poll() is None:
            self.nspawn.send_signal(signal.SIGTERM)  # the container's systemd shuts down
            try:
                self.nspawn.wait(60)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait()
        if self.nspawn:
            self.nspawn.stdout.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def boot(self):
        self.nspawn = subprocess.Popen(["systemd-nspawn", "-D", self.root, "--register=no", "--keep-unit", "--boot",
                                        "--console=pipe", "-q"], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            kids = subprocess.run(["pgrep", "-P", str(self.nspawn.pid)], capture_output=True, text=True).stdout.split()
            if kids:
                self.init = kids[0]
                state = self.sh("systemctl is-system-running --wait", check=False, timeout=60).stdout.strip()
                if state in ("running", "degraded"):
                    return
            time.sleep(0.5)
        raise AssertionError("the container did not boot")

    def sh(self, cmd, check=True, timeout=300):
        """A shell command inside the container, as root."""
        p = subprocess.run(["nsenter", "-t", self.init, "-m", "-u", "-i", "-n", "-p", "--", "/usr/bin/env", "-i",
                            "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive",
                            "/bin/sh", "-c", cmd], capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("%s: exit %d\n%s%s" % (cmd, p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
        return p

    def healthz(self, path="/healthz"):
        ctx = ssl.create_default_context(cafile=os.path.join(self.root, "var/lib/ihos/keys/tls.crt"))
        with urllib.request.urlopen("https://127.0.0.1:%d%s" % (self.port, path), context=ctx, timeout=5) as r:
            return r.status

    def test_install_start_rotate_purge(self):
        deb = subprocess.run([os.path.join(ROOT, "scripts", "build-deb.sh")], capture_output=True, text=True,
                             timeout=900)
        self.assertEqual(deb.returncode, 0, deb.stderr[-4000:])
        deb = deb.stdout.strip().splitlines()[-1]
        base_system(self.root)
        shutil.copy(deb, os.path.join(self.root, "srv", "ihos.deb"))
        self.boot()
        # install: dependencies from Debian, the user, the directories, the unit enabled but waiting for an instance
        self.sh("apt-get update -qq && apt-get install -y -qq /srv/ihos.deb", timeout=600)
        self.assertIn("ihos", self.sh("id -un ihos").stdout)
        dirs = self.sh("stat -c '%n %U %a' /var/lib/ihos /etc/ihos /var/log/ihos").stdout.split("\n")
        self.assertEqual(dirs[:3], ["/var/lib/ihos ihos 700", "/etc/ihos ihos 700", "/var/log/ihos ihos 750"])
        self.assertEqual(self.sh("systemctl is-enabled ihos").stdout.strip(), "enabled")
        self.assertEqual(self.sh("systemctl is-active ihos", check=False).stdout.strip(), "inactive")
        # the instance, its configuration under /etc/ihos; logs to a file logrotate keeps
        out = self.sh("runuser -u ihos -- ihos init /var/lib/ihos --config /etc/ihos/ihos.conf "
                      "--listen 127.0.0.1:%d --name pkgtest" % self.port).stdout
        self.assertIn("Configuration: /etc/ihos/ihos.conf", out)
        self.assertEqual(os.readlink(os.path.join(self.root, "var/lib/ihos/ihos.conf")), "/etc/ihos/ihos.conf")
        conf = os.path.join(self.root, "etc/ihos/ihos.conf")
        with open(conf) as f:
            text = f.read()
        text = text.replace("\ntarget = stderr\n", "\ntarget = file\n").replace("\nfile = \n", "\nfile = /var/log/ihos/ihosd.log\n")
        with open(conf, "w") as f:
            f.write(text)
        self.sh("chown ihos:ihos /etc/ihos/ihos.conf && chmod 600 /etc/ihos/ihos.conf")
        # the unit starts and serves
        self.sh("systemctl start ihos")
        deadline = time.time() + 30
        status = None
        while time.time() < deadline and status != 200:
            try:
                status = self.healthz()
            except OSError:
                time.sleep(0.5)
        self.assertEqual(status, 200, self.sh("journalctl -u ihos --no-pager | tail -20", check=False).stdout)
        self.assertEqual(self.sh("systemctl is-active ihos").stdout.strip(), "active")
        # sandboxed: its own user, no capabilities, no new privileges, a seccomp filter
        st = self.sh("grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/$(systemctl show -p MainPID --value "
                     "ihos)/status").stdout
        fields = dict(line.split(":", 1) for line in st.strip().split("\n"))
        uid = self.sh("id -u ihos").stdout.strip()
        self.assertEqual(fields["Uid"].split()[0], uid)
        self.assertEqual(fields["CapEff"].strip(), "0000000000000000")
        self.assertEqual(fields["CapBnd"].strip(), "0000000000000000")
        self.assertEqual(fields["NoNewPrivs"].strip(), "1")
        self.assertEqual(fields["Seccomp"].strip(), "2")
        # the unit file verifies; its exposure is low
        v = self.sh("systemd-analyze verify ihos.service", check=False)
        self.assertEqual((v.returncode, v.stdout + v.stderr), (0, ""))
        sec = self.sh("systemd-analyze security --no-pager ihos.service").stdout
        line = [l for l in sec.splitlines() if "Overall exposure level" in l][0]
        print("\npackage: " + line.strip())
        self.assertLess(float(line.split(":")[1].split()[0]), 2.0, sec)
        # logrotate moves the log; ihosd writes to a new one
        self.sh("logrotate -f /etc/logrotate.d/ihos")
        log = os.path.join(self.root, "var/log/ihos/ihosd.log")

        def reopened():
            try:
                with open(log) as f:
                    return "log.reopened" in f.read()
            except FileNotFoundError:
                return False
        deadline = time.time() + 10
        while time.time() < deadline and not reopened():
            time.sleep(0.2)
        self.assertTrue(reopened())
        with open(log + ".1") as f:
            self.assertIn("server.started", f.read())
        self.assertEqual(self.healthz(), 200)
        self.assertEqual(self.healthz("/app/"), 200)  # the console installed in /usr/share/ihos/web
        # stop, purge: the package goes, the hospital's data stays
        self.sh("systemctl stop ihos")
        self.assertEqual(self.sh("systemctl is-active ihos", check=False).stdout.strip(), "inactive")
        self.sh("apt-get purge -y -qq ihos", timeout=300)
        self.assertFalse(os.path.exists(os.path.join(self.root, "usr/sbin/ihosd")))
        self.assertTrue(os.path.exists(os.path.join(self.root, "var/lib/ihos/keys/kek")))
        self.assertTrue(os.path.exists(conf))


if __name__ == "__main__":
    unittest.main()
