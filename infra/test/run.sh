#!/usr/bin/env bash
# The project's test command (README: `npm test`; .ci/run calls exactly this).
# On a fresh machine it installs what is missing (npm packages; PostgreSQL, Redis, RabbitMQ, clamd,
# ffmpeg, poppler via apt) and starts it; otherwise it uses what already runs. Then: lint, typecheck
# and build every workspace through turbo, and run the whole vitest suite (its last line has the counts).
set -euo pipefail
cd "$(dirname "$0")/../.."
export TURBO_TELEMETRY_DISABLED=1 CHECKPOINT_DISABLE=1 PRISMA_HIDE_UPDATE_MESSAGE=1

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[test] installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

. infra/local/ensure-infra.sh

echo "[test] lint, typecheck, build" >&2
npx turbo run lint typecheck build --output-logs=errors-only --log-prefix=none

echo "[test] vitest" >&2
exec npx vitest run
