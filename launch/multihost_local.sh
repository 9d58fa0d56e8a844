#!/usr/bin/env bash
# Try a multi-host run on one machine: N processes on localhost, each with D CPU devices,
# joined by jax.distributed through explicit flags (what launch/multihost.sbatch gets from
# SLURM).  The members of each group are sharded over all N x D devices.
#
#   launch/multihost_local.sh CONFIG OUT [N=2] [D=2]
set -euo pipefail
config=${1:?usage: $0 CONFIG OUT [PROCESSES] [DEVICES_PER_PROCESS]} out=${2:?usage: $0 CONFIG OUT}
n=${3:-2} d=${4:-2}
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("localhost", 0)); print(s.getsockname()[1])')
pids=()
for ((i = 0; i < n; i++)); do
  XLA_FLAGS=--xla_force_host_platform_device_count=$d JAX_PLATFORMS=cpu \
    scaling run "$config" --out "$out" --no-progress \
    --coordinator "localhost:$port" --num-processes "$n" --process-id "$i" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
