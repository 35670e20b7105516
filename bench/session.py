"""bench/session.py DIR PORT — complete the sysadmin's first login on a running
instance and print a full session token (for wrk)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.integration.harness import Instance, setup_admins  # noqa: E402



inst = Instance.running(sys.argv[1], int(sys.argv[2]))
admins = setup_admins(inst)
print(admins["sysadmin"][1].token)
