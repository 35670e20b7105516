#!/usr/bin/env python3
"""l3-map.py — which code answers each Level 3 clause, from the `L3` tags in src/.

The clause catalogue is the self-check's (src/compliance/selfcheck.c).  A tag is
a comment containing "L3" followed by clause ids in the forms the code uses:
8.1.4.1d, 8.1.4.3a/b, 8.1.4.1a–d (a range), 8.1.4.11 (every lettered item),
8.1.2.2, 8.1.5, and "39786 8.4b" for GB/T 39786.  Prints the markdown table that
docs/compliance.md carries between its l3-map markers; --check compares it with
the document and exits 1 when they differ or a clause has no code at all."""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def catalogue():
    src = open(os.path.join(ROOT, "src", "compliance", "selfcheck.c"), encoding="utf-8").read()
    return re.findall(r'\{"((?:8\.[0-9.]+[a-z]?)|(?:39786-8\.4[a-h]))", G(?:22|39), "([^"]+)"', src)


def expand(token, ids):
    m = re.match(r"(8\.[0-9.]*[0-9])([a-z](?:\s*[/–-]\s*[a-z])*)?$", token)
    if not m:
        return []
    base, letters = m.group(1), m.group(2)
    if not letters:
        return [i for i in ids if i == base or (i.startswith(base) and re.fullmatch(r"[a-z]", i[len(base):]))]
    out, parts = [], re.split(r"\s*([/–-])\s*", letters)
    prev = None
    for p in parts:
        if p in "/":
            continue
        if p in "–-":
            prev = ("range", prev)
            continue
        if isinstance(prev, tuple):
            out += [base + chr(c) for c in range(ord(prev[1]) + 1, ord(p) + 1)]
        else:
            out.append(base + p)
        prev = p
    return [i for i in out if i in ids]


def tags(ids):
    found = {i: [] for i in ids}
    for dirpath, _, files in os.walk(os.path.join(ROOT, "src")):
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, ROOT)
            for n, line in enumerate(open(path, encoding="utf-8"), 1):
                k = line.find("L3 ")
                if k < 0:
                    continue
                text = line[k + 3:]
                for g39 in re.findall(r"39786\s+8\.4([a-h](?:/[a-h])*)", text):
                    for letter in g39.split("/"):
                        key = "39786-8.4" + letter
                        if key in found and rel not in found[key]:
                            found[key].append(rel)
                text = re.sub(r"39786\s+8\.4[a-h/]*", "", text)
                for tok in re.findall(r"8\.[0-9.]*[0-9](?:[a-z](?:\s*[/–-]\s*[a-z])*)?", text):
                    for i in expand(tok, ids):
                        if rel not in found[i]:
                            found[i].append(rel)
    return found


def table():
    cat = catalogue()
    ids = [i for i, _ in cat]
    found = tags(ids)
    lines = ["| clause | what the assessor checks | code (files tagged `L3` with it) |", "|---|---|---|"]
    for i, title in cat:
        lines.append("| %s | %s | %s |" % (i, title, ", ".join("`%s`" % f for f in sorted(found[i])) or "—"))
    return "\n".join(lines) + "\n", [i for i in ids if not found[i]]


def main():
    text, missing = table()
    if "--check" not in sys.argv:
        sys.stdout.write(text)
        return 0
    doc = open(os.path.join(ROOT, "docs", "compliance.md"), encoding="utf-8").read()
    m = re.search(r"<!-- l3-map begin -->\n(.*?)<!-- l3-map end -->", doc, re.S)
    ok = True
    if not m or m.group(1) != text:
        print("docs/compliance.md: the clause map is out of date: run scripts/l3-map.py", file=sys.stderr)
        ok = False
    if missing:
        print("clauses no code is tagged with: " + ", ".join(missing), file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
