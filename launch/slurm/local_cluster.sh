#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for trying `scaling run --launcher slurm`
# on a laptop and for CI.  Needs root and Debian's (or Ubuntu's) packages:
#   apt-get install slurmctld slurmd slurm-client munge
# Usage: launch/slurm/local_cluster.sh start|stop|status [STATE_DIR]   (default /tmp/scaling-slurm)
# `start` writes slurm.conf into STATE_DIR, starts munged (as the munge user), slurmctld and
# slurmd, and waits until the node is idle; export SLURM_CONF=STATE_DIR/slurm.conf in the shell
# that submits.  `stop` stops every daemon `start` started (by their pid files).
# No cgroups are needed: processes are tracked by /proc (proctrack/linuxproc), tasks are not
# bound (task/none), and cores and memory are scheduled by select/cons_tres.
set -euo pipefail
action=${1:?usage: $0 start|stop|status [STATE_DIR]}
dir=$(realpath -m "${2:-/tmp/scaling-slurm}")
host=$(hostname -s)
export SLURM_CONF=$dir/slurm.conf

write_conf() {
  local cpus mem
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))  # MiB, leaving 10 % to the system
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge"
  chmod 755 "$dir"  # munged, as the munge user, must reach its socket and log inside
  cat > "$SLURM_CONF" <<CONF
ClusterName=scaling-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket.2
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
JobRequeue=1
ReturnToService=2
KillWait=30
MinJobAge=600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
DefMemPerCPU=$(( mem / cpus ))
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
}

stop_pid() {  # stop_pid FILE: TERM the daemon whose pid FILE holds, and wait for it
  local file=$1 pid
  [[ -f $file ]] || return 0
  pid=$(cat "$file")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

case $action in
start)
  write_conf
  chown munge:munge "$dir/munge"
  runuser -u munge -- /usr/sbin/munged --socket="$dir/munge/munge.socket.2" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"
  slurmctld -i
  slurmd
  for _ in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    [[ $state == idle ]] && { echo "SLURM is up on $host: export SLURM_CONF=$SLURM_CONF"; exit 0; }
    sleep 1
  done
  echo "SLURM did not come up (node state: '${state:-none}'); logs in $dir/log" >&2
  exit 1
  ;;
stop)
  scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  stop_pid "$dir/munge/munged.pid"
  echo "SLURM stopped"
  ;;
status)
  sinfo && squeue
  ;;
*)
  echo "usage: $0 start|stop|status [STATE_DIR]" >&2; exit 2
  ;;
esac
