#!/usr/bin/env bash
# gen-wordlist.sh FILE NAME — emit C: a sorted array NAME of the non-comment
# lines of FILE (bytes compared with strcmp) and NAME_count.
set -euo pipefail
file=$1; name=$2
echo "/* Generated from $file by scripts/gen-wordlist.sh; do not edit. */"
echo "#include <stddef.h>"
echo "const char *const ${name}[] = {"
grep -v '^#' "$file" | awk 'NF' | LC_ALL=C sort -u | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/",/'
echo "};"
echo "const size_t ${name}_count = sizeof ${name} / sizeof ${name}[0];"
