"""Helpers to run tiny real configs through MMEngine's Runner in tests."""
from __future__ import annotations

from pathlib import Path

from mmengine.config import Config
from mmengine.runner import Runner

import mmewa  # noqa: F401  (registers EWA modules)

CONFIGS = Path(__file__).resolve().parents[1] / 'configs' / 'demo'


def load_cfg(name: str, work_dir: Path, data_root: Path | None = None, iters: int | None = None,
             **overrides) -> Config:
    """A demo config shortened for tests: ``iters`` iterations (default 4 for seg, 3 for det), a checkpoint
    at the end, quiet logs."""
    cfg = Config.fromfile(str(CONFIGS / name))
    cfg.work_dir = str(work_dir)
    cfg.log_level = 'WARNING'
    iters = iters or (4 if name.startswith('seg') else 3)
    cfg.train_cfg.max_iters = iters
    cfg.default_hooks.checkpoint.interval = iters
    cfg.default_hooks.logger.interval = 1
    for hook in cfg.get('custom_hooks', []):
        if hook.get('type') == 'EWAHook':
            hook.spread_interval = 1
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


def seg_test_both(make_cfg, runs, indices: int) -> dict:
    """Test each ``(name, config, weights)`` of ``runs`` with tools/test.py's Runner path on the first
    ``indices`` test images: its metrics, and the logits of the first test batch (``<name>_logits``).
    ``make_cfg(config, work_dir_name, load_from)`` gives the config."""
    import torch
    results = {}
    for name, config, weights in runs:
        cfg = make_cfg(config, f'test_{name}', str(weights))
        cfg.test_dataloader.dataset.indices = indices
        cfg.custom_hooks = []
        tester = Runner.from_cfg(cfg)
        results[name] = tester.test()
        batch = next(iter(tester.test_dataloader))
        tester.model.eval()
        with torch.no_grad():
            results[name + '_logits'] = tester.model.test_step(batch)[0].seg_logits.data
    return results
