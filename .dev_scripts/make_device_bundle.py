#!/usr/bin/env python
"""Build, on a machine with PyPI, what the GPU device machine lacks to install mmewa with no network.

    python .dev_scripts/make_device_bundle.py                      # .device_bundle/ (wheels, mmcv source)
    python .dev_scripts/make_device_bundle.py --data ../shared/data  # also .device_data/ (CIFAR-100, CamVid)
    python .dev_scripts/make_device_bundle.py --no-wheels --sets dinov2  # the ViT-S/14 (fine-tuning stage)
    python .dev_scripts/make_device_bundle.py --check              # verify a bundle, download nothing

The device (docs/device_checks.md) runs Python 3.12 with torch 2.11 and the packages of ``DEVICE_PACKAGES``
(the workplace's list of its image, 2026-11-17) and reaches no registry. The bundle holds the pinned
Python 3.12 x86-64 wheels of ``PINS`` (mmengine, mmdet, mmseg, mmpretrain and every dependency the device
lacks, with setuptools 80: mmcv's setup.py and mmengine's ``mmseg::`` config bases need its pkg_resources,
gone in setuptools 81), mmcv's source archive (``MMCV_SDIST``, built there with CUDA ops by
.dev_scripts/device_checks.sh as tools/install.sh builds it), a ``SHA256SUMS`` (``sha256sum -c`` reads it) and
a ``manifest.json`` (sizes, hashes, what meets each requirement). Every file is checked against the hash
pinned below, so a rebuild gives the same bytes, and a file already there is reused (re-running downloads
nothing). Before anything is written the dependency closure is checked: every ``Requires-Dist`` of every
bundled wheel (markers read for CPython 3.12 on Linux x86-64), mmcv's and mmewa's own
(requirements/runtime.txt and openmmlab.txt) must be met by a bundled wheel, a device package (its version
checked where ``DEVICE_VERSIONS`` knows it) or a ``SUBSTITUTES`` entry, else it stops naming the missing one.
``--check`` recomputes all of it offline and also compares the SHA256SUMS on disk; it writes nothing. A
``wheel_cache/`` folder in the bundle (an mmcv wheel built on the device, from its mmcv_wheel_cache.tar)
is listed and carried along; it is not pinned. mmewa itself is not bundled: the device runs in a copy of
this working tree.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / '.device_bundle'
DATA_OUT = ROOT / '.device_data'
# what `python tools/model_converters/convert_dinov2_onnx.py --layout mmpretrain` writes; carried for the
# fine-tuning stage
DINOV2 = ROOT / 'checkpoints' / 'dinov2_vits14_mmpretrain.pth'
DINOV2_PART, DINOV2_FILE = 'dinov2-vits14', 'dinov2_vits14_mmpretrain_fp16.pth'
PY_VERSION, PLATFORMS = '3.12', ('manylinux_2_28_x86_64', 'manylinux_2_24_x86_64', 'manylinux_2_17_x86_64',
                                 'manylinux2014_x86_64', 'manylinux1_x86_64')
MARKER_ENV = dict(python_version='3.12', python_full_version='3.12.3', sys_platform='linux',
                  platform_system='Linux', platform_machine='x86_64', os_name='posix',
                  implementation_name='cpython', platform_python_implementation='CPython', extra='')

# wheel file -> sha256 (PyPI's files never change: a different hash is a different file). The versions are
# the ones tools/install.sh installs and the test suite runs with (Python 3.11 there; the binary wheels here
# are their CPython 3.12 x86-64 builds: pycocotools' cp312-abi3, shapely's cp312, wcwidth's abi3).
PINS = {
    'addict-2.4.0-py3-none-any.whl': '249bb56bbfd3cdc2a004ea0ff4c2b6ddc84d53bc2194761636eb314d5cfa5dfc',
    'ftfy-6.3.1-py3-none-any.whl': '7c70eb532015cd2f9adb53f101fb6c7945988d023a085d127d1573dc49dd0083',
    'importlib_metadata-10.2.0-py3-none-any.whl':
        'c7a4bf1c7479601f6b8e437cfc14f4f77028ba62a8f34ae95cd93d9774dfba51',
    'lazy_importer-0.1.0-py3-none-any.whl':
        'bd93fab7bef18e842eea02b839410954d37889140dc64ca4d9680aec6880c739',
    'mat4py-0.6.0-py2.py3-none-any.whl': '1c15f39c7df092f01506044f65999fc9c7d71306f8fc850b1003e15ed64c6bae',
    'mmdet-3.3.0-py3-none-any.whl': '2e23e291281ac57e7dccf8678e957da45fbe560ce78a1f5ded6afeccd3730f17',
    'mmengine-0.10.7-py3-none-any.whl': '262ac976a925562f78cd5fd14dd1bc9b680ed0aa81f0d85b723ef782f99c54ee',
    'mmpretrain-1.2.0-py2.py3-none-any.whl':
        '96156327c509cbf17fdc5867f7bc89142df6f63be38ecd67e91b41dc5e538933',
    'mmsegmentation-1.2.2-py3-none-any.whl':
        'dadf62bba00a65947d71b08471bc1fe2fee8e2d6eb740381eecd03991e204b47',
    'model_index-0.1.11-py3-none-any.whl': 'a2a4d4431cd44e571d31e223cc4b0432663a62689de453bdb666e56a514b0e07',
    'modelindex-0.0.2-py3-none-any.whl': 'ad6cfabccaa1ae03ab088689a69707d31643c179accc3d57163112312fe5e3d7',
    'ordered_set-4.1.0-py3-none-any.whl': '046e1132c71fcf3330438a539928932caf51ddbc582496833e23de611de14562',
    'platformdirs-4.14.9-py3-none-any.whl':
        'd0d3a23e7ff282cfa94b77f5a22b81030dcb68ba0430f90c74f4bd8d090782ea',
    'prettytable-3.19.0-py3-none-any.whl': '66d0eaf75f21198e92ce09e59a12c140be76c78b8a89252e7e87ac8994f96383',
    'pycocotools-2.0.11-cp312-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl':
        'a82d1c9ed83f75da0b3f244f2a3cf559351a283307bd9b79a4ee2b93ab3231dd',
    'setuptools-80.10.2-py3-none-any.whl': '95b30ddfb717250edb492926c92b5221f7ef3fbcc2b07579bcd4a27da21d0173',
    'shapely-2.2.0-cp312-cp312-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl':
        '650a5f4d8a8e3c96982079d8c99b6ddbe6602bbd1e34c75c2b95dbc0d28ac997',
    'termcolor-3.3.0-py3-none-any.whl': 'cf642efadaf0a8ebbbf4bc7a31cec2f9b5f21a9f726f4ccbb08192c9c26f43a5',
    'terminaltables-3.1.10-py2.py3-none-any.whl':
        'e4fdc4179c9e4aab5f674d80f09d76fa436b96fdc698a8505e0a36bf0804a874',
    'wcwidth-0.9.4-cp310-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl':
        'b185c8b927b23af2721be1783499d1cfa5c028b098b0858951b4ae224477f1c2',
    'yapf-0.43.0-py3-none-any.whl': '224faffbc39c428cb095818cf6ef5511fdab6f7430a10783fdfb292ccf2852ca',
    'zipp-4.1.2-py3-none-any.whl': 'b30cb6cd253122169c47de245ca24a86bac2a5d3802ba15bf7ba6414eb9e144d',
}
MMCV_SDIST = ('mmcv-2.1.0.tar.gz', 'd387bcab66b467479b6660310e23746cfc79c6e57acf04094680adb499a5cd3f')
# its requirements/runtime.txt (an sdist has no METADATA to read them from) and the opencv its setup.py
# picks when opencv-python-headless is installed, as on the device
MMCV_REQUIRES = ('addict', 'mmengine>=0.3.0', 'numpy', 'packaging', 'Pillow', 'pyyaml', 'yapf',
                 'opencv-python-headless>=3')

# The device image's Python packages (/work/.library/device/KINDS.md, read 2026-11-17), normalised names.
DEVICE_PACKAGES = frozenset('''
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx
huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt
jax-cuda13-plugin
jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax
llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack
multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro
nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft
nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py
nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec
patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11
py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock
pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu
safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers
setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio
torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer
typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
'''.split())
# The versions of the device's packages that a session's pip list showed (KINDS.md, 2026-11); a requirement
# on one of these is checked against its version, on any other device package only by name.
DEVICE_VERSIONS = {
    'accelerate': '1.15.0', 'botorch': '0.18.1', 'cupy-cuda13x': '14.2.0', 'gpytorch': '1.15.2',
    'huggingface-hub': '1.33.0', 'jax': '0.11.2', 'jaxlib': '0.11.2', 'jaxtyping': '0.3.11', 'numpy': '2.5.2',
    'numpyro': '0.21.0', 'onnx': '1.23.1', 'onnxruntime': '1.30.0', 'pytorch-lightning': '2.6.6',
    'safetensors': '0.8.0', 'sentence-transformers': '6.0.1', 'sentencepiece': '0.2.2', 'tiktoken': '0.14.0',
    'tokenizers': '0.23.2', 'torch': '2.11.0', 'torch-geometric': '2.8.0.post1', 'torchaudio': '2.11.0',
    'torchdiffeq': '0.2.5', 'torchmetrics': '1.9.0', 'torchvision': '0.26.0', 'transformers': '5.17.0',
    'triton': '3.6.0',
}
# requirement -> the device package that provides the same module (mmengine asks for opencv-python, whose
# wheel is ~60 MB; the device's opencv-python-headless is the same cv2 without GUI). pip cannot see this,
# so the wheels are installed with --no-deps (.dev_scripts/device_checks.sh).
SUBSTITUTES = {'opencv-python': 'opencv-python-headless'}
# mmewa's own needs on the device: requirements/runtime.txt and the line it bundles (mmcv's source apart)
MMEWA_RUNTIME = (ROOT / 'requirements' / 'runtime.txt', ROOT / 'requirements' / 'openmmlab.txt')
MMEWA_EXTRA: tuple[str, ...] = ()


class BundleError(RuntimeError):
    pass


def canonical(name: str) -> str:
    return re.sub(r'[-_.]+', '-', name).lower()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def wheel_name_version(fname: str) -> tuple[str, str]:
    name, version = fname.split('-')[:2]
    return canonical(name), version


def pip_download(spec: str, dest: Path, binary: bool) -> None:
    """One file through pip, no dependencies (the closure is pinned here, not resolved by pip)."""
    cmd = [sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '-d', str(dest), spec]
    if binary:
        cmd += ['--only-binary=:all:', '--python-version', PY_VERSION, '--implementation', 'cp',
                *[x for p in PLATFORMS for x in ('--platform', p)]]
    else:  # the sdist's metadata step imports torch: build without isolation, with this env's torch
        cmd += ['--no-binary', ':all:', '--no-build-isolation']
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise BundleError(f'pip could not download {spec}: {proc.stderr.strip()[-800:]}')


def fetch(fname: str, digest: str, dest: Path, spec: str, binary: bool, offline: bool) -> Path:
    """``dest/fname`` with hash ``digest``, downloaded only when it is not there yet."""
    path = dest / fname
    if not path.exists():
        if offline:
            raise BundleError(f'{path} is missing: run .dev_scripts/make_device_bundle.py (with PyPI) to '
                              'fetch it')
        dest.mkdir(parents=True, exist_ok=True)
        pip_download(spec, dest, binary)
    if not path.exists():
        raise BundleError(f'pip downloaded no {fname} for {spec}: did PyPI change its files?')
    if file_sha256(path) != digest:
        raise BundleError(f'{path} does not have the pinned SHA-256 {digest[:12]}…: delete it and rerun')
    return path


def requirements(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist lines that apply on the device (markers evaluated, extras dropped)."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as z:
        metas = [n for n in z.namelist() if n.endswith('.dist-info/METADATA')]
        if not metas:
            raise BundleError(f'{wheel.name} has no .dist-info/METADATA: not a wheel')
        lines = z.read(metas[0]).decode().splitlines()
    out = []
    for line in lines:
        if not line.strip():
            break  # the headers end at the first blank line; the description follows
        if not line.startswith('Requires-Dist:'):
            continue
        req = Requirement(line.split(':', 1)[1].strip())
        if req.marker is None or req.marker.evaluate(MARKER_ENV):
            out.append(str(req))
    return out


def mmewa_requirements(paths: Path | tuple[Path, ...] | None = None) -> list[str]:
    """requirements/runtime.txt and openmmlab.txt (comments dropped), and ``MMEWA_EXTRA``."""
    paths = MMEWA_RUNTIME if paths is None else paths
    lines = []
    for path in (paths,) if isinstance(paths, Path) else paths:
        if path.exists():
            lines += [ln.split('#', 1)[0].strip() for ln in path.read_text().splitlines()]
    return [ln for ln in lines if ln] + list(MMEWA_EXTRA)


def closure(wheels: list[Path], needs: list[tuple[str, str]] | None = None,
            device: frozenset[str] | None = None, versions: dict[str, str] | None = None,
            substitutes: dict[str, str] | None = None) -> list[dict]:
    """What meets each requirement on the device: every bundled wheel's, plus ``needs`` ([(requirement,
    whose)]; default mmcv's and mmewa's). [{requirement, of, met_by}]; BundleError naming every unmet one."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    device = DEVICE_PACKAGES if device is None else device
    versions = DEVICE_VERSIONS if versions is None else versions
    substitutes = SUBSTITUTES if substitutes is None else substitutes
    if needs is None:
        needs = [(line, MMCV_SDIST[0]) for line in MMCV_REQUIRES]
        needs += [(line, 'mmewa') for line in mmewa_requirements()]
    bundled: dict[str, list[tuple[Version, str]]] = {}
    for w in wheels:
        name, version = wheel_name_version(w.name)
        bundled.setdefault(name, []).append((Version(version), w.name))
    met, missing = [], []
    for line, owner in [(line, w.name) for w in wheels for line in requirements(w)] + list(needs):
        req = Requirement(line)
        name = canonical(req.name)
        hits = [f for v, f in bundled.get(name, []) if req.specifier.contains(v, prereleases=True)]
        if hits:
            how = f'bundle: {hits[-1]}'
        elif name in bundled:
            missing.append(f'{line} (of {owner}; the bundle has {", ".join(f for _, f in bundled[name])})')
            continue
        elif name in device and name in versions:
            if not req.specifier.contains(Version(versions[name]), prereleases=True):
                missing.append(f'{line} (of {owner}; the device has {name} {versions[name]})')
                continue
            how = f'device: {name} {versions[name]}'
        elif name in device:
            how = 'device (its version unknown here)'
        elif name in substitutes and substitutes[name] in device:
            how = f'device: {substitutes[name]} (same module; installed with --no-deps)'
        else:
            missing.append(f'{line} (of {owner})')
            continue
        met.append(dict(requirement=line, of=owner, met_by=how))
    if missing:
        raise BundleError('requirements met neither by the bundle nor by the device: ' + '; '.join(missing) +
                          ': add the wheel to PINS (with its SHA-256)')
    return sorted(met, key=lambda m: (canonical(Requirement(m['requirement']).name), m['of']))


def build(bundle: Path, offline: bool = False, pins: dict[str, str] | None = None,
          sdist: tuple[str, str] | None = None, needs: list[tuple[str, str]] | None = None,
          device: frozenset[str] | None = None, versions: dict[str, str] | None = None) -> dict:
    """Fetch (``offline``: only check) every pinned file, check the closure, then write SHA256SUMS and
    manifest.json (``offline``: compare the SHA256SUMS on disk instead, write nothing)."""
    pins = PINS if pins is None else pins
    sdist = MMCV_SDIST if sdist is None else sdist
    wheels_dir = bundle / 'wheels'
    wheels = []
    for fname, digest in sorted(pins.items()):
        name, version = wheel_name_version(fname)
        wheels.append(fetch(fname, digest, wheels_dir, f'{name}=={version}', True, offline))
    extra = sorted(set(p.name for p in wheels_dir.glob('*.whl')) - set(pins))
    if extra:
        raise BundleError(f'{wheels_dir} holds unpinned wheels {extra}: delete them (they would be '
                          'installed)')
    name, version = sdist[0].removesuffix('.tar.gz').rsplit('-', 1)
    src = fetch(sdist[0], sdist[1], bundle / 'src', f'{name}=={version}', False, offline)
    met = closure(wheels, needs, device, versions)
    digests = {**pins, sdist[0]: sdist[1]}
    entries = [dict(path=str(f.relative_to(bundle)), bytes=f.stat().st_size, sha256=digests[f.name])
               for f in [*wheels, src]]
    cached = sorted(str(p.relative_to(bundle)) for p in bundle.glob('wheel_cache/*/*.whl'))
    manifest = dict(format='mmewa device bundle 2', python=PY_VERSION, platforms=list(PLATFORMS),
                    device_packages='KINDS.md, 2026-11-17', files=entries,
                    total_bytes=sum(e['bytes'] for e in entries), wheel_cache=cached, requirements=met)
    sums = ''.join(f'{e["sha256"]}  {e["path"]}\n' for e in entries)
    if offline:
        on_disk = (bundle / 'SHA256SUMS').read_text() if (bundle / 'SHA256SUMS').exists() else ''
        if on_disk != sums:
            raise BundleError(f'{bundle}/SHA256SUMS does not list exactly the pinned files: run '
                              '.dev_scripts/make_device_bundle.py (with PyPI) to rewrite it')
    else:
        (bundle / 'SHA256SUMS').write_text(sums)
        (bundle / 'manifest.json').write_text(json.dumps(manifest, indent=1) + '\n')
    return manifest


def stage_data(data: Path | None, out: Path, sets: tuple[str, ...] = ('cifar100', 'camvid'),
               parts: str | None = None, per_class: int | None = None,
               dinov2: Path = DINOV2) -> list[tuple[Path, int]]:
    """CIFAR-100 parts (.dev_scripts/pack_cifar.py), a hashed copy of CamVid and the half-precision ViT-S/14,
    each a folder to carry alone; (folder, bytes) of each."""
    staged = []
    if data is None and {'cifar100', 'camvid'} & set(sets):
        raise BundleError('--sets cifar100/camvid need --data (the folder holding them)')
    if 'cifar100' in sets:
        sys.path.insert(0, str(ROOT / '.dev_scripts'))
        import pack_cifar

        staged += pack_cifar.pack(data / 'cifar100', out, parts or pack_cifar.DEFAULT_PARTS, per_class)
    if 'camvid' in sets:
        staged.append(stage_camvid(data / 'camvid', out / 'camvid'))
    if 'dinov2' in sets:
        staged.append(stage_dinov2(dinov2, out / DINOV2_PART))
    return [(p, sum(f.stat().st_size for f in p.rglob('*') if f.is_file())) for p in staged]


def stage_camvid(src: Path, camvid: Path) -> Path:
    """CamVid as it is (its JPEGs are already compressed) plus a SHA256SUMS; unchanged files are kept."""
    if not (src / 'img_dir').is_dir():
        raise BundleError(f'no CamVid at {src} (img_dir/, ann_dir/): set --data to the folder holding it')
    files = sorted(p.relative_to(src) for p in src.rglob('*') if p.is_file())
    for rel in files:
        dst = camvid / rel
        if not dst.exists() or dst.stat().st_size != (src / rel).stat().st_size:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dst)
    (camvid / 'SHA256SUMS').write_text(''.join(f'{file_sha256(camvid / r)}  {r}\n' for r in files))
    return camvid


def stage_dinov2(src: Path, folder: Path) -> Path:
    """The converted ViT-S/14 in float16 (44 MiB; float32's 88 MiB is over one device call's 64): every
    tensor within 4.5e-4 of its largest value, measured on the checkpoint. The device widens it back to
    float32 (.dev_scripts/device_checks.sh), so both models of the comparison start from the same rounded
    weights."""
    from mmewa.checkpoint import load_checkpoint, save_checkpoint_atomic
    if not src.is_file():
        raise BundleError(f'no converted ViT-S/14 at {src}: python '
                          'tools/model_converters/convert_dinov2_onnx.py --layout mmpretrain')
    ckpt = load_checkpoint(str(src))
    half = {k: v.half() if v.is_floating_point() else v for k, v in ckpt['state_dict'].items()}
    meta = dict(ckpt.get('meta', {}), carried_as='float16 copy made by .dev_scripts/make_device_bundle.py')
    save_checkpoint_atomic(dict(meta=meta, state_dict=half), folder / DINOV2_FILE)
    (folder / 'SHA256SUMS').write_text(f'{file_sha256(folder / DINOV2_FILE)}  {DINOV2_FILE}\n')
    return folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', type=Path, default=BUNDLE, help=f'bundle folder (default {BUNDLE.name}/)')
    p.add_argument('--check', action='store_true', help='verify the bundle there; download nothing')
    p.add_argument('--data', type=Path, help='also stage the data under --data-out from this data root')
    p.add_argument('--data-out', type=Path, default=DATA_OUT)
    p.add_argument('--sets', nargs='+', choices=('cifar100', 'camvid', 'dinov2'),
                   default=['cifar100', 'camvid'],
                   help="what --data-out gets; 'dinov2' is the converted ViT-S/14 of --dinov2 in float16 "
                        '(the fine-tuning stage; needs no --data)')
    p.add_argument('--dinov2', type=Path, default=DINOV2,
                   help=f'converted mmpretrain-layout ViT-S/14 (default {DINOV2.relative_to(ROOT)})')
    p.add_argument('--parts', help='CIFAR-100 parts (.dev_scripts/pack_cifar.py --parts)')
    p.add_argument('--per-class', type=int, help='CIFAR-100: the first N images per class and folder (tests)')
    p.add_argument('--no-wheels', action='store_true', help='only the data (no bundle built or checked)')
    args = p.parse_args(argv)
    try:
        if not args.no_wheels:
            manifest = build(args.out, offline=args.check)
            cache = manifest['wheel_cache']
            cache = f'; wheel_cache: {", ".join(cache)}' if cache else ''
            print(f'{args.out}: {len(manifest["files"])} pinned files, '
                  f'{manifest["total_bytes"] / 2**20:.1f} MiB, {len(manifest["requirements"])} requirements '
                  f'met{cache} '
                  f'({"checked, nothing written" if args.check else "ready"})')
        if args.data or 'dinov2' in args.sets:
            staged = stage_data(args.data, args.data_out, tuple(args.sets), args.parts, args.per_class,
                                args.dinov2)
            for path, size in staged:
                print(f'{path}: {size / 2**20:.1f} MiB')
    except BundleError as e:
        print(f'make_device_bundle: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
