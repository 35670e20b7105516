#!/usr/bin/env python3
"""hl7_inbound.py send PORT SECONDS CONNS | ackonly PORT

send: CONNS connections to 127.0.0.1:PORT, each sending ADT^A04 messages
(a new MRN and control id each) one after another and waiting for each ACK,
for SECONDS; prints "messages_per_second ae_or_ar_count".
ackonly: a receiver that only ACKs (AA, MSA-2 the message's MSH-10) every
frame: the inbound baseline (what the same sender reaches when nothing is
stored), and the peer ihos's outbound sender drains to."""
import socket
import sys
import threading
import time

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


def message(conn, i):
    return ("MSH|^~\\&|HIS|HOSP|IHOS|IH|20261201120000||ADT^A04^ADT_A01|B%d-%d|P|2.4\r"
            "EVN|A04|20261201120000\r"
            "PID|1||BM%d-%d^^^HOSP^MR~11010119800101%04d^^^CHN^NI||测^试||19800101|M\r" % (conn, i, conn, i, i % 10000)
            ).encode()


def send(port, secs, conns):
    counts, bad = [0] * conns, [0] * conns
    stop = time.time() + secs

    def run(k):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        buf = b""
        i = 0
        while time.time() < stop:
            s.sendall(SB + message(k, i) + EB + CR)
            while EB + CR not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    return
                buf += chunk
            ack, buf = buf.split(EB + CR, 1)
            if b"MSA|AA|" not in ack:
                bad[k] += 1
            counts[k] += 1
            i += 1
        s.close()

    t0 = time.time()
    threads = [threading.Thread(target=run, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("%.0f %d" % (sum(counts) / (time.time() - t0), sum(bad)))


def ackonly(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    head = SB + b"MSH|^~\\&|IHOS|IH|HIS|HOSP|20261201120000||ACK^A04^ACK|1|P|2.4\rMSA|AA|"

    def serve(c):
        buf = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                return
            buf += chunk
            while EB + CR in buf:
                msg, buf = buf.split(EB + CR, 1)
                control = msg.split(b"\r", 1)[0].split(b"|")[9:10] or [b""]  # MSH-10, echoed in MSA-2
                c.sendall(head + control[0] + b"\r" + EB + CR)

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
    else:
        ackonly(int(sys.argv[2]))
