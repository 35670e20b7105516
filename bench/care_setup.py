"""bench/care_setup.py DIR PORT — on a running demo instance, open an
accepted follow-up visit between a demo patient and doctor and print
"VISIT PATIENT_TOKEN DOCTOR_TOKEN" (for wrk)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.integration.test_care import Hospital  # noqa: E402
from tests.integration.harness import Instance  # noqa: E402

h = Hospital(Instance.running(sys.argv[1], int(sys.argv[2])))
v = h.followup("patient001", "doctor01")
for i in range(20):  # a visit with a conversation to read
    h.s("patient001" if i % 2 else "doctor01").req("POST", "/api/v1/visits/%d/messages" % v, {"body": "消息 %d" % i})
print(v, h.s("patient001").token, h.s("doctor01").token)
