#!/usr/bin/env bash
# The native stack (README: `npm run start:native`): every service as a process on this machine, no
# Docker. Installs npm packages if needed, makes sure PostgreSQL, Redis, RabbitMQ and clamd run
# (installing them with apt where missing), builds every workspace, then hands over to stack.ts, which
# applies the migrations and starts and supervises the processes. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/../.."
export TURBO_TELEMETRY_DISABLED=1 CHECKPOINT_DISABLE=1 PRISMA_HIDE_UPDATE_MESSAGE=1

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[native] installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

. infra/local/ensure-infra.sh

echo "[native] building" >&2
npx turbo run build --output-logs=errors-only --log-prefix=none

exec node --conditions=source --import tsx infra/native/stack.ts "$@"
