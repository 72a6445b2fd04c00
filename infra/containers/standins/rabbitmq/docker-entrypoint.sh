#!/bin/bash
set -euo pipefail
if [ "$1" = 'rabbitmq-server' ]; then
  conf=/etc/rabbitmq/conf.d/20-default-user.conf
  : > "$conf"
  [ -n "${RABBITMQ_DEFAULT_USER:-}" ] && printf 'default_user = %s\n' "$RABBITMQ_DEFAULT_USER" >> "$conf"
  [ -n "${RABBITMQ_DEFAULT_PASS:-}" ] && printf 'default_pass = %s\n' "$RABBITMQ_DEFAULT_PASS" >> "$conf"
  [ -n "${RABBITMQ_DEFAULT_VHOST:-}" ] && printf 'default_vhost = %s\n' "$RABBITMQ_DEFAULT_VHOST" >> "$conf"
  if [ "$(id -u)" = '0' ]; then
    chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /etc/rabbitmq
    chmod 600 "$conf"
    exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$BASH_SOURCE" "$@"
  fi
fi
exec "$@"
