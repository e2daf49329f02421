#!/usr/bin/env bash
# The sweep around the CIFAR-100 EWA recipe (issue #14 item 1) on the CPU-sized ViT (configs/ewa_cls/
# *vit-d64-p4*): beta, experts, blocks, mode, partition, an Early-EWA window, a beta schedule, and routed MoE
# with / without Early EWA. Every variant is one tools/analysis_tools/compare_seeds.py run in one work dir, so all share the
# baseline runs of each seed: the first variant trains them beside its own runs, then JOBS variants run at
# once. Rerun to resume: a run whose results are in the work dir is skipped even without its checkpoints
# (the default work dir keeps results and scalars in git, see benchmarks/runs/.gitignore), an interrupted one
# resumes from its last checkpoint. Then one table per comparison (compare_seeds --variants).
#
#   bash .dev_scripts/cls_sweep.sh                                  # SEEDS="0 1", 2 runs at once, 1 thread each
#   WORK=work_dirs/smoke SEEDS=0 EPOCHS=2 WARMUP=1 SUBSET=64 VARIANTS="beta0.9 routed" \
#     bash .dev_scripts/cls_sweep.sh                              # smoke test
#
#   RUN=0 SEEDS=4 bash .dev_scripts/cls_sweep.sh                   # only tabulate what the work dir holds
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
RUN=${RUN:-1}                          # 0: run nothing, write the page from the work dir
WORK=${WORK:-benchmarks/runs/cls_cifar100_vit-d64}  # results kept in git, checkpoints not
OUT=${OUT:-benchmarks/cls_cifar100_vit-d64_sweep.md}
C=configs/ewa_cls
BASE=$C/vit-d64-p4_1xb128-40e_cifar100-32.py
EWA=$C/ewa-vit-d64-p4_1xb128-40e_cifar100-32.py
ROUTED=$C/routed-moe_vit-d64-p4_1xb128-40e_cifar100-32.py
ROUTED_EARLY=$C/routed-moe-earlyewa_vit-d64-p4_1xb128-40e_cifar100-32.py
source .dev_scripts/evidence_options.sh
opts=()
cifar100_options "$DATA" "$EPOCHS" "$WARMUP"  # the configs checkpoint every 5 epochs: resumable
subset_options "$SUBSET" 16
hook=custom_hooks.0 bb=model.backbone.ewa_cfg
early=$(( EPOCHS / 4 > 0 ? EPOCHS / 4 : 1 ))  # the Early-EWA window: the first quarter of training
declare -A variant=(   # name -> cfg-options of the second run (on top of its config: for EWA β = 0.3, 4
                       # experts, every other block)
  [ewa]=''
  [beta0.1]="$hook.share_rate=0.1" [beta0.5]="$hook.share_rate=0.5" [beta0.9]="$hook.share_rate=0.9"
  [e2]="$bb.num_experts=2" [e8]="$bb.num_experts=8"
  [blocks-all]="$bb.moe_layers=all" [blocks-last-half]="$bb.moe_layers=last_half"
  [mode-all]="$hook.mode=all" [partition-sample]="$bb.partition=sample"
  [early-ewa]="$hook.end=$early $hook.by_epoch=True"
  [beta-cosine]="$hook.schedule=cosine $hook.final_share_rate=0.0"
  [routed]='' [routed-earlyewa]="custom_hooks.1.end=$early"
)
declare -A config=([routed]=$ROUTED [routed-earlyewa]=$ROUTED_EARLY)  # the routed MoEs: not collapsed
# Ordered by how much each is expected to tell: the extremes first (the first one also trains the baselines)
ordered="ewa beta0.9 beta0.1 e8 blocks-all routed routed-earlyewa early-ewa partition-sample beta0.5 e2"
VARIANTS=${VARIANTS:-"$ordered blocks-last-half mode-all beta-cosine"}
read -ra seeds <<< "$SEEDS"
common=(--seeds "${seeds[@]}" --work-dir "$WORK" --splits test --metric accuracy/top1)
[[ -n "${OMP_NUM_THREADS:-}" ]] || export OMP_NUM_THREADS=$(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 ))

run() {  # variant jobs: one compare_seeds run of that variant (all of its seeds) on `jobs` slots
  local name=$1 jobs=$2 extra=() routed=()
  echo "[cls_sweep] $(date -u +%FT%TZ) $name"
  read -ra extra <<< "${variant[$name]}"
  [[ ! -v "config[$name]" ]] || routed=(--no-collapse)
  $PY tools/analysis_tools/compare_seeds.py "$BASE" "${config[$name]:-$EWA}" "${common[@]}" --jobs "$jobs" \
      --ewa-name "$name" ${routed[@]+"${routed[@]}"} --cfg-options "${opts[@]}" \
      ${extra[@]+--ewa-cfg-options "${extra[@]}"} > "$WORK.$name.log"
}

read -ra names <<< "$VARIANTS"
ewa_names=() routed_names=()
for name in "${names[@]}"; do
  [[ -v "variant[$name]" ]] || { echo "cls_sweep: unknown variant $name" >&2; exit 2; }
  if [[ -v "config[$name]" ]]; then routed_names+=("$name"); else ewa_names+=("$name"); fi
done
if [[ $RUN == 1 ]]; then
  mkdir -p "$WORK"
  # The first variant trains the shared baselines beside its own runs; then JOBS variants run at once (one
  # slot each), so the baselines are never trained twice at the same time.
  run "${names[0]}" "$JOBS"
  failed=0
  for name in "${names[@]:1}"; do
    while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n || failed=1; done
    run "$name" 1 &
  done
  while (( $(jobs -rp | wc -l) > 0 )); do wait -n || failed=1; done
  (( failed == 0 )) || { echo "cls_sweep: a variant failed; see $WORK.<variant>.log" >&2; exit 1; }
fi
table=("${common[@]}" --from-results)
{
  echo "Command: \`SEEDS=\"$SEEDS\" EPOCHS=$EPOCHS bash .dev_scripts/cls_sweep.sh\` (work dir $WORK;" \
       "rerun to resume, RUN=0 to only tabulate)"; echo
  echo "A sweep on ${#seeds[@]} seed(s) ranks settings at best: on one seed every variant shares that" \
       "seed's baseline, so a low baseline lifts every row alike; compare the variants with each other," \
       "keeping in mind the seed-to-seed spread of one run (~0.5-0.8 top-1 here), and confirm a candidate" \
       "on >= 5 fresh seeds with tools/analysis_tools/compare_seeds.py before calling it a gain. Rows without results have" \
       "not run yet."
  echo
  all=("${ewa_names[@]}" "${routed_names[@]}")
  $PY tools/analysis_tools/compare_seeds.py "$BASE" "$EWA" "${table[@]}" --variants "${all[@]}"
  if [[ " ${routed_names[*]} " == *" routed "* && " ${routed_names[*]} " == *" routed-earlyewa "* ]]; then
    echo; echo "Early EWA on a routed MoE, paired with the routed MoE itself:"; echo
    $PY tools/analysis_tools/compare_seeds.py "$BASE" "$EWA" "${table[@]}" --variants routed-earlyewa --against routed
  fi
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "[cls_sweep] $(date -u +%FT%TZ) done: $OUT"
