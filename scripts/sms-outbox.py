#!/usr/bin/env python3
"""sms-outbox.py — an SMS gateway that sends nothing: it appends each
message to a file instead, one JSON object per line.  A test double (the
hospital does not own the SMS gateway) for tests and the demo, used as
[registry] sms_command.

Reads {"phone","template","params"} on stdin and answers {"sent": true}.
The file is $IHOS_SMS_OUTBOX (default ./sms-outbox.jsonl).  The phone
number 13800000000 makes the gateway fail, for tests of that path."""
import fcntl
import json
import os
import sys
import time

msg = json.load(sys.stdin)
if not isinstance(msg, dict) or not isinstance(msg.get("phone"), str) or not isinstance(msg.get("template"), str):
    sys.exit(2)
if msg["phone"] == "13800000000":
    sys.exit(3)
msg["at"] = time.time()
path = os.environ.get("IHOS_SMS_OUTBOX", "sms-outbox.jsonl")
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
with os.fdopen(fd, "a") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.write(json.dumps(msg, ensure_ascii=False) + "\n")
json.dump({"sent": True}, sys.stdout)
