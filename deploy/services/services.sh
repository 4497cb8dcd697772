#!/usr/bin/env bash
# The distributed profile's services on one machine, each a separate process as on separate VMs, all on
# 127.0.0.1, all data under one folder:
#
#   services.sh start DIR     PostgreSQL, Redis, a single-node Ceph object gateway (monitor, OSD on a sparse
#                             bluestore file, manager, radosgw), the Dagster daemon and two Celery workers;
#                             writes DIR/env (source it to reach them) and DIR/pids/<name>.pid
#   services.sh start-storage DIR   the Ceph object gateway alone (DIR/env, DIR/pids as above)
#   services.sh stop DIR      stops every process named in DIR/pids, by PID (TERM, then KILL after 30 s)
#   services.sh kill-worker DIR NAME   SIGKILL one Celery worker and its pool (a machine lost mid-run)
#
# Install first: deploy/services/install.sh. Ports: XL_PG_PORT (55432), XL_REDIS_PORT (56379),
# XL_MON_PORT (56789), XL_RGW_PORT (57480). As root, PostgreSQL runs as the `postgres` user.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
export PATH="$VENV/bin:$PATH"  # dagster-celery starts `celery` from the PATH
PG_PORT=${XL_PG_PORT:-55432}
REDIS_PORT=${XL_REDIS_PORT:-56379}
MON_PORT=${XL_MON_PORT:-56789}
RGW_PORT=${XL_RGW_PORT:-57480}
WORKERS=${XL_WORKERS:-2}

say() { echo "services: $*" >&2; }
die() { say "$*"; exit 1; }

# Start a foreground command in the background, its output in DIR/logs/NAME.log, its PID in DIR/pids/NAME.pid.
spawn() {
  local name=$1; shift
  nohup "$@" >"$DIR/logs/$name.log" 2>&1 &
  echo $! >"$DIR/pids/$name.pid"
}

# Wait until a command succeeds (at most $1 seconds), else show the log named $2 and fail.
wait_for() {
  local seconds=$1 log=$2; shift 2
  for _ in $(seq "$seconds"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  tail -20 "$DIR/logs/$log.log" >&2 || true
  die "$log did not come up within ${seconds}s"
}

start_postgres() {
  local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  local as=()
  mkdir -p "$DIR/postgres" "$DIR/postgres-socket"
  if [ "$(id -u)" = 0 ]; then  # PostgreSQL refuses to run as root
    chown postgres "$DIR/postgres" "$DIR/postgres-socket" "$DIR/logs"
    chmod o+x "$DIR"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$bin/initdb" -D "$DIR/postgres" -U xl --auth=trust -E UTF8 >"$DIR/logs/initdb.log" 2>&1
  "${as[@]}" "$bin/pg_ctl" -D "$DIR/postgres" -l "$DIR/logs/postgres.log" -w -t 60 start \
    -o "-h 127.0.0.1 -p $PG_PORT -k $DIR/postgres-socket -c max_connections=200 -c fsync=off" >/dev/null
  head -1 "$DIR/postgres/postmaster.pid" >"$DIR/pids/postgres.pid"
  "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U xl dagster
}

start_redis() {
  mkdir -p "$DIR/redis"
  spawn redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DIR/redis" --save "" --appendonly no
  wait_for 30 redis redis-cli -p "$REDIS_PORT" ping
}

start_ceph() {
  local c=$DIR/ceph fsid osd_uuid
  mkdir -p "$c"/{mon,osd,mgr,rgw,run,log}
  fsid=$(uuidgen); osd_uuid=$(uuidgen)
  cat >"$c/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$MON_PORT]
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
ms_mon_client_mode = crc
ms_client_mode = crc
ms_bind_ipv4 = true
ms_bind_ipv6 = false
run dir = $c/run
log file = $c/log/\$name.log
admin socket = $c/run/\$name.asok
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000
[mon]
mon data = $c/mon/\$cluster-\$id
[osd]
osd data = $c/osd/\$cluster-\$id
osd objectstore = bluestore
bluestore block path = $c/osd/block
bluestore block create = true
bluestore block size = 10737418240
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 134217728
[mgr]
mgr data = $c/mgr/\$cluster-\$id
[client.rgw.xl]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $c/rgw
rgw thread pool size = 64
CONF
  local ceph=(ceph -c "$c/ceph.conf" --connect-timeout 5)
  monmaptool --create --addv a "[v2:127.0.0.1:$MON_PORT]" --fsid "$fsid" "$c/monmap" >/dev/null
  mkdir -p "$c/mon/ceph-a"
  ceph-mon -c "$c/ceph.conf" --mkfs -i a --monmap "$c/monmap" >"$DIR/logs/ceph-mkfs.log" 2>&1
  spawn ceph-mon ceph-mon -f -c "$c/ceph.conf" -i a
  wait_for 60 ceph-mon "${ceph[@]}" mon stat
  local id; id=$("${ceph[@]}" osd new "$osd_uuid")
  mkdir -p "$c/osd/ceph-$id"
  ceph-osd -c "$c/ceph.conf" -i "$id" --mkfs --osd-uuid "$osd_uuid" >>"$DIR/logs/ceph-mkfs.log" 2>&1
  spawn ceph-osd ceph-osd -f -c "$c/ceph.conf" -i "$id"
  mkdir -p "$c/mgr/ceph-x"
  spawn ceph-mgr ceph-mgr -f -c "$c/ceph.conf" -i x
  wait_for 120 ceph-osd bash -c "${ceph[*]} osd stat | grep -q '1 up'"
  spawn radosgw radosgw -f -c "$c/ceph.conf" -n client.rgw.xl
  wait_for 120 radosgw curl -sf "http://127.0.0.1:$RGW_PORT/"
  radosgw-admin -c "$c/ceph.conf" user create --uid=xl --display-name=xl \
    --access-key=xl-access-key --secret-key=xl-secret-key-not-for-production >/dev/null
}

write_env() {
  cat >"$DIR/env" <<ENV
export DAGSTER_HOME=$DIR/dagster
export XL_POSTGRES_URL=postgresql+psycopg2://xl@127.0.0.1:$PG_PORT/dagster
export XL_CELERY_BROKER=redis://127.0.0.1:$REDIS_PORT/0
export XL_CELERY_BACKEND=redis://127.0.0.1:$REDIS_PORT/1
export XL_MAX_CONCURRENT_RUNS=$WORKERS
export AWS_ACCESS_KEY_ID=xl-access-key
export AWS_SECRET_ACCESS_KEY=xl-secret-key-not-for-production
export AWS_ENDPOINT_URL=http://127.0.0.1:$RGW_PORT
export AWS_DEFAULT_REGION=us-east-1
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required
export AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
ENV
  mkdir -p "$DIR/dagster"
  cp "$ROOT/deploy/dagster.distributed.yaml" "$DIR/dagster/dagster.yaml"
  cat >"$DIR/celery-worker.yaml" <<YAML
execution:
  config:
    broker: redis://127.0.0.1:$REDIS_PORT/0
    backend: redis://127.0.0.1:$REDIS_PORT/1
    config_source:
      task_acks_late: true  # a busy worker reserves no second run: an idle one takes it
YAML
}

start_dagster() {
  # shellcheck disable=SC1091
  . "$DIR/env"
  cd "$ROOT"
  "$VENV/bin/python" -c 'import dagster as dg; i = dg.DagsterInstance.get(); i.get_runs(limit=1); i.event_log_storage'
  spawn dagster-daemon "$VENV/bin/dagster-daemon" run -w "$ROOT/workspace.yaml"
  for n in $(seq "$WORKERS"); do
    spawn "celery-w$n" "$VENV/bin/dagster-celery" worker start -A dagster_celery.app -y "$DIR/celery-worker.yaml" \
      --name "w$n" --loglevel INFO -i xl_pipelines.celery_worker -- --concurrency=1 --pidfile="$DIR/pids/celery-w$n.main.pid"
  done
  for n in $(seq "$WORKERS"); do
    wait_for 120 "celery-w$n" grep -q "ready" "$DIR/logs/celery-w$n.log"
  done
}

# Every descendant of a PID (deepest first), read from /proc: so a stopped worker leaves no pool process.
descendants() {
  local child
  for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do descendants "$child"; echo "$child"; done
}

stop_pid() {  # stop_pid NAME PID [SIGNAL]
  local name=$1 pid=$2 signal=${3:-TERM}
  kill -0 "$pid" 2>/dev/null || return 0
  kill -"$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  say "$name (pid $pid) did not stop after ${signal}: KILL"
  kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  [ -d "$DIR/pids" ] || return 0
  local name pid order=(celery-w*.main celery-w* dagster-daemon radosgw ceph-mgr ceph-osd ceph-mon redis postgres)
  for pattern in "${order[@]}"; do
    for file in "$DIR"/pids/$pattern.pid; do
      [ -f "$file" ] || continue
      name=$(basename "$file" .pid); pid=$(cat "$file")
      if [ "$name" = postgres ]; then stop_pid "$name" "$pid" INT  # fast shutdown
      else
        local kids; kids=$(descendants "$pid" || true)
        stop_pid "$name" "$pid"
        for kid in $kids; do stop_pid "$name child" "$kid"; done
      fi
      rm -f "$file"
    done
  done
}

kill_worker() {  # every process of one worker at once, as when its machine dies
  local main; main=$(cat "$DIR/pids/celery-$1.main.pid")
  local all; all="$(descendants "$main") $main"
  # shellcheck disable=SC2086
  kill -KILL $all 2>/dev/null || true
  echo "$all"
}

command=${1:-}; DIR=${2:-}
[ -n "$command" ] && [ -n "$DIR" ] || die "usage: services.sh start|start-storage|stop|kill-worker DIR [NAME]"
DIR=$(mkdir -p "$DIR" && cd "$DIR" && pwd)
case $command in
  start)
    mkdir -p "$DIR/pids" "$DIR/logs"
    trap 'say "start failed: stopping what started"; stop' EXIT
    began=$SECONDS
    start_postgres; say "postgres up ($((SECONDS - began))s)"
    start_redis; say "redis up ($((SECONDS - began))s)"
    start_ceph; say "ceph object gateway up ($((SECONDS - began))s)"
    write_env
    start_dagster; say "dagster daemon and $WORKERS celery workers up ($((SECONDS - began))s)"
    trap - EXIT ;;
  start-storage)  # the object gateway alone (tests_distributed/test_s3_landing.py): DIR/env reaches it
    mkdir -p "$DIR/pids" "$DIR/logs"
    trap 'say "start failed: stopping what started"; stop' EXIT
    began=$SECONDS
    start_ceph; say "ceph object gateway up ($((SECONDS - began))s)"
    write_env
    trap - EXIT ;;
  stop) stop ;;
  kill-worker) kill_worker "${3:?worker name, e.g. w1}" ;;
  *) die "unknown command $command: start, start-storage, stop or kill-worker" ;;
esac
