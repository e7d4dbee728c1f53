#!/usr/bin/env bash
# Everything we check on a GPU machine, in one go (it is lent for minutes, not hours):
# the GPU-marked tests, a quick pipeline smoke run, a full 24-epoch run of the assignment's recipe,
# and the step-time benchmark. Expects the data archive at data/cifar10-jpeg.tar.gz
# (copy ../shared/data/cifar10-jpeg.tar.gz there; the data/ folder is git-ignored).
# Results go to ${OUT:-runs/gpu}.
set -uo pipefail
OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
export ULTIMUS_CACHE="$PWD/data/cache"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # no install: the GPU machine has no package index
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
python -c "import cupy; print('cupy', cupy.__version__)" | tee -a "$OUT/gpu.txt"

timeout 150 python -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tail -15 | tee "$OUT/gpu_tests.txt"

python examples/train_cifar.py --device gpu --data data/cifar10-jpeg.tar.gz --limit 2000 --epochs 1 \
    --out "$OUT/smoke" --no-progress > "$OUT/smoke.log" 2>&1 || { tail -30 "$OUT/smoke.log"; exit 1; }
tail -3 "$OUT/smoke.log"

started=$SECONDS
python examples/train_cifar.py --device gpu --data data/cifar10-jpeg.tar.gz \
    --out "$OUT/seed1" --seed 1 --no-progress > "$OUT/seed1.log" 2>&1
echo "full 24-epoch run: $((SECONDS - started)) s wall, including data loading" | tee "$OUT/seed1.wall"
tail -12 "$OUT/seed1.log"

python benchmarks/step_time.py --device gpu --steps 50 2>&1 | tee "$OUT/step_time.txt"
