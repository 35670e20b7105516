#!/usr/bin/env bash
# run.sh — benchmarks with their baselines, printed side by side.
#   BENCH_SECONDS (default 10) per measurement.  Everything listens on
#   127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${BENCH_SECONDS:-10}
tmp=$(mktemp -d /tmp/ihos-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk -v k="$2" '$1==k":" {print $2}' "/proc/$1/status"; }
wrk_run() { # url -> "rps p50 p99"
  wrk -t2 -c64 -d"${secs}s" --latency "$1" 2>&1 | awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    END {print rps, p50, p99}'
}

echo "ihos benchmarks on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo

# ---- /healthz over TLS keep-alive vs nginx --------------------------------
build/ihos init "$tmp/inst" --listen 127.0.0.1:0 >/dev/null
port=$(free_port)
build/ihosd --dir "$tmp/inst" --listen "127.0.0.1:$port" 2>"$tmp/ihosd.log" &
ihosd=$!; pids+=("$ihosd")
for _ in $(seq 50); do grep -q server.started "$tmp/ihosd.log" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
idle=$(rss_kb "$ihosd" VmRSS)
read -r rps p50 p99 < <(wrk_run "https://127.0.0.1:$port/healthz")
peak=$(rss_kb "$ihosd" VmHWM)

nport=$(free_port)
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<NGX
worker_processes $(nproc); daemon off; pid $tmp/nginx/nginx.pid; error_log $tmp/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  server {
    listen 127.0.0.1:$nport ssl;
    ssl_certificate $tmp/inst/keys/tls.crt; ssl_certificate_key $tmp/inst/keys/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { default_type application/json; return 200 '{"status":"ok"}'; }
  }
}
NGX
nginx -c "$tmp/nginx/nginx.conf" &
pids+=($!)
sleep 1
read -r nrps np50 np99 < <(wrk_run "https://127.0.0.1:$nport/healthz")

echo "GET /healthz, TLS keep-alive, wrk -t2 -c64 -d${secs}s (same ECDSA P-256 certificate)"
printf "  %-10s %10s req/s   p50 %-8s p99 %-8s\n" ihosd "$rps" "$p50" "$p99"
printf "  %-10s %10s req/s   p50 %-8s p99 %-8s\n" nginx "$nrps" "$np50" "$np99"
awk -v a="$rps" -v b="$nrps" 'BEGIN {printf "  ihosd / nginx: %.0f%% (target >= 50%%)\n", 100*a/b}'
echo "  ihosd RSS: idle $((idle/1024)) MB (target <= 20 MB), peak under load $((peak/1024)) MB"
echo

# ---- store group commit ---------------------------------------------------
mkdir -p "$tmp/store"
build/bench/store_bench "$tmp/store" "$secs"
echo

# ---- what auditing costs on an audited write endpoint -----------------------
# The same endpoint on the same instance, served by ihosd and by a bench-only
# build whose audit append is stubbed out (make MODE=noaudit).
audited_rps() { # binary -> "rps p50 p99"
  local bin=$1 port; port=$(free_port)
  rm -rf "$tmp/aud"; build/ihos init "$tmp/aud" --listen 127.0.0.1:0 >/dev/null
  "$bin" --dir "$tmp/aud" --listen "127.0.0.1:$port" 2>"$tmp/aud.log" &
  local pid=$!; pids+=("$pid")
  for _ in $(seq 50); do grep -q server.started "$tmp/aud.log" 2>/dev/null && break; sleep 0.1; done
  local token; token=$(python3 bench/session.py "$tmp/aud" "$port")
  IHOS_TOKEN=$token wrk -t2 -c64 -d"${secs}s" --latency -s bench/post.lua "https://127.0.0.1:$port/api/v1/me/totp" 2>&1 |
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print rps, p50, p99}'
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
# Three interleaved runs of each; the medians are compared (the machine is shared).
: >"$tmp/aud.runs"
for round in 1 2 3; do
  echo "with $(audited_rps build/ihosd)" >>"$tmp/aud.runs"
  echo "stub $(audited_rps build/noaudit/ihosd)" >>"$tmp/aud.runs"
done
median() { grep "^$1 " "$tmp/aud.runs" | sort -k2 -n | sed -n 2p; }
read -r _ arps ap50 ap99 < <(median with)
read -r _ nrps np50 np99 < <(median stub)
echo "audited write (POST /api/v1/me/totp: account row + audit event), 64 connections, median of 3"
printf "  %-24s %10s req/s   p50 %-8s p99 %-8s\n" "with the journal" "$arps" "$ap50" "$ap99"
printf "  %-24s %10s req/s   p50 %-8s p99 %-8s\n" "append stubbed (bench)" "$nrps" "$np50" "$np99"
awk -v a="$arps" -v b="$nrps" 'BEGIN {printf "  journal / stubbed: %.0f%% (target >= 80%%)\n", 100*a/b}'
echo

# ---- audit verification and proofs -------------------------------------------
mkdir -p "$tmp/audit"
build/bench/audit_bench "$tmp/audit" "${AUDIT_VERIFY_EVENTS:-1000000}" "${AUDIT_PROOF_EVENTS:-10000000}"
echo

# ---- field encryption vs openssl speed -----------------------------------------
# A field's seal+open is two passes of the suite's primitives over the value:
#   intl  AES-256-GCM                     baseline 2 x size / speed(aes-256-gcm)
#   gm    SM4-CTR then HMAC-SM3 (EtM)     baseline 2 x (size / speed(sm4-ctr) + size / speed(hmac sm3))
ossl() { # size args... -> bytes/s
  openssl speed -mr -seconds 2 -bytes "$1" "${@:2}" 2>/dev/null | awk -F: '/^\+F:/ {print $4}' | tail -1
}
echo "field encryption, seal + open of one value, one core (ns per value; target for 4 KiB: within 2x of openssl speed)"
build/bench/field_bench 3 | while read -r _ suite size ns; do
  if [ "$suite" = intl ]; then
    base=$(awk -v s="$size" -v a="$(ossl "$size" -evp aes-256-gcm)" 'BEGIN {printf "%.1f", 2e9*s/a}')
    what="2 x AES-256-GCM"
  else
    base=$(awk -v s="$size" -v c="$(ossl "$size" -evp sm4-ctr)" -v h="$(ossl "$size" -hmac sm3)" \
      'BEGIN {printf "%.1f", 2e9*(s/c + s/h)}')
    what="2 x (SM4-CTR + HMAC-SM3)"
  fi
  awk -v su="$suite" -v sz="$size" -v ns="$ns" -v b="$base" -v w="$what" 'BEGIN {
    printf "  %-5s %5d B   ihos %9.0f ns   openssl speed %9.0f ns (%s)   ratio %.2fx\n", su, sz, ns, b, w, ns/b }'
done
