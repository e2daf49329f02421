"""The mmcv ops mmewa's models call, and a minimal mmcv build that compiles only those.

mmcv 2.1.0 ships no wheel for current torch, so ``tools/install.sh`` builds it from the PyPI source archive;
compiling all of its ~85 C++ ops (and ~60 CUDA files) takes 20-28 minutes on 2 cores, yet the configs mmewa
supports call only the handful below. ``prepare`` rewrites an extracted source tree so that it compiles
those ops only (real mmcv kernels, same sources), every other op still imports, and calling one stops with
one line naming the fix. Stdlib only: it runs before mmcv exists.

    python tools/mmcv_ops.py prepare SRC_DIR [--ops minimal|full|nms,roi_align,...]
    python tools/mmcv_ops.py tag|list [--ops ...]         # cache key / names of an op set (install.sh)
    python tools/mmcv_ops.py usage RECORD.jsonl [--src SRC_DIR]   # which ops a recorded run called

How the set was found: ``MMEWA_RECORD_MMCV_OPS=calls.jsonl PYTHONPATH=.dev_scripts/mmcv_ops_record pytest``
records every ``mmcv._ext`` call of the whole test suite (which builds and trains every config family in
``configs/``, in subprocesses too), and ``usage`` maps the calls to ops; the CUDA-only entries come from
reading the code paths that CPU tests cannot reach (named per op).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

# op (= the source stem mmcv/ops/csrc/pytorch/<op>.cpp) -> why mmewa's models need it. The one place the
# minimal set is written down; docs/install.md points here.
MINIMAL_OPS: dict[str, str] = {
    'nms': 'mmdet batched_nms (mmcv.ops.nms) in every detector test step: RPN proposals, RoI/RetinaNet '
           'and DETR-free post-processing (CPU and CUDA)',
    'roi_align': 'Mask R-CNN: RoIAlign in SingleRoIExtractor (bbox and mask heads) and mask targets '
                 '(BitmapMasks.crop_and_resize -> mmcv.ops.roi_align), CPU and CUDA',
    'focal_loss': 'RetinaNet, DINO, Deformable DETR classification loss on CUDA (mmdet FocalLoss calls '
                  'mmcv.ops.sigmoid_focal_loss for CUDA tensors; on CPU it uses its PyTorch version)',
    'ms_deform_attn': 'MultiScaleDeformableAttention on CUDA: Deformable DETR / DINO encoder+decoder and '
                      "Mask2Former's pixel decoder (on CPU mmcv falls back to "
                      'multi_scale_deformable_attn_pytorch)',
}
ALWAYS = ('info', 'pybind')  # get_compiler_version / get_compiling_cuda_version, and the module itself
PYTORCH = Path('mmcv/ops/csrc/pytorch')
EXT_LOADER = Path('mmcv/utils/ext_loader.py')
FIX = 'MMCV_OPS=full bash tools/install.sh'
PREPARED_MARK = '# mmewa minimal build'
RECIPE = 1  # bump when prepare() changes what it builds: it is part of the cache key


def op_set(spec: str) -> list[str] | None:
    """``'minimal'`` -> the table above, ``'full'`` -> None (every op), else a comma-separated list."""
    if spec == 'full':
        return None
    if spec == 'minimal':
        return sorted(MINIMAL_OPS)
    ops = sorted({s.strip() for s in spec.split(',') if s.strip()})
    if not ops:
        raise SystemExit(f'mmcv_ops: --ops {spec!r} names no op; use minimal, full or a list such as '
                         'nms,roi_align')
    return ops


def tag(ops: list[str] | None) -> str:
    """A cache key for the op set and the version of the recipe that builds it."""
    if ops is None:
        return 'ops-full'
    digest = hashlib.sha256(','.join(ops).encode()).hexdigest()[:8]
    return f'ops-{"minimal" if ops == sorted(MINIMAL_OPS) else "custom"}-{digest}-r{RECIPE}'


# -- reading C++ at the level mmcv's sources need -----------------------------------------------------
def top_level_items(text: str) -> list[str]:
    """Split C++ source into top-level items (declarations, definitions, macro calls), dropping
    preprocessor lines and comments."""
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    text = '\n'.join('' if ln.lstrip().startswith(('#', '//')) else ln.split('//')[0]
                     for ln in text.splitlines())
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in '({':
            depth += 1
        elif ch in ')}':
            depth -= 1
            if ch == '}' and depth == 0:
                items.append(text[start:i + 1])
                start = i + 1
        elif ch == ';' and depth == 0:
            items.append(text[start:i + 1])
            start = i + 1
    return [s.strip() for s in items if s.strip() not in ('', ';')]


def defined_functions(text: str) -> set[str]:
    """Names of the functions a C++ file defines (a top-level item with a body)."""
    names = set()
    for item in top_level_items(text):
        m = re.match(r'[^(]*?\b(\w+)\s*\(', item, flags=re.S)
        if m and item.endswith('}') and '{' in item:
            names.add(m.group(1))
    return names


def registrations(text: str) -> list[tuple[str, str, str]]:
    """``REGISTER_DEVICE_IMPL(key, device, fn)`` calls of a file."""
    return re.findall(r'REGISTER_DEVICE_IMPL\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*\)', text)


def called(text: str) -> set[str]:
    return set(re.findall(r'\b(\w+)\s*\(', text))


# -- the rewrite ---------------------------------------------------------------------------------------
def prune_cudabind(text: str, impl_keys: set[str]) -> tuple[str, set[str]]:
    """``cudabind.cpp`` keeping the registrations of ``impl_keys`` and the wrappers they name; every
    declaration and every non-function definition (``typedef enum {...} reduce_t;``, structs) stays, as
    the kept wrappers may use them. Returns the text and the functions the kept wrappers need (a wrapper
    is defined in cudabind.cpp or directly in its .cu file)."""
    items = top_level_items(text)
    kept_wrappers = {fn for item in items for key, _, fn in registrations(item) if key in impl_keys}
    body_items, needed = [], set(kept_wrappers)
    for item in items:
        r = registrations(item)
        if r:
            if r[0][0] in impl_keys:
                body_items.append(item)
            continue
        head = item[:item.index('{')] if item.endswith('}') and '{' in item else None
        name = re.match(r'[^(]*?\b(\w+)\s*\(', head, flags=re.S) if head is not None else None
        if name is None:
            body_items.append(item)  # a declaration or a type definition: harmless when unused
        elif name.group(1) in kept_wrappers:
            body_items.append(item)
            needed |= called(item[item.index('{'):])
    header = '#include "pytorch_cpp_helper.hpp"\n#include "pytorch_device_registry.hpp"\n\n'
    return header + '\n\n'.join(body_items) + '\n', needed


def prepare(src: Path, ops: list[str] | None) -> dict[str, list[str]]:
    """Rewrite the extracted mmcv source tree ``src`` in place to build only ``ops`` (None: all), with the
    C++ standard its torch's headers need. Returns what was kept, for the log."""
    setup = src / 'setup.py'
    if not setup.exists() or not (src / PYTORCH / 'pybind.cpp').exists():
        raise SystemExit(f'mmcv_ops: {src} is not an extracted mmcv source archive (no setup.py and '
                         f'{PYTORCH}/pybind.cpp)')
    patch_cxx_standard(setup)
    if ops is None:
        return dict(ops=['all'])
    if PREPARED_MARK in (src / EXT_LOADER).read_text():
        raise SystemExit(f'mmcv_ops: {src} was already prepared; extract the archive again')
    pt = src / PYTORCH
    stems = {p.stem for p in pt.glob('*.cpp')} - set(ALWAYS)
    unknown = sorted(set(ops) - stems)
    if unknown:
        raise SystemExit(f'mmcv_ops: unknown op(s) {unknown}; mmcv 2.1.0 has: {", ".join(sorted(stems))}')

    kept_files = [pt / f'{s}.cpp' for s in (*ops, *ALWAYS)]
    kept_defs = set().union(*(defined_functions(p.read_text()) for p in kept_files))
    impl_keys = kept_defs  # DISPATCH_DEVICE_IMPL keys (nms_impl, ms_deform_attn_impl_forward, ...)
    for stem in stems - set(ops):
        (pt / f'{stem}.cpp').unlink()

    # CPU kernels: a file stays if it registers an implementation of a kept op.
    for path in sorted((pt / 'cpu').glob('*.cpp')):
        if not any(key in impl_keys for key, _, _ in registrations(path.read_text())):
            path.unlink()

    # CUDA: cudabind.cpp's wrappers + registrations of kept ops, and the .cu files with their launchers.
    cudabind = pt / 'cuda' / 'cudabind.cpp'
    text, needed = prune_cudabind(cudabind.read_text(), impl_keys)
    cudabind.write_text(text)
    kept_cu = []
    for path in sorted((pt / 'cuda').glob('*.cu')):
        if needed & defined_functions(path.read_text()):
            kept_cu.append(path.name)
        else:
            path.unlink()

    # pybind.cpp: bind only what the kept files define (unused declarations are harmless).
    pybind = pt / 'pybind.cpp'
    text = pybind.read_text()
    start = text.index('PYBIND11_MODULE')
    open_brace = text.index('{', start)
    close_brace = text.rindex('}')
    statements = [s.strip() for s in top_level_items(text[open_brace + 1:close_brace])]
    bound = []
    for s in statements:
        m = re.match(r'm\.def\(\s*"(\w+)"\s*,\s*&(\w+)', s)
        if m is None or m.group(2) in kept_defs:
            bound.append(s)
    body = '\n  '.join(bound)
    pybind.write_text(text[:open_brace + 1] + '\n  ' + body + '\n' + text[close_brace:])
    names = sorted(re.match(r'm\.def\(\s*"(\w+)"', s).group(1) for s in bound if s.startswith('m.def'))
    patch_ext_loader(src / EXT_LOADER, ops, names)
    return dict(ops=list(ops), functions=names, cpu=sorted(p.name for p in (pt / 'cpu').glob('*.cpp')),
                cuda=kept_cu)


def patch_cxx_standard(setup: Path) -> None:
    """Raise mmcv's ``-std=c++14/17`` to what the installed torch's headers demand (torch 2.14: C++20;
    torch 2.11 on the lent GPU machines: C++17 still serves). Read from torch's ``all.h`` guard."""
    import importlib.util
    spec = importlib.util.find_spec('torch')
    if spec is None or spec.origin is None:
        raise SystemExit('mmcv_ops: torch is not importable; install torch before building mmcv')
    guard = Path(spec.origin).parent / 'include/torch/csrc/api/include/torch/all.h'
    need = 'c++20' if guard.exists() and '202002L' in guard.read_text() else None
    if need is None:
        return
    text = setup.read_text()
    text = text.replace("'-std=c++14'", f"'-std={need}'").replace("'-std=c++17'", f"'-std={need}'")
    setup.write_text(text)


LOADER_PATCH = '''
{mark}: only these ops were compiled (tools/mmcv_ops.py in mmewa); any other op imports and,
# when called, stops with one line naming the fix.
BUILT_OPS = {ops!r}
BUILT_FUNCTIONS = {functions!r}


class OpNotBuiltError(RuntimeError):
    """An mmcv op that this minimal build left out was called."""


def _not_built(fun):
    def missing(*args, **kwargs):
        raise OpNotBuiltError(
            f"mmcv op '{{fun}}' is not in this minimal mmcv build (built with only "
            f"{{', '.join(BUILT_OPS)}}); rebuild mmcv with every op: {fix}")
    missing.__name__ = fun
    return missing

'''


def patch_ext_loader(path: Path, ops: list[str], functions: list[str]) -> None:
    text = path.read_text()
    old = ("        for fun in funcs:\n"
           "            assert hasattr(ext, fun), f'{fun} miss in module {name}'\n")
    new = ("        for fun in funcs:\n"
           "            if not hasattr(ext, fun):\n"
           "                setattr(ext, fun, _not_built(fun))\n")
    if old not in text:
        raise SystemExit(f'mmcv_ops: {path} does not look like mmcv 2.1.0 ext_loader.py; cannot patch it')
    head, sep, rest = text.partition("if torch.__version__ != 'parrots':")
    patch = LOADER_PATCH.format(mark=PREPARED_MARK, ops=tuple(ops), functions=tuple(functions), fix=FIX)
    path.write_text(head + patch + '\n' + sep + rest.replace(old, new))


# -- usage: what a recorded run called -----------------------------------------------------------------
def function_to_op(src: Path) -> dict[str, str]:
    """Bound ``_ext`` function name -> the op (source stem) defining it, from an unprepared source tree."""
    pt = src / PYTORCH
    defs = {p.stem: defined_functions(p.read_text()) for p in pt.glob('*.cpp') if p.stem != 'pybind'}
    text = (pt / 'pybind.cpp').read_text()
    out = {}
    for name, fn in re.findall(r'm\.def\(\s*"(\w+)"\s*,\s*&(\w+)', text):
        out[name] = next((stem for stem, d in defs.items() if fn in d), '?')
    return out


def usage(record: Path, src: Path | None) -> int:
    calls: Counter[str] = Counter()
    for line in record.read_text().splitlines():
        calls.update(json.loads(line)['calls'])
    mapping = function_to_op(src) if src else {}
    by_op: dict[str, Counter[str]] = {}
    for key, n in calls.items():
        fn, _, device = key.partition('@')
        by_op.setdefault(mapping.get(fn, fn), Counter())[f'{fn}@{device}'] += n
    print(f'{record}: {sum(calls.values())} mmcv._ext calls by {len(record.read_text().splitlines())} '
          'processes')
    for op in sorted(by_op):
        mark = 'in minimal set' if op in MINIMAL_OPS or op in ALWAYS else 'NOT in the minimal set'
        detail = ', '.join(f'{k} x{v}' for k, v in sorted(by_op[op].items()))
        print(f'  {op:20s} {mark:24s} {detail}')
    missing = sorted(op for op in by_op if op not in MINIMAL_OPS and op not in ALWAYS)
    return 1 if (src and missing) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('prepare', help='rewrite an extracted mmcv source tree to build only the op set')
    p.add_argument('src', type=Path)
    p.add_argument('--ops', default='minimal')
    t = sub.add_parser('tag', help='print the cache key of an op set')
    t.add_argument('--ops', default='minimal')
    s = sub.add_parser('list', help="print an op set, comma-separated ('full' for every op)")
    s.add_argument('--ops', default='minimal')
    u = sub.add_parser('usage', help='sum a recorded run (.dev_scripts/mmcv_ops_record) into ops')
    u.add_argument('record', type=Path)
    u.add_argument('--src', type=Path, help='an extracted (unprepared) mmcv source tree, to name ops')
    args = parser.parse_args(argv)
    if args.cmd == 'tag':
        print(tag(op_set(args.ops)))
        return 0
    if args.cmd == 'list':
        ops = op_set(args.ops)
        print('full' if ops is None else ','.join(ops))
        return 0
    if args.cmd == 'usage':
        return usage(args.record, args.src)
    kept = prepare(args.src, op_set(args.ops))
    print(f"[mmcv_ops] {args.src}: building ops {', '.join(kept['ops'])}"
          + (f" ({len(kept['functions'])} functions; {len(kept['cpu'])} CPU and {len(kept['cuda'])} CUDA "
             'kernel files)' if 'functions' in kept else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
