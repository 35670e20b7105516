#!/usr/bin/env python3
"""build-web.py SRC OUT — build the web console ihosd serves.

SRC holds app.html and h5.html, whose {{path}} placeholders name files
under SRC; each such file is copied to OUT/assets/<stem>.<hash>.<ext> (the
first 16 hex digits of its SHA-256: a new build is a new URL, so browsers
may cache assets for a year) beside its gzip form (.gz, written with no
timestamp: the build is byte-for-byte reproducible), and the pages are
written to OUT with the placeholders replaced.  Nothing is fetched: no
library, no CDN."""
import gzip, hashlib, os, re, shutil, sys


def main(src, out):
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "assets"))
    done = {}

    def asset(m):
        rel = m.group(1)
        if rel not in done:
            with open(os.path.join(src, rel), "rb") as f:
                data = f.read()
            stem, ext = os.path.splitext(os.path.basename(rel))
            name = "%s.%s%s" % (stem, hashlib.sha256(data).hexdigest()[:16], ext)
            for path, body in ((name, data), (name + ".gz", gzip.compress(data, 9, mtime=0))):
                with open(os.path.join(tmp, "assets", path), "wb") as f:
                    f.write(body)
            done[rel] = "/assets/" + name
        return done[rel]

    for page in ("app.html", "h5.html"):
        with open(os.path.join(src, page), encoding="utf-8") as f:
            html = re.sub(r"\{\{([A-Za-z0-9_./-]+)\}\}", asset, f.read())
        if "{{" in html:
            sys.exit("build-web: %s has a malformed placeholder" % page)
        data = html.encode()
        with open(os.path.join(tmp, page), "wb") as f:
            f.write(data)
        with open(os.path.join(tmp, page + ".gz"), "wb") as f:
            f.write(gzip.compress(data, 9, mtime=0))
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: build-web.py SRC OUT")
    main(sys.argv[1], sys.argv[2])
