#!/usr/bin/env python3
"""console_size.py DIR PORT — what a browser transfers on the first load of
the staff console (/app/) and the patients' page (/h5/): the page and every
asset it names, asked for with Accept-Encoding: gzip as browsers do, headers
included.  The baseline beside it: the same load without compression.
Prints "app_gz app_plain h5_gz h5_plain" in bytes."""
import http.client
import re
import ssl
import sys


def load(conn, path, gz):
    h = {"Accept-Encoding": "gzip, deflate, br"} if gz else {}
    conn.request("GET", path, headers=h)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit("console_size: %s answered %d" % (path, r.status))
    head = sum(len(k) + len(v) + 4 for k, v in r.getheaders()) + 17
    return head + len(body), body


def first_load(conn, page, gz):
    total, html = load(conn, page, False)  # the page's own size is the same either way…
    if gz:
        total, _ = load(conn, page, True)  # …unless it is compressed too
    for a in re.findall(rb'(?:src|href)="(/assets/[^"]+)"', html):
        n, _ = load(conn, a.decode(), gz)
        total += n
    return total


def main(d, port):
    ctx = ssl.create_default_context(cafile=d + "/keys/tls.crt")
    conn = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=30)
    print(first_load(conn, "/app/", True), first_load(conn, "/app/", False),
          first_load(conn, "/h5/", True), first_load(conn, "/h5/", False))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
