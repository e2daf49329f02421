#!/usr/bin/env python
"""Train an mmseg / mmdet config (EWA or standard) with MMEngine's Runner, as OpenMMLab's tools/train.py.

    python tools/train.py configs/demo/seg_ewa_vit_tiny.py [--work-dir DIR] [--resume] [--amp]
    bash tools/dist_train.sh CONFIG NUM_GPUS [args]   # distributed, via torchrun
"""
from __future__ import annotations

import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmewa  # noqa: F401  (registers EWA modules; lets torch>=2.6 resume MMEngine checkpoints)
from mmewa.dist import prepare_cpu_distributed


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Train a segmentor or detector (EWA or standard)')
    p.add_argument('config', help='train config file path')
    p.add_argument('--work-dir', help='the dir to save logs and checkpoints')
    p.add_argument('--resume', nargs='?', const='auto', default=None,
                   help='resume from the latest checkpoint in the work dir, or from the given checkpoint')
    p.add_argument('--amp', action='store_true', help='automatic mixed precision (AmpOptimWrapper)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings, e.g. train_cfg.max_iters=100')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args: argparse.Namespace) -> Config:
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None  # latest checkpoint in work_dir
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def main(argv=None) -> None:
    cfg = build_config(parse_args(argv))
    prepare_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
