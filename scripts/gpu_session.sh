#!/usr/bin/env bash
# Everything we check on a GPU machine, in one go (it is lent for minutes, not hours), the quick
# findings first: the step against PyTorch on the same GPU, where the step's time goes, what CuPy
# lets a stream capture, a smoke run interrupted and resumed, a full 24-epoch run of the assignment's
# recipe with a warm cache, and the GPU-marked tests. Each stage has a time limit of its own, so one
# that hangs leaves the others' results.
#
#     cp ../shared/data/cifar10-jpeg.tar.gz data/    # data/ is git-ignored
#     OUT=runs/gpu bash scripts/gpu_session.sh
#
# Results go to ${OUT:-runs/gpu}, one small text file per stage (docs/gpu/ keeps them).
set -uo pipefail
OUT=${OUT:-runs/gpu}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-gpu}  # DEVICE=cpu tries this script's plumbing on a machine without a GPU
SMOKE_LIMIT=${SMOKE_LIMIT:-20000}
DATA=data/cifar10-jpeg.tar.gz
RUNS=$(mktemp -d)
mkdir -p "$OUT"
export ULTIMUS_CACHE="$PWD/data/cache" PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"  # no install: the GPU machine has no package index

stage() {  # stage NAME SECONDS COMMAND...: run COMMAND with a time limit, its output into $OUT/NAME.txt
    local name=$1 limit=$2
    shift 2
    echo "== $name"
    local started=$SECONDS
    timeout "$limit" bash -c '"$@"' "$name" "$@" > "$OUT/$name.txt" 2>&1  # bash -c: a stage may be a function
    local status=$?
    echo "exit $status after $((SECONDS - started)) s" >> "$OUT/$name.txt"
    tail -25 "$OUT/$name.txt"
}

train() {  # train ARGS...: a quiet training run of the shared data on the GPU
    $PY examples/train_cifar.py --device "$DEVICE" --data "$DATA" --no-progress "$@"
}

smoke() {  # 3 epochs on $SMOKE_LIMIT images, interrupted after the first, resumed; then the same run uninterrupted
    set -m  # job control: a background job that ignores SIGINT (bash's default) could not be interrupted
    train --limit "$SMOKE_LIMIT" --epochs 3 --out "$RUNS/resumed" --seed 3 &
    local pid=$!
    until [ -e "$RUNS/resumed/history.json" ] || ! kill -0 $pid 2>/dev/null; do sleep 0.05; done
    kill -INT -- -$pid 2>/dev/null  # the job's process group: python, not only the subshell running `train`
    wait $pid
    echo "interrupted run exit $?; resuming"
    train --resume "$RUNS/resumed" || return
    train --limit "$SMOKE_LIMIT" --epochs 3 --out "$RUNS/straight" --seed 3 || return
    $PY - "$RUNS" <<'EOF'
import json, sys
runs = [json.load(open(f"{sys.argv[1]}/{name}/history.json")) for name in ("resumed", "straight")]
numbers = [[{key: value for key, value in record.items() if key != "seconds"} for record in run["records"]] for run in runs]
print("resumed:", *numbers[0], sep="\n  ")
print("resumed run equals the uninterrupted run:", numbers[0] == numbers[1])
EOF
    ls "$RUNS/resumed"
}

full_run() {  # the assignment's recipe, seed 1, 24 epochs; the cache was warmed by the smoke run
    local started=$SECONDS
    train --seed 1 --out "$RUNS/seed1" || return
    echo "24 epochs, seed 1: $((SECONDS - started)) s wall with a warm cache, including start-up and figures"
    cp "$RUNS/seed1/history.json" "$OUT/seed1_history.json"
}

export -f train smoke full_run
export OUT PY DEVICE DATA RUNS SMOKE_LIMIT
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY -c "import cupy, numpy, torch; print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'torch', torch.__version__)"
} > "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
stage step_time 75 $PY benchmarks/step_time.py --device gpu --steps 30 --rounds 3 --batch-size 512 128
stage profile 50 $PY benchmarks/gpu_profile.py --batch-size 512 128 --steps 30
stage capture_probe 75 $PY benchmarks/gpu_capture_probe.py  # after the others: CuPy's kernel cache is warm
stage smoke 120 smoke
stage seed1 90 full_run
stage gpu_tests 150 $PY -m pytest -q -m gpu -p no:cacheprovider --timeout 60
