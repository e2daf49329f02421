#!/usr/bin/env python
"""Test a checkpoint with an mmseg / mmdet config through MMEngine's Runner (OpenMMLab's tools/test.py).

    python tools/test.py configs/demo/seg_vit_tiny.py collapsed.pth      # the *standard* config
    bash tools/dist_test.sh CONFIG CHECKPOINT NUM_GPUS [args]
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmewa  # noqa: F401  (registers EWA modules, for testing an EWA model before collapse)
from mmewa.dist import prepare_cpu_distributed


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Test a segmentor or detector checkpoint')
    p.add_argument('config', help='test config file path')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--work-dir', help='the dir to save logs and metrics')
    p.add_argument('--out', help='write the metrics to this JSON file')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    prepare_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out and runner.rank == 0:
        with open(args.out, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)
    return metrics


if __name__ == '__main__':
    main()
