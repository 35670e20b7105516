#!/usr/bin/env bash
# run.sh regress        replay every seed corpus once (make test)
# run.sh fuzz SECONDS   fuzz each target for SECONDS (make fuzz), growing a
#                       working corpus in build/fuzz/corpus-<target>
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-regress}; secs=${2:-60}
make --no-print-directory MODE=fuzz fuzzers >/dev/null
rc=0
for src in fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  bin=build/fuzz/$name
  seeds=fuzz/corpus/${name#fuzz_}
  if [ "$mode" = regress ]; then
    if ! out=$("$bin" -runs=0 "$seeds" 2>&1); then echo "$out" | tail -30; rc=1; fi
    echo "  $name: $(ls "$seeds" | wc -l) seeds replayed"
  else
    work=build/fuzz/corpus-${name#fuzz_}
    mkdir -p "$work"
    echo "== fuzzing $name for ${secs}s"
    "$bin" -max_total_time="$secs" -max_len=8192 -print_final_stats=1 "$work" "$seeds" 2>&1 \
      | grep -E 'stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Done' || true
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  fi
done
exit $rc
