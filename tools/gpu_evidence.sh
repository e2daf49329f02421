#!/usr/bin/env bash
# Paper-regime evidence on one GPU: a small ViT trained from scratch on CIFAR-100 (10,000 train images, the
# full 10,000-image test set), baseline vs EWA (4 experts every other block, beta 0.3), all runs at once
# on the one GPU (compare_seeds --jobs): train both models per seed, collapse the EWA checkpoint, test it in
# the *standard* config, validate every VAL epochs for the learning curves, then tabulate the seeds with the
# paired statistics (t-test, bootstrap interval, verdict) and the curves. Rerun to resume.
#
#   bash tools/gpu_evidence.sh                      # defaults below; ~8 min on one H200 (5 seeds x 2 models)
#   EPOCHS=2 WARMUP=1 VAL=1 SEEDS="0 1" SUBSET=64 WORKERS=0 bash tools/gpu_evidence.sh   # CPU smoke test
#
# Runs on the GPU with mmcv's pure-Python build too (mmcv-lite: no compiled ops): classification and
# segmentation use no mmcv ops. Detection (RoIAlign, NMS) needs mmcv built with CUDA ops: on a machine with a
# CUDA toolkit, `FORCE_CUDA=1 bash tools/install.sh` (with a fresh wheel cache) builds them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python}
DATA=${DATA:-../shared/data/cifar100}
SEEDS=${SEEDS:-"0 1 2 3 4"}
EPOCHS=${EPOCHS:-50}
WARMUP=${WARMUP:-5}                    # linear warm-up epochs, then cosine to EPOCHS
VAL=${VAL:-10}
WORKERS=${WORKERS:-2}
SUBSET=${SUBSET:-}                     # e.g. 64: that many train and test images (smoke tests)
JOBS=${JOBS:-}                         # runs at once (default: every training of every seed)
WORK=${WORK:-work_dirs/gpu_evidence}
OUT=${OUT:-benchmarks/cls_cifar100_vit-t_from-scratch_gpu.md}
BASE=configs/ewa_cls/vit-t-p4_1xb128-100e_cifar100-32.py
EWA=configs/ewa_cls/ewa-vit-t-p4_1xb128-100e_cifar100-32.py
source tools/cifar100_options.sh
cifar100_options "$DATA" "$EPOCHS" "$WARMUP" "$SUBSET"

persistent=$([[ $WORKERS -gt 0 ]] && echo True || echo False)
opts+=(train_dataloader.num_workers="$WORKERS" test_dataloader.num_workers="$WORKERS"
       train_dataloader.persistent_workers=$persistent test_dataloader.persistent_workers=$persistent
       default_hooks.checkpoint.interval="$EPOCHS" default_hooks.logger.interval=50)
common=(--splits default --metric accuracy/top1 accuracy/top5 --val-interval "$VAL")

read -ra seeds <<< "$SEEDS"
echo "[gpu_evidence] $(date -u +%FT%TZ) seeds: $SEEDS, $EPOCHS epochs, data: $DATA"
mkdir -p "$WORK"
$PY tools/compare_seeds.py "$BASE" "$EWA" --seeds "${seeds[@]}" --work-dir "$WORK" "${common[@]}" \
    --jobs "${JOBS:-$((2 * ${#seeds[@]}))}" --out "$OUT" --curves "${OUT%.md}.png" --cfg-options "${opts[@]}"
echo "[gpu_evidence] $(date -u +%FT%TZ) done: $OUT"
