# Shared by the GPU checks: Ray from the offline bundle in .gpu/, raysweep without its
# dependencies, the machine's description, and `bounded` / `measure` to run each step under a
# time limit. Source it after setting DEADLINE_S (the whole script's limit, setup included).
# shellcheck shell=bash

OUT=${OUT:-$PWD/build/gpu-check}
mkdir -p "$OUT"
RESULTS=$OUT/gpu_results.txt
: >"$RESULTS"
DEADLINE=$((SECONDS + ${DEADLINE_S:-420}))
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

