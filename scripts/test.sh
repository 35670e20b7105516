#!/usr/bin/env bash
# test.sh — run every test against the sanitizer build (build/san):
# unit tests (both store backends), fuzz-corpus regression, integration
# tests over HTTPS.  Starts and stops its own PostgreSQL cluster.
set -uo pipefail
cd "$(dirname "$0")/.."
B=build/san
tmp=$(mktemp -d /tmp/ihos-test.XXXXXX)
chmod 755 "$tmp"
cleanup() { scripts/pg-cluster.sh stop "$tmp/pg"; rm -rf "$tmp"; }
trap cleanup EXIT

IHOS_TEST_PG=$(scripts/pg-cluster.sh start "$tmp/pg" fast) || { echo "test: cannot start PostgreSQL" >&2; exit 1; }
export IHOS_TEST_PG
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TMPDIR="$tmp"

failed=()
for t in "$B"/tests/test_*; do
  [[ -x "$t" && "$t" != *.d ]] || continue
  echo "== unit: $(basename "$t")"
  "$t" || failed+=("$(basename "$t")")
done

echo "== fuzz corpus regression"
fuzz/run.sh regress || failed+=("fuzz-regression")

echo "== integration"
# Debian's interpreter: python3-cryptography (the platform double's SM4) is installed for it
py=/usr/bin/python3
[ -x "$py" ] || py=python3
# (tests/integration/run.py: unittest discovery, and each test's time, then the twenty slowest)
IHOS_BIN="$PWD/$B" "$py" -m tests.integration.run 2>&1 || failed+=("integration")

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "ALL TESTS PASSED"
