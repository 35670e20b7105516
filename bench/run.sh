#!/usr/bin/env bash
# run.sh — benchmarks with their baselines, printed side by side.
#   BENCH_SECONDS (default 10) per measurement; BENCH_ONLY="care report"
#   runs only the named sections (healthz store audited audit field care
#   report console exchange cluster).  BENCH_PERF=1 also samples ihosd with
#   perf during the visit read and the audited write and prints where the
#   time goes (docs/testing.md).  Everything listens on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${BENCH_SECONDS:-10}
tmp=$(mktemp -d /tmp/ihos-bench.XXXXXX)
pg=$(mktemp -d /tmp/ihos-bench-pg.XXXXXX) # its own: pg-cluster.sh hands it to the postgres user
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/pg-cluster.sh stop "$pg"
  rm -rf "$tmp" "$pg"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk -v k="$2" '$1==k":" {print $2}' "/proc/$1/status"; }
# With BENCH_PERF=1: sample pid with perf (call graphs) for most of the next
# measurement; perf_report prints the hottest symbols (self time) and the
# share spent in the kernel.
perf_start() { # pid name
  [ "${BENCH_PERF:-}" = 1 ] && command -v perf >/dev/null || return 0
  perf record -q -F 499 -g -p "$1" -o "$tmp/$2.perf" -- sleep $((secs > 4 ? secs - 2 : secs)) >/dev/null 2>&1 &
  pids+=($!)
}
perf_report() { # name
  [ -s "$tmp/$1.perf" ] || return 0
  sleep 1
  echo "  profile ($1): self time by symbol"
  # awk reads all of perf's output (head would cut the pipe under pipefail)
  { perf report -q -i "$tmp/$1.perf" --no-children -F overhead,dso,sym --stdio 2>/dev/null || true; } |
    awk '/^ +[0-9.]+%/ && n++ < 15 {sub(/ +$/, ""); print "   " $0}'
  { perf report -q -i "$tmp/$1.perf" --no-children -F overhead,dso --stdio 2>/dev/null || true; } |
    awk '/^ +[0-9.]+%/ && n++ < 5 {sub(/ +$/, ""); print "    by object:" $0}'
}
wrk_run() { # url [wrk options] -> "rps p50 p99"; WRK_CPUS: the CPUs wrk runs on
  local url=$1; shift
  ${WRK_CPUS:+taskset -c "$WRK_CPUS"} wrk -t2 -c64 -d"${secs}s" --latency "$@" "$url" 2>&1 | awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    END {print rps, p50, p99}'
}
start_ihosd() { # bin dir port log -> pid in $started
  "$1" --dir "$2" --listen "127.0.0.1:$3" 2>"$4" &
  started=$!; pids+=("$started")
  for _ in $(seq 50); do grep -q server.started "$4" 2>/dev/null && break; sleep 0.1; done
}
row() { # label rps p50 p99
  printf "  %-28s %10s req/s   p50 %-8s p99 %-8s\n" "$1" "$2" "$3" "$4"
}
pct() { # what a b target
  awk -v w="$1" -v a="$2" -v b="$3" -v t="$4" 'BEGIN {printf "  %s: %.0f%% (target %s)\n", w, 100*a/b, t}'
}

# ---- /healthz over TLS keep-alive vs nginx --------------------------------
bench_healthz() {
  build/ihos init "$tmp/inst" --listen 127.0.0.1:0 >/dev/null
  local port; port=$(free_port)
  start_ihosd build/ihosd "$tmp/inst" "$port" "$tmp/ihosd.log"
  local ihosd=$started
  sleep 0.5
  local idle rps p50 p99 peak nport nrps np50 np99
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
  row ihosd "$rps" "$p50" "$p99"
  row nginx "$nrps" "$np50" "$np99"
  pct "ihosd / nginx" "$rps" "$nrps" ">= 80%"
  echo "  ihosd RSS: idle $((idle/1024)) MB (target <= 20 MB), peak under load $((peak/1024)) MB"
}

# ---- store group commit ---------------------------------------------------
bench_store() {
  mkdir -p "$tmp/store"
  build/bench/store_bench "$tmp/store" "$secs"
}

# ---- what auditing costs on an audited write endpoint -----------------------
# The same endpoint on the same instance, served by ihosd and by a bench-only
# build whose audit append is stubbed out (make MODE=noaudit).
audited_rps() { # binary -> "rps p50 p99"
  local bin=$1 port; port=$(free_port)
  rm -rf "$tmp/aud"; build/ihos init "$tmp/aud" --listen 127.0.0.1:0 >/dev/null
  start_ihosd "$bin" "$tmp/aud" "$port" "$tmp/aud.log"
  local pid=$started
  local token dep; { read -r token; read -r dep; } < <(python3 bench/session.py "$tmp/aud" "$port" --department)
  if [ "$bin" = build/ihosd ] && [ ! -e "$tmp/audited.perf" ]; then perf_start "$pid" audited; fi
  IHOS_TOKEN=$token IHOS_BODY='{"intro":"bench"}' IHOS_METHOD=PATCH \
    wrk_run "https://127.0.0.1:$port/api/v1/departments/$dep" -s bench/post.lua
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
bench_audited() {
  # Three interleaved runs of each; the medians are compared (the machine is shared).
  : >"$tmp/aud.runs"
  for _ in 1 2 3; do
    echo "with $(audited_rps build/ihosd)" >>"$tmp/aud.runs"
    echo "stub $(audited_rps build/noaudit/ihosd)" >>"$tmp/aud.runs"
  done
  median() { grep "^$1 " "$tmp/aud.runs" | sort -k2 -n | sed -n 2p; }
  local arps ap50 ap99 nrps np50 np99
  read -r _ arps ap50 ap99 < <(median with)
  read -r _ nrps np50 np99 < <(median stub)
  echo "audited write (PATCH /api/v1/departments/ID: a row + audit event), 64 connections, median of 3"
  row "with the journal" "$arps" "$ap50" "$ap99"
  row "append stubbed (bench)" "$nrps" "$np50" "$np99"
  pct "journal / stubbed" "$arps" "$nrps" ">= 80%"
  perf_report audited
}

# ---- audit verification and proofs -------------------------------------------
bench_audit() {
  mkdir -p "$tmp/audit"
  build/bench/audit_bench "$tmp/audit" "${AUDIT_VERIFY_EVENTS:-1000000}" "${AUDIT_PROOF_EVENTS:-10000000}"
}

# ---- field encryption vs openssl speed -----------------------------------------
# A field's seal+open is two passes of the suite's primitives over the value:
#   intl  AES-256-GCM                     baseline 2 x size / speed(aes-256-gcm)
#   gm    SM4-CTR then HMAC-SM3 (EtM)     baseline 2 x (size / speed(sm4-ctr) + size / speed(hmac sm3))
ossl() { # size args... -> bytes/s
  openssl speed -mr -seconds 2 -bytes "$1" "${@:2}" 2>/dev/null | awk -F: '/^\+F:/ {print $4}' | tail -1
}
bench_field() {
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
}

# ---- care: message writes vs pgbench, visit reads, a mixed journey ----------
# The demo hospital on SQLite; a follow-up visit between a demo patient and
# doctor (bench/care_setup.py).  The baseline: a bare local PostgreSQL
# (durable, default settings) inserting the equivalent message row plus an
# audit row per transaction, 64 pgbench clients.
bench_care() {
  build/ihos init "$tmp/care" --demo --listen 127.0.0.1:0 >/dev/null
  local port; port=$(free_port)
  start_ihosd build/ihosd "$tmp/care" "$port" "$tmp/care.log"
  local ihosd=$started base="https://127.0.0.1:$port/api/v1"
  local visit ptok dtok
  read -r visit ptok dtok < <(python3 bench/care_setup.py "$tmp/care" "$port")
  local wrps wp50 wp99 rrps rp50 rp99 mrps mp50 mp99
  read -r wrps wp50 wp99 < <(IHOS_TOKEN=$ptok wrk_run "$base/visits/$visit/messages" -s bench/message.lua)
  perf_start "$ihosd" read
  read -r rrps rp50 rp99 < <(IHOS_TOKEN=$dtok wrk_run "$base/visits/$visit?limit=20" -s bench/read.lua)
  read -r mrps mp50 mp99 < <(IHOS_VISIT=$visit IHOS_PATIENT=$ptok IHOS_DOCTOR=$dtok wrk_run "https://127.0.0.1:$port" \
    -s bench/mixed.lua)
  local peak; peak=$(rss_kb "$ihosd" VmHWM)
  # the same read served by the build whose audit append is stubbed (same
  # instance, same sessions): what the read's durable audit event costs
  kill "$ihosd"; wait "$ihosd" 2>/dev/null || true
  local srps sp50 sp99
  start_ihosd build/noaudit/ihosd "$tmp/care" "$port" "$tmp/care-noaudit.log"
  local stub=$started
  read -r srps sp50 sp99 < <(IHOS_TOKEN=$dtok wrk_run "$base/visits/$visit?limit=20" -s bench/read.lua)
  kill "$stub"; wait "$stub" 2>/dev/null || true

  local conninfo pgtps pglat pgrtps pgrlat
  conninfo=$(scripts/pg-cluster.sh start "$pg")
  psql -q -d "$conninfo" -f bench/pg_message_schema.sql >/dev/null
  local pgbench; pgbench=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/pgbench
  read -r pgtps pglat < <("$pgbench" -n -c 64 -j 2 -T "$secs" -f bench/pg_message.sql "$conninfo" 2>&1 | awk '
    /^latency average/ {lat=$4 $5} /^tps/ {tps=$3} END {printf "%.0f %s\n", tps, lat}')
  read -r pgrtps pgrlat < <("$pgbench" -n -c 64 -j 2 -T "$secs" -f bench/pg_read.sql "$conninfo" 2>&1 | awk '
    /^latency average/ {lat=$4 $5} /^tps/ {tps=$3} END {printf "%.0f %s\n", tps, lat}')
  scripts/pg-cluster.sh stop "$pg"

  echo "care on SQLite, HTTPS keep-alive, 64 connections"
  row "message writes (audited)" "$wrps" "$wp50" "$wp99"
  printf "  %-28s %10s tx/s    avg %s\n" "pgbench message+audit row" "$pgtps" "$pglat"
  awk -v a="$wrps" -v b="$pgtps" 'BEGIN {printf "  writes: target >= 5000/s, p99 <= 50 ms, >= 1.0x pgbench: %.2fx\n", a/b}'
  row "visit + 20 messages" "$rrps" "$rp50" "$rp99"
  row "  the same, append stubbed" "$srps" "$sp50" "$sp99"
  printf "  %-28s %10s tx/s    avg %s\n" "pgbench visit+20+audit row" "$pgrtps" "$pgrlat"
  awk -v a="$rrps" -v s="$srps" -v p="$pgrtps" 'BEGIN {
    printf "  reads: target >= 25000/s; >= 80%% of the stubbed read: %.0f%%; >= 2x pgbench: %.2fx\n", 100*a/s, a/p }'

  row "mixed journey" "$mrps" "$mp50" "$mp99"
  echo "  mixed: target >= 2500/s; ihosd peak RSS over the three runs $((peak/1024)) MB (target <= 64 MB)"
  perf_report read
}

# ---- supervision upload: drain a backlog to the local receiver ---------------
# The platform double (tests/integration/platform_double.py) as the receiver;
# 100,000 drug records queued, drained by the uploader threads with SM4-CBC
# + SM3 per call, 8 of them ([report] workers; the default is 4).  Baseline:
# the receiver's own accept rate (8 clients sending pre-encrypted calls of
# the same size).
bench_report() {
  local n=${REPORT_RECORDS:-100000} batch=50
  build/ihos init "$tmp/rep" --listen 127.0.0.1:0 >/dev/null
  mkdir -p "$tmp/sink" "$tmp/sink2"
  python3 bench/platform_sink.py "$tmp/sink" >"$tmp/sink.out" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$tmp/sink.out" ] && break; sleep 0.1; done
  local sport cert key secret
  read -r sport cert key secret <"$tmp/sink.out"
  python3 - "$tmp/rep" "$sport" "$cert" "$key" "$batch" <<'PY'
import sys
sys.path.insert(0, ".")
from tests.integration.harness import Instance
d, port, cert, key, batch = sys.argv[1:]
i = Instance.existing(d)
for k, v in (("enabled", "true"), ("gateway_url", "https://127.0.0.1:%s/openapi/api" % port), ("app_key", key),
             ("ca_file", cert), ("batch_size", batch), ("workers", "8"), ("organ_id", "12345678901234567X"),
             ("unit_id", "U0001"), ("organ_name", "示例互联网医院")):
    i.set_conf("report", k, v)
PY
  echo "$secret" | build/ihos report set-secret "$tmp/rep" >/dev/null
  local drain max
  drain=$(build/bench/report_bench "$tmp/rep" "$n")
  max=$(python3 bench/platform_sink.py "$tmp/sink2" --max-rate 2000 "$batch")
  echo "supervision upload (Tianjin profile, SM4-CBC + SM3), $n drug records"
  echo "  $drain"
  echo "  receiver's own maximum accept rate: $max records/s (8 clients, $batch per call)"
  local rate; rate=$(sed -n 's/.*: \([0-9]*\) records\/s.*/\1/p' <<<"$drain")
  pct "drain / receiver's maximum" "${rate:-0}" "$max" ">= 80%; and >= 2000 records/s"
}

# ---- the production shape: two nodes behind HAProxy on a synchronous pair ----
# scripts/cluster.sh on 127.0.0.1 (Patroni, etcd, two PostgreSQL with
# synchronous replication, two ihosd on the demo hospital, HAProxy with TLS).
# Message writes through HAProxy vs pgbench inserting the equivalent rows
# (bench/pg_message.sql) on the same primary, synchronous standby and all,
# measured twice: on shared CPUs (the nodes, HAProxy and wrk take CPU from
# the database; pgbench's client takes far less), and in the production
# shape, the database apart from the application: the primary on CPU 0,
# everything else (nodes, HAProxy, standby, Patroni, etcd, wrk, pgbench's
# client) on the others.  Then the primary dies under writes and the gap
# until they succeed again.
bench_cluster() {
  local cdir="$tmp/cluster" cbase=$((21000 + $$ % 500 * 20))
  mkdir -p "$cdir"
  chmod 755 "$tmp"
  cleanup_cluster() { IHOS_CLUSTER_PORT=$cbase scripts/cluster.sh stop "$cdir" >/dev/null 2>&1 || true; }
  trap 'cleanup_cluster; cleanup' EXIT
  IHOS_CLUSTER_DEMO=1 IHOS_CLUSTER_PORT=$cbase IHOS_BIN_DIR=build scripts/cluster.sh start "$cdir" >/dev/null
  local front="https://127.0.0.1:$((cbase + 40))/api/v1/visits" visit ptok dtok
  read -r visit ptok dtok < <(python3 bench/care_setup.py "$cdir/n1" $((cbase + 40)))
  local primary=$((cbase + 20)) pdir=pg1 sdir=pg2
  curl -sf "http://127.0.0.1:$((cbase + 10))/leader" >/dev/null || { primary=$((cbase + 21)); pdir=pg2; sdir=pg1; }
  psql -X -q -h 127.0.0.1 -p "$primary" -U postgres -d postgres -c "CREATE DATABASE pgbench_message" >/dev/null
  psql -X -q -h 127.0.0.1 -p "$primary" -U postgres -d pgbench_message -f bench/pg_message_schema.sql >/dev/null
  local pgbench; pgbench=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/pgbench
  pgbench_run() { # [taskset -c N] -> "tps latency"
    "$@" "$pgbench" -n -c 64 -j 2 -T "$secs" -f bench/pg_message.sql \
      "host=127.0.0.1 port=$primary user=postgres dbname=pgbench_message" 2>&1 | awk '
      /^latency average/ {lat=$4 $5} /^tps/ {tps=$3} END {printf "%.0f %s\n", tps, lat}'
  }
  local wrps wp50 wp99 pgtps pglat
  read -r wrps wp50 wp99 < <(IHOS_TOKEN=$ptok wrk_run "$front/$visit/messages" -s bench/message.lua)
  read -r pgtps pglat < <(pgbench_run)
  # The database on a CPU of its own (new backends inherit the postmaster's).
  local ncpu app_cpus="" swrps swp50 swp99 spgtps spglat
  ncpu=$(nproc)
  if [ "$ncpu" -ge 2 ]; then
    app_cpus=$([ "$ncpu" -eq 2 ] && echo 1 || echo "1-$((ncpu - 1))")
    local pm sm p
    pm=$(head -1 "$cdir/$pdir/postmaster.pid")
    sm=$(head -1 "$cdir/$sdir/postmaster.pid")
    for p in "$pm" $(pgrep -P "$pm"); do taskset -a -p -c 0 "$p" >/dev/null 2>&1 || true; done
    for p in "$sm" $(pgrep -P "$sm") $(cat "$cdir"/pids/{ihosd1,ihosd2,haproxy,etcd,patroni1,patroni2}.pid 2>/dev/null); do
      taskset -a -p -c "$app_cpus" "$p" >/dev/null 2>&1 || true
    done
    read -r swrps swp50 swp99 < <(IHOS_TOKEN=$ptok WRK_CPUS=$app_cpus wrk_run "$front/$visit/messages" -s bench/message.lua)
    read -r spgtps spglat < <(pgbench_run taskset -c "$app_cpus")
  fi
  local gap okn refused
  read -r gap okn refused < <(python3 bench/failover.py "$cdir" "$cbase" 40)
  cleanup_cluster
  trap cleanup EXIT
  echo "cluster: 2 ihosd behind HAProxy (TLS), Patroni primary + synchronous standby, 64 connections"
  echo "  shared CPUs:"
  row "message writes (audited)" "$wrps" "$wp50" "$wp99"
  printf "  %-28s %10s tx/s    avg %s\n" "pgbench message+audit row" "$pgtps" "$pglat"
  awk -v a="$wrps" -v b="$pgtps" 'BEGIN {printf "  writes on shared CPUs: %.2fx pgbench\n", a/b}'
  if [ -n "$app_cpus" ]; then
    echo "  the database apart from the application (primary on CPU 0; the rest on CPU $app_cpus):"
    row "message writes (audited)" "$swrps" "$swp50" "$swp99"
    printf "  %-28s %10s tx/s    avg %s\n" "pgbench message+audit row" "$spgtps" "$spglat"
    awk -v a="$swrps" -v b="$spgtps" 'BEGIN {printf "  writes: target >= 1.0x pgbench on the same pair: %.2fx\n", a/b}'
  else
    echo "  (one CPU: the database cannot be set apart; no target line)"
  fi
  echo "  failover: writes succeeded again ${gap} s after the primary died (target <= 30 s; $okn ok, $refused refused)"
}

# ---- the console's first load: bytes transferred, gzip vs none ----------------
bench_console() {
  build/ihos init "$tmp/console" --listen 127.0.0.1:0 >/dev/null
  local port; port=$(free_port)
  start_ihosd build/ihosd "$tmp/console" "$port" "$tmp/console.log"
  local app app0 h5 h50
  read -r app app0 h5 h50 < <(python3 bench/console_size.py "$tmp/console" "$port")
  kill "$started"
  echo "console first load (page + assets, headers included; baseline: the same without compression)"
  awk -v a="$app" -v b="$app0" 'BEGIN {printf "  %-28s %8.1f KB   uncompressed %8.1f KB   (target <= 200 KB)\n", "staff console /app/", a/1024, b/1024}'
  awk -v a="$h5" -v b="$h50" 'BEGIN {printf "  %-28s %8.1f KB   uncompressed %8.1f KB   (target <= 120 KB)\n", "patients /h5/", a/1024, b/1024}'
}

# ---- HL7 inbound over MLLP, ACKed after the commit, vs a receiver that only ACKs ----
bench_exchange() {
  build/ihos init "$tmp/hl7" --listen 127.0.0.1:0 >/dev/null
  local port mport aport; port=$(free_port); mport=$(free_port); aport=$(free_port)
  cat >"$tmp/hl7/exchange.conf" <<HL7
[peer his]
listen = 127.0.0.1:$mport
tls = false
charset = UTF-8
version = 2.4
sending_application = HIS
sending_facility = HOSP
receiving_application = IHOS
receiving_facility = IH
accept = ADT^A04,ORU^R01
HL7
  chmod 600 "$tmp/hl7/exchange.conf"
  build/ihos trust record "$tmp/hl7" >/dev/null
  start_ihosd build/ihosd "$tmp/hl7" "$port" "$tmp/hl7.log"
  local ih=$started
  for _ in $(seq 50); do grep -q exchange.listening "$tmp/hl7.log" && break; sleep 0.1; done
  local rate bad base
  # steady state, not a new instance's first seconds (its database and WAL
  # files still growing: every fsync then also writes the file's metadata)
  python3 bench/hl7_inbound.py send "$mport" 5 4 >/dev/null
  read -r rate bad < <(python3 bench/hl7_inbound.py send "$mport" "$secs" 4)
  kill "$ih"
  python3 bench/hl7_inbound.py ackonly "$aport" & pids+=($!)
  local ack=$!
  sleep 0.3
  python3 bench/hl7_inbound.py send "$aport" 2 4 >/dev/null
  read -r base _ < <(python3 bench/hl7_inbound.py send "$aport" "$secs" 4)
  kill "$ack"
  echo "HL7 inbound over MLLP (ADT^A04, 4 connections, each message committed then ACKed; SQLite; after 5 s of warm-up)"
  printf "  %-28s %10s msg/s   (%s not AA)\n" "ihosd" "$rate" "$bad"
  printf "  %-28s %10s msg/s\n" "receiver that only ACKs" "$base"
  echo "  target: >= 3000 msg/s"

  # outbound: the sender drains a backlog to a receiver that only ACKs;
  # baseline: one plain client sending to the same receiver, storing nothing
  build/ihos init "$tmp/hl7out" --listen 127.0.0.1:0 >/dev/null
  local oport; oport=$(free_port)
  cat >"$tmp/hl7out/exchange.conf" <<HL7
[peer his]
address = 127.0.0.1:$oport
tls = false
charset = UTF-8
version = 2.5
sending_application = HIS
sending_facility = HOSP
receiving_application = IHOS
receiving_facility = IH
send = OML^O21
HL7
  chmod 600 "$tmp/hl7out/exchange.conf"
  python3 bench/hl7_inbound.py ackonly "$oport" & pids+=($!)
  ack=$!
  sleep 0.3
  local drain one
  drain=$(build/bench/hl7_out_bench "$tmp/hl7out" 20000)
  read -r one _ < <(python3 bench/hl7_inbound.py send "$oport" "$secs" 1)
  kill "$ack"
  echo "HL7 outbound over MLLP (OML^O21 from the outbox, one connection, ACK awaited per message; SQLite)"
  printf "  %-28s %s\n" "ihos sender" "$drain"
  printf "  %-28s %10s msg/s\n" "plain client, same receiver" "$one"
  echo "  target: >= 2000 msg/s"
}

echo "ihos benchmarks on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
for s in healthz store audited audit field care report console exchange cluster; do
  if [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $s "* ]]; then
    echo
    "bench_$s"
  fi
done
