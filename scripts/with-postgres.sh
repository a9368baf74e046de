#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL cluster: initdb in a temporary
# directory, a free port, torn down afterwards. DATABASE_URL points at it.
# PostgreSQL refuses to run as root, so as root the server runs as user "postgres".
set -euo pipefail
bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$bindir" ]; then
  echo "PostgreSQL server binaries not found: install Debian's 'postgresql' package" >&2
  exit 1
fi
tmp="$(mktemp -d /tmp/kiban-pg.XXXXXX)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
as_pg=()
if [ "$(id -u)" = "0" ]; then
  chown postgres "$tmp"
  as_pg=(runuser -u postgres --)
fi
cleanup() {
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
"${as_pg[@]}" "$bindir/initdb" -D "$tmp/data" -A trust -U kiban -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
"${as_pg[@]}" "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -o \
  "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=${KIBAN_PG_SHARED_BUFFERS:-256MB} -c work_mem=${KIBAN_PG_WORK_MEM:-64MB} -c maintenance_work_mem=512MB -c max_connections=200 -c max_wal_size=4GB" \
  start >/dev/null
"${as_pg[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U kiban kiban
export DATABASE_URL="postgres://kiban@127.0.0.1:$port/kiban"
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on port $port"
"$@"
