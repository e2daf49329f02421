#!/usr/bin/env bash
# EWA cost on one CUDA GPU at realistic sizes, bf16 autocast over fp32 weights (what AMP training does).
# Runs tools/analysis_tools/benchmark_ewa.py three times (about 5-7 minutes on one H100/H200-class GPU, each run capped
# by `timeout` so the whole script stays under 8 minutes) and writes under $OUT_DIR (default benchmarks/):
#   gpu_info.txt                       nvidia-smi, torch and CUDA versions
#   gpu_vit-s14_448_b16.{json,txt}     ViT-S/14 UperNet, 448x448 (1024 tokens/image), batch 16: sections seg,
#                                      ffn, ewa, deploy, compile (S14_SECTIONS; benchmark_ewa.py's default list
#                                      grew det, whose mmcv nms refuses bf16 boxes, and mixffn/routed), FFN at
#                                      widths 384/768 with 1024/4096 tokens x batch 8, torch.compile
#   gpu_vit-b14_448_b8.{json,txt}      the same UperNet with a ViT-B/14 backbone (768 dims, 12 heads), batch 8
#   gpu_ffn_fp32.{json,txt}            the FFN section again without autocast (fp32 weights and matmuls)
#
#   bash .dev_scripts/benchmark_gpu.sh                      # from the repository root, in the project's venv
#   PYTHON=.venv/bin/python OUT_DIR=/tmp/bench bash .dev_scripts/benchmark_gpu.sh
#   QUICK=1 bash .dev_scripts/benchmark_gpu.sh              # ~2 minutes (.dev_scripts/device_checks.sh): 5 repetitions,
#                                                    # no torch.compile, 4096-token FFNs only, caps 80/40/20 s
# Every size is a variable (BENCHES, DEVICE, REPS, WARMUP, CROP, BATCH, BATCH_B, FFN_DIMS, FFN_TOKENS,
# FFN_BATCH, COMPILE, S14_SECTIONS, CAPS="s14 b14 ffn seconds"), so a CPU dry run can shrink them
# (device_checks.sh --dry-run). The exit status is 1 when a run failed or hit its cap (the others still ran).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
OUT_DIR=${OUT_DIR:-benchmarks}
QUICK=${QUICK:-0}
DEVICE=${DEVICE:-cuda}
BENCHES=${BENCHES:-"vit-s14_448_b16 vit-b14_448_b8 ffn_fp32"}
CROP=${CROP:-448}
BATCH=${BATCH:-16}
BATCH_B=${BATCH_B:-8}
FFN_DIMS=${FFN_DIMS:-"384 768"}
FFN_BATCH=${FFN_BATCH:-8}
S14_SECTIONS=${S14_SECTIONS:-"seg ffn ewa deploy compile"}
if [[ $QUICK == 1 ]]; then
  REPS=${REPS:-5} WARMUP=${WARMUP:-2} COMPILE=${COMPILE:-0} FFN_TOKENS=${FFN_TOKENS:-4096} CAPS=${CAPS:-"80 40 20"}
else
  REPS=${REPS:-20} WARMUP=${WARMUP:-5} COMPILE=${COMPILE:-1} FFN_TOKENS=${FFN_TOKENS:-"1024 4096"}
  CAPS=${CAPS:-"240 120 60"}
fi
read -r CAP_S14 CAP_B14 CAP_FFN <<< "$CAPS"
read -ra ffn_dims <<< "$FFN_DIMS"
read -ra ffn_tokens <<< "$FFN_TOKENS"
read -ra s14_sections <<< "$S14_SECTIONS"
compile=()
[[ $COMPILE != 1 ]] || compile=(--compile)
STD=configs/ewa_vit/upernet_vit-s14_1xb4-cpu_camvid-112x112.py
EWA=configs/ewa_vit/upernet_ewa-vit-s14_1xb4-cpu_camvid-112x112.py
VIT_B=(model.backbone.embed_dims=768 model.backbone.num_heads=12 'model.neck.in_channels=[768,768,768,768]')
mkdir -p "$OUT_DIR"

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null \
        || echo "nvidia-smi: not here"
    "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "device",
                  torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu (no CUDA device)")'
} | tee "$OUT_DIR/gpu_info.txt"

# name, time limit (s), then benchmark_ewa.py arguments
failed=0
bench() {
    local name=$1 limit=$2
    shift 2
    # a run that fails or times out is reported and the next one still runs
    [[ " $BENCHES " == *" $name "* ]] || return 0
    echo "== $name (at most ${limit}s)"
    timeout "$limit" "$PYTHON" tools/analysis_tools/benchmark_ewa.py --device "$DEVICE" --out "$OUT_DIR/gpu_$name.json" "$@" \
        2>&1 | tee "$OUT_DIR/gpu_$name.txt" || { echo "!! $name failed or timed out (status ${PIPESTATUS[0]})"
                                                 failed=1; }
}

ffn=(--ffn-dims "${ffn_dims[@]}" --ffn-tokens "${ffn_tokens[@]}" --ffn-batch "$FFN_BATCH")
reps=(--reps "$REPS" --warmup "$WARMUP")
bench vit-s14_448_b16 "$CAP_S14" --amp bf16 --seg-config "$STD" "$EWA" --crop-size "$CROP" "$CROP" \
    --batch-size "$BATCH" --sections "${s14_sections[@]}" "${ffn[@]}" "${reps[@]}" ${compile[@]+"${compile[@]}"}
bench vit-b14_448_b8 "$CAP_B14" --amp bf16 --seg-config "$STD" "$EWA" --crop-size "$CROP" "$CROP" \
    --batch-size "$BATCH_B" --cfg-options "${VIT_B[@]}" --sections seg ewa deploy "${reps[@]}"
bench ffn_fp32 "$CAP_FFN" --amp none --sections ffn "${ffn[@]}" "${reps[@]}"
echo "results in $OUT_DIR/gpu_*.json"
exit $failed   # the other runs went on; the status still says one failed
