#!/usr/bin/env bash
# The containerized end-to-end run (`npm run test:containers`, root needed):
#   1. setup.sh: podman + podman-compose, containers.conf, local stand-in base images;
#   2. builds the project's images from the Dockerfile (--pull=never) through compose.yaml;
#   3. runs compose.yaml (stack.ts: depends_on conditions + healthchecks) and the e2e suite against
#      it, only through the gateway (tests/containers/stack.e2e.ts);
#   4. the same with compose.yaml + compose.scale.yaml (3 realtime replicas), plus the scale suite
#      (tests/containers/scale.e2e.ts: cross-replica messaging, presence, a replica stopped mid-test);
#   5. tears everything down (volumes too) and prints wall times and image sizes.
# Secrets are random per run (exported, never written to .env). A .env beside compose.yaml would
# win over them (podman-compose reads it last), so its values are exported for the tests too.
# NSELF_E2E_KEEP=1 leaves the last stack running; NSELF_E2E_ONLY=single|scale runs one variant.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
export TURBO_TELEMETRY_DISABLED=1 CHECKPOINT_DISABLE=1
export NSELF_CONTAINERS_STATE=${NSELF_CONTAINERS_STATE:-/var/tmp/nself-containers}
export NSELF_COMPOSE_PROJECT=${NSELF_COMPOSE_PROJECT:-nself-e2e}
only=${NSELF_E2E_ONLY:-}

log() { echo "[e2e] $*" >&2; }
[ "$(id -u)" = 0 ] || { log "rootful podman is needed: run as root"; exit 1; }

declare -a timings=()
timed() { # label command...
  local label=$1 started=$SECONDS
  shift
  "$@"
  timings+=("$(printf '%-34s %4d s' "$label" $((SECONDS - started)))")
}
# --offline: infra/compose-override.offline.yaml swaps in a local OpenID provider for ID.me
stack() { node --import tsx infra/containers/stack.ts "$@" --offline; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { # preferred fallback-start
  local p=$1
  if port_free "$p"; then echo "$p"; return; fi
  for ((p = $2; p < $2 + 100; p++)); do port_free "$p" && { echo "$p"; return; }; done
  return 1
}

started=$SECONDS
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  timed "npm ci" npm ci --no-audit --no-fund --loglevel=error
fi
timed "setup (podman, stand-in images)" bash infra/containers/setup.sh

rand() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }
export POSTGRES_PASSWORD=$(rand) REDIS_PASSWORD=$(rand) RABBITMQ_PASSWORD=$(rand) MINIO_ROOT_PASSWORD=$(rand)
export JWT_SECRET=$(rand) ADMIN_SECRET=$(rand) JOBS_DASHBOARD_PASSWORD=$(rand)
export IDME_CLIENT_ID=nself-e2e-client IDME_CLIENT_SECRET=$(rand)
if [ -f .env ]; then
  log "using the values of $repo/.env where it sets them (podman-compose gives .env precedence)"
  eval "$(python3 -c '
import shlex
from dotenv import dotenv_values
for k, v in dotenv_values(".env").items():
    if v is not None: print(f"export {k}={shlex.quote(v)}")')"
fi
NSELF_GATEWAY_PORT=$(pick_port "${NSELF_GATEWAY_PORT:-8080}" 18080)
NSELF_MAILPIT_PORT=$(pick_port "${NSELF_MAILPIT_PORT:-8025}" 18025)
NSELF_MINIO_PORT=$(pick_port "${NSELF_MINIO_PORT:-9000}" 19000)
export NSELF_GATEWAY_PORT NSELF_MAILPIT_PORT NSELF_MINIO_PORT
export FILE_STORAGE_PUBLIC_ENDPOINT="http://localhost:$NSELF_MINIO_PORT"
[ "$NSELF_GATEWAY_PORT" = 8080 ] || log "port 8080 is taken on this machine: the gateway is published on $NSELF_GATEWAY_PORT"
export NSELF_E2E_GATEWAY_URL="http://127.0.0.1:$NSELF_GATEWAY_PORT"
export NSELF_E2E_MAILPIT_URL="http://127.0.0.1:$NSELF_MAILPIT_PORT"

cleanup() {
  local code=$?
  if [ "$code" != 0 ]; then
    log "failed; containers:"
    stack ps --scale 2>/dev/null || true
  fi
  if [ "${NSELF_E2E_KEEP:-0}" != 1 ]; then stack down --scale >/dev/null 2>&1 || true; fi
  exit "$code"
}
trap cleanup EXIT
stack down --scale >/dev/null 2>&1 || true # leftovers of an interrupted run

timed "build project images" stack build --scale

e2e() { # variant files...
  local variant=$1
  shift
  NSELF_E2E_VARIANT=$variant npx vitest run --config tests/containers/vitest.config.ts "$@"
}

if [ "$only" != scale ]; then
  timed "up compose.yaml" stack up
  timed "e2e suite (compose.yaml)" e2e single tests/containers/stack.e2e.ts
  timed "down" stack down
fi
if [ "$only" != single ]; then
  timed "up compose.yaml + compose.scale.yaml" stack up --scale
  timed "e2e suites (scaled)" e2e scale tests/containers/stack.e2e.ts tests/containers/scale.e2e.ts
  if [ "${NSELF_E2E_KEEP:-0}" != 1 ]; then timed "down" stack down --scale; fi
fi

log "wall times:"
printf '  %s\n' "${timings[@]}" >&2
log "total: $((SECONDS - started)) s"
log "image sizes:"
podman images --filter reference='nself/*' --filter reference='docker.io/library/node' \
  --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' >&2
