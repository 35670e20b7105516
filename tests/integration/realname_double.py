#!/usr/bin/env python3
"""realname_double.py — a test double of a real-name verification service
(实名认证), used as [registry] realname_command in tests.  Reads
{"name","cert_type","cert_no"} on stdin and answers {"match": …}: a name
starting with 假 does not match; the name 断线 makes the service fail."""
import json
import sys

q = json.load(sys.stdin)
if q.get("name") == "断线":
    sys.exit(3)
json.dump({"match": not q.get("name", "").startswith("假")}, sys.stdout)
