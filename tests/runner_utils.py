"""Helpers to run tiny real configs through MMEngine's Runner in tests."""
from __future__ import annotations

from pathlib import Path

from mmengine.config import Config
from mmengine.runner import Runner

import mmewa  # noqa: F401  (registers EWA modules)

CONFIGS = Path(__file__).parent / 'configs'


def load_cfg(name: str, work_dir: Path, data_root: Path | None = None, **overrides) -> Config:
    cfg = Config.fromfile(str(CONFIGS / name))
    cfg.work_dir = str(work_dir)
    cfg.log_level = 'WARNING'
    if data_root is not None:
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            if cfg.get(key):
                cfg[key].dataset.data_root = f'{data_root}/'
        for key in ('val_evaluator', 'test_evaluator'):
            if cfg.get(key) and 'ann_file' in cfg[key]:
                cfg[key].ann_file = f'{data_root}/{cfg[key].ann_file.split("/", 2)[-1]}'
    cfg.merge_from_dict(overrides)
    return cfg


def train(cfg: Config) -> Runner:
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def ewa_hook(runner: Runner):
    from mmewa import EWAHook
    return next(h for h in runner.hooks if isinstance(h, EWAHook))
