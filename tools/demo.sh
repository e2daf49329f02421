#!/usr/bin/env bash
# The quick-start demo on real CamVid images (CPU, about a minute on the embedded sample): train a tiny
# EWA ViT segmentor, collapse it with convert_ewa.py (--verify), then test it with the *standard* config
# and check that it scores exactly like the EWA model before collapse.
#   bash tools/demo.sh               the embedded sample, samples/camvid (24 train / 12 test frames, 240x180)
#   bash tools/demo.sh CAMVID_ROOT   a full CamVid (img_dir/{train,test}, ann_dir/{train,test})
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [[ $# -gt 0 ]]; then
  DATA=$1
  WHAT="CamVid at $DATA"
else
  DATA=samples/camvid
  WHAT="the embedded CamVid sample, $DATA (mechanics, not accuracy; pass a full CamVid root to use it)"
fi
for split in train test; do
  if [[ ! -d "$DATA/img_dir/$split" || ! -d "$DATA/ann_dir/$split" ]]; then
    echo "demo: $DATA is not a CamVid root: it needs img_dir/$split and ann_dir/$split" \
         "(run with no argument for the embedded sample, or: bash tools/demo.sh PATH/TO/camvid)" >&2
    exit 2
  fi
done
NUM_TEST=$(find "$DATA/img_dir/test" -name '*.jpg' | wc -l)
echo "demo: data = $WHAT"
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
echo "== 3/4 test the EWA model (eval = experts' mean) on the CamVid test split ($NUM_TEST images)"
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
