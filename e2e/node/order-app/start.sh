#!/bin/sh
# The test order service: busybox httpd on $PORT (default 8080). GET / answers
# which zone and pod serve it (ORDERGUARD_ZONE is set by the operator on each
# zone's Deployment), GET /healthz answers "ok".
set -eu
mkdir -p /tmp/www
echo ok >/tmp/www/healthz
printf 'zone=%s pod=%s\n' "${ORDERGUARD_ZONE:-none}" "$(hostname)" >/tmp/www/index.html
exec httpd -f -p "0.0.0.0:${PORT:-8080}" -h /tmp/www
