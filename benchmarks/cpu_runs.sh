#!/usr/bin/env bash
# The full CPU runs of the README: the seed's recipe, 24 epochs, on the shared real data, one run per
# seed, each into docs/cpu/seed<N>/ with its log and peak memory (GNU time's maximum resident set).
set -euo pipefail
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
for seed in "${seeds[@]}"; do
  out=docs/cpu/seed$seed
  mkdir -p "$out"
  /usr/bin/time -v python examples/train_cifar.py --device cpu --data ../shared/data/cifar10-jpeg.tar.gz \
      --seed "$seed" --out "$out" --no-progress > "$out/train.log" 2> "$out/time.txt"
  grep -E "Maximum resident|Elapsed" "$out/time.txt"
  tail -8 "$out/train.log"
done
