#!/usr/bin/env bash
# EWA cost on one CUDA GPU at realistic sizes, bf16 autocast over fp32 weights (what AMP training does).
# Runs tools/benchmark_ewa.py three times (about 5-7 minutes on one H100/H200-class GPU, each run capped
# by `timeout` so the whole script stays under 8 minutes) and writes under $OUT_DIR (default benchmarks/):
#   gpu_info.txt                       nvidia-smi, torch and CUDA versions
#   gpu_vit-s14_448_b16.{json,txt}     ViT-S/14 UperNet, 448x448 (1024 tokens/image), batch 16: all sections,
#                                      FFN at widths 384/768 with 1024/4096 tokens x batch 8, torch.compile
#   gpu_vit-b14_448_b8.{json,txt}      the same UperNet with a ViT-B/14 backbone (768 dims, 12 heads), batch 8
#   gpu_ffn_fp32.{json,txt}            the FFN section again without autocast (fp32 weights and matmuls)
#
#   bash tools/benchmark_gpu.sh                      # from the repository root, in the project's venv
#   PYTHON=.venv/bin/python OUT_DIR=/tmp/bench bash tools/benchmark_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
OUT_DIR=${OUT_DIR:-benchmarks}
STD=configs/ewa_vit/upernet_vit-s14_1xb4-cpu_camvid-112x112.py
EWA=configs/ewa_vit/upernet_ewa-vit-s14_1xb4-cpu_camvid-112x112.py
VIT_B=(model.backbone.embed_dims=768 model.backbone.num_heads=12 'model.neck.in_channels=[768,768,768,768]')
mkdir -p "$OUT_DIR"

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
    "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
                  "device", torch.cuda.get_device_name(0))'
} | tee "$OUT_DIR/gpu_info.txt"

# name, time limit (s), then benchmark_ewa.py arguments
bench() {
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most ${limit}s)"
    # a run that fails or times out is reported and the next one still runs
    timeout "$limit" "$PYTHON" tools/benchmark_ewa.py --device cuda --out "$OUT_DIR/gpu_$name.json" "$@" \
        2>&1 | tee "$OUT_DIR/gpu_$name.txt" || echo "!! $name failed or timed out (status ${PIPESTATUS[0]})"
}

bench vit-s14_448_b16 240 --amp bf16 --seg-config "$STD" "$EWA" --crop-size 448 448 --batch-size 16 \
    --ffn-dims 384 768 --ffn-tokens 1024 4096 --ffn-batch 8 --reps 20 --warmup 5 --compile
bench vit-b14_448_b8 120 --amp bf16 --seg-config "$STD" "$EWA" --crop-size 448 448 --batch-size 8 \
    --cfg-options "${VIT_B[@]}" --sections seg ewa deploy --reps 20 --warmup 5
bench ffn_fp32 60 --amp none --sections ffn --ffn-dims 384 768 --ffn-tokens 1024 4096 --ffn-batch 8 \
    --reps 20 --warmup 5
echo "results in $OUT_DIR/gpu_*.json"
