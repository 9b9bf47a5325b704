#!/usr/bin/env bash
# GPU check for promote mode: examples/pytorch_digits.py in stop mode and in promote mode, one
# after the other on the same GPU machine in the same run (same trials: RandomSampler(seed=0)),
# then a promote-mode run where each trial needs the whole GPU and two runners compete for it.
#
# Run from the repository root of a fresh copy of the working tree, with .gpu/ (the Ray bundle
# from ../shared/gpu/make-ray-bundle.sh) beside the sources:
#     bash benchmarks/gpu/promote_check.sh
# RESULT lines go to $OUT/gpu_results.txt, logs to $OUT/ ($OUT defaults to build/gpu-check). The
# whole script stops within ~7 minutes; it exits non-zero if a step failed.
set -euo pipefail

DEADLINE_S=450
# shellcheck source=benchmarks/gpu/_common.sh
source "$(dirname "$0")/_common.sh"

# ----- 3. the same 81 trials, a quarter GPU each, 4 at once: stop mode, then promote mode ---------
for mode in stop promote; do
  storage=$(mktemp -d /tmp/raysweep-gpu-promote.XXXXXX)
  measure "raysweep: examples/pytorch_digits.py --mode $mode, 81 trials, GPU 0.25 per trial" \
    '^RESULT raysweep ' "raysweep_$mode.log" 150 \
    python3 examples/pytorch_digits.py --storage "$storage" --n-trials 81 --gpu-per-trial 0.25 \
    --max-concurrent 4 --mode "$mode" || true
  rm -rf "$storage"
done

# ----- 4. a paused trial holds no GPU: one whole GPU per trial, two runners, one GPU ---------------
# The second runner waits for the GPU the whole time; every trial after the first can only start
# because a pause (or an end) gave the GPU back.
storage=$(mktemp -d /tmp/raysweep-gpu-promote.XXXXXX)
measure "raysweep: promote mode, 12 trials, 1 GPU per trial, 2 runners for 1 GPU" \
  '^RESULT raysweep ' raysweep_whole_gpu.log 120 \
  python3 examples/pytorch_digits.py --storage "$storage" --n-trials 12 --gpu-per-trial 1 \
  --max-concurrent 2 --mode promote || true
rm -rf "$storage"
bounded 20 nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv \
  >"$OUT/gpu_apps_at_end.csv" 2>&1 || true

say "results ($RESULTS):"
cat "$RESULTS"
exit $((failures > 0))
