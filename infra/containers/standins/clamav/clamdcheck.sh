#!/bin/bash
# Same contract as the official image's clamdcheck.sh: exit 0 when clamd answers PING with PONG.
set -eu
reply=$( (exec 3<>/dev/tcp/127.0.0.1/3310 && printf 'zPING\0' >&3 && timeout 3 head -c 4 <&3) 2>/dev/null || true)
if [ "$reply" != PONG ]; then
  echo 'ERROR: Unable to contact server'
  exit 1
fi
echo 'Clamd is up'
