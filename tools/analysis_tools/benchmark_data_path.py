#!/usr/bin/env python
"""The standard data path against the fast one (in-memory dataset + batched augmentation), side by side.

    python tools/analysis_tools/benchmark_data_path.py configs/ewa_cls/vit-d64-p4_1xb128-40e_cifar100-32.py \\
        configs/ewa_cls/vit-d64-p4_1xb128-40e_cifar100-32_fast.py --out benchmarks/cpu_data_path_d64.json
    python tools/analysis_tools/benchmark_data_path.py STD FAST --device cuda --iters 50   # on a GPU

Both configs are built as MMEngine's Runner builds them (``Runner.build_dataloader``, the model, the optim
wrapper) and timed in blocks of ``--iters`` training iterations, alternating (A B, B A, ...) in this one
process: ``data`` = the loader's batches through the data preprocessor (training mode: the fast path's
augmentation happens there), ``train`` = whole ``train_step`` s (data + forward + backward + optimizer).
Each block starts a fresh loader iterator, so a loader's workers cannot prefetch while the other path is
timed. Reported: images per second, the fast / standard time ratio (median of the paired blocks, with
quartiles) and the time of one epoch of each config's train set at that rate. ``--only fast`` times one path
alone; ``--procs N`` runs N such processes at once on the device (each builds its own loader and model, then
all start timing together) and reports their summed images per second: what one GPU gives to N trainings
side by side. ``--cfg-options compile=True`` compiles ``train_step`` as MMEngine's Runner does. The accuracy
side of the A/B is tools/analysis_tools/compare_seeds.py (benchmarks/cls_cifar100_fast_path.md).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from mmengine.config import DictAction

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mmewa.utils.benchmark import interleaved, quantile, ratio, synchronize  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('standard_config')
    p.add_argument('fast_config')
    p.add_argument('--device', default='cpu')
    p.add_argument('--iters', type=int, default=20, help='training iterations per timed block')
    p.add_argument('--reps', type=int, default=4, help='timed blocks per path (alternating)')
    p.add_argument('--warmup', type=int, default=1, help='untimed blocks per path first')
    p.add_argument('--sections', nargs='+', choices=('data', 'train'), default=['data', 'train'])
    p.add_argument('--only', choices=('standard', 'fast'),
                   help='time one path alone (several such processes at once: what one GPU gives in all)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='key=value for both configs')
    p.add_argument('--procs', type=int, default=1,
                   help='processes at once (needs --only): their images per second are summed')
    p.add_argument('--out', help='write the results as JSON to this file')
    args = p.parse_args(argv)
    if args.procs > 1 and args.only is None:
        p.error('--procs needs --only standard|fast (each process times one path)')
    return args


class TrainPath:
    """One config's loader, model and optimizer, and a timed block of its iterations."""

    def __init__(self, config: str, options: dict, device: torch.device) -> None:
        from mmengine.config import Config
        from mmengine.optim import build_optim_wrapper
        from mmengine.registry import MODELS, DefaultScope, init_default_scope
        from mmengine.runner import Runner

        import mmewa  # noqa: F401 (registers InMemoryDataset, BatchAugClsDataPreprocessor, the twins)
        cfg = Config.fromfile(config)
        cfg.merge_from_dict(options)
        init_default_scope(cfg.get('default_scope', 'mmpretrain'))
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
            self.loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
            model_cfg = cfg.model.copy()  # as the Runner does: the config's data_preprocessor by default
            if cfg.get('data_preprocessor') is not None:
                model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
            model = MODELS.build(model_cfg)
        model.init_weights()
        self.model = model.to(device).train()
        self.optim = build_optim_wrapper(self.model, cfg.optim_wrapper)
        compile_cfg = cfg.get('compile')  # as Runner.train does it: torch.compile(model.train_step)
        if compile_cfg:
            self.model.train_step = torch.compile(self.model.train_step,
                                                  **({} if compile_cfg is True else compile_cfg))
        self.batch_size = cfg.train_dataloader.batch_size
        self.num_images = len(self.loader.dataset)
        self.device = device

    def block(self, iters: int, train: bool) -> None:
        batches = iter(self.loader)  # fresh: no prefetch carried over from before this block
        for _ in range(iters):
            try:
                batch = next(batches)
            except StopIteration:
                batches = iter(self.loader)
                batch = next(batches)
            if train:
                self.model.train_step(batch, self.optim)
            else:
                with torch.no_grad():
                    self.model.data_preprocessor(batch, True)
        synchronize(self.device)


BARRIER = 'MMEWA_BENCH_BARRIER'  # "<folder>:<count>": wait there until that many processes are built


def wait_for_the_others(timeout: float = 600) -> None:
    """A start line for ``--procs``: each process builds (dataset decode, model, compile set-up) at its own
    pace, then timing starts when all of them are ready, so the timed blocks overlap."""
    spec = os.environ.get(BARRIER)
    if not spec:
        return
    folder, count = spec.rsplit(':', 1)
    Path(folder, f'ready.{os.getpid()}').touch()
    deadline = time.monotonic() + timeout
    while len(list(Path(folder).glob('ready.*'))) < int(count):
        if time.monotonic() > deadline:
            raise SystemExit(f'benchmark_data_path: the other processes were not ready in {timeout:.0f} s')
        time.sleep(0.05)


def without_option(argv: list[str], name: str) -> list[str]:
    """``argv`` without ``name VALUE`` (or ``name=VALUE``)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == name:
            skip = True
        elif not a.startswith(name + '='):
            out.append(a)
    return out


def run_procs(args, argv: list[str]) -> int:
    """``--procs N``: N copies of this command at once, then one JSON with each and their sum."""
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp, f'proc{i}.json') for i in range(args.procs)]
        child = without_option(without_option(argv, '--procs'), '--out')
        env = {**os.environ, BARRIER: f'{tmp}:{args.procs}'}
        procs = [subprocess.Popen([sys.executable, __file__, *child, '--out', str(o)], env=env) for o in outs]
        codes = [p.wait() for p in procs]
        if any(codes):
            print(f'benchmark_data_path: a process failed (exit codes {codes})', file=sys.stderr)
            return 1
        each = [json.loads(o.read_text()) for o in outs]
    out = dict(each[0], procs=args.procs, each=[e['sections'] for e in each], sections={})
    for section in each[0]['sections']:
        rows = [e['sections'][section][args.only] for e in each]
        total = sum(r['images_per_s'] for r in rows)
        out['sections'][section] = {args.only: dict(rows[0], images_per_s=total,
                                                    images_per_s_each=[r['images_per_s'] for r in rows],
                                                    epoch_s=rows[0]['num_images'] / total)}
        each_s = ', '.join(f"{r['images_per_s']:.0f}" for r in rows)
        print(f'[{section}] {args.procs} processes of {args.only}: {total:.0f} img/s in all ({each_s})',
              flush=True)
    write_json(out, args.out)
    return 0


def write_json(out: dict, path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f'{path}.tmp')
        tmp.write_text(json.dumps(out, indent=2))
        os.replace(tmp, path)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.procs > 1:
        return run_procs(args, argv)
    device = torch.device(args.device)
    options = dict(args.cfg_options)
    torch.manual_seed(0)
    configs = {'standard': args.standard_config, 'fast': args.fast_config}
    paths = {name: TrainPath(config, options, device) for name, config in configs.items()
             if args.only in (None, name)}
    out = dict(standard_config=args.standard_config, fast_config=args.fast_config, only=args.only,
               device=str(device), iters_per_block=args.iters, reps=args.reps, cfg_options=options,
               machine=dict(python=platform.python_version(), torch=torch.__version__, cores=os.cpu_count(),
                            threads=torch.get_num_threads(),
                            gpu=torch.cuda.get_device_name(0) if device.type == 'cuda' else None),
               sections={})
    wait_for_the_others()
    for section in args.sections:
        train = section == 'train'
        fns = {name: (lambda p=p, train=train: p.block(args.iters, train)) for name, p in paths.items()}
        t0 = time.perf_counter()
        times = interleaved(fns, args.reps, args.warmup, device)
        rows = {}
        for name, p in paths.items():
            per_iter = [t / args.iters for t in times[name]]
            med = quantile(per_iter, 0.5)
            rows[name] = dict(s_per_iter=med, images_per_s=p.batch_size / med,
                              epoch_s=p.num_images / p.batch_size * med, num_images=p.num_images,
                              batch_size=p.batch_size)
        line = ' | '.join(f"{n} {r['images_per_s']:.0f} img/s (epoch {r['epoch_s']:.1f} s)"
                          for n, r in rows.items())
        if len(paths) == 2:
            r = rows['fast_vs_standard'] = ratio(times['fast'], times['standard'])
            line += f" | fast / standard time {r['median']:.3f} [{r['p25']:.3f}, {r['p75']:.3f}]"
        rows['wall_s'] = time.perf_counter() - t0
        out['sections'][section] = rows
        print(f'[{section}] {line}', flush=True)
    write_json(out, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
