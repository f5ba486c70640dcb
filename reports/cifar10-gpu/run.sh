#!/usr/bin/env bash
# The training leg at the paper's scale on one GPU (issue 13): every rule of the harness on the paper's 7 x 7
# (eta, lambda) grid (normlaws.gpu.presets.PAPER_ETAS/PAPER_LAMS), the invariant and the standard network, 3 seeds,
# the paper's schedule (lr / 10 at 1/2 and 4/5 of the epochs); then the figures and every training check.
#
#   bash reports/cifar10-gpu/run.sh            # from the repository root, on the GPU machine
#
# Environment: DATA (CIFAR-10 .npz shards; default ../shared/data/cifar10), OUT (default reports/cifar10-gpu),
# BUDGET_S (seconds of training to aim at; default 2700 = 45 min), EPOCHS (force the epochs; default: 100 when
# the budget allows it at the measured rate, else the most that fit -- printed and written to plan.txt),
# WIDTHS (conv1..conv4; default the paper-scale 32 64 128 256).
#
# Size: 8 rules x 49 cells x 2 networks x 3 seeds = 2,352 runs. At the H100 rate measured in
# reports/cifar10-h100/bench (335k images/s in ensembles of 64, widths 32..256) 100 epochs of 50,000 images each
# take ~10 hours, so within 45 minutes the script trains fewer epochs (or narrower widths with WIDTHS) and says so.
# The run resumes: a second call skips every configuration with a record.
set -euo pipefail
DATA=${DATA:-../shared/data/cifar10}
OUT=${OUT:-reports/cifar10-gpu}
BUDGET_S=${BUDGET_S:-2700}
WIDTHS=${WIDTHS:-32 64 128 256}
RULES=(sgd momentum nesterov_torch rmsprop_torch adam adamw normalized lion)
SEEDS=(0 1 2)
NETWORKS=(invariant standard)
RUNS=$(( ${#RULES[@]} * 49 * ${#NETWORKS[@]} * ${#SEEDS[@]} ))
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
date -u +%FT%TZ > "$OUT/started.txt"

# 1. the device and the throughput at these widths
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/device.txt"
python -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' | tee -a "$OUT/device.txt"
python -m pytest -q -p no:cacheprovider tests/test_gpu_cuda.py tests/test_gpu_model.py tests/test_gpu_optim.py \
    tests/test_gpu_symmetry.py 2>&1 | tail -3 | tee "$OUT/cuda_tests.txt"
# shellcheck disable=SC2086
python -m normlaws bench --device cuda --models 16 49 64 --widths $WIDTHS --no-compare --json > "$OUT/bench.json"

# 2. the epochs that fit the budget (0.7: test-set evaluation, probes and start-up), at most the paper's 100
EPOCHS=${EPOCHS:-$(python - "$OUT/bench.json" "$BUDGET_S" "$RUNS" <<'PY'
import json, sys
bench, seconds, runs = json.load(open(sys.argv[1])), float(sys.argv[2]), int(sys.argv[3])
rate = max(r["ensemble"] for r in bench["rows"])          # images per second, all models of an ensemble together
print(max(4, min(100, int(0.7 * seconds * rate / (runs * 50_000)))))
PY
)}
M1=$(( EPOCHS / 2 )); M2=$(( EPOCHS * 4 / 5 ))
echo "runs $RUNS epochs $EPOCHS milestones $M1 $M2 widths $WIDTHS budget ${BUDGET_S}s" | tee "$OUT/plan.txt"
[ "$EPOCHS" -lt 100 ] && echo "NOTE: fewer than the paper's 100 epochs fit the budget; the schedule is scaled" \
    | tee -a "$OUT/plan.txt"

# 3. the sweep (49 cells of one rule, network and seed per ensemble)
# shellcheck disable=SC2086
/usr/bin/time -f "%e s wall" python -m normlaws sweep --device cuda --data "$DATA" --out "$OUT/records" \
    --optimizers "${RULES[@]}" --networks "${NETWORKS[@]}" --seeds "${SEEDS[@]}" --widths $WIDTHS \
    --epochs "$EPOCHS" --milestones "$M1" "$M2" --models-per-run 49 --no-progress --json \
    > "$OUT/sweep.json" 2> "$OUT/sweep.log"
tail -1 "$OUT/sweep.log" | tee -a "$OUT/plan.txt"

# 4. figures and every training check (the symmetry checks train their float64 runs on the CPU)
python -m normlaws figures --results "$OUT/records" --out "$OUT/figures" --json > "$OUT/checks.json"
python - "$OUT/checks.json" <<'PY' | tee "$OUT/checks.txt"
import json, sys
checks = json.load(open(sys.argv[1]))["checks"]
for claim, out in sorted(checks.items()):
    print(f"{claim:40s} {out['status']:9s} {(out.get('detail') or '')[:160]}")
PY
date -u +%FT%TZ > "$OUT/finished.txt"
