#!/usr/bin/env python3
"""pay-channel.py — a payment channel that moves no money: a test double
(the hospital does not own the payment channel) for the tests and the demo.
It answers ihosd as a real channel's API would and sends notifications
signed like a real channel's (RSA-SHA256 over "timestamp\\nnonce\\nbody\\n",
headers X-Pay-Timestamp, X-Pay-Nonce, X-Pay-Signature).

  pay-channel.py                 as [payment] channel_command: {"op": "create"
                                 | "refund", ...} on stdin, the answer on stdout
  pay-channel.py keygen DIR      DIR/pay-channel.key (0600) and DIR/pay-channel.pub
                                 (the latter is [payment] notify_public_key)
  pay-channel.py pay ORDER_NO --url URL --cacert FILE
                                 the patient paid: notify ihosd (amount and trade
                                 number as the channel knows them)
  pay-channel.py refunded ORDER_NO --url URL --cacert FILE
                                 the refund went through: notify ihosd

What it was asked is kept in $IHOS_PAY_STATE (default ./pay-channel.jsonl);
the signing key is $IHOS_PAY_KEY (default ./pay-channel.key) or --key."""
import argparse
import base64
import fcntl
import http.client
import json
import os
import secrets
import ssl
import sys
import time
import urllib.parse

STATE = os.environ.get("IHOS_PAY_STATE", "pay-channel.jsonl")


def record(entry):
    fd = os.open(STATE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def history():
    try:
        with open(STATE) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def serve():
    req = json.load(sys.stdin)
    op = req.get("op")
    if op == "create":
        for k in ("order_no", "amount", "channel"):
            if not isinstance(req.get(k), str):
                sys.exit(2)
        req["trade_no"] = "T" + secrets.token_hex(8).upper()
        record(req)
        json.dump({"prepay": {"prepay_id": "PP" + secrets.token_hex(8), "order_no": req["order_no"]}}, sys.stdout)
    elif op == "refund":
        paid = [h for h in history() if h.get("op") == "create" and h["order_no"] == req.get("order_no")]
        if not paid or paid[-1]["trade_no"] != req.get("trade_no"):
            json.dump({"accepted": False, "message": "unknown order or trade number"}, sys.stdout)
            return
        record(req)
        json.dump({"accepted": True}, sys.stdout)
    else:
        sys.exit(2)


def keygen(d):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv = os.path.join(d, "pay-channel.key")
    fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(os.path.join(d, "pay-channel.pub"), "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def notify(url, cacert, keyfile, body, timestamp=None, nonce=None):
    """POST a signed notification; returns (status, body text)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    with open(keyfile, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    data = json.dumps(body, ensure_ascii=False).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    sig = key.sign(ts.encode() + b"\n" + nonce.encode() + b"\n" + data + b"\n", padding.PKCS1v15(), hashes.SHA256())
    u = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context(cafile=cacert)
    ctx.check_hostname = False
    c = http.client.HTTPSConnection(u.hostname, u.port or 443, context=ctx, timeout=30)
    c.request("POST", "/api/v1/payments/notify", body=data,
              headers={"Content-Type": "application/json", "X-Pay-Timestamp": ts, "X-Pay-Nonce": nonce,
                       "X-Pay-Signature": base64.b64encode(sig).decode()})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    return r.status, text


def event(kind, order_no):
    """The notification body for an order the channel saw."""
    created = [h for h in history() if h.get("op") == "create" and h["order_no"] == order_no]
    if not created:
        raise SystemExit("pay-channel: no order %s was created through this channel" % order_no)
    body = {"event": kind, "order_no": order_no, "trade_no": created[-1]["trade_no"],
            "amount": created[-1]["amount"], "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if kind == "refunded":
        refunds = [h for h in history() if h.get("op") == "refund" and h["order_no"] == order_no]
        if not refunds:
            raise SystemExit("pay-channel: no refund of %s was asked for" % order_no)
        body["refund_no"] = refunds[-1]["refund_no"]
    return body


def main():
    if len(sys.argv) == 1:
        serve()
        return
    p = argparse.ArgumentParser(description="a payment channel double")
    p.add_argument("cmd", choices=["keygen", "pay", "refunded"])
    p.add_argument("arg")
    p.add_argument("--url")
    p.add_argument("--cacert")
    p.add_argument("--key", default=os.environ.get("IHOS_PAY_KEY", "pay-channel.key"))
    a = p.parse_args()
    if a.cmd == "keygen":
        keygen(a.arg)
        return
    if not a.url or not a.cacert:
        raise SystemExit("pay-channel: --url and --cacert are needed")
    status, text = notify(a.url, a.cacert, a.key, event("paid" if a.cmd == "pay" else a.cmd, a.arg))
    print(status, text)
    sys.exit(0 if status == 200 else 1)


if __name__ == "__main__":
    main()
