#!/usr/bin/env bash
# The GPU checks of issue #20 in one prepared script for the lent device machine (one H100/H200, Python 3.12
# with torch 2.11 at python3, nvcc 13.0, no package registry, 10 minutes a command, 15 device minutes a
# session). docs/device_checks.md has the call sequence, the sizes and the budget.
#
#   STAGES="bench speed cls" bash .dev_scripts/device_checks.sh   # on the device ($OUT is set there), in this tree's copy
#   bash .dev_scripts/device_checks.sh --dry-run             # here, on the CPU: every step at tiny sizes (~3.5 min)
#
# Steps, each logged with its time since the start, each result under $OUT as soon as it exists:
#  machine  $OUT/machine.txt first: GPU, driver, nvcc, ninja, gcc, torch, cores, MMEWA_COMMIT.
#  install  offline from the carried bundle (.device_bundle/, made by .dev_scripts/make_device_bundle.py): a venv in
#           .device_stage/ that sees python3's packages (torch, numpy, opencv, ...) behind its own, the
#           bundle's pinned wheels with --no-deps (mmengine's opencv-python is the device's headless cv2),
#           then mmcv 2.1.0 built from the bundle's source with the minimal ops for CUDA (FORCE_CUDA=1,
#           TORCH_CUDA_ARCH_LIST, default 9.0) as tools/install.sh builds it: tools/mmcv_ops.py prepare (the
#           C++ standard torch's headers ask for: C++17 for torch 2.11, C++20 from 2.14), the same
#           wheel-cache key, a CUDA_HOME with headers, the nvidia-* wheels' headers where the toolkit lacks
#           cusparse.h. A warm machine whose venv still imports skips all of it. Then every import is checked
#           (the GPU, mmcv.ops running nms and roi_align on CUDA, pkg_resources where upstream mmengine needs
#           it, cv2, mmewa, mmseg.models, mmdet.models, mmpretrain): the script stops with one line if one
#           fails. A freshly built mmcv wheel comes back as $OUT/mmcv_wheel_cache.tar:
#           `tar xf mmcv_wheel_cache.tar -C .device_bundle` here, and later sessions carry it and skip the build.
#  data     the carried data (.device_data/: CIFAR-100 parts of .dev_scripts/pack_cifar.py, CamVid with its
#           SHA256SUMS) is checked and unpacked into .device_stage/data/, each CIFAR part once: that folder
#           is git-ignored, so it outlives a call while the machine stays warm, and parts carried by
#           successive calls add up (STAGES= with nothing else: install and data only).
#  stages   STAGES (default "bench speed cls seg"), in that order, each under its own cap (CAP_BENCH,
#           CAP_SPEED, CAP_CLS, CAP_SEG seconds) and all within BUDGET seconds of the start (default 560,
#           inside one call's 600):
#    bench  .dev_scripts/benchmark_gpu.sh QUICK=1 (~2 min) -> benchmarks/gpu_quick/
#    speed  what sizes the CIFAR-100 plan (tools/analysis_tools/benchmark_data_path.py, bf16 autocast, needs part a): the
#           standard vs the fast data path on the 64-dim ViT, then the recipe's ViT (lee9) on the fast path
#           alone, compiled, and SPEED_PROCS (4) processes at once -> benchmarks/gpu_quick/speed_*.json
#    cls    CIFAR-100 baseline vs EWA (.dev_scripts/gpu_evidence.sh's cls stage; CLS_BASE / CLS_EWA, CLS_OPTIONS,
#           CLS_ROOT_KEYS, CLS_EPOCHS, CLS_WARMUP, CLS_VAL, CLS_CKPT; needs the parts CLS_PARTS, default a)
#           -> benchmarks/runs/$CLS_NAME and benchmarks/$CLS_NAME.{md,png}
#    seg    CamVid baseline vs EWA (gpu_evidence.sh's seg stage; SEG_ITERS, SEG_VAL, SEG_SPLITS)
#           -> benchmarks/runs/$SEG_NAME and benchmarks/$SEG_NAME.{md,png}
#    ft     not in the default STAGES: fine-tuning the pretrained ViT-S/14 on CIFAR-100 at 224 px, baseline vs
#           EWA (issue #31; the cls stage's machinery with FT_BASE / FT_EWA, FT_OPTIONS (default bf16 AMP on
#           CUDA), FT_EPOCHS, FT_WARMUP, FT_VAL, FT_CKPT, FT_SEEDS, FT_GROUP, FT_GROUP_S, CAP_FT); needs part
#           a and the float16 ViT-S/14 carried as .device_data/dinov2-vits14 (.dev_scripts/make_device_bundle.py
#           --no-wheels --sets dinov2), widened to float32 once in the data step
#           -> benchmarks/runs/$FT_NAME and benchmarks/$FT_NAME.{md,png}
#           All go through their seeds (CLS_SEEDS, SEG_SEEDS, FT_SEEDS) CLS_GROUP / ... seeds at a time (both
#           models of each at once) and start a group only while the cap and the budget hold 30 s, 1.1 x the
#           longest group so far and CLS_GROUP_S / SEG_GROUP_S (a group's expected seconds, once measured),
#           so every finished seed comes back. The table of each group covers all seeds before it. A seed
#           whose results are committed in this tree's benchmarks/runs/<name> is not trained again
#           (compare_seeds skips it), so the next session resumes where this one stopped; on a warm machine a
#           training cut at its cap resumes from its last checkpoint (every CLS_CKPT epochs).
#           A stage whose data was not carried fails alone; the others still run.
# $OUT (the device returns at most 8 files; this writes at most 7 and one temporary): machine.txt; stages.txt
# (one line per step: name, exit status, seconds, ok | partial | stopped | skipped | failed, note); log.txt
# (all output); install.log; results.tar.gz, by repository path: what benchmarks/runs/.gitignore keeps of
# each work dir (commands, results, per-seed JSONs, scalars), the pages and curves and benchmarks/gpu_quick/,
# rewritten after each step and every SNAPSHOT seconds (default 60), so a call killed at its limit still
# returns what finished: `tar xzf` it in the repository root and commit; logs.tar.gz (the runs' own logs);
# mmcv_wheel_cache.tar (see install). Exit status: 1 when a step failed, 2 for bad settings, else 0.
#
# --dry-run runs all of it on this CPU at tiny sizes from the data in DATA_SRC (default ../shared/data), under
# DRY_STAGE_DIR (default a new temporary folder), never in this tree's benchmarks/: the bundle is checked
# when it is here (else "not checked"; nothing is downloaded or installed), CIFAR parts of one image per class
# and folder are packed and unpacked, CamVid is staged and checked, the benchmark runs at 56 px, cls runs two
# seed groups and seg one, each on 4 images. CUDA=0 without --dry-run rehearses the real path on a CPU
# (the install from the bundle included): docs/device_checks.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DRY=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  '') ;;
  *) echo "device_checks: unknown argument '$1' (only --dry-run)" >&2; exit 2 ;;
esac
(( $# <= 1 )) || { echo "device_checks: one argument at most (--dry-run), got $#" >&2; exit 2; }
STAGES=${STAGES-"bench speed cls seg"}
for stage in $STAGES; do
  [[ $stage =~ ^(bench|speed|cls|seg|ft)$ ]] || { echo "device_checks: unknown stage '$stage'" \
    "in STAGES (bench, speed, cls, seg, ft; empty for install and data only)" >&2; exit 2; }
done
if [[ $DRY == 0 && -z ${OUT:-} ]]; then
  echo "device_checks: OUT is unset: the device tool sets it (on a machine without one: --dry-run)" >&2
  exit 2
fi
if [[ $DRY == 0 && " $STAGES " == *" cls "* ]] && (( ${CLS_WARMUP:-2} >= ${CLS_EPOCHS:-10} )); then
  echo "device_checks: CLS_WARMUP (${CLS_WARMUP:-2}) must be below CLS_EPOCHS (${CLS_EPOCHS:-10})" >&2; exit 2
fi
if [[ $DRY == 0 && " $STAGES " == *" ft "* ]] && (( ${FT_WARMUP:-1} >= ${FT_EPOCHS:-5} )); then
  echo "device_checks: FT_WARMUP (${FT_WARMUP:-1}) must be below FT_EPOCHS (${FT_EPOCHS:-5})" >&2; exit 2
fi
export PYTHONUNBUFFERED=1  # the runs' output reaches log.txt as it happens (a killed call keeps it)
START=$(date +%s)
CORES=$(nproc --all 2>/dev/null || getconf _NPROCESSORS_ONLN)  # before any OMP_NUM_THREADS (nproc obeys it)
BUDGET=${BUDGET:-560}                       # seconds for the whole script (one device call: 600)
CAP_INSTALL=${CAP_INSTALL:-300} CAP_BENCH=${CAP_BENCH:-150} CAP_SPEED=${CAP_SPEED:-150}
CAP_CLS=${CAP_CLS:-400} CAP_SEG=${CAP_SEG:-400} CAP_FT=${CAP_FT:-480}
SPEED_PROCS=${SPEED_PROCS:-4}                # processes at once in the speed stage's last run
SPEED_ITERS=${SPEED_ITERS:-30}               # iterations per timed block (3 blocks after 1 warm-up)
SPEED_COMPILE=${SPEED_COMPILE:-compile=True} # the cfg-option of the compiled run (MMEngine's torch.compile)
SNAPSHOT=${SNAPSHOT:-60}
BUNDLE=${BUNDLE:-$ROOT/.device_bundle}
DATA_PARTS=${DATA_PARTS:-$ROOT/.device_data}
STAGE_DIR=${STAGE_DIR:-$ROOT/.device_stage}
PYBASE=${PYBASE:-python3}                   # the device's Python with torch
CUDA=${CUDA:-1}                             # 0: rehearse the real path on a CPU (mmcv without CUDA ops)
ARCH=${TORCH_CUDA_ARCH_LIST:-9.0}
WORKERS=${WORKERS:-4}
CLS_BASE=${CLS_BASE:-configs/ewa_cls/vit-t-p4_1xb128-100e_cifar100-32.py}
CLS_EWA=${CLS_EWA:-configs/ewa_cls/ewa-vit-t-p4_1xb128-100e_cifar100-32.py}
CLS_OPTIONS=${CLS_OPTIONS:-}                # extra cfg-options of both models, space-separated
CLS_ROOT_KEYS=${CLS_ROOT_KEYS:-}            # cfg keys set to the data folder (evidence_options.sh)
CLS_PARTS=${CLS_PARTS:-a}                   # CIFAR-100 parts the configs read (a b c: the 50,000 train set)
CLS_SEEDS=${CLS_SEEDS:-"0 1 2 3 4"}
CLS_GROUP=${CLS_GROUP:-1}                   # seeds trained at once (2 runs each)
CLS_GROUP_S=${CLS_GROUP_S:-0}               # seconds one group takes, if known: no group starts with less
CLS_EPOCHS=${CLS_EPOCHS:-10}
CLS_WARMUP=${CLS_WARMUP:-2}
CLS_VAL=${CLS_VAL:-5}
CLS_CKPT=${CLS_CKPT:-5}                     # checkpoint every CLS_CKPT epochs (a cut training resumes)
FT_BASE=${FT_BASE:-configs/ewa_cls/vit-s14-dinov2_1xb64-5e_cifar100-224.py}
FT_EWA=${FT_EWA:-configs/ewa_cls/ewa-vit-s14-dinov2_1xb64-5e_cifar100-224.py}
FT_OPTIONS=${FT_OPTIONS-default}            # extra cfg-options; 'default': bf16 AMP where CUDA is used
FT_SEEDS=${FT_SEEDS:-"0 1 2 3 4"}           # the seeds of the 56-px CPU comparison
FT_GROUP=${FT_GROUP:-5}                     # seeds trained at once (2 runs each; memory estimated, not measured)
FT_GROUP_S=${FT_GROUP_S:-0}
FT_EPOCHS=${FT_EPOCHS:-5}
FT_WARMUP=${FT_WARMUP:-1}
FT_VAL=${FT_VAL:-1}
FT_CKPT=${FT_CKPT:-1}
SEG_SEEDS=${SEG_SEEDS:-"0 1 2 3 4"}
SEG_GROUP=${SEG_GROUP:-1}
SEG_GROUP_S=${SEG_GROUP_S:-0}
SEG_ITERS=${SEG_ITERS:-1000}
SEG_VAL=${SEG_VAL:-250}
SEG_SPLITS=${SEG_SPLITS:-"val test"}
SUBSET=${SUBSET:-}
if [[ $DRY == 1 ]]; then  # every step for real, on the CPU, at sizes that take seconds
  STAGE_DIR=${DRY_STAGE_DIR:-$(mktemp -d -t device_checks.XXXXXX)}
  OUT=${OUT:-$STAGE_DIR/out}
  RESULT_ROOT=$STAGE_DIR/results            # never this tree's benchmarks/
  DATA_PARTS=$STAGE_DIR/parts
  PYTHON=${PYTHON:-python}
  PYBASE=$PYTHON CUDA=0
  DATA_SRC=${DATA_SRC:-../shared/data}
  FT_SEEDS=0 FT_GROUP=1 FT_EPOCHS=2 FT_WARMUP=1 FT_VAL=1 FT_CKPT=1  # the 56-px twins: the mechanics, sooner
  FT_BASE=${DRY_FT_BASE:-configs/ewa_cls/vit-s14-dinov2_1xb64-2e_cifar100-56.py}
  FT_EWA=${DRY_FT_EWA:-configs/ewa_cls/ewa-vit-s14-dinov2_1xb64-2e_cifar100-56.py}
  CLS_SEEDS="0 1" CLS_GROUP=1 SEG_SEEDS=0 CLS_EPOCHS=2 CLS_WARMUP=1 CLS_VAL=1 CLS_CKPT=2 SEG_ITERS=2
  SEG_VAL=1 SEG_SPLITS=val SUBSET=${SUBSET:-4} WORKERS=0 CLS_PARTS=a SPEED_PROCS=2 SPEED_ITERS=1
  SPEED_COMPILE=compile.backend=eager  # the mechanism, without minutes of inductor on a CPU
  export OMP_NUM_THREADS=1
else
  RESULT_ROOT=$ROOT
fi
CLS_NAME=${CLS_NAME:-cls_cifar100_$(basename "$CLS_BASE" .py)_e${CLS_EPOCHS}_gpu}
SEG_NAME=${SEG_NAME:-seg_camvid_vit-t-p8_from-scratch_i${SEG_ITERS}_gpu}
FT_NAME=${FT_NAME:-cls_cifar100_vit-s14-dinov2_finetune-224_e${FT_EPOCHS}_gpu}
if [[ $FT_OPTIONS == default ]]; then  # AmpOptimWrapper needs CUDA
  FT_OPTIONS=
  [[ $CUDA != 1 ]] || FT_OPTIONS="optim_wrapper.type=AmpOptimWrapper optim_wrapper.dtype=bfloat16"
fi
VENV=$STAGE_DIR/venv
DATA=$STAGE_DIR/data
CACHE=$STAGE_DIR/wheel_cache
mkdir -p "$OUT" "$STAGE_DIR" "$DATA" "$CACHE"
exec > >(tee -a "$OUT/log.txt") 2>&1
say() { echo "[device_checks] $(date -u +%FT%TZ) +$(( $(date +%s) - START ))s $*"; }
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
FAILED=0
record() {  # one line: step, exit status, seconds, status, note
  local fields
  read -ra fields <<< "$*"
  echo "$*" >> "$OUT/stages.txt"
  [[ ${fields[3]:-} != failed ]] || FAILED=1
}
STEP=setup STEP_T0=$START
step() { STEP=$1 STEP_T0=$(date +%s); }
die() {  # the step fails, the script stops: one line, the step's line in stages.txt, what exists so far
  echo "device_checks: $*" >&2
  record "$STEP 1 $(( $(date +%s) - STEP_T0 )) failed"
  snapshot; exit 1
}

declare -A page=([cls]=$CLS_NAME [seg]=$SEG_NAME [ft]=$FT_NAME)
put() {  # tar-file name files...: written beside, then renamed (a reader never sees half a file)
  local dest=$1 tmp
  shift
  tmp="$OUT/.$(basename "$dest").$BASHPID.tmp"
  tar czf "$tmp" -C "$RESULT_ROOT" "$@" && mv -f "$tmp" "$dest" || rm -f "$tmp"
}
snapshot() {  # results.tar.gz and logs.tar.gz; one at a time (the periodic one runs beside the stages)
  (
    command -v flock > /dev/null && flock 9
    local files=() logs=() name w f
    for name in "${page[@]}"; do
      w=benchmarks/runs/$name
      [[ -d $RESULT_ROOT/$w ]] || continue
      mapfile -t -O ${#files[@]} files < <(cd "$RESULT_ROOT" && find "$w" -type f \( -name 'command*.txt' \
        -o -name 'results*.json' -o -name scalars.json -o -regex '.*/seed[^/]*/[^/]*\.json' \) | sort)
      mapfile -t -O ${#logs[@]} logs < <(cd "$RESULT_ROOT" && find "$w" -type f -name '*.log' | sort)
      for f in "benchmarks/$name.md" "benchmarks/$name.png"; do
        [[ ! -f $RESULT_ROOT/$f ]] || files+=("$f")
      done
    done
    [[ ! -d $RESULT_ROOT/benchmarks/gpu_quick ]] || files+=(benchmarks/gpu_quick)
    (( ${#files[@]} == 0 )) || put "$OUT/results.tar.gz" "${files[@]}"
    (( ${#logs[@]} == 0 )) || put "$OUT/logs.tar.gz" "${logs[@]}"
    if [[ -f $OUT/logs.tar.gz ]] && (( $(stat -c %s "$OUT/logs.tar.gz") > 15 * 1024 * 1024 )); then
      rm -f "$OUT/logs.tar.gz"
      echo "[device_checks] logs.tar.gz over 15 MiB: left out (the device returns 16 MiB a file)"
    fi
  ) 9> "$STAGE_DIR/.snapshot.lock"
  return 0
}

machine() {  # one line per fact, first into $OUT
  {
    echo "date $(date -u +%FT%TZ) | host $(uname -m), $CORES cores," \
         "$(free -g 2>/dev/null | awk '/^Mem/ {print $2}') GiB | dry run $DRY | CUDA $CUDA" \
         "| budget $BUDGET s" \
         "| stages ${STAGES:-none}"
    local commit=${MMEWA_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || true)}
    echo "commit ${commit:-unknown (no .git in this copy: set MMEWA_COMMIT)}"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null \
      | sed 's/^/gpu /' || echo "gpu none (no nvidia-smi)"
    echo "nvcc $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo none)" \
         "| ninja $(ninja --version 2>/dev/null || echo none)" \
         "| gcc $(gcc -dumpfullversion 2>/dev/null || echo none)"
    "$PYBASE" -c 'import sys, torch; print("python", sys.version.split()[0], sys.executable, "| torch",
      torch.__version__, "cuda", torch.version.cuda, "| gpu visible", torch.cuda.is_available())' 2>&1 \
      || echo "python: $PYBASE has no torch"
  } > "$OUT/machine.txt"
  cat "$OUT/machine.txt"
}

# --- install ----------------------------------------------------------------------------------------------
import_check() {  # one line per import; exit 1 with the failing one
  "$PY" - "$CUDA" <<'EOF'
import importlib, sys
cuda = sys.argv[1] == '1'
dev = 'cuda' if cuda else 'cpu'
def check(what, fn):
    try:
        out = fn()
    except Exception as e:  # noqa: BLE001 - any failure here is the one line the session needs
        print(f'device_checks: import check failed: {what}: {type(e).__name__}: {e}', file=sys.stderr)
        sys.exit(1)
    print(f'[import] {what}: {out}')
def gpu():
    import torch
    if not cuda:
        return f'not checked (CUDA=0), torch {torch.__version__}'
    if not torch.cuda.is_available():
        raise RuntimeError('torch sees no GPU')
    x = torch.randn(256, 256, device='cuda')
    finite = bool((x @ x).isfinite().all())
    return f'{torch.cuda.get_device_name(0)}, torch {torch.__version__}, matmul finite {finite}'
def mmcv_ops():
    import torch
    import mmcv
    from mmcv import ops
    built = ops.get_compiling_cuda_version()
    if cuda and built == 'not available':
        raise RuntimeError('mmcv was built without CUDA ops: rebuild it (delete .device_stage/venv)')
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]], device=dev)
    keep = ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7], device=dev), 0.5)[1].tolist()
    if keep != [0, 2]:
        raise RuntimeError(f'mmcv.ops.nms on {dev} kept {keep}, expected [0, 2]')
    feat = torch.arange(16., device=dev).reshape(1, 1, 4, 4)  # value 4y + x: a bin's mean is its centre's
    roi = ops.roi_align(feat, torch.tensor([[0., 0., 0., 3., 3.]], device=dev), (1, 1), 1.0, 2, 'avg', True)
    if not torch.isclose(roi.flatten()[0].cpu(), torch.tensor(5.0)):  # aligned: centre (1, 1)
        raise RuntimeError(f'mmcv.ops.roi_align on {dev} gave {roi.flatten().tolist()}, expected [5.0]')
    return f'mmcv {mmcv.__version__}, compiled CUDA {built}, nms and roi_align on {dev} ok'
check('gpu', gpu)
check('mmcv.ops', mmcv_ops)
def upstream_mmengine():
    from importlib import metadata
    try:
        return bool(metadata.version('mmengine'))
    except metadata.PackageNotFoundError:
        return False
# upstream mmengine 0.10.7 resolves mmseg:: bases with pkg_resources (gone in setuptools 81); OneDL's does not
for name in ('pkg_resources',) * upstream_mmengine() + ('cv2', 'mmewa', 'mmseg.models', 'mmdet.models',
                                                        'mmpretrain'):
    check(name, lambda n=name: getattr(importlib.import_module(n), '__file__', n))
EOF
}

verify_bundle() {  # 1 when there is none; stops when there is one that does not match its sums
  [[ -f $BUNDLE/SHA256SUMS ]] || return 1
  (cd "$BUNDLE" && sha256sum -c --quiet SHA256SUMS) || die "the bundle in $BUNDLE does not match its" \
    "SHA256SUMS: rebuild it with python .dev_scripts/make_device_bundle.py and carry it again"
}

make_venv() {  # a venv that sees what python3 sees (torch, numpy, opencv, ...) after its own packages:
               # python3 may itself be a venv, whose packages --system-site-packages does not reach, so a
               # .pth adds each of python3's site dirs (with their own .pth files) behind the venv's; no pip
               # of its own (python3's serves; ensurepip may be missing)
  [[ -x $VENV/bin/python ]] || "$PYBASE" -m venv --without-pip "$VENV"
  local base site
  base=$("$PYBASE" -c 'import site; print("\n".join(p for p in site.getsitepackages() if "-packages" in p))')
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  while read -r p; do echo "import site; site.addsitedir('$p')"; done <<< "$base" \
    > "$site/_device_python3.pth"
  printf '%s\n' "$ROOT" > "$site/_mmewa_tree.pth"     # mmewa from this tree (its copy on the device)
}

install_direct() {  # in its own bash (timeout): the bundle's wheels, then mmcv as tools/install.sh builds it
  local tag wheel_dir build src whl
  "$PY" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile "$BUNDLE"/wheels/*.whl
  # install.sh's cache key (tag), so a wheel built by either serves both
  tag=$("$PY" -c "import sys, torch
print(f'cp{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__.split(\"+\")[0]}')")
  tag="$tag-$("$PY" tools/mmcv_ops.py tag --ops minimal)"
  if [[ $CUDA == 1 ]]; then
    tag="$tag-cuda$("$PY" -c 'import torch; print(torch.version.cuda)')-sm${ARCH//[^0-9A-Za-z.+]/_}"
  fi
  wheel_dir=$CACHE/$tag
  if [[ $CUDA == 1 ]]; then
    # a whole toolkit (torch would guess /usr/local from a /usr/local/bin/nvcc wrapper, without headers)
    local d
    local nvcc_home
    nvcc_home=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc || echo /none/bin/nvcc)")")")
    for d in ${CUDA_HOME:-} /usr/local/cuda "$nvcc_home"; do
      [[ -x $d/bin/nvcc && -f $d/include/cuda_runtime_api.h ]] && { export CUDA_HOME=$d; break; }
    done
    echo "[install] CUDA_HOME=${CUDA_HOME:-unset}"
    # torch's CUDA headers include cusparse.h, cublas_v2.h, ...: where the toolkit lacks them, the nvidia-*
    # wheels beside torch have them
    local inc
    inc=$("$PY" -c 'import glob, os, sys
from torch.utils.cpp_extension import CUDA_HOME
if not (CUDA_HOME and os.path.exists(os.path.join(CUDA_HOME, "include", "cusparse.h"))):
    dirs = {d for p in sys.path for d in glob.glob(os.path.join(p, "nvidia", "*", "include"))}
    print(":".join(sorted(dirs)))')
    # CPLUS_INCLUDE_PATH: searched after the -isystem dirs torch passes (CUDA_HOME's first; CPATH would
    # put these first, and their cuda_runtime_api.h without the toolkit's crt/ headers)
    [[ -z $inc ]] || { export CPLUS_INCLUDE_PATH=$inc${CPLUS_INCLUDE_PATH:+:$CPLUS_INCLUDE_PATH}
                       echo "[install] CPLUS_INCLUDE_PATH += $inc"; }
  fi
  if ! compgen -G "$wheel_dir/mmcv-2.1.0-*.whl" > /dev/null; then
    echo "[install] building mmcv 2.1.0 (minimal ops, CUDA $CUDA, arch $ARCH, $CORES jobs) -> $wheel_dir"
    build=$(mktemp -d)
    tar xzf "$BUNDLE/src/mmcv-2.1.0.tar.gz" -C "$build"
    src=$build/mmcv-2.1.0
    "$PY" tools/mmcv_ops.py prepare "$src" --ops minimal   # also the -std=c++NN torch's headers need
    grep -o "'-std=c++[0-9]*'" "$src/setup.py" | sort | uniq -c | sed 's/^/[install] setup.py flags: /'
    (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=$CUDA TORCH_CUDA_ARCH_LIST=$ARCH MAX_JOBS=$CORES \
      "$PY" -m pip wheel -q --disable-pip-version-check --no-index --no-deps --no-build-isolation \
        -w "$build/dist" .)
    mkdir -p "$wheel_dir"
    whl=$(basename "$build"/dist/mmcv-*.whl)
    cp "$build/dist/$whl" "$wheel_dir/.$whl.partial" && mv "$wheel_dir/.$whl.partial" "$wheel_dir/$whl"
    rm -rf "$build"
    touch "$STAGE_DIR/.mmcv_built"
  fi
  "$PY" -m pip install -q --disable-pip-version-check --no-index --no-deps --force-reinstall \
    "$wheel_dir"/mmcv-2.1.0-*.whl
}

stage_install() {
  local t0 rc=0 cap
  t0=$(date +%s)
  if [[ $DRY == 1 ]]; then  # this machine's environment; the bundle is checked when it is here
    PY=$(command -v "$PYTHON")
    if verify_bundle; then
      "$PY" .dev_scripts/make_device_bundle.py --out "$BUNDLE" --check 2>&1 | tee -a "$OUT/install.log" \
        || die "the bundle in $BUNDLE fails its check (line above)"
      say "install: bundle $BUNDLE checked (pins, hashes, closure; nothing installed: dry run)"
    else
      say "install: no bundle at $BUNDLE: not checked (python .dev_scripts/make_device_bundle.py builds it)"
    fi
    import_check 2>&1 | tee -a "$OUT/install.log" || die "an import fails (line above)"
    record "install 0 $(( $(date +%s) - t0 )) ok dry-run"
    return
  fi
  PY=$VENV/bin/python
  if [[ -f $VENV/.installed ]] && import_check >> "$OUT/install.log" 2>&1; then
    say "install: the venv in $VENV still imports (warm machine): skipped"
    record "install 0 $(( $(date +%s) - t0 )) ok warm"
    return
  fi
  verify_bundle || die "no bundle at $BUNDLE (a fresh machine): carry .device_bundle (docs/device_checks.md)"
  [[ ! -d $BUNDLE/wheel_cache ]] || cp -rn "$BUNDLE/wheel_cache/." "$CACHE/"
  rm -f "$STAGE_DIR/.mmcv_built" "$VENV/.installed"
  make_venv
  cap=$(( CAP_INSTALL < $(left) - 30 ? CAP_INSTALL : $(left) - 30 ))
  say "install: bundle wheels and mmcv (minimal ops, CUDA $CUDA) into $VENV (cap $cap s; install.log)"
  (export -f install_direct; export PY BUNDLE CACHE CUDA ARCH CORES STAGE_DIR
   export PATH="$(dirname "$(command -v "$PYBASE")"):$PATH"   # python3's ninja (and tools) for the build
   timeout --kill-after=10 "$cap" bash -c 'set -euo pipefail; install_direct') >> "$OUT/install.log" 2>&1 \
    || rc=$?
  if (( rc )); then
    tail -n 25 "$OUT/install.log"
    die "install failed (exit $rc$( ((rc == 124)) && echo ": over its cap of $cap s")): see install.log"
  fi
  if [[ -f $STAGE_DIR/.mmcv_built ]]; then  # for the next sessions' carry, even if an import fails below
    (command -v flock > /dev/null && flock 9  # one temporary file in $OUT at a time, as in snapshot
     cd "$STAGE_DIR" && tar cf "$OUT/.mmcv_wheel_cache.tar.tmp" wheel_cache \
       && mv "$OUT/.mmcv_wheel_cache.tar.tmp" "$OUT/mmcv_wheel_cache.tar") 9> "$STAGE_DIR/.snapshot.lock"
  fi
  import_check 2>&1 | tee -a "$OUT/install.log" || die "installed, but an import fails (line above)"
  touch "$VENV/.installed"
  record "install 0 $(( $(date +%s) - t0 )) ok"
}

# --- data -------------------------------------------------------------------------------------------------
unpacked_parts() {  # "a b " or "none "
  if [[ -s $DATA/cifar100/.parts ]]; then awk '{print $1}' "$DATA/cifar100/.parts" | tr '\n' ' '
  else echo -n 'none '; fi
}

stage_data() {  # unpack what was carried (dry run: pack a tiny real subset of each first) under $DATA
  local t0 parts=() part name stamp camvid=$DATA_PARTS/camvid new=()
  t0=$(date +%s)
  if [[ $DRY == 1 ]]; then
    local spec='a=test,train'
    [[ ! -d $DATA_SRC/cifar100/train_rest ]] || spec="$spec;b=train_rest:0-49;c=train_rest:50-99"
    if [[ " $STAGES " =~ \ (cls|speed|ft)\  ]]; then
      "$PY" .dev_scripts/pack_cifar.py pack "$DATA_SRC/cifar100" "$DATA_PARTS" --parts "$spec" --per-class 1 \
        || die "packing CIFAR-100 from $DATA_SRC/cifar100 failed (line above)"
    fi
    [[ " $STAGES " != *" seg "* ]] || "$PY" .dev_scripts/make_device_bundle.py --no-wheels --data "$DATA_SRC" \
      --data-out "$DATA_PARTS" --sets camvid || die "staging CamVid from $DATA_SRC/camvid failed (line above)"
    if [[ " $STAGES " == *" ft "* ]]; then  # the real weights when converted here, else the tool converts them
      local vit=checkpoints/dinov2_vits14_mmpretrain.pth
      [[ -f $vit ]] || { vit=$STAGE_DIR/dinov2_vits14_mmpretrain.pth
        "$PY" tools/model_converters/convert_dinov2_onnx.py "$vit" --layout mmpretrain || die "converting the ViT-S/14 failed"; }
      "$PY" .dev_scripts/make_device_bundle.py --no-wheels --sets dinov2 --dinov2 "$vit" --data-out "$DATA_PARTS" \
        || die "staging the ViT-S/14 failed (line above)"
    fi
  fi
  mapfile -t parts < <(compgen -G "$DATA_PARTS/cifar100-*" | sort)
  if (( ${#parts[@]} )); then
    local want=() changed=0
    for part in "${parts[@]}"; do
      name=${part##*/cifar100-}
      stamp=$(sha256sum "$part/part.json" 2>/dev/null | cut -c1-16) || stamp=missing
      want+=("$name $stamp")
      if grep -q "^$name " "$DATA/cifar100/.parts" 2>/dev/null; then
        grep -qx "$name $stamp" "$DATA/cifar100/.parts" || changed=1
      else
        new+=("$part")
      fi
    done
    if (( changed )); then  # a part with other content than the one unpacked: unpack all of them again
      rm -rf "$DATA/cifar100"; new=("${parts[@]}")
    fi
    for part in ${new[@]+"${new[@]}"}; do
      "$PY" .dev_scripts/pack_cifar.py unpack "$part" --out "$DATA/cifar100" --png \
        || die "CIFAR-100 part $part failed its check (line above): carry it again"
      name=${part##*/cifar100-}
      printf '%s\n' "${want[@]}" | grep "^$name " >> "$DATA/cifar100/.parts"
    done
    say "data: CIFAR-100 parts unpacked in $DATA/cifar100: $(unpacked_parts)(new: ${#new[@]})"
  fi
  if [[ -f $camvid/SHA256SUMS ]]; then
    (cd "$camvid" && sha256sum -c --quiet SHA256SUMS) || die "$camvid does not match its SHA256SUMS: carry" \
      "it again (python .dev_scripts/make_device_bundle.py --no-wheels --data ../shared/data --sets camvid)"
    ln -sfn "$camvid" "$DATA/camvid"
    say "data: CamVid checked -> $DATA/camvid"
  fi
  local vit=$DATA_PARTS/dinov2-vits14
  if [[ -f $vit/SHA256SUMS ]]; then  # widened once per carried file (the stamp is its hash)
    (cd "$vit" && sha256sum -c --quiet SHA256SUMS) || die "$vit does not match its SHA256SUMS: carry it" \
      "again (python .dev_scripts/make_device_bundle.py --no-wheels --sets dinov2)"
    stamp=$(cut -c1-16 "$vit/SHA256SUMS")
    if [[ $(cat "$DATA/dinov2.stamp" 2>/dev/null) != "$stamp" ]]; then
      "$PY" - "$vit/dinov2_vits14_mmpretrain_fp16.pth" "$DATA/dinov2_vits14_mmpretrain.pth" <<'PYEOF' \
        || die "widening the ViT-S/14 to float32 failed (line above)"
import sys
from mmewa.checkpoint import load_checkpoint, save_checkpoint_atomic
ckpt = load_checkpoint(sys.argv[1])
ckpt['state_dict'] = {k: v.float() if v.is_floating_point() else v for k, v in ckpt['state_dict'].items()}
save_checkpoint_atomic(ckpt, sys.argv[2])
PYEOF
      echo "$stamp" > "$DATA/dinov2.stamp"
    fi
    say "data: ViT-S/14 checked -> $DATA/dinov2_vits14_mmpretrain.pth (float16 widened to float32)"
  fi
  record "data 0 $(( $(date +%s) - t0 )) ok cifar100: $(unpacked_parts)camvid:" \
    "$([[ -e $DATA/camvid ]] && echo yes || echo no) vit-s14: $([[ -f $DATA/dinov2.stamp ]] && echo yes || echo no)"
}

# --- stages -----------------------------------------------------------------------------------------------
cap_for() {  # the stage's cap, cut to what the budget has left (less 20 s for the last snapshot)
  local cap=$1 b
  b=$(( $(left) - 20 ))
  echo $(( cap < b ? cap : b ))
}

stage_bench() {
  local t0 rc=0 cap status=ok
  t0=$(date +%s)
  cap=$(cap_for "$CAP_BENCH")
  if (( cap < 30 )); then say "bench: skipped, $(left) s left"; record "bench 0 0 skipped budget"; return; fi
  local bench=(env QUICK=1 OUT_DIR="$RESULT_ROOT/benchmarks/gpu_quick" PYTHON="$PY")
  [[ $CUDA == 1 ]] || bench+=(DEVICE=cpu)
  [[ $DRY == 0 ]] || bench+=(BENCHES="vit-s14_448_b16" REPS=1 WARMUP=0 CROP=56 BATCH=2 FFN_DIMS=64
                             FFN_TOKENS=16 FFN_BATCH=1 CAPS="100 60 60")
  say "bench: start (cap $cap s)"
  timeout --kill-after=10 "$cap" "${bench[@]}" bash .dev_scripts/benchmark_gpu.sh || rc=$?
  (( rc == 0 )) || status=$([[ $rc == 124 || $rc == 137 ]] && echo stopped || echo failed)
  record "bench $rc $(( $(date +%s) - t0 )) $status"
  say "bench: $status (exit $rc)"
  snapshot
}

stage_speed() {  # the CIFAR-100 training speed that sizes the plan (issue #20), one JSON per run as it ends
  local t0 rc=0 cap status=ok dir=$RESULT_ROOT/benchmarks/gpu_quick dev=cuda run done_=()
  t0=$(date +%s)
  cap=$(cap_for "$CAP_SPEED")
  if (( cap < 30 )); then say "speed: skipped, $(left) s left"; record "speed 0 0 skipped budget"; return; fi
  mkdir -p "$dir" "$STAGE_DIR/cache"
  local d64=(configs/ewa_cls/vit-d64-p4_1xb128-40e_cifar100-32{,_fast}.py)
  local lee9=(configs/ewa_cls/vit-lee9-p4_1xb128-100e_cifar100-50k-32{,_fast}.py)
  local timing=(--iters "$SPEED_ITERS" --reps 3 --warmup 1)
  local common=() lee9_opts=(train_dataloader.dataset.data_root="$DATA/cifar100"
                             train_dataloader.dataset.cache_file="$STAGE_DIR/cache/speed_lee9.npz")
  if [[ $CUDA == 1 ]]; then common+=(optim_wrapper.type=AmpOptimWrapper optim_wrapper.dtype=bfloat16)
  else dev=cpu; fi
  [[ $DRY == 0 ]] || { timing=(--iters 1 --reps 1 --warmup 0); common+=(train_dataloader.batch_size=8); }
  # without parts b and c, train/ stands in for train_rest/ (the speed does not depend on which images)
  local have=" $(unpacked_parts) "
  [[ $have == *" b "* && $have == *" c "* ]] \
    || lee9_opts+=(train_dataloader.dataset.dataset.datasets.1.data_prefix=train)
  local d64_opts=(train_dataloader.dataset.data_root="$DATA/cifar100" train_dataloader.num_workers="$WORKERS"
                  train_dataloader.persistent_workers=$(( WORKERS > 0 )))
  local runs=(
    "paths_d64|${d64[*]} --sections data train|${d64_opts[*]}"
    "lee9_fast|${lee9[*]} --only fast --sections train|${lee9_opts[*]}"
    "lee9_fast_compiled|${lee9[*]} --only fast --sections train|${lee9_opts[*]} $SPEED_COMPILE"
    "lee9_fast_x$SPEED_PROCS|${lee9[*]} --only fast --sections train --procs $SPEED_PROCS|${lee9_opts[*]}")
  for run in "${runs[@]}"; do
    local name args opts limit
    IFS='|' read -r name args opts <<< "$run"
    limit=$(( cap - ($(date +%s) - t0) ))
    if (( limit < 20 )); then status=partial; say "speed: $name not started, $limit s left"; break; fi
    say "speed: $name (cap $limit s)"
    # shellcheck disable=SC2086  # args and opts are word lists
    timeout --kill-after=10 "$limit" "$PY" tools/analysis_tools/benchmark_data_path.py $args --device "$dev" "${timing[@]}" \
      --out "$dir/speed_$name.json" --cfg-options ${common[@]+"${common[@]}"} $opts || rc=$?
    if (( rc )); then
      status=$([[ $rc == 124 || $rc == 137 ]] && echo stopped || echo failed); say "speed: $name $status"
      break
    fi
    done_+=("$name")
  done
  record "speed $rc $(( $(date +%s) - t0 )) $status runs done: ${done_[*]:-none}"
  say "speed: $status (runs done: ${done_[*]:-none})"
  snapshot
}

stage_compare() {  # cls|seg cap seeds group expected-seconds: the seeds, a group at a time, each started only
                   # while the cap and the budget hold 30 s, the expected time and 1.1 x the longest group
  local kind=$1 cap=$2 group=$4 expected=$5 seeds t0 i=0 longest=0 rc=0 status=ok done_=() note need
  read -ra seeds <<< "$3"
  t0=$(date +%s)
  local run_as=$kind cls_name=$CLS_NAME  # ft is gpu_evidence.sh's cls stage with other configs and weights
  [[ $kind != ft ]] || run_as=cls cls_name=$FT_NAME
  local evidence=(env DATA="$DATA" WORK="$RESULT_ROOT/benchmarks/runs" OUT_DIR="$RESULT_ROOT/benchmarks"
                  PYTHON="$PY" WORKERS="$WORKERS" SUBSET="$SUBSET" CLS_NAME="$cls_name" SEG_NAME="$SEG_NAME"
                  STAGES="$run_as")
  if [[ $kind == cls ]]; then
    evidence+=(EPOCHS="$CLS_EPOCHS" WARMUP="$CLS_WARMUP" VAL="$CLS_VAL" CLS_BASE="$CLS_BASE"
               CLS_EWA="$CLS_EWA"
               CLS_OPTIONS="default_hooks.checkpoint.interval=$CLS_CKPT $CLS_OPTIONS"
               CIFAR_ROOT_KEYS="$CLS_ROOT_KEYS")
  elif [[ $kind == ft ]]; then
    local weights=model.backbone.init_cfg.checkpoint=$DATA/dinov2_vits14_mmpretrain.pth
    evidence+=(EPOCHS="$FT_EPOCHS" WARMUP="$FT_WARMUP" VAL="$FT_VAL" CLS_BASE="$FT_BASE" CLS_EWA="$FT_EWA"
               CLS_OPTIONS="default_hooks.checkpoint.interval=$FT_CKPT $weights $FT_OPTIONS")
  else
    evidence+=(SEG_ITERS="$SEG_ITERS" SEG_VAL="$SEG_VAL" SEG_SPLITS="$SEG_SPLITS")
  fi
  while (( i < ${#seeds[@]} )); do
    local grp=("${seeds[@]:i:group}") upto=("${seeds[@]:0:i+group}") limit t1 took
    limit=$(cap_for $(( cap - ($(date +%s) - t0) )))
    need=$(( longest * 11 / 10 > expected ? longest * 11 / 10 : expected ))
    (( need > 30 )) || need=30
    if (( limit < need )); then
      status=partial; say "$kind: $limit s left, a group needs $need s: seeds ${seeds[*]:i} not started"
      break
    fi
    say "$kind: seeds ${grp[*]} (with ${upto[*]} in the table; cap $limit s)"
    t1=$(date +%s); rc=0
    # the seeds before this group are done (skipped in seconds): the page and results.json cover them all
    timeout --kill-after=10 "$limit" "${evidence[@]}" SEEDS="${upto[*]}" JOBS=$(( 2 * ${#grp[@]} )) \
      bash .dev_scripts/gpu_evidence.sh || rc=$?
    took=$(( $(date +%s) - t1 ))
    (( took <= longest )) || longest=$took
    snapshot
    if (( rc )); then
      status=$([[ $rc == 124 || $rc == 137 ]] && echo stopped || echo failed)
      say "$kind: seeds ${grp[*]} $status (exit $rc) after $took s"
      break
    fi
    done_+=("${grp[@]}")
    i=$(( i + group ))
  done
  local rest="${seeds[*]:${#done_[@]}}"
  note="seeds done: ${done_[*]:-none}; left: ${rest:-none}"
  record "$kind $rc $(( $(date +%s) - t0 )) $status $note"
  say "$kind: $status ($note)"
}

machine
say "stages: ${STAGES:-none} | budget $BUDGET s | out $OUT | stage dir $STAGE_DIR"
: > "$OUT/stages.txt"
snapper() {  # every SNAPSHOT seconds; its sleep ends with it (a sleep left behind would hold our output open)
  exec > /dev/null 2>&1
  local s=
  trap 'kill $s 2>/dev/null; exit 0' TERM
  while :; do sleep "$SNAPSHOT" & s=$!; wait "$s"; snapshot; done
}
snapper &
snapper_pid=$!
trap 'kill "$snapper_pid" 2>/dev/null || true' EXIT
missing() {  # stage why...: a stage without its data fails alone; the next ones still run
  echo "device_checks: ${*:2}" >&2
  record "$1 1 0 failed missing data"
}
step install; stage_install
step data; stage_data
for stage in $STAGES; do
  step "$stage"
  case $stage in
    bench) stage_bench ;;
    speed)
      if [[ " $(unpacked_parts) " == *" a "* ]]; then stage_speed
      else missing speed "stage speed needs CIFAR-100 part a: carry .device_data/cifar100-a"; fi ;;
    cls)
      parts_ok=1
      for p in $CLS_PARTS; do [[ " $(unpacked_parts) " == *" $p "* ]] || parts_ok=0; done
      if (( parts_ok )); then stage_compare cls "$CAP_CLS" "$CLS_SEEDS" "$CLS_GROUP" "$CLS_GROUP_S"
      else missing cls "stage cls needs the CIFAR-100 parts $CLS_PARTS (unpacked: $(unpacked_parts)):" \
        "carry .device_data/cifar100-<part> (docs/device_checks.md)"; fi ;;
    ft)
      if [[ " $(unpacked_parts) " == *" a "* && -f $DATA/dinov2.stamp ]]; then
        stage_compare ft "$CAP_FT" "$FT_SEEDS" "$FT_GROUP" "$FT_GROUP_S"
      else missing ft "stage ft needs CIFAR-100 part a (unpacked: $(unpacked_parts)) and the ViT-S/14:" \
        "carry .device_data/cifar100-a and .device_data/dinov2-vits14 (docs/device_checks.md)"; fi ;;
    seg)
      if [[ -e $DATA/camvid ]]; then stage_compare seg "$CAP_SEG" "$SEG_SEEDS" "$SEG_GROUP" "$SEG_GROUP_S"
      else missing seg "stage seg needs CamVid: carry .device_data/camvid (docs/device_checks.md)"; fi ;;
  esac
done
snapshot
say "done; steps (exit $FAILED):"
cat "$OUT/stages.txt"
exit "$FAILED"
