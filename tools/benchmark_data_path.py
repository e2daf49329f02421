#!/usr/bin/env python
"""The standard data path against the fast one (in-memory dataset + batched augmentation), side by side.

    python tools/benchmark_data_path.py configs/ewa_cls/vit-d64-p4_1xb128-40e_cifar100-32.py \\
        configs/ewa_cls/vit-d64-p4_1xb128-40e_cifar100-32_fast.py --out benchmarks/cpu_data_path_d64.json
    python tools/benchmark_data_path.py STD FAST --device cuda --iters 50   # on a GPU

Both configs are built as MMEngine's Runner builds them (``Runner.build_dataloader``, the model, the optim
wrapper) and timed in blocks of ``--iters`` training iterations, alternating (A B, B A, ...) in this one
process: ``data`` = the loader's batches through the data preprocessor (training mode: the fast path's
augmentation happens there), ``train`` = whole ``train_step`` s (data + forward + backward + optimizer).
Each block starts a fresh loader iterator, so a loader's workers cannot prefetch while the other path is
timed. Reported: images per second, the fast / standard time ratio (median of the paired blocks, with
quartiles) and the time of one epoch of each config's train set at that rate. ``--only fast`` times one path
alone (several such processes at once measure what a GPU gives in aggregate); ``--cfg-options compile=True``
compiles ``train_step`` as MMEngine's Runner does. The accuracy side of the
A/B is tools/compare_seeds.py (benchmarks/cls_cifar100_fast_path.md).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from mmengine.config import DictAction

ROOT = Path(__file__).resolve().parents[1]
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
    p.add_argument('--out', help='write the results as JSON to this file')
    return p.parse_args(argv)


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
            model = MODELS.build(cfg.model)
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


def main(argv=None) -> int:
    args = parse_args(argv)
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
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f'{args.out}.tmp')
        tmp.write_text(json.dumps(out, indent=2))
        os.replace(tmp, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
