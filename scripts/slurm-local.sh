#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tests and for trying `analyze submit --slurm`:
# its own munged, slurmctld and slurmd as background daemons, everything (configuration, key,
# sockets, state, logs) in one folder, nothing in /etc and no system service touched.
#
#   scripts/slurm-local.sh start DIR   # writes DIR/slurm.conf, starts the daemons, waits until the node is idle
#   export SLURM_CONF=DIR/slurm.conf   # then sbatch, squeue, sinfo and `analyze submit --slurm` use it
#   scripts/slurm-local.sh stop DIR    # stops the three daemons (by the pids they recorded in DIR)
#
# Needs Debian's slurm-wlm and munge (the Makefile's APT_PACKAGES) and root, as slurmd launches
# jobs as their submitting user. Ports are chosen free at start (so a system Slurm, if any, is
# not disturbed). On failure `start` prints one line saying why, stops what it started and exits 1.
set -euo pipefail

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 64; }
[ $# -eq 2 ] || usage
action=$1
dir=$2

fail() {
  echo "slurm-local: $*" >&2
  stop_daemons
  exit 1
}

stop_daemons() {
  for name in slurmd slurmctld munged; do
    local pidfile="$dir/run/$name.pid"
    if [ -f "$pidfile" ]; then
      local pid
      pid=$(cat "$pidfile" 2>/dev/null || true)
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
      fi
      rm -f "$pidfile"
    fi
  done
}

# Runs a daemon with no file descriptor beyond 0-2 from this script: a parent watching a pipe
# or socket for this script's end (Foundation's Process does) would otherwise wait on the daemon.
detached() {
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec "$@" </dev/null >>"$dir/log/start.log" 2>&1
  )
}

# A TCP port nobody listens on, from a range away from Slurm's defaults (6817/6818).
free_port() {
  local port
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  return 1
}

start() {
  for tool in munged slurmctld slurmd sinfo sbatch; do
    command -v "$tool" >/dev/null || fail "$tool not found (install the Debian packages slurm-wlm and munge)"
  done
  [ "$(id -u)" = 0 ] || fail "must run as root (slurmd starts jobs as their user)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  mkdir -p "$dir/run" "$dir/log" "$dir/state" "$dir/spool" "$dir/munge"
  chmod 700 "$dir" "$dir/run" "$dir/munge"
  stop_daemons

  # munge: its own key, socket, pid, log and seed files.
  local key="$dir/munge/munge.key" socket="$dir/run/munge.socket"
  if [ ! -s "$key" ]; then
    dd if=/dev/urandom of="$key" bs=1024 count=1 status=none || fail "cannot write the munge key $key"
  fi
  chmod 400 "$key"
  detached munged --key-file="$key" --socket="$socket" --pid-file="$dir/run/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" --force \
    || fail "munged did not start: $(tail -n 1 "$dir/log/start.log" 2>/dev/null)"

  local host ctld_port slurmd_port node
  host=$(hostname -s)
  ctld_port=$(free_port) || fail "no free TCP port"
  slurmd_port=$(free_port) || fail "no free TCP port"
  # The node as slurmd sees it (CPUs, sockets, cores, memory): a mismatch would drain it.
  node=$(slurmd -C 2>/dev/null | head -n 1)
  case "$node" in NodeName=*) ;; *) fail "slurmd -C did not describe this node: $node" ;; esac

  cat > "$dir/slurm.conf" <<EOF
# One-node Slurm written by scripts/slurm-local.sh; everything lives in $dir.
ClusterName=basin-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=300
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"

  # -c: a clean start, no jobs from an earlier cluster in this folder.
  detached slurmctld -c -f "$SLURM_CONF" || fail "slurmctld did not start: $(tail -n 1 "$dir/log/start.log" 2>/dev/null) (see $dir/log/slurmctld.log)"
  detached slurmd -f "$SLURM_CONF" || fail "slurmd did not start: $(tail -n 1 "$dir/log/start.log" 2>/dev/null) (see $dir/log/slurmd.log)"

  # Wait until the node is idle: the cluster takes jobs.
  local state=""
  for _ in $(seq 120); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true)
    [ "$state" = idle ] && break
    sleep 0.5
  done
  if [ "$state" != idle ]; then
    local why
    why=$(tail -n 1 "$dir/log/slurmd.log" 2>/dev/null || true)
    fail "the node did not become idle within 60 s (state '${state:-none}'; slurmd: ${why:-no log})"
  fi
  echo "slurm-local: running in $dir (export SLURM_CONF=$SLURM_CONF)"
}

case "$action" in
  start) start ;;
  stop) stop_daemons ;;
  status) SLURM_CONF="$dir/slurm.conf" sinfo -N ;;
  *) usage ;;
esac
