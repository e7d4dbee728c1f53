#!/usr/bin/env bash
# Choosing the dropout rate (the one setting the seed leaves open) on a validation split:
# 5,000 class-balanced training images held out (the same ones for every run), 45,000 trained on,
# the test set never seen. Every (dropout, seed) pair is a full 24-epoch run of the recipe; two run
# at a time, one BLAS thread each (on 2 cores that finishes sooner than one run on two threads).
# Kept per run: docs/validation/dropout<D>/seed<S>/{history.json,history.csv,train.log}.
#   bash benchmarks/validation_study.sh "0 0.025 0.05 0.1" "1 2 3 4"
set -euo pipefail
dropouts=${1:-"0 0.025 0.05 0.1"}
seeds=${2:-"1 2 3 4"}
run_one() {
  local dropout=$1 seed=$2 out=docs/validation/dropout$1/seed$2
  mkdir -p "$out"
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python examples/train_cifar.py --device cpu \
      --data ../shared/data/cifar10-jpeg.tar.gz --validation 5000 --dropout "$dropout" --seed "$seed" \
      --out "$out" --no-progress > "$out/train.log" 2>&1
  rm -f "$out"/*.png "$out/checkpoint.npz"  # the curves are in history.json: keep the record small
  echo "dropout $dropout seed $seed: $(tail -n 1 "$out/history.csv")"
}
export -f run_one
for seed in $seeds; do for dropout in $dropouts; do echo "$dropout $seed"; done; done \
  | xargs -P 2 -n 2 bash -c 'run_one "$0" "$1"'
python benchmarks/summarize_runs.py docs/validation/dropout*
