#!/usr/bin/env bash
# Makes sure the infrastructure the services and their tests need is reachable on loopback:
# PostgreSQL, Redis and RabbitMQ are used where they already answer, otherwise installed (apt) and
# started; clamd (with the project's test signatures) is always ours. Idempotent; prints nothing but
# progress on stderr. Source it (`. infra/local/ensure-infra.sh`) to get the connection variables.
#
# Ports can be moved with NSELF_PG_PORT, NSELF_REDIS_PORT, NSELF_AMQP_PORT, NSELF_CLAMD_PORT.
set -euo pipefail

NSELF_STATE_DIR=${NSELF_STATE_DIR:-/tmp/nself-infra}
NSELF_PG_PORT=${NSELF_PG_PORT:-5432}
NSELF_REDIS_PORT=${NSELF_REDIS_PORT:-6379}
NSELF_AMQP_PORT=${NSELF_AMQP_PORT:-5672}
NSELF_CLAMD_PORT=${NSELF_CLAMD_PORT:-3310}
NSELF_INSTALL_MEDIA_TOOLS=${NSELF_INSTALL_MEDIA_TOOLS:-1}
_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$NSELF_STATE_DIR"

_log() { echo "[infra] $*" >&2; }
_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
_wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do _port_open "$1" && return 0; sleep 0.1; done
  return 1
}
_apt_updated=0
_apt_install() {
  command -v apt-get >/dev/null || { _log "apt-get not found; install $* yourself"; return 1; }
  _log "installing $* (apt)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "$@" >"$NSELF_STATE_DIR/apt.log" 2>&1; then
    if [ $_apt_updated = 0 ]; then
      apt-get update -q >>"$NSELF_STATE_DIR/apt.log" 2>&1 || true
      _apt_updated=1
    fi
    apt-get install -y -q --no-install-recommends "$@" >>"$NSELF_STATE_DIR/apt.log" 2>&1 ||
      { _log "apt-get install $* failed, see $NSELF_STATE_DIR/apt.log"; return 1; }
  fi
}

_ensure_postgres() {
  if _port_open "$NSELF_PG_PORT"; then return 0; fi
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$bin" ]; then _apt_install postgresql; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); fi
  local data="$NSELF_STATE_DIR/pg-$NSELF_PG_PORT"
  mkdir -p "$data"
  chown postgres "$data" 2>/dev/null || true
  local as_pg=()
  [ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)
  if [ ! -f "$data/PG_VERSION" ]; then
    _log "creating a PostgreSQL cluster in $data"
    "${as_pg[@]}" "$bin/initdb" -D "$data" --no-sync --auth=trust -U postgres >/dev/null
  fi
  _log "starting PostgreSQL on $NSELF_PG_PORT"
  "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" \
    -o "-p $NSELF_PG_PORT -k $data -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" -w start >/dev/null
}

_ensure_redis() {
  if _port_open "$NSELF_REDIS_PORT"; then return 0; fi
  command -v redis-server >/dev/null || _apt_install redis-server
  local dir="$NSELF_STATE_DIR/redis-$NSELF_REDIS_PORT"
  mkdir -p "$dir"
  _log "starting Redis on $NSELF_REDIS_PORT"
  redis-server --port "$NSELF_REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
    --maxmemory-policy noeviction --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  _wait_port "$NSELF_REDIS_PORT" 10
}

_ensure_rabbitmq() {
  if _port_open "$NSELF_AMQP_PORT"; then return 0; fi
  command -v rabbitmq-server >/dev/null || _apt_install rabbitmq-server
  _log "starting RabbitMQ on $NSELF_AMQP_PORT"
  RABBITMQ_NODE_PORT=$NSELF_AMQP_PORT rabbitmq-server -detached >/dev/null 2>&1 || true
  local i
  for ((i = 0; i < 60; i++)); do
    rabbitmqctl -q await_startup >/dev/null 2>&1 && _port_open "$NSELF_AMQP_PORT" && return 0
    sleep 1
  done
  _log "RabbitMQ did not start"
  return 1
}

_clamd_answers() {
  local reply
  reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$NSELF_CLAMD_PORT" && printf 'zPING\0' >&3 && timeout 2 head -c 4 <&3) 2>/dev/null || true)
  [ "$reply" = PONG ]
}

_ensure_clamd() {
  if _clamd_answers; then return 0; fi
  command -v clamd >/dev/null || [ -x /usr/sbin/clamd ] || _apt_install clamav-daemon
  local dir="$NSELF_STATE_DIR/clamd-$NSELF_CLAMD_PORT"
  mkdir -p "$dir/db"
  # freshclam cannot reach its mirrors here: clamd runs on the project's test signatures only
  # (EICAR by hash and by body, and ClamAV's own test file, which finds it inside archives too).
  cp "$_repo"/infra/clamav/signatures/* "$dir/db/"
  cat >"$dir/clamd.conf" <<CONF
DatabaseDirectory $dir/db
TCPSocket $NSELF_CLAMD_PORT
TCPAddr 127.0.0.1
Foreground false
PidFile $dir/clamd.pid
LogFile $dir/clamd.log
StreamMaxLength 20M
MaxThreads 8
CONF
  _log "starting clamd on $NSELF_CLAMD_PORT"
  "$(command -v clamd || echo /usr/sbin/clamd)" -c "$dir/clamd.conf"
  local i
  for ((i = 0; i < 100; i++)); do _clamd_answers && return 0; sleep 0.1; done
  _log "clamd did not answer, see $dir/clamd.log"
  return 1
}

_ensure_media_tools() {
  [ "$NSELF_INSTALL_MEDIA_TOOLS" = 1 ] || return 0
  local missing=()
  command -v ffmpeg >/dev/null || missing+=(ffmpeg)
  command -v pdftoppm >/dev/null || missing+=(poppler-utils)
  [ ${#missing[@]} = 0 ] || _apt_install "${missing[@]}" || _log "continuing without ${missing[*]}"
}

_ensure_postgres
_ensure_redis
_ensure_rabbitmq
_ensure_clamd
_ensure_media_tools

export NSELF_DATABASE_ADMIN_URL=${NSELF_DATABASE_ADMIN_URL:-postgresql://postgres@127.0.0.1:$NSELF_PG_PORT/postgres}
export NSELF_REDIS_URL=${NSELF_REDIS_URL:-redis://127.0.0.1:$NSELF_REDIS_PORT}
export NSELF_AMQP_URL=${NSELF_AMQP_URL:-amqp://guest:guest@127.0.0.1:$NSELF_AMQP_PORT}
export NSELF_CLAMD_HOST=127.0.0.1 NSELF_CLAMD_PORT
_log "ready: postgres :$NSELF_PG_PORT, redis :$NSELF_REDIS_PORT, rabbitmq :$NSELF_AMQP_PORT, clamd :$NSELF_CLAMD_PORT"
