#!/usr/bin/env bash
# build-deb.sh — the Debian package, built the standard way from a copy of
# the source tree (what git tracks, plus new files not ignored) in
# build/deb/ihos-VERSION: dpkg-buildpackage -b, then lintian, which must
# report nothing.  Prints the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(dpkg-parsechangelog -S Version)
out=$PWD/build/deb
src=$out/ihos-$version
rm -rf "$out"
mkdir -p "$src"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -z -co --exclude-standard | xargs -0 -I{} find {} -maxdepth 0 -print0 2>/dev/null |
    tar --null -T - -cf - | tar -xf - -C "$src"
else
  tar --exclude=./build --exclude=./demo -cf - . | tar -xf - -C "$src"
fi
(cd "$src" && dpkg-buildpackage -us -uc -b -j"$(nproc)" >"$out/build.log" 2>&1) || {
  tail -40 "$out/build.log" >&2
  echo "deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
  exit 1
}
changes=$(ls "$out"/ihos_"$version"_*.changes)
if ! lintian --fail-on error,warning --suppress-tags-from-file /dev/null "$changes" >"$out/lintian.log" 2>&1 ||
   grep -qE '^[EW]: ' "$out/lintian.log"; then
  cat "$out/lintian.log" >&2
  echo "deb: lintian is not clean" >&2
  exit 1
fi
ls "$out"/ihos_"$version"_*.deb
