#!/usr/bin/env bash
# pg-cluster.sh start DIR [fast] | stop DIR
#
# A throwaway PostgreSQL cluster for tests and benches: data in DIR/data,
# listening only on a Unix socket in DIR (listen_addresses = ''), trust auth
# for the local user `postgres`.  `start` prints the libpq conninfo.  As
# root, the server runs as the `postgres` system user (initdb refuses root).
# `fast` turns fsync off (tests; never benches).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?DIR}; mode=${3:-}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "pg-cluster: PostgreSQL server binaries not found" >&2; exit 1; }
as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi

case "$cmd" in
start)
  mkdir -p "$dir"
  [ ${#as_pg[@]} -gt 0 ] && chown postgres: "$dir" && chmod 700 "$dir"
  "${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  opts="-c listen_addresses='' -k $dir -p 5432 -c max_connections=200 -c shared_buffers=128MB"
  [ "$mode" = fast ] && opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -o "$opts" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  echo "host=$dir port=5432 user=postgres dbname=postgres"
  ;;
stop)
  [ -d "$dir/data" ] && "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  ;;
*) echo "usage: pg-cluster.sh start|stop DIR [fast]" >&2; exit 2 ;;
esac
