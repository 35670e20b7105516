"""bench/platform_sink.py DIR — run the platform test double as a sink for
the drain benchmark; prints "PORT CERT APPKEY APPSECRET", then serves until
killed.  With --max-rate N RECORDS: instead, measure the receiver's own
maximum accept rate with N calls of RECORDS records each from 8 threads."""
import http.client
import json
import os
import ssl
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.integration.platform_double import Platform, SIGNED, sm3_hex, sm4_encrypt  # noqa: E402

p = Platform(sys.argv[1]).start()
if len(sys.argv) > 2 and sys.argv[2] == "--max-rate":
    calls, per = int(sys.argv[3]), int(sys.argv[4])
    rec = {"organID": "12345678901234567X", "unitID": "U0001", "organName": "示例", "drugClass": "1",
           "hospDrcode": "B1", "hospDrugName": "苯磺酸氨氯地平片", "hospDrugPacking": "5mg*28片",
           "hospDrugManuf": "示例制药有限公司", "useFlag": "1", "updateTime": "2026-11-22 12:00:00"}
    body = sm4_encrypt(p.secret, json.dumps([rec] * per, ensure_ascii=False).encode())
    ctx = ssl.create_default_context(cafile=p.cert)

    def client(k):
        c = http.client.HTTPSConnection("127.0.0.1", p.port, context=ctx)
        for _ in range(k):
            h = {"x-ca-key": p.app_key, "x-ca-nonce": str(uuid.uuid4()), "x-ca-timestamp": str(int(time.time() * 1000)),
                 "x-content-md5": sm3_hex(body.encode()), "x-service-id": "his.provinceDataUploadService",
                 "x-service-method": "uploadDrugCatalogue"}
            h["x-ca-signature"] = sm3_hex("&".join("%s:%s" % (x, h[x]) for x in sorted(SIGNED)).encode())
            h["x-ca-signature-headers"] = ",".join(SIGNED)
            h["Content-Type"] = "application/json"
            c.request("POST", "/openapi/api", body=body, headers=h)
            r = c.getresponse()
            assert b'"msgCode": 200' in r.read(), "refused"
    t0 = time.time()
    ts = [threading.Thread(target=client, args=(calls // 8,)) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.time() - t0
    print("%.0f" % (calls // 8 * 8 * per / dt))
    p.stop()
    sys.exit(0)
print(p.port, p.cert, p.app_key, p.app_secret, flush=True)
threading.Event().wait()
