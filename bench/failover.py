"""bench/failover.py CLUSTER_DIR BASE_PORT SECONDS — on a running
scripts/cluster.sh cluster: audited writes through HAProxy from 4 clients
while the PostgreSQL primary's Patroni and server are killed with SIGKILL;
prints "GAP OK REFUSED": seconds from the kill to the first write begun
after it that succeeded, and the counts.  Stops by itself."""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.integration.harness import Instance  # noqa: E402
from tests.integration.test_care import Hospital  # noqa: E402
from tests.integration.test_cluster import kill_tree  # noqa: E402

d, base, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
h = Hospital(Instance.running(os.path.join(d, "n1"), base + 40))
v = h.followup("patient002", "doctor02")
s = h.s("patient002")


def leader():
    for n in (1, 2):
        if subprocess.run(["curl", "-sf", "http://127.0.0.1:%d/leader" % (base + 9 + n)],
                          capture_output=True).returncode == 0:
            return n
    return None


ok, refused, lock = [], [], threading.Lock()
stop = time.time() + secs


def writer():
    while time.time() < stop:
        began = time.time()
        try:
            st = s.req("POST", "/api/v1/visits/%d/messages" % v, {"body": "故障切换期间的消息"}).status
        except OSError:
            st = 0
        with lock:
            (ok if 200 <= st < 300 else refused).append((began, time.time()))
        time.sleep(0.02)


threads = [threading.Thread(target=writer) for _ in range(4)]
for t in threads:
    t.start()
time.sleep(min(5, secs / 4))
dead = leader()
with open(os.path.join(d, "pg%d" % dead, "postmaster.pid")) as f:
    pg_pid = int(f.readline())
with open(os.path.join(d, "pids", "patroni%d.pid" % dead)) as f:
    kill_tree(int(f.read()))
kill_tree(pg_pid)
killed = time.time()
for t in threads:
    t.join(secs + 60)
after = [e for b, e in ok if b > killed]
print("%.1f %d %d" % ((min(after) - killed) if after else -1, len(ok), len(refused)))
