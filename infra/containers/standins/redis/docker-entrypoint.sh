#!/bin/sh
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = 'redis-server' ]; then
  # The official image is compiled with protected-mode off; Debian's binary is not. Prepend the
  # option (after a config file argument, which must come first) so explicit options still win.
  shift
  if [ -n "${1:-}" ] && [ "${1%.conf}" != "$1" ]; then
    conf=$1; shift
    set -- redis-server "$conf" --protected-mode no "$@"
  else
    set -- redis-server --protected-mode no "$@"
  fi
  if [ "$(id -u)" = '0' ]; then
    chown -R redis:redis /data 2>/dev/null || true
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
