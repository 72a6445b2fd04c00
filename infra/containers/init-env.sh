#!/bin/sh
# Writes .env beside compose.yaml from infra/containers/env.example, every `change-me` replaced by
# its own random value (hex, URL-safe). Never overwrites an existing .env.
#   bash infra/containers/init-env.sh [path]      (default: <repo>/.env)
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
target=${1:-$repo/.env}
if [ -e "$target" ]; then
  echo "$target exists; not touching it" >&2
  exit 0
fi
umask 077
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    *=change-me) printf '%s=%s\n' "${line%%=*}" "$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" ;;
    *) printf '%s\n' "$line" ;;
  esac
done <"$repo/infra/containers/env.example" >"$target"
echo "wrote $target (random secrets; set IDME_CLIENT_ID/IDME_CLIENT_SECRET from your ID.me app)" >&2
