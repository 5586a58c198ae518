#!/bin/bash
# Entrypoint of the test MariaDB image. It keeps the contract of the
# docker-library mysql/mariadb images' docker-entrypoint.sh that orderguard's
# ShardSet pods use:
#  - MYSQL_ROOT_PASSWORD (or MARIADB_ROOT_PASSWORD) sets root's password, for
#    'root'@'localhost' and 'root'@'%';
#  - on the first start (an empty data directory) files in
#    /docker-entrypoint-initdb.d run in name order against a server that
#    listens on its socket only: *.sh are sourced by bash with the array
#    `mysql` holding a client command logged in as root ("${mysql[@]}" -e
#    "SQL"), executable *.sh are run, *.sql are fed to that client;
#  - later starts skip all of that and start the server on the data it finds.
set -euo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

if [[ "${1:-}" == -* ]]; then set -- mariadbd "$@"; fi
if [[ "${1:-}" != mariadbd && "${1:-}" != mysqld ]]; then exec "$@"; fi

datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock
mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld "$datadir"

if [[ ! -d "$datadir/mysql" ]]; then
  root_password="${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}"
  if [[ -z "$root_password" ]]; then
    log "the data directory is empty and MYSQL_ROOT_PASSWORD is not set: refusing to create a server without a root password"
    exit 1
  fi
  log "initializing $datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
    --auth-root-authentication-method=normal >/dev/null
  # Socket only, replication not started: nothing outside the pod sees the
  # server before its users and init scripts are in place.
  "$@" --skip-networking --socket="$socket" --skip-slave-start &
  pid=$!
  for _ in $(seq 60); do
    if mariadb-admin --socket="$socket" -uroot ping >/dev/null 2>&1; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then log "the server exited during initialization"; exit 1; fi
    sleep 1
  done
  # Not written to the binary log: a replica must not replay its source's
  # account setup over its own.
  mariadb --socket="$socket" -uroot <<SQL
SET @@SESSION.SQL_LOG_BIN=0;
-- mariadb-install-db also makes anonymous users and password-less root
-- accounts for 127.0.0.1, ::1 and the host name: only root@localhost stays.
DELETE FROM mysql.global_priv WHERE user = '' OR (user = 'root' AND host <> 'localhost');
FLUSH PRIVILEGES;
ALTER USER 'root'@'localhost' IDENTIFIED BY '${root_password//\'/\'\'}';
CREATE USER 'root'@'%' IDENTIFIED BY '${root_password//\'/\'\'}';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  export MYSQL_PWD="$root_password"
  mysql=(mariadb --socket="$socket" -uroot)
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        # shellcheck disable=SC1090 # the init files are the user's
        if [[ -x "$f" ]]; then log "running $f"; "$f"; else log "sourcing $f"; source "$f"; fi ;;
      *.sql) log "running $f"; "${mysql[@]}" <"$f" ;;
      *) [[ -e "$f" ]] && log "ignoring $f" ;;
    esac
  done
  unset MYSQL_PWD
  mariadb-admin --socket="$socket" -uroot --password="$root_password" shutdown
  wait "$pid" || true
  log "initialization done"
fi

exec "$@"
