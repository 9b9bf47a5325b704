#!/usr/bin/env bash
# GPU check: raysweep's PyTorch example and Ray Tune's baseline, one after the other, on the same
# GPU machine in the same run, so both RESULT lines are comparable.
#
# Run from the repository root of a fresh copy of the working tree, with .gpu/ (the Ray bundle
# from ../shared/gpu/make-ray-bundle.sh) beside the sources:
#     bash benchmarks/gpu_check.sh
# Both RESULT lines go to $OUT/gpu_results.txt, the logs to $OUT/ ($OUT defaults to
# build/gpu-check). Each step has its own time limit and the whole script stops within ~6 minutes.
# If raysweep's example fails, the failure is recorded and the baseline still runs; the script
# then exits non-zero.
set -euo pipefail

OUT=${OUT:-$PWD/build/gpu-check}
mkdir -p "$OUT"
RESULTS=$OUT/gpu_results.txt
: >"$RESULTS"
DEADLINE=$((SECONDS + 420)) # the whole script, setup included
failures=0

say() { echo "[gpu_check +${SECONDS}s] $*"; }

# bounded LIMIT CMD...: run CMD under `timeout`, for at most LIMIT s and never past DEADLINE.
bounded() {
  local limit=$1 left=$((DEADLINE - SECONDS))
  shift
  if ((left < limit)); then limit=$left; fi
  if ((limit < 5)); then
    say "no time left for: $*"
    return 124
  fi
  timeout -k 10 "$limit" "$@"
}

# ----- 1. Ray from the bundle, raysweep without its dependencies (see ../shared/gpu/README.md) -----
say "setting up Ray from .gpu/ and raysweep into build/gpu-site"
if [[ ! -f .gpu/ray.tar.xz ]]; then
  echo "FAILED setup: no .gpu/ray.tar.xz here ($PWD); carry .gpu/ along" | tee -a "$RESULTS"
  exit 2
fi
mkdir -p /tmp/site
bounded 60 tar xJf .gpu/ray.tar.xz -C /tmp/site
bounded 45 python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site .gpu/deps/*.whl
export PYTHONPATH=/tmp/site:$PWD/build/gpu-site PYTHONUNBUFFERED=1 RAY_USAGE_STATS_ENABLED=0
export RAY_AUTH_MODE=disabled
# build/ is git-ignored, so it may survive from an earlier run on the same machine: start clean.
rm -rf build/gpu-site
bounded 60 python3 -m pip install -q --no-index --no-deps --no-build-isolation \
  --target build/gpu-site .

# ----- 2. What machine this is --------------------------------------------------------------------
say "machine"
bounded 20 nvidia-smi --query-gpu=name,memory.total,driver_version,utilization.gpu \
  --format=csv || say "nvidia-smi failed"
bounded 60 python3 - <<'EOF' || say "version check failed"
import platform

import ray
import torch

import raysweep.orchestrator

print(f"python {platform.python_version()}  torch {torch.__version__}  ray {ray.__version__}")
print(f"cuda available: {torch.cuda.is_available()}", end="")
if torch.cuda.is_available():
    print(f"  device: {torch.cuda.get_device_name(0)}  cuda {torch.version.cuda}", end="")
print(f"\nraysweep from {raysweep.orchestrator.__file__}")
try:
    import pynvml  # noqa: F401  (the baseline and our GPU busy % need it)

    print("pynvml: yes")
except ImportError:
    print("pynvml: MISSING (the baseline will fail; our mean_gpu_util will be n/a)")
EOF

# measure LABEL PATTERN LOG LIMIT CMD...: run one measured program, keep its RESULT line (the
# lines matching PATTERN) or record its failure; returns non-zero when it failed.
measure() {
  local label=$1 pattern=$2 log=$3 limit=$4 rc=0
  shift 4
  say "$label"
  bounded "$limit" "$@" >"$OUT/$log" 2>&1 || rc=$?
  tail -n 20 "$OUT/$log"
  if ((rc == 0)) && grep -q "$pattern" "$OUT/$log"; then
    grep "$pattern" "$OUT/$log" >>"$RESULTS"
    return 0
  fi
  failures=$((failures + 1))
  echo "FAILED $label rc=$rc (124 = timed out); see $log" >>"$RESULTS"
  return 1
}

# ----- 3a. raysweep: 24 trials, a quarter GPU each -------------------------------------------------
storage=$(mktemp -d /tmp/raysweep-gpu-check.XXXXXX) # also marks when our run began
if ! measure "raysweep: examples/pytorch_digits.py, 24 trials, GPU 0.25 per trial" \
  '^RESULT raysweep ' raysweep.log 120 \
  python3 examples/pytorch_digits.py --storage "$storage" --n-trials 24 --gpu-per-trial 0.25 \
  --max-concurrent 4; then
  # Ray's own logs of that session (if it got that far) say what the runners did.
  if [[ -d /tmp/ray/session_latest/logs && /tmp/ray/session_latest -nt $storage ]]; then
    tar czf "$OUT/raysweep_ray_logs.tgz" -C /tmp/ray/session_latest logs 2>/dev/null || true
  fi
fi
# Anything still holding the GPU would skew what follows: list it (nothing is killed here).
bounded 20 nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv \
  >"$OUT/gpu_apps_after_raysweep.csv" 2>&1 || true

# ----- 3b. raysweep on the baseline's own workload (like for like) --------------------------------
measure "raysweep on the baseline's workload: benchmarks/gpu_same_workload.py, GPU 0.25" \
  '^RESULT raysweep-same-workload ' raysweep_same_workload.log 100 \
  python3 benchmarks/gpu_same_workload.py --gpu-per-trial 0.25 || true

# ----- 3c. Ray Tune baseline, same machine, same share of the GPU ---------------------------------
measure "baseline: REUSE=1 GPUS=0.25 .gpu/ray_tune_baseline.py" '^RESULT ' ray_tune.log 100 \
  env REUSE=1 GPUS=0.25 python3 .gpu/ray_tune_baseline.py || true
# Start-up times, outside both wall_s figures.
grep -h '^create_study ' "$OUT/raysweep.log" >>"$RESULTS" || true
grep -h '^ray.init ' "$OUT/ray_tune.log" >>"$RESULTS" || true
rm -rf "$storage"

say "results ($RESULTS):"
cat "$RESULTS"
exit $((failures > 0))
