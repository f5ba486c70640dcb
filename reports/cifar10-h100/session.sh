#!/usr/bin/env bash
# The GPU session that produced this folder, step by step, as run on the lent machine (see README.md here).
# The CIFAR-10 shards travel two per call under carry/<batch>/ (64 MiB per call) and are gathered in $DATA.
#   session.sh stage            copy the carried shards to $DATA; install the project (no deps, no network)
#   session.sh check            CUDA tests, then the throughput benchmark (JSON under $RUN and $OUT)
#   session.sh launch SECONDS   size the epochs so that the grid fits SECONDS at the measured rate; start the
#                               three sweeps (Nesterov, Adam, normalized SGD) in the background, one process each
#   session.sh wait SECONDS     wait for the sweeps (at most SECONDS), then pack $RUN into $OUT/run.tar.gz
#   session.sh confirm          (second lease, after the harness recorded the exact per-filter C) the CUDA tests,
#                               a short bench, and the Nesterov cells that equilibrate (4 etas x 5 lams, 33 epochs)
set -euo pipefail
DATA=${DATA:-/tmp/cifar}
RUN=${RUN:-/tmp/normlaws-run}
OUT=${OUT:-/tmp/out}
RULES=(nesterov adam normalized)
CELLS=147            # 3 rules x 7 etas x 7 lams (normlaws.gpu.config.PAPER_GRID)
mkdir -p "$DATA" "$RUN" "$OUT"
export PYTHONUNBUFFERED=1

stage() {
    cp carry/*/*.npz "$DATA"/ 2>/dev/null || true
    cp carry/p*/part* "$DATA"/ 2>/dev/null || true     # second lease: one tar of the shards, split in 4 parts
    if [ -f "$DATA/part03" ]; then cat "$DATA"/part0[0-3] | tar -xf - -C "$DATA" && rm "$DATA"/part0[0-3]; fi
    python -c 'import normlaws.gpu' 2>/dev/null || python -m pip install -q --no-deps --no-build-isolation -e .
    ls -l "$DATA"
}

check() {
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$RUN/device.txt"
    python -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' | tee -a "$RUN/device.txt"
    python -m pytest -q -p no:cacheprovider tests/test_gpu_cuda.py tests/test_gpu_model.py tests/test_gpu_optim.py \
        2>&1 | tail -5 | tee "$RUN/cuda_tests.txt" || true
    python -m normlaws bench --device cuda --models 1 4 16 64 --json > "$RUN/bench.json"
    python -m normlaws bench --device cuda --models 16 64 128 --channels-last --no-compare --json > "$RUN/bench_channels_last.json"
    python -m normlaws bench --device cuda --models 64 --no-amp --no-compare --json > "$RUN/bench_fp32.json"
    cp "$RUN"/*.json "$RUN"/*.txt "$OUT"/
    python - "$RUN" <<'PY'
import json, sys
for name in ("bench", "bench_channels_last", "bench_fp32"):
    b = json.load(open(f"{sys.argv[1]}/{name}.json"))
    for r in b["rows"]:
        print(name, b["device"], "amp" if b["amp"] else "fp32", r)
PY
}

launch() {
    local seconds=$1 epochs
    epochs=$(python - "$RUN/bench.json" "$seconds" "$CELLS" <<'PY'
import json, sys
bench, seconds, cells = json.load(open(sys.argv[1])), float(sys.argv[2]), int(sys.argv[3])
rate = max(r["ensemble"] for r in bench["rows"] if r["models"] >= 16)   # 49 models per ensemble here
# 0.7: evaluation on the test set each epoch, three processes sharing one GPU, start-up (data, cuDNN tuning)
print(max(4, min(100, int(0.7 * seconds * rate / (cells * 50_000)))))
PY
)
    local m1=$(( epochs / 2 )) m2=$(( epochs * 4 / 5 ))
    echo "epochs $epochs milestones $m1 $m2" | tee "$RUN/plan.txt"
    for rule in "${RULES[@]}"; do
        setsid nohup python -m normlaws sweep --device cuda --data "$DATA" --out "$RUN/sweep" --optimizers "$rule" \
            --epochs "$epochs" --milestones "$m1" "$m2" --json > "$RUN/$rule.json" 2> "$RUN/$rule.log" < /dev/null &
        echo "$rule pid $!" | tee -a "$RUN/plan.txt"
    done
    date -u +%FT%TZ > "$RUN/started.txt"
}

wait_sweeps() {
    local limit=$1 start=$SECONDS
    while pgrep -f "normlaws sweep" > /dev/null && (( SECONDS - start < limit )); do sleep 5; done
    pgrep -f "normlaws sweep" > /dev/null && echo "sweeps still running" || date -u +%FT%TZ > "$RUN/finished.txt"
    for rule in "${RULES[@]}"; do echo "== $rule"; tail -c 600 "$RUN/$rule.log" | tr '\r' '\n' | tail -3; done
    nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
    tar -czf "$OUT/run.tar.gz" -C "$(dirname "$RUN")" "$(basename "$RUN")"
    ls -l "$OUT"
}

confirm() {
    python -m pytest -q -p no:cacheprovider tests/test_gpu_cuda.py tests/test_gpu_train_stats.py 2>&1 | tail -3 \
        | tee "$RUN/confirm_tests.txt" || true
    python -m normlaws bench --device cuda --models 16 64 --no-compare --json > "$RUN/confirm_bench.json"
    date -u +%FT%TZ > "$RUN/confirm_started.txt"
    python -m normlaws sweep --device cuda --data "$DATA" --out "$RUN/confirm" --optimizers nesterov \
        --etas 0.03162 0.1 0.3162 1.0 --lams 0.0001 0.0003162 0.001 0.003162 0.01 --epochs 33 --milestones 16 26 \
        --no-progress --json > "$RUN/confirm_sweep.json"
    date -u +%FT%TZ > "$RUN/confirm_finished.txt"
    tar -czf "$OUT/confirm.tar.gz" -C "$(dirname "$RUN")" "$(basename "$RUN")"
    ls -l "$OUT"
}

case "${1:-}" in
    stage) stage ;;
    check) check ;;
    launch) launch "$2" ;;
    wait) wait_sweeps "$2" ;;
    confirm) confirm ;;
    *) echo "usage: session.sh stage|check|launch SECONDS|wait SECONDS|confirm" >&2; exit 2 ;;
esac
