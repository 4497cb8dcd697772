#!/usr/bin/env bash
# Install, once, what the distributed profile runs on one machine (make test-distributed) or on each VM
# (docs/deployment.md): Debian's PostgreSQL, Redis and Ceph object gateway, and the Python extras
# (`pip install '.[distributed]'`, pinned by constraints.txt). Skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

need=()
command -v /usr/lib/postgresql/15/bin/postgres >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 \
  || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
for tool in ceph-mon ceph-osd ceph-mgr radosgw; do command -v "$tool" >/dev/null || need+=("$tool"); done
command -v ceph >/dev/null && command -v radosgw-admin >/dev/null || need+=(ceph-common)
command -v uuidgen >/dev/null || need+=(uuid-runtime)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing from the package mirror: ${need[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if ! "$VENV/bin/python" -c 'import dagster_postgres, dagster_celery, psycopg2, celery, redis, s3fs' 2>/dev/null; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,distributed]'
fi
"$VENV/bin/python" -m pip check >/dev/null
