#!/usr/bin/env bash
# A whole Hospes fleet on loopback, from Debian packages (docs/deploy.md): a PostgreSQL primary and a streaming
# replica, PgBouncer (transaction mode) in front of the primary, two API nodes (hospes serve --role api), two workers
# (hospes worker) and HAProxy in front of the API nodes, health-checked on /readyz.
#
#   scripts/fleet-local.sh start     # prints the addresses; everything lives in $FLEET_DIR
#   scripts/fleet-local.sh status
#   scripts/fleet-local.sh stop
#
# Needs: postgresql, pgbouncer, haproxy (apt-get install postgresql pgbouncer haproxy) and Hospes installed (the
# `hospes` command, or HOSPES to name it). PostgreSQL runs as the postgres user when this runs as root.
set -euo pipefail

FLEET_DIR=${FLEET_DIR:-/tmp/hospes-fleet}
HOSPES=${HOSPES:-hospes}
PRIMARY_PORT=${PRIMARY_PORT:-55432}
REPLICA_PORT=${REPLICA_PORT:-55433}
BOUNCER_PORT=${BOUNCER_PORT:-56432}
EDGE_PORT=${EDGE_PORT:-8100}
API_PORTS=(8101 8102)
WORKER_METRICS=(9101 9102)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

as_pg() {  # PostgreSQL refuses to run as root
  if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else bash -c "$*"; fi
}

pg_start() {  # data dir, port, extra options
  as_pg "$PGBIN/pg_ctl -D $1 -l $1/server.log -w start -o \"-p $2 -k /tmp -c listen_addresses=127.0.0.1 $3\"" >/dev/null
}

start() {
  mkdir -p "$FLEET_DIR" && chmod 755 "$FLEET_DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$FLEET_DIR"
  local key_file="$FLEET_DIR/secret.key"
  [ -f "$key_file" ] || (umask 077 && openssl rand -hex 32 >"$key_file")
  local secret
  secret=$(cat "$key_file")

  # 1. PostgreSQL primary, and a physical streaming replica of it.
  if [ ! -d "$FLEET_DIR/primary" ]; then
    as_pg "$PGBIN/initdb -D $FLEET_DIR/primary -A trust -U postgres" >/dev/null
  fi
  pg_start "$FLEET_DIR/primary" "$PRIMARY_PORT" "-c wal_level=replica -c max_wal_senders=5 -c max_connections=200"
  if [ ! -d "$FLEET_DIR/replica" ]; then
    as_pg "$PGBIN/pg_basebackup -h 127.0.0.1 -p $PRIMARY_PORT -U postgres -D $FLEET_DIR/replica -R -X stream"
  fi
  pg_start "$FLEET_DIR/replica" "$REPLICA_PORT" "-c hot_standby=on -c max_connections=200"

  # 2. PgBouncer in transaction mode in front of the primary.
  cat >"$FLEET_DIR/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$PRIMARY_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $FLEET_DIR/pgbouncer-users.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
ignore_startup_parameters = extra_float_digits,options
logfile = $FLEET_DIR/pgbouncer.log
pidfile = $FLEET_DIR/pgbouncer.pid
EOF
  echo '"postgres" ""' >"$FLEET_DIR/pgbouncer-users.txt"
  chmod 644 "$FLEET_DIR/pgbouncer.ini" "$FLEET_DIR/pgbouncer-users.txt"
  touch "$FLEET_DIR/pgbouncer.log" && chmod 666 "$FLEET_DIR/pgbouncer.log"
  local user_opt=""
  [ "$(id -u)" = 0 ] && user_opt="-u postgres"
  pgbouncer -d $user_opt "$FLEET_DIR/pgbouncer.ini"

  # 3. The schema, once, straight to the primary (its lock is a session lock: not through PgBouncer).
  local direct="postgresql+psycopg://postgres@127.0.0.1:$PRIMARY_PORT/postgres"
  HOSPES_DATABASE_URL=$direct HOSPES_SECRET_KEY=$secret $HOSPES db upgrade

  # 4. Two API nodes and two workers, each with its own data folder, all with the same secret key.
  export HOSPES_SECRET_KEY=$secret
  export HOSPES_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$BOUNCER_PORT/postgres"
  export HOSPES_DB_PREPARED_STATEMENTS=false
  export HOSPES_DB_POOL_SIZE=10 HOSPES_DB_MAX_OVERFLOW=10
  export HOSPES_DATABASE_REPLICA_URLS="postgresql+psycopg://postgres@127.0.0.1:$REPLICA_PORT/postgres"
  export HOSPES_PUBLIC_URL=${HOSPES_PUBLIC_URL:-http://127.0.0.1:$EDGE_PORT}
  export HOSPES_FORWARDED_ALLOW_IPS=127.0.0.1
  export HOSPES_LOG_FORMAT=json HOSPES_DRAIN_SECONDS=3
  for i in 0 1; do
    HOSPES_DATA_DIR="$FLEET_DIR/api$i" nohup $HOSPES serve --role api --port "${API_PORTS[$i]}" \
      >"$FLEET_DIR/api$i.log" 2>&1 &
    echo $! >"$FLEET_DIR/api$i.pid"
    HOSPES_DATA_DIR="$FLEET_DIR/worker$i" nohup $HOSPES worker --metrics-address "127.0.0.1:${WORKER_METRICS[$i]}" \
      >"$FLEET_DIR/worker$i.log" 2>&1 &
    echo $! >"$FLEET_DIR/worker$i.pid"
  done

  # 5. HAProxy in front of the API nodes: a node that drains (/readyz 503) leaves the rotation within a second.
  cat >"$FLEET_DIR/haproxy.cfg" <<EOF
global
  maxconn 4000

defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  option forwardfor
  unique-id-format %{+X}o%ci%cp%fi%fp%Ts%rt
  unique-id-header X-Request-Id

frontend edge
  bind 127.0.0.1:$EDGE_PORT
  default_backend api

backend api
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  server api0 127.0.0.1:${API_PORTS[0]} check inter 500 fall 2 rise 2
  server api1 127.0.0.1:${API_PORTS[1]} check inter 500 fall 2 rise 2
EOF
  haproxy -D -p "$FLEET_DIR/haproxy.pid" -f "$FLEET_DIR/haproxy.cfg"

  for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$EDGE_PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  status
}

status() {
  echo "edge (HAProxy):   http://127.0.0.1:$EDGE_PORT  (/readyz: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$EDGE_PORT/readyz"))"
  for i in 0 1; do
    echo "api$i:             http://127.0.0.1:${API_PORTS[$i]}  (/metrics from loopback)"
    echo "worker$i metrics:  http://127.0.0.1:${WORKER_METRICS[$i]}/"
  done
  echo "PgBouncer:        127.0.0.1:$BOUNCER_PORT (transaction mode) -> primary 127.0.0.1:$PRIMARY_PORT"
  echo "replica:          127.0.0.1:$REPLICA_PORT"
  echo "logs and state:   $FLEET_DIR"
}

stop() {
  for name in api0 api1 worker0 worker1; do
    [ -f "$FLEET_DIR/$name.pid" ] && kill "$(cat "$FLEET_DIR/$name.pid")" 2>/dev/null || true
    rm -f "$FLEET_DIR/$name.pid"
  done
  [ -f "$FLEET_DIR/haproxy.pid" ] && kill "$(cat "$FLEET_DIR/haproxy.pid")" 2>/dev/null || true
  [ -f "$FLEET_DIR/pgbouncer.pid" ] && kill "$(cat "$FLEET_DIR/pgbouncer.pid")" 2>/dev/null || true
  sleep 4  # the API nodes drain (HOSPES_DRAIN_SECONDS) before they stop
  for data in replica primary; do
    [ -d "$FLEET_DIR/$data" ] && as_pg "$PGBIN/pg_ctl -D $FLEET_DIR/$data -m fast stop" >/dev/null 2>&1 || true
  done
}

case "${1:-}" in
  start) start ;;
  status) status ;;
  stop) stop ;;
  *) echo "usage: $0 start|status|stop" >&2; exit 2 ;;
esac
