#!/usr/bin/env bash
# Local PostgreSQL for turnin: a private cluster under .data/postgres on a fixed port,
# started from the distribution's binaries (installed with apt when missing).
#
#   infra/postgres.sh start    initialise (first time) and start; prints the URL
#   infra/postgres.sh stop     stop the cluster
#   infra/postgres.sh status   exit 0 when it accepts connections
#   infra/postgres.sh url      print the connection URL
#   infra/postgres.sh clean-test-dbs   drop databases left by earlier test runs
#   infra/postgres.sh restart          stop at once (as a crash would) and start again
#   infra/postgres.sh destroy          stop and delete the cluster's data directory
#
# Settings: TURNIN_PG_PORT (default 55432), TURNIN_DATA_DIR (default <repo>/.data).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data_dir=${TURNIN_DATA_DIR:-$root/.data}
pgdata=$data_dir/postgres
port=${TURNIN_PG_PORT:-55432}
user=turnin
db=turnin
url="postgres://$user@127.0.0.1:$port/$db?sslmode=disable"

log() { printf 'postgres: %s\n' "$*" >&2; }

# As root the server runs as the 'postgres' user, which may not be able to reach a checkout
# under a private home directory: then the cluster lives under /var/tmp, one per checkout.
if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$root"; then
  pgdata=/var/tmp/turnin-postgres-$(printf '%s' "$data_dir" | md5sum | cut -c1-12)
fi

find_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}

ensure_installed() {
  if find_bin >/dev/null; then return 0; fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "PostgreSQL server binaries not found; install PostgreSQL >= 15 (e.g. 'sudo apt-get install postgresql') and retry"
    exit 1
  fi
  log "installing PostgreSQL with apt-get (first run only)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  find_bin >/dev/null || { log "apt-get installed postgresql but pg_ctl is still missing"; exit 1; }
}

# as_owner runs a command as the cluster's owner: PostgreSQL refuses to run as root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    # From /, which the owner can always enter (the checkout may be private).
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

ready() {
  local bin; bin=$(find_bin) || return 1
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -d "$db" -U "$user"
}

start() {
  ensure_installed
  local bin; bin=$(find_bin)
  if ready; then echo "$url"; return 0; fi
  mkdir -p "$data_dir"
  if [ ! -s "$pgdata/PG_VERSION" ]; then
    log "initialising a new cluster in $pgdata"
    mkdir -p "$pgdata"
    if [ "$(id -u)" -eq 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
      chown postgres "$pgdata"
      chmod 700 "$pgdata"
      # The owner must be able to reach the data directory through every parent.
      case "$pgdata" in "$data_dir"/*) chmod o+x "$data_dir" ;; esac
    fi
    as_owner "$bin/initdb" -D "$pgdata" -U "$user" --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$pgdata/postgresql.conf" <<CONF
# turnin local development settings
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
log_min_messages = warning
CONF
  fi
  log "starting on 127.0.0.1:$port"
  as_owner "$bin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 start >/dev/null || {
    log "start failed; last lines of $pgdata/server.log:"; tail -20 "$pgdata/server.log" >&2; exit 1; }
  if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U "$user" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$user" "$db"
  fi
  echo "$url"
}

stop() {
  local bin; bin=$(find_bin) || return 0
  [ -s "$pgdata/PG_VERSION" ] || return 0
  as_owner "$bin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true
  log "stopped"
}

# restart stops the server without a checkpoint (recovery runs at the next start, as
# after a crash) and starts it again.
restart() {
  local bin; bin=$(find_bin)
  as_owner "$bin/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  start >/dev/null
}

# clean_test_dbs drops the databases earlier test runs left behind.
clean_test_dbs() {
  local bin; bin=$(find_bin)
  local dbs
  dbs=$("$bin/psql" -h 127.0.0.1 -p "$port" -U "$user" -d postgres -tAc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'turnin\_test\_%' OR datname LIKE 'turnin\_tmpl\_%'")
  for d in $dbs; do
    "$bin/psql" -q -h 127.0.0.1 -p "$port" -U "$user" -d postgres -c "DROP DATABASE IF EXISTS \"$d\" WITH (FORCE)" >/dev/null
  done
}

case "${1:-}" in
  start) start ;;
  clean-test-dbs) clean_test_dbs ;;
  stop) stop ;;
  restart) restart ;;
  destroy) stop; rm -rf "$pgdata"; log "removed $pgdata" ;;
  status) ready ;;
  url) echo "$url" ;;
  *) echo "usage: $0 start|stop|restart|destroy|status|url|clean-test-dbs" >&2; exit 2 ;;
esac
