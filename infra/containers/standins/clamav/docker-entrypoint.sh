#!/bin/sh
set -e
# A fresh named volume over /var/lib/clamav starts with the image's signatures (copy-up); make sure
# clamd (which drops to the clamav user) can read them and write its socket.
if [ "$(id -u)" = 0 ]; then
  chown -R clamav:clamav /var/lib/clamav /run/clamav 2>/dev/null || true
fi
exec "$@"
