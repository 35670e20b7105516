"""bench/session.py DIR PORT [--department] — complete the sysadmin's first
login on a running instance and print a full session token (for wrk); with
--department, also create a department and print its id on a second line
(the audited-write bench updates it)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.integration.harness import Instance, setup_admins  # noqa: E402



inst = Instance.running(sys.argv[1], int(sys.argv[2]))
admins = setup_admins(inst)
s = admins["sysadmin"][1]
print(s.token)
if "--department" in sys.argv:
    r = s.req("POST", "/api/v1/departments", {"code": "BENCH", "name": "基准科", "subject_code": "03",
                                             "category_code": "03", "kind": "clinical"})
    assert r.status == 201, r
    print(r.json()["id"])
