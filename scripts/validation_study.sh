#!/usr/bin/env bash
# Choosing the dropout rate (the one setting the assignment leaves open) on a validation split:
# 5,000 class-balanced training images held out (the same ones for every run), 45,000 trained on,
# the test set never seen. Every (dropout, seed) pair is a full 24-epoch run of the recipe, two at
# a time; only each run's histories and log are kept, in ${ROOT:-runs/validation}/dropout<D>/seed<S>/.
#   bash scripts/validation_study.sh "0 0.025 0.05 0.1" "1 2 3 4 5 6 7 8"
set -euo pipefail
dropouts=${1:-"0 0.025 0.05 0.1"}
seeds=${2:-"1 2 3 4 5 6 7 8"}
root=${ROOT:-runs/validation}
for dropout in $dropouts; do
  JOBS=2 KEEP=history bash scripts/cpu_runs.sh "$root/dropout$dropout" "$seeds" \
      --validation 5000 --dropout "$dropout"
done
python scripts/summarize_runs.py "$root"/dropout*
