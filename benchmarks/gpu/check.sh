#!/usr/bin/env bash
# GPU check: raysweep's PyTorch example and Ray Tune's baseline, one after the other, on the same
# GPU machine in the same run, so both RESULT lines are comparable.
#
# Run from the repository root of a fresh copy of the working tree, with .gpu/ (the Ray bundle
# from ../shared/gpu/make-ray-bundle.sh) beside the sources:
#     bash benchmarks/gpu/check.sh
# Both RESULT lines go to $OUT/gpu_results.txt, the logs to $OUT/ ($OUT defaults to
# build/gpu-check). Each step has its own time limit and the whole script stops within ~6 minutes.
# If raysweep's example fails, the failure is recorded and the baseline still runs; the script
# then exits non-zero.
set -euo pipefail

DEADLINE_S=420
# shellcheck source=benchmarks/gpu/_common.sh
source "$(dirname "$0")/_common.sh"

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
measure "raysweep on the baseline's workload: benchmarks/gpu/same_workload.py, GPU 0.25" \
  '^RESULT raysweep-same-workload ' raysweep_same_workload.log 100 \
  python3 -m benchmarks.gpu.same_workload --gpu-per-trial 0.25 || true

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
