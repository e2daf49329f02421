#!/usr/bin/env bash
# The quick-start demo on real data (CPU, a few minutes): train a tiny EWA ViT segmentor on CamVid,
# collapse it with convert_ewa.py (--verify), then test it with the *standard* config and compare
# with the EWA model before collapse.
#   bash tools/demo.sh [CAMVID_ROOT]      (default: data/camvid, else ../shared/data/camvid)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DATA=${1:-}
if [[ -z "$DATA" ]]; then
  for candidate in data/camvid "${MMEWA_DATA:-../shared/data}/camvid"; do
    [[ -d "$candidate/img_dir/train" ]] && DATA=$candidate && break
  done
fi
if [[ -z "$DATA" || ! -d "$DATA/img_dir/train" ]]; then
  echo "demo: CamVid not found: expected img_dir/{train,val} and ann_dir/{train,val} under data/camvid" \
       "(or pass its path: bash tools/demo.sh PATH)" >&2
  exit 2
fi
ITERS=${ITERS:-200}
WORK=${WORK:-work_dirs/demo}
[[ -n "${VIRTUAL_ENV:-}" || ! -f .venv/bin/activate ]] || source .venv/bin/activate
DATA_OPTS="train_dataloader.dataset.data_root=$DATA test_dataloader.dataset.data_root=$DATA"

echo "== 1/4 train EWA (EWAVisionTransformer, 4 experts on every other layer, EWAHook beta=0.3), $ITERS iters"
python tools/train.py configs/demo/seg_ewa_vit_tiny.py --work-dir "$WORK/ewa" \
    --cfg-options $DATA_OPTS train_cfg.max_iters="$ITERS" default_hooks.checkpoint.interval="$ITERS"
echo "== 2/4 collapse the experts into plain FFNs"
python tools/convert_ewa.py "$WORK/ewa/iter_$ITERS.pth" "$WORK/collapsed.pth" \
    --verify configs/demo/seg_ewa_vit_tiny.py configs/demo/seg_vit_tiny.py --verify-size 64 64
echo "== 3/4 test the EWA model (eval = experts' mean) on the CamVid test split (233 images)"
python tools/test.py configs/demo/seg_ewa_vit_tiny.py "$WORK/ewa/iter_$ITERS.pth" --work-dir "$WORK/test_ewa" \
    --metrics-out "$WORK/ewa_metrics.json" --cfg-options $DATA_OPTS
echo "== 4/4 test the collapsed checkpoint with the *standard* VisionTransformer config"
python tools/test.py configs/demo/seg_vit_tiny.py "$WORK/collapsed.pth" --work-dir "$WORK/test_std" \
    --metrics-out "$WORK/std_metrics.json" --cfg-options $DATA_OPTS
python - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
ewa, std = (json.load(open(f'{work}/{n}_metrics.json')) for n in ('ewa', 'std'))
print(f"EWA model  : mIoU {ewa['mIoU']:.2f}  aAcc {ewa['aAcc']:.2f}")
print(f"collapsed  : mIoU {std['mIoU']:.2f}  aAcc {std['aAcc']:.2f}  (standard config, original cost)")
assert ewa == std, 'the collapsed model should score exactly like the EWA model in eval'
print('identical: the deployed standard model is the EWA model')
PY
