#!/usr/bin/env bash
# A throwaway single-node Ceph cluster (one monitor, one OSD on memstore, radosgw) serving the S3 API
# on loopback, for the AWS adapter tests (DESIGN.md "Backends for tests"). Debian packages only: no
# Docker, no systemd. Everything lives in DIR; object data is in RAM and gone at stop.
#
#   scripts/radosgw.sh start DIR PORT MONPORT [OWNER_PID]   # empties DIR; ~15 s
#   scripts/radosgw.sh stop DIR                              # stops the daemons by their pid files
#
# S3 credentials come from RGW_ACCESS_KEY / RGW_SECRET_KEY (test defaults otherwise); region
# us-east-1, path-style addressing. With OWNER_PID, a watchdog stops the daemons once that process is
# gone, so a crashed test run leaves nothing behind. On success the last line printed is
#   endpoint=http://127.0.0.1:PORT
set -euo pipefail

cmd=${1:-}
D=${2:-}
[ -n "$cmd" ] && [ -n "$D" ] || { echo "usage: $0 start DIR PORT MONPORT [OWNER_PID] | stop DIR" >&2; exit 2; }

# Daemons write their pid files under run/; the watchdog's lives beside it so stop never kills it first.
stop() {
  local pids=() f p
  for f in "$D"/run/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f" 2>/dev/null || true)
    [ -n "$p" ] && kill "$p" 2>/dev/null && pids+=("$p")
  done
  # Up to 1 s for a clean exit, then SIGKILL: memstore has nothing worth flushing, and an OSD
  # shutting down politely waits for a monitor that may already be gone.
  for _ in $(seq 1 10); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -f "$D"/run/*.pid
  if [ -f "$D/watchdog.pid" ]; then
    p=$(cat "$D/watchdog.pid" 2>/dev/null || true)
    rm -f "$D/watchdog.pid"
    [ -n "$p" ] && [ "$p" != "$$" ] && kill "$p" 2>/dev/null || true
  fi
}

if [ "$cmd" = stop ]; then
  stop
  exit 0
fi
[ "$cmd" = start ] || { echo "unknown command: $cmd" >&2; exit 2; }

PORT=${3:?PORT}
MONPORT=${4:?MONPORT}
OWNER=${5:-}
ACCESS_KEY=${RGW_ACCESS_KEY:-AKIDRGWTEST}
SECRET_KEY=${RGW_SECRET_KEY:-rgwsecrettest}

missing=()
for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool uuidgen curl; do
  command -v "$bin" >/dev/null || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "radosgw.sh: missing ${missing[*]}; install them with:" >&2
  echo "  apt-get install radosgw ceph-mon ceph-osd ceph-common uuid-runtime curl" >&2
  exit 3
fi

# memstore keeps nothing across restarts, so every start is a fresh cluster in an emptied DIR.
[ -d "$D/run" ] && stop
rm -rf "$D"
mkdir -p "$D"/{mon.a,osd.0,run,log,rgw}
# Who the cluster belongs to, for callers sweeping directories of runs that died.
[ -n "$OWNER" ] && echo "$OWNER" > "$D/owner"
fsid=$(uuidgen)
cat > "$D/ceph.conf" <<CONF
[global]
fsid = $fsid
mon_host = v1:127.0.0.1:$MONPORT
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 2000
osd_crush_chooseleaf_type = 0
run_dir = $D/run
pid_file = $D/run/\$name.pid
log_file = $D/log/\$name.log
admin_socket = $D/run/\$name.asok
ms_bind_msgr2 = false
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
keyring = $D/keyring
[mon.a]
mon_data = $D/mon.a
mon_initial_members = a
[osd.0]
osd_data = $D/osd.0
osd_objectstore = memstore
memstore_device_bytes = 4294967296
osd_max_object_name_len = 460
osd_max_object_namespace_len = 64
[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:$PORT
rgw_data = $D/rgw
log_file = $D/log/rgw.log
rgw_dns_name = localhost
CONF

fail() {
  echo "radosgw.sh: $1; logs in $D/log" >&2
  stop
  exit 1
}
trap 'fail "start failed at line $LINENO"' ERR

# From here on daemons exist: watch the owner so they die with it.
if [ -n "$OWNER" ]; then
  setsid bash -c '
    owner=$1; script=$2; dir=$3
    while kill -0 "$owner" 2>/dev/null; do sleep 1; done
    exec "$script" stop "$dir"
  ' radosgw-watchdog "$OWNER" "$(readlink -f "$0")" "$D" </dev/null >/dev/null 2>&1 &
  echo $! > "$D/watchdog.pid"
fi

C=(-c "$D/ceph.conf")
retry() { for _ in $(seq 1 40); do timeout 10 "$@" && return 0; sleep 0.5; done; return 1; }
ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --add a "v1:127.0.0.1:$MONPORT" --fsid "$fsid" "$D/monmap" >/dev/null
ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
# Daemons fork into the background; their stdio goes to files so no caller's pipe stays open.
ceph-mon "${C[@]}" -i a </dev/null >>"$D/log/daemons.out" 2>&1
retry ceph "${C[@]}" osd create >/dev/null || fail "the monitor did not answer"
ceph-osd "${C[@]}" -i 0 --mkfs >/dev/null 2>&1
retry ceph "${C[@]}" osd crush add-bucket localhost host >/dev/null
retry ceph "${C[@]}" osd crush move localhost root=default >/dev/null
retry ceph "${C[@]}" osd crush add osd.0 1.0 host=localhost >/dev/null
ceph-osd "${C[@]}" -i 0 </dev/null >>"$D/log/daemons.out" 2>&1
radosgw "${C[@]}" -n client.rgw.a </dev/null >>"$D/log/daemons.out" 2>&1

code=000
for _ in $(seq 1 240); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/" || true)
  [ "$code" = 200 ] && break
  sleep 0.25
done
[ "$code" = 200 ] || fail "radosgw did not come up on port $PORT"
timeout 30 radosgw-admin "${C[@]}" user create --uid=test --display-name=test \
  --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null || fail "could not create the S3 user"
trap - ERR
echo "endpoint=http://127.0.0.1:$PORT"
