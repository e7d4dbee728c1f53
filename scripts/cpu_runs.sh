#!/usr/bin/env bash
# Full 24-epoch CPU runs of the recipe on the shared real data, one per seed, each into
# OUT_ROOT/seed<N>/ (default runs/cpu; docs/ only gets what is committed) with its log and peak
# memory (GNU time's maximum resident set).
#   bash scripts/cpu_runs.sh [OUT_ROOT [SEEDS [more train_cifar.py arguments]]]
#   bash scripts/cpu_runs.sh runs/cpu "1 2 3"
#   JOBS=2 bash scripts/cpu_runs.sh runs/validation/dropout0.1 "1 2 3 4" --validation 5000 --dropout 0.1
# JOBS=2 runs two seeds at a time with one BLAS thread each: on 2 cores that finishes a batch of
# runs sooner than one run at a time on two threads, though each epoch is slower.
# KEEP=history keeps only the histories and the log of each run (no figures, no checkpoint).
set -euo pipefail
root=${1:-runs/cpu} seeds=${2:-1}
shift $(( $# < 2 ? $# : 2 ))
jobs=${JOBS:-1}
threads=$(( $(nproc) / jobs > 0 ? $(nproc) / jobs : 1 ))
run_one() {
  local seed=$1 out=$root/seed$1
  shift
  mkdir -p "$out"
  OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads /usr/bin/time -v python examples/train_cifar.py \
      --device cpu --data ../shared/data/cifar10-jpeg.tar.gz --seed "$seed" --out "$out" --no-progress "$@" \
      > "$out/train.log" 2> "$out/time.txt"
  [ "${KEEP:-all}" != history ] || rm -f "$out"/*.png "$out/checkpoint.npz"
  echo "$out: $(grep -E 'Maximum resident' "$out/time.txt" | tr -s ' ')"
  tail -n 7 "$out/train.log" | head -n 5
}
export -f run_one
export root threads
printf '%s\n' $seeds | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$@"
python scripts/summarize_runs.py "$root"
