#!/usr/bin/env bash
# cluster.sh start DIR | stop DIR | status DIR | restart DIR N
#
# The production shape on one machine, on 127.0.0.1 only (docs/deployment.md
# says how the same pieces go on real servers): etcd; two PostgreSQL servers
# managed by Patroni, one primary and one synchronous standby, WAL archived by
# pgBackRest; two ihosd nodes on that database; HAProxy in front of them,
# terminating TLS and passing X-Forwarded-For.  `make cluster` starts it and
# waits; the cluster test starts it, kills pieces of it and stops it.
#
# Ports: IHOS_CLUSTER_PORT (default 15400) + 0 etcd client, +1 etcd peer,
# +10/+11 Patroni REST, +20/+21 PostgreSQL, +30/+31 ihosd, +40 HAProxy.
# IHOS_BIN_DIR: where ihos and ihosd are (default build).  Everything runs
# in the background; pids are in DIR/pids, logs in DIR/*.log.  `restart DIR N`
# restarts ihosd node N (a rolling restart after a configuration change:
# HAProxy sends the traffic to the other node meanwhile).
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?start|stop|status}
dir=${2:?DIR}
base=${IHOS_CLUSTER_PORT:-15400}
bin=$(realpath "${IHOS_BIN_DIR:-build}")
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
etcd_c=$((base)) etcd_p=$((base + 1))
rest1=$((base + 10)) rest2=$((base + 11))
pg1=$((base + 20)) pg2=$((base + 21))
ih1=$((base + 30)) ih2=$((base + 31))
front=$((base + 40))
conninfo="host=127.0.0.1,127.0.0.1 port=$pg1,$pg2 user=ihos dbname=ihos target_session_attrs=read-write connect_timeout=2"
as_pg=()
[ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)

say() { echo "cluster: $*" >&2; }
die() { say "$*"; exit 1; }

# wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds
wait_for() {
  local t=$1 what=$2
  shift 2
  for _ in $(seq $((t * 4))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  die "timed out waiting for $what"
}

# run NAME COMMAND...: in the background, logged, its pid kept
run() {
  local name=$1
  shift
  nohup "$@" >>"$dir/$name.log" 2>&1 &
  echo $! >"$dir/pids/$name.pid"
}

patroni_yml() { # N REST PG
  local n=$1 rest=$2 port=$3
  cat >"$dir/patroni$n.yml" <<EOF
scope: ihos
name: pg$n
restapi:
  listen: 127.0.0.1:$rest
  connect_address: 127.0.0.1:$rest
etcd:
  host: 127.0.0.1:$etcd_c
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        wal_log_hints: "on"
        max_connections: 200
        archive_mode: "on"
        archive_command: "pgbackrest --config=$dir/pgbackrest.conf --stanza=ihos archive-push %p"
        archive_timeout: 10
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:$port
  connect_address: 127.0.0.1:$port
  data_dir: $dir/pg$n
  bin_dir: $pgbin
  pgpass: $dir/pgpass$n
  authentication:
    replication:
      username: replicator
      password: replicator
    superuser:
      username: postgres
      password: postgres
  parameters:
    unix_socket_directories: $dir
tags:
  nofailover: false
  noloadbalance: false
EOF
}

# start_node N: ihosd node N, until it answers
start_node() {
  local n=$1 port
  port=$([ "$1" = 1 ] && echo $ih1 || echo $ih2)
  run ihosd$n "$bin/ihosd" --dir "$dir/n$n" --listen "127.0.0.1:$port"
  wait_for 60 "ihosd node $n" curl -sf --cacert "$dir/n1/keys/tls.crt" "https://127.0.0.1:$port/healthz"
}

# stop_pid NAME: SIGTERM, then SIGKILL after 30 s
stop_pid() {
  local f="$dir/pids/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}

start() {
  [ -x "$pgbin/initdb" ] || die "PostgreSQL server binaries not found"
  for t in etcd patroni haproxy pgbackrest; do command -v $t >/dev/null || die "$t is not installed"; done
  [ -e "$dir/pids" ] && die "$dir holds a cluster already (stop it first)"
  mkdir -p "$dir/pids" "$dir/backrest"
  dir=$(realpath "$dir")
  [ ${#as_pg[@]} -gt 0 ] && chown postgres: "$dir" "$dir/backrest"
  chmod 755 "$dir"
  cat >"$dir/pgbackrest.conf" <<EOF
[global]
repo1-path=$dir/backrest
compress-type=lz4
repo1-retention-full=2
log-path=$dir/backrest
lock-path=$dir/backrest
spool-path=$dir/backrest

[ihos]
pg1-path=$dir/pg1
pg1-port=$pg1
pg1-socket-path=$dir
pg2-path=$dir/pg2
pg2-port=$pg2
pg2-socket-path=$dir
EOF
  say "etcd on 127.0.0.1:$etcd_c"
  run etcd etcd --name e1 --data-dir "$dir/etcd" --enable-v2=true \
    --listen-client-urls "http://127.0.0.1:$etcd_c" --advertise-client-urls "http://127.0.0.1:$etcd_c" \
    --listen-peer-urls "http://127.0.0.1:$etcd_p" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_p" \
    --initial-cluster "e1=http://127.0.0.1:$etcd_p"
  wait_for 30 etcd curl -sf "http://127.0.0.1:$etcd_c/health"
  patroni_yml 1 $rest1 $pg1
  patroni_yml 2 $rest2 $pg2
  [ ${#as_pg[@]} -gt 0 ] && chown postgres: "$dir"/patroni*.yml
  say "Patroni: PostgreSQL on 127.0.0.1:$pg1 and :$pg2 (synchronous replication)"
  for n in 1 2; do
    nohup "${as_pg[@]}" patroni "$dir/patroni$n.yml" >"$dir/patroni$n.log" 2>&1 &
    echo $! >"$dir/pids/patroni$n.pid"
    [ $n = 1 ] && wait_for 90 "a leader" curl -sf "http://127.0.0.1:$rest1/leader"
  done
  wait_for 120 "a synchronous standby" curl -sf "http://127.0.0.1:$rest2/sync"
  "${as_pg[@]}" pgbackrest --config="$dir/pgbackrest.conf" --stanza=ihos stanza-create >"$dir/backrest.log" 2>&1 \
    || say "pgbackrest stanza-create failed (see $dir/backrest.log)"
  # pg_monitor: the self-check reads pg_stat_replication and pg_stat_archiver
  psql -X -q -h 127.0.0.1 -p $pg1 -U postgres -d postgres -c "CREATE ROLE ihos LOGIN" \
    -c "GRANT pg_monitor TO ihos" -c "CREATE DATABASE ihos OWNER ihos" >/dev/null
  say "ihosd nodes on 127.0.0.1:$ih1 and :$ih2"
  "$bin/ihos" init "$dir/n1" --store postgres --pg-url "$conninfo" --listen "127.0.0.1:$ih1" \
    --name "ihos cluster" ${IHOS_CLUSTER_DEMO:+--demo} >"$dir/init.log"
  sed -i "s|^trusted_proxies = .*|trusted_proxies = 127.0.0.1/32|" "$dir/n1/ihos.conf"
  cp -a "$dir/n1" "$dir/n2" # the same instance: keys, configuration (docs/deployment.md)
  for n in 1 2; do
    sed -i "s|^node_name = .*|node_name = node$n|" "$dir/n$n/ihos.conf"
    "$bin/ihos" trust record "$dir/n$n" >/dev/null # this node's configuration, as the operator set it
    start_node $n
  done
  cat "$dir/n1/keys/tls.crt" "$dir/n1/keys/tls.key" >"$dir/haproxy.pem"
  chmod 600 "$dir/haproxy.pem"
  cat >"$dir/haproxy.cfg" <<EOF
global
  maxconn 4000
defaults
  mode http
  option forwardfor
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout http-request 15s
  retries 2
  option redispatch
frontend https
  bind 127.0.0.1:$front ssl crt $dir/haproxy.pem alpn http/1.1
  default_backend ihosd
backend ihosd
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server ssl verify required ca-file $dir/n1/keys/tls.crt check inter 1s fall 2 rise 1
  server node1 127.0.0.1:$ih1
  server node2 127.0.0.1:$ih2
EOF
  run haproxy haproxy -db -f "$dir/haproxy.cfg"
  wait_for 30 HAProxy curl -sf --cacert "$dir/n1/keys/tls.crt" "https://127.0.0.1:$front/healthz"
  echo "https://127.0.0.1:$front"
}

stop() {
  [ -d "$dir/pids" ] || return 0
  for p in haproxy ihosd1 ihosd2 patroni2 patroni1 etcd; do stop_pid $p; done
  # PostgreSQL servers a killed Patroni left behind
  for n in 1 2; do
    [ -f "$dir/pg$n/postmaster.pid" ] && "${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/pg$n" -m immediate -w stop \
      >/dev/null 2>&1 || true
  done
  rmdir "$dir/pids" 2>/dev/null || true
}

status() {
  for n in 1 2; do
    rest=$([ $n = 1 ] && echo $rest1 || echo $rest2)
    echo "pg$n: $(curl -s "http://127.0.0.1:$rest/patroni" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("role"), d.get("state"))' 2>/dev/null || echo down)"
  done
}

restart() {
  local n=${1:?node number}
  [ "$n" = 1 ] || [ "$n" = 2 ] || die "node is 1 or 2"
  stop_pid ihosd$n
  start_node "$n"
}

case "$cmd" in
start) start ;;
restart) restart "${3:-}" ;;
stop) stop ;;
status) status ;;
*) die "usage: cluster.sh start|stop|status DIR | restart DIR N" ;;
esac
