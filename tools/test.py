#!/usr/bin/env python
"""Test a checkpoint with an mmseg / mmdet config through MMEngine's Runner (OpenMMLab's tools/test.py).

    python tools/test.py configs/demo/seg_vit_tiny.py collapsed.pth      # the *standard* config
    python tools/test.py CONFIG CKPT --metrics-out metrics.json          # the metrics as JSON
    python tools/test.py SEG_CONFIG CKPT --out preds/                    # mmseg: one PNG per image
    python tools/test.py DET_CONFIG CKPT --out preds.pkl                 # mmdet: pickled detections
    bash tools/dist_test.sh CONFIG CHECKPOINT NUM_GPUS [args]

``--out`` means what it means in mmseg's and mmdet's own tools/test.py (predictions for offline
evaluation); the metrics go to ``--metrics-out``.
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
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='test config file path')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--work-dir', help='the dir to save logs and metrics')
    p.add_argument('--out', help='dump the predictions, as upstream: mmseg (default_scope mmseg) writes one '
                   'PNG label map per image into this directory, mmdet writes a .pkl file')
    p.add_argument('--metrics-out', help='write the metrics to this JSON file (rank 0)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def check_out(out: str, scope: str | None) -> None:
    """Refuse, before testing, an ``--out`` that the config's library would not write (as upstream)."""
    if out.endswith('.json'):
        raise SystemExit(f'test.py: error: --out {out}: --out dumps predictions (as in mmseg/mmdet); '
                         f'for the metrics JSON use --metrics-out {out}')
    if scope == 'mmdet' and not out.endswith(('.pkl', '.pickle')):
        raise SystemExit(f'test.py: error: --out {out}: a detector dumps its predictions to a .pkl file '
                         "(mmdet's DumpDetResults); give a path ending in .pkl")
    if scope == 'mmseg' and osp.isfile(out):
        raise SystemExit(f'test.py: error: --out {out} is a file; a segmentor writes one PNG per image '
                         'into a directory')
    if scope not in ('mmseg', 'mmdet'):
        raise SystemExit(f"test.py: error: --out needs default_scope 'mmseg' or 'mmdet' in the config "
                         f'(got {scope!r})')


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
    scope = cfg.get('default_scope')
    if args.out is not None:
        check_out(args.out, scope)
        if scope == 'mmseg':  # as mmseg's tools/test.py
            cfg.test_evaluator['output_dir'] = args.out
            cfg.test_evaluator['keep_results'] = True
    prepare_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    if args.out is not None and scope == 'mmdet':  # as mmdet's tools/test.py
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    metrics = runner.test()
    if args.metrics_out and runner.rank == 0:
        with open(args.metrics_out, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)
    return metrics


if __name__ == '__main__':
    main()
