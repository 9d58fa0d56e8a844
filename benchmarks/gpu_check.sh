#!/usr/bin/env bash
# The device check, <= 5 minutes on one GPU; run from the repository root: benchmarks/gpu_check.sh
#
#   0. the devices JAX sees;
#   1. the tests that touch devices: placement and sharding (tests/test_devices.py, its 4-device
#      sharding check included; not the two-process jax.distributed check, minutes on its own),
#      mixed precision (tests/test_bf16.py) and the persistent compile cache (tests/test_compile_cache.py);
#   2. benchmarks/throughput.py --arch mlp at widths 1024 and 4096, float32 then bfloat16: the
#      framework against the bare jit(scan(vmap(step))) loop, both as % of the device's matmul peak;
#   3. benchmarks/many_members.py: member-steps per second of one group of 1000 members at width 256.
#
# Each stage runs under `timeout`; a failed or timed-out stage is reported and the next one runs;
# the exit status is 1 when any stage failed.  Without an accelerator (jax.default_backend() ==
# "cpu") the stages take CPU-sized settings, 3 to 10 minutes on 2 cores: widths 64 and 256 at 200
# steps, one framework / bare pair, and the 1000 members at width 64 for 100 steps (at width 256
# their NTK measurements alone take minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=.venv/bin/python
[[ -x $PYTHON ]] || PYTHON=python
export JAX_PLATFORMS="${JAX_PLATFORMS-}"  # set, empty = every platform: tests/conftest.py then keeps the accelerator
export WANDB_MODE="${WANDB_MODE:-disabled}"

"$PYTHON" -c 'import jax; print("devices:", jax.devices())'
backend=$("$PYTHON" -c 'import jax; print(jax.default_backend())')
if [[ $backend == cpu ]]; then
  echo "no accelerator: CPU-sized settings (widths 64,256 at 200 steps, 1000 members at width 64 for 100 steps)"
  throughput=(--widths 64,256 --steps 200 --repeats 1)
  many=(--width 64 --steps 100)
  limits=(180 240 240 150)  # seconds: tests, throughput float32, bfloat16, many members
else
  throughput=(--widths 1024,4096)
  many=(--width 256 --steps 200)
  limits=(60 90 90 45)
fi

failed=()
stage() {  # stage NAME SECONDS COMMAND...: COMMAND under `timeout SECONDS`, its failure recorded
  local name=$1 limit=$2 start=$SECONDS status=0 why=""
  shift 2
  echo
  echo "== $name (at most ${limit}s)"
  timeout "$limit" "$@" || status=$?
  if ((status == 0)); then
    echo "== $name: ok in $((SECONDS - start))s"
  else
    ((status != 124)) || why=", timed out"
    echo "== $name: FAILED (exit $status$why) after $((SECONDS - start))s"
    failed+=("$name")
  fi
}

# the tests' subprocesses share the accelerator with pytest's own process: no preallocation
stage "device tests" "${limits[0]}" env XLA_PYTHON_CLIENT_PREALLOCATE=false "$PYTHON" -m pytest -q -x -m "" tests/test_devices.py tests/test_bf16.py \
  tests/test_compile_cache.py --deselect tests/test_devices.py::test_two_processes_on_localhost_equal_one_process
stage "throughput float32" "${limits[1]}" "$PYTHON" benchmarks/throughput.py --arch mlp --dtype float32 "${throughput[@]}"
stage "throughput bfloat16" "${limits[2]}" "$PYTHON" benchmarks/throughput.py --arch mlp --dtype bfloat16 "${throughput[@]}"
stage "1000 members" "${limits[3]}" "$PYTHON" benchmarks/many_members.py "${many[@]}"

echo
if ((${#failed[@]})); then
  echo "gpu_check: FAILED: ${failed[*]} (total ${SECONDS}s)"
  exit 1
fi
echo "gpu_check: all stages ok (total ${SECONDS}s)"
