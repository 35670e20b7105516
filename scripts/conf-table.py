#!/usr/bin/env python3
"""conf-table.py — print the table of ihos.conf keys from the schema in
src/core/conf.c, for docs/configuration.md (a test checks the doc lists
every key)."""
import re
import sys

src = open(sys.argv[1] if len(sys.argv) > 1 else "src/core/conf.c").read()
seg = src[src.index("static const key schema[]"):src.index("#define NKEYS")]
seg = re.sub(r'"\s*\n\s*"', "", seg)
for m in re.finditer(r'\b([SIBE])\("(\w+)", "(\w+)", (\w+), (.*?)\),?\n', seg, re.S):
    t, sec, key, _field, rest = m.groups()
    strs = re.findall(r'"((?:[^"\\]|\\.)*)"', rest)
    if t == "S":
        default, help_ = strs[0], strs[1]
    elif t == "I":
        default, help_ = strs[0], strs[-1]
        lo, hi = re.findall(r',\s*([\d\s\*]+),\s*([\d\s\*]+),\s*"', rest)[0]
        help_ = "%s; %d–%d" % (help_, eval(lo), eval(hi))
    elif t == "B":
        default, help_ = strs[0], strs[1]
    else:
        default, vals, help_ = strs[0], strs[1], strs[2]
        help_ = "%s: %s" % (help_, ", ".join("`%s`" % v for v in vals.split("|")))
    default = "`%s`" % default if default else "(empty)"
    print("| %s | %s | %s | %s |" % (sec, key, default, help_.replace("|", "\\|")))
