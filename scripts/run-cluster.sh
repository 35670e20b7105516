#!/usr/bin/env bash
# run-cluster.sh — `make cluster`: the production shape on 127.0.0.1, from
# Debian's packages (etcd, Patroni, PostgreSQL, pgBackRest, HAProxy) and this
# build's ihosd: two PostgreSQL servers (primary + synchronous standby), two
# ihosd nodes on the demo hospital, HAProxy in front.  Runs until Ctrl-C,
# then stops everything cleanly.  Starts afresh each time in
# IHOS_CLUSTER_DIR (default /tmp/ihos-cluster: PostgreSQL runs as the
# postgres user, which must reach it); IHOS_CLUSTER_PORT moves the ports.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${IHOS_CLUSTER_DIR:-/tmp/ihos-cluster}
base=${IHOS_CLUSTER_PORT:-15400}
[ -d "$dir/pids" ] && { echo "cluster: $dir is running (scripts/cluster.sh stop $dir)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir"
export IHOS_CLUSTER_DEMO=1 IHOS_CLUSTER_PORT=$base IHOS_BIN_DIR=${IHOS_BIN_DIR:-build}
stop() {
  trap - INT TERM EXIT
  echo
  echo "cluster: stopping (HAProxy, both ihosd nodes, Patroni and PostgreSQL, etcd)"
  scripts/cluster.sh stop "$dir"
  echo "cluster: stopped; logs stay in $dir"
  exit 0
}
trap stop INT TERM EXIT
url=$(scripts/cluster.sh start "$dir")
cat <<MSG

  ihos cluster (demo hospital, synthetic people only) in $dir
  URL                 $url   (HAProxy; TLS to two ihosd nodes)
  check it            curl --cacert $dir/n1/keys/tls.crt $url/healthz
  demo accounts       $dir/n1/demo-credentials.json
  administrators      $dir/n1/initial-credentials
  nodes               https://127.0.0.1:$((base + 30)) and :$((base + 31)) (logs: $dir/ihosd1.log, ihosd2.log)
  PostgreSQL          primary and synchronous standby on 127.0.0.1:$((base + 20)) and :$((base + 21));
                      who leads: scripts/cluster.sh status $dir
  WAL archive         pgBackRest repository $dir/backrest
  stop                Ctrl-C

MSG
while :; do sleep 3600 & wait $! || true; done
