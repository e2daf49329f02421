#!/usr/bin/env bash
# Issue #14's evidence at GPU scale, one stage per task, each one tools/analysis_tools/compare_seeds.py run with every
# training of every seed at once on the one GPU (--jobs): train baseline and EWA (4 experts every other block,
# beta 0.3) per seed, collapse the EWA checkpoint, test it in the *standard* config, validate during training
# for the learning curves, then tabulate the seeds with the paired statistics (t-test, bootstrap interval,
# verdict). Rerun to resume (a model with results is not trained again).
#   cls  CIFAR-100 from scratch (the paper's regime): ViT 6x192, patch 4, EPOCHS epochs, SEEDS (5 seeds)
#   seg  CamVid from scratch: ViT 6x192, patch 8, 128 px crops, SEG_ITERS iterations, SEEDS
#   det  Weizmann Horse Mask R-CNN, pretrained ViT-S/14 at 448 px, DET_EPOCHS epochs, DET_SEEDS (3 seeds)
#
#   bash .dev_scripts/gpu_evidence.sh                     # STAGES="cls seg det" one after another
#   STAGES=cls bash .dev_scripts/gpu_evidence.sh          # one stage per call (each is sized for ~10 GPU minutes)
#   STAGES="cls seg" EPOCHS=2 WARMUP=1 VAL=1 SEG_ITERS=4 SEG_VAL=2 SEEDS="0 1" SUBSET=16 WORKERS=0 \
#     bash .dev_scripts/gpu_evidence.sh     # CPU smoke test (tests/test_e2e/test_cifar_evidence_scripts.py)
#
# Time: a pilot on one H200 (benchmarks/cls_cifar100_vit-t_gpu_pilot.md) ran five CIFAR trainings at once at
# ~13 s per epoch each, bound by MMEngine's per-iteration host work, not by the GPU: the cls stage's ten
# trainings of 50 epochs need ~10-20 min, over the 9 minutes the issue hoped for (fewer EPOCHS or SEEDS fit).
# The seg and det stages are sized from their CPU twins and have not run on a GPU yet.
#
# Configs and names: CLS_BASE / CLS_EWA (default the vit-t-p4 100e pair in configs/ewa_cls), CLS_OPTIONS
# (extra cfg-options, space-separated, after the schedule's), CIFAR_ROOT_KEYS (the cfg keys set to
# $DATA/cifar100, .dev_scripts/evidence_options.sh: e.g. the 50k configs' ConcatDataset), CLS_NAME and SEG_NAME (the
# work dir and page names), SEG_SPLITS (default "val test") make the stages generic; .dev_scripts/device_checks.sh
# sets them on the GPU machine.
#
# mmcv: every stage needs mmcv built with its compiled ops (`mmcv._ext`), on the CPU too: `import mmseg.models`
# and `import mmdet.models` import mmcv.ops at import time, and `import mmewa` imports both when they are
# installed (mmewa/utils/mmcv_check.py stops with the fix when `_ext` is missing). mmcv-lite (no ops) runs
# only a classification-only environment without mmseg/mmdet (the pilot's). On a GPU, detection's RoIAlign
# and NMS (and the other ops tools/mmcv_ops.py lists) also need those ops built with CUDA: on a machine with
# a CUDA toolkit matching torch, `FORCE_CUDA=1 bash tools/install.sh` builds and caches one (on the lent
# device machine .dev_scripts/device_checks.sh builds it offline: docs/device_checks.md). The script checks this
# before any stage runs and stops with that fix (on a CPU-only machine det runs on mmcv's CPU ops).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python}
DATA=${DATA:-../shared/data}           # holds cifar100/, camvid/, weizmann_horse/
STAGES=${STAGES:-"cls seg det"}
SEEDS=${SEEDS:-"0 1 2 3 4"}
DET_SEEDS=${DET_SEEDS:-"0 1 2"}
EPOCHS=${EPOCHS:-50}
WARMUP=${WARMUP:-5}                    # cls: linear warm-up epochs, then cosine to EPOCHS
VAL=${VAL:-10}                         # cls: validate every VAL epochs
SEG_ITERS=${SEG_ITERS:-4000}
SEG_VAL=${SEG_VAL:-500}                # seg: validate every SEG_VAL iterations
SEG_SPLITS=${SEG_SPLITS:-"val test"}   # seg: the splits the three models are tested on
DET_EPOCHS=${DET_EPOCHS:-12}
DET_VAL=${DET_VAL:-2}                  # det: validate every DET_VAL epochs
WORKERS=${WORKERS:-2}
SUBSET=${SUBSET:-}                     # e.g. 16: that many train and test images (smoke tests)
JOBS=${JOBS:-}                         # runs at once (default: every training of every seed)
WORK=${WORK:-work_dirs/gpu_evidence}
OUT_DIR=${OUT_DIR:-benchmarks}
CLS_BASE=${CLS_BASE:-configs/ewa_cls/vit-t-p4_1xb128-100e_cifar100-32.py}
CLS_EWA=${CLS_EWA:-configs/ewa_cls/ewa-vit-t-p4_1xb128-100e_cifar100-32.py}
CLS_OPTIONS=${CLS_OPTIONS:-}          # extra cfg-options of both cls models, space-separated
CLS_NAME=${CLS_NAME:-cls_cifar100_vit-t_from-scratch_gpu}
SEG_NAME=${SEG_NAME:-seg_camvid_vit-t-p8_from-scratch_gpu}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}   # the GPU does the math; many runs share the host's cores

source .dev_scripts/evidence_options.sh
persistent=$([[ $WORKERS -gt 0 ]] && echo True || echo False)
loaders=(train_dataloader.num_workers="$WORKERS" test_dataloader.num_workers="$WORKERS"
         train_dataloader.persistent_workers=$persistent test_dataloader.persistent_workers=$persistent)
compare() {  # name baseline-config ewa-config seeds compare_seeds-options...: one stage, its page and curves
  local name=$1 base=$2 ewa=$3 seeds
  read -ra seeds <<< "$4"
  shift 4
  echo "[gpu_evidence] $(date -u +%FT%TZ) $name: seeds ${seeds[*]}"
  $PY tools/analysis_tools/compare_seeds.py "$base" "$ewa" --seeds "${seeds[@]}" --work-dir "$WORK/$name" \
      --jobs "${JOBS:-$((2 * ${#seeds[@]}))}" --out "$OUT_DIR/$name.md" --curves "$OUT_DIR/$name.png" "$@" \
      --cfg-options "${opts[@]}"
  echo "[gpu_evidence] $(date -u +%FT%TZ) $name done: $OUT_DIR/$name.md"
}

stage_cls() {
  cifar100_options "$DATA/cifar100" "$EPOCHS" "$WARMUP"
  opts+=("${loaders[@]}" default_hooks.checkpoint.interval="$EPOCHS" default_hooks.logger.interval=50)
  local extra
  read -ra extra <<< "$CLS_OPTIONS"
  opts+=(${extra[@]+"${extra[@]}"})
  subset_options "$SUBSET" 2
  compare "$CLS_NAME" "$CLS_BASE" "$CLS_EWA" "$SEEDS" --splits default --metric accuracy/top1 accuracy/top5 \
      --val-interval "$VAL"
}

stage_seg() {
  local d=$DATA/camvid warm=$(( SEG_ITERS / 20 > 0 ? SEG_ITERS / 20 : 1 ))
  opts=(train_dataloader.dataset.data_root="$d" test_dataloader.dataset.data_root="$d" "${loaders[@]}"
        train_cfg.max_iters="$SEG_ITERS" param_scheduler.0.end="$warm" param_scheduler.1.begin="$warm"
        param_scheduler.1.end="$SEG_ITERS" default_hooks.checkpoint.interval="$SEG_ITERS")
  subset_options "$SUBSET" 2
  local splits
  read -ra splits <<< "$SEG_SPLITS"
  compare "$SEG_NAME" configs/scratch/seg{,_ewa}_vit-t-p8_4k-poly_camvid-128.py \
      "$SEEDS" --splits "${splits[@]}" --metric mIoU --val-interval "$SEG_VAL" --val-split val
}

stage_det() {
  local d=$DATA/weizmann_horse
  [[ -f checkpoints/dinov2_vits14_mmseg.pth ]] || $PY tools/model_converters/convert_dinov2_onnx.py
  local late=$(( DET_EPOCHS * 2 / 3 > 0 ? DET_EPOCHS * 2 / 3 : 1 ))
  local later=$(( DET_EPOCHS * 11 / 12 > late ? DET_EPOCHS * 11 / 12 : late ))
  opts=("${loaders[@]}" val_dataloader.num_workers="$WORKERS" val_dataloader.persistent_workers=$persistent
        train_cfg.max_epochs="$DET_EPOCHS"
        param_scheduler.1.end="$DET_EPOCHS" "param_scheduler.1.milestones=[$late,$later]"
        default_hooks.checkpoint.interval="$DET_EPOCHS")
  local loader evaluator
  for loader in train val test; do opts+=("${loader}_dataloader.dataset.data_root=$d/"); done
  for evaluator in val test; do
    opts+=("${evaluator}_evaluator.ann_file=$d/annotations/instances_val.json")
  done
  subset_options "$SUBSET" 2
  compare det_horse_vit-s14-448_gpu configs/ewa_det/mask-rcnn_{,ewa-}vit-s14-simplefpn_1xb4-12e_horse-448.py \
      "$DET_SEEDS" --splits default --metric coco/bbox_mAP coco/segm_mAP --val-interval "$DET_VAL" \
      --val-split default
}

declare -A needs=([cls]=cifar100/train [seg]=camvid/img_dir/train
                  [det]=weizmann_horse/annotations/instances_val.json)
for stage in $STAGES; do  # every stage's needs first: no stage fails after the others ran for an hour
  [[ -v "needs[$stage]" ]] || { echo "gpu_evidence: unknown stage '$stage' in STAGES (cls, seg, det)" >&2
                               exit 2; }
  [[ -e "$DATA/${needs[$stage]}" ]] || { echo "gpu_evidence: stage $stage needs $DATA/${needs[$stage]}:" \
    "set DATA to the folder that holds cifar100/, camvid/ and weizmann_horse/" >&2; exit 2; }
done
if [[ " $STAGES " == *" det "* ]] && ! $PY -c "import sys, torch, mmcv.ops as ops
sys.exit(torch.cuda.is_available() and ops.get_compiling_cuda_version() == 'not available')"; then
  echo "gpu_evidence: mmcv here has no CUDA ops (RoIAlign, NMS), which Mask R-CNN needs on a GPU: run" \
       "FORCE_CUDA=1 bash tools/install.sh on this machine (with a CUDA toolkit matching torch), or leave" \
       "det out of STAGES" >&2
  exit 2
fi
for stage in $STAGES; do
  opts=()
  "stage_$stage"
done
echo "[gpu_evidence] $(date -u +%FT%TZ) done: $STAGES"
