#!/usr/bin/env bash
# The sweep around the CIFAR-100 EWA recipe (issue #14 item 1) on the CPU-sized ViT (configs/ewa_cls/
# *vit-d64-p4*): beta, experts, blocks, mode, partition, an Early-EWA window, a beta schedule, and routed MoE
# with / without Early EWA. Every variant is one tools/compare_seeds.py run in one work dir, so all share the
# baseline runs of each seed; rerun to resume. Then one table per comparison (compare_seeds --variants).
#
#   bash tools/cls_sweep.sh                                  # SEEDS="0 1", 2 runs at once, 1 thread each
#   SEEDS=0 EPOCHS=2 WARMUP=1 SUBSET=64 VARIANTS="beta0.9 routed" bash tools/cls_sweep.sh   # smoke test
#
# A sweep on few seeds only ranks settings; confirm the best one on >= 5 fresh seeds with compare_seeds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python}
DATA=${DATA:-../shared/data/cifar100}
SEEDS=${SEEDS:-"0 1"}
JOBS=${JOBS:-2}
EPOCHS=${EPOCHS:-40}
WARMUP=${WARMUP:-5}
SUBSET=${SUBSET:-}                     # e.g. 64: that many train and test images (smoke tests)
WORK=${WORK:-work_dirs/cls_sweep}
OUT=${OUT:-benchmarks/cls_cifar100_vit-d64_sweep.md}
C=configs/ewa_cls
BASE=$C/vit-d64-p4_1xb128-40e_cifar100-32.py
EWA=$C/ewa-vit-d64-p4_1xb128-40e_cifar100-32.py
ROUTED=$C/routed-moe_vit-d64-p4_1xb128-40e_cifar100-32.py
ROUTED_EARLY=$C/routed-moe-earlyewa_vit-d64-p4_1xb128-40e_cifar100-32.py
[[ -d "$DATA/train" && -d "$DATA/test" ]] || { echo "cls_sweep: no CIFAR-100 class folders under $DATA" \
  "(set DATA=PATH)" >&2; exit 2; }
hook=custom_hooks.0 bb=model.backbone.ewa_cfg
early=$(( EPOCHS / 4 > 0 ? EPOCHS / 4 : 1 ))  # the Early-EWA window: the first quarter of training
declare -A variant=(   # name -> cfg-options of the EWA run (on top of β = 0.3, 4 experts, every other block)
  [ewa]=''
  [beta0.1]="$hook.share_rate=0.1" [beta0.5]="$hook.share_rate=0.5" [beta0.9]="$hook.share_rate=0.9"
  [e2]="$bb.num_experts=2" [e8]="$bb.num_experts=8"
  [blocks-all]="$bb.moe_layers=all" [blocks-last-half]="$bb.moe_layers=last_half"
  [mode-all]="$hook.mode=all" [partition-sample]="$bb.partition=sample"
  [early-ewa]="$hook.end=$early $hook.by_epoch=True"
  [beta-cosine]="$hook.schedule=cosine $hook.final_share_rate=0.0"
)
VARIANTS=${VARIANTS:-"ewa beta0.1 beta0.5 beta0.9 e2 e8 blocks-all blocks-last-half mode-all partition-sample early-ewa beta-cosine routed routed-earlyewa"}
opts=(train_dataloader.dataset.data_root="$DATA" test_dataloader.dataset.data_root="$DATA"
      train_cfg.max_epochs="$EPOCHS" param_scheduler.0.end="$WARMUP"
      param_scheduler.1.begin="$WARMUP" param_scheduler.1.end="$EPOCHS")  # checkpoints every 5: resumable
if [[ -n "$SUBSET" ]]; then
  opts+=(train_dataloader.dataset.indices="$SUBSET" test_dataloader.dataset.indices="$SUBSET"
         train_dataloader.batch_size=16 test_dataloader.batch_size=16)
fi
read -ra seeds <<< "$SEEDS"
common=(--seeds "${seeds[@]}" --work-dir "$WORK" --splits default --metric accuracy/top1 --jobs "$JOBS")
[[ -n "${OMP_NUM_THREADS:-}" ]] || export OMP_NUM_THREADS=$(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 ))

mkdir -p "$(dirname "$WORK")"
ewa_names=() routed_names=()
for name in $VARIANTS; do
  echo "[cls_sweep] $(date -u +%FT%TZ) $name"
  case $name in
    routed) $PY tools/compare_seeds.py "$BASE" "$ROUTED" "${common[@]}" --ewa-name routed --no-collapse \
              --cfg-options "${opts[@]}" > "$WORK.routed.log"; routed_names+=(routed) ;;
    routed-earlyewa) $PY tools/compare_seeds.py "$BASE" "$ROUTED_EARLY" "${common[@]}" --no-collapse \
              --ewa-name routed-earlyewa --cfg-options "${opts[@]}" --ewa-cfg-options custom_hooks.1.end=$early \
              > "$WORK.routed-earlyewa.log"; routed_names+=(routed-earlyewa) ;;
    *) [[ -v "variant[$name]" ]] || { echo "cls_sweep: unknown variant $name" >&2; exit 2; }
       read -ra extra <<< "${variant[$name]}"
       $PY tools/compare_seeds.py "$BASE" "$EWA" "${common[@]}" --ewa-name "$name" --cfg-options "${opts[@]}" \
           ${extra[@]+--ewa-cfg-options "${extra[@]}"} > "$WORK.$name.log"; ewa_names+=("$name") ;;
  esac
done
table=(--seeds "${seeds[@]}" --work-dir "$WORK" --splits default --metric accuracy/top1 --from-results)
{
  echo "Command: \`SEEDS=\"$SEEDS\" EPOCHS=$EPOCHS bash tools/cls_sweep.sh\` (work dir $WORK)"; echo
  all=("${ewa_names[@]}" "${routed_names[@]}")
  $PY tools/compare_seeds.py "$BASE" "$EWA" "${table[@]}" --variants "${all[@]}"
  if [[ " ${routed_names[*]} " == *" routed "* && " ${routed_names[*]} " == *" routed-earlyewa "* ]]; then
    echo; echo "Early EWA on a routed MoE, paired with the routed MoE itself:"; echo
    $PY tools/compare_seeds.py "$BASE" "$EWA" "${table[@]}" --variants routed-earlyewa --against routed
  fi
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "[cls_sweep] $(date -u +%FT%TZ) done: $OUT"
