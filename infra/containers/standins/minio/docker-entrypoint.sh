#!/bin/sh
# As MinIO's image: `server ...` (or any option) runs `minio server ...`.
set -e
if [ "${1}" != "minio" ] && { [ "${1}" = "server" ] || [ "${1#-}" != "${1}" ]; }; then
  set -- minio "$@"
fi
exec "$@"
