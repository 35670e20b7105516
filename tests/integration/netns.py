"""A network namespace joined to this one by a veth pair, for peers that
must not (or cannot) use loopback: Orthanc, Janus, coturn.  The host end is
10.N.M.1, the namespace end 10.N.M.2 (a /30); the namespace routes only to
the pair (and, with reach_host, to this machine's own addresses), so
nothing outside the machine is touched; stop() removes both the pair and
the namespace."""
import os
import subprocess


def run(*cmd, **kw):
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, timeout=60, **kw)


class Netns:
    def __init__(self, tag, net):
        """tag: a short name ("pa", "av"); net: the second octet of 10.net.M.0/30."""
        self.n = os.getpid() % 200 + 20
        self.ns = "ihos-%s-%d" % (tag, os.getpid())
        self.host_if, self.ns_if = "ih%sa%d" % (tag, self.n), "ih%sb%d" % (tag, self.n)
        self.host_ip = "10.%d.%d.1" % (net, self.n)
        self.ip = "10.%d.%d.2" % (net, self.n)

    def start(self):
        self.stop()
        run("ip", "netns", "add", self.ns)
        run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if, "netns", self.ns)
        run("ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if)
        run("ip", "link", "set", self.host_if, "up")
        run("ip", "-n", self.ns, "addr", "add", self.ip + "/30", "dev", self.ns_if)
        run("ip", "-n", self.ns, "link", "set", self.ns_if, "up")
        run("ip", "-n", self.ns, "link", "set", "lo", "up")
        return self

    def reach_host(self):
        """Routes back to each of this machine's own IPv4 addresses (and no
        further): a browser here may send from any of them (WebRTC binds a
        socket per interface), and TURN must be able to answer."""
        out = run("ip", "-4", "-o", "addr", "show").stdout
        for line in out.splitlines():
            addr = line.split()[3].split("/")[0]
            if addr.startswith("127.") or addr == self.host_ip:
                continue
            subprocess.run(["ip", "-n", self.ns, "route", "add", addr + "/32", "via", self.host_ip],
                           capture_output=True)
        return self

    @staticmethod
    def end(*procs):
        """Terminate each process still running (killed after 15 s)."""
        for p in procs:
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)

    def popen(self, argv, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.ns] + list(argv), **kw)

    def stop(self):
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
