"""Building a model straight from an mmseg/mmdet config file, without its pretrained weights.

Tools that compare or measure models (``convert_ewa.py --verify``, ``benchmark_ewa.py``, the config
tests) load their own weights, so a ``Pretrained`` init (possibly a download) must not run.
"""
from __future__ import annotations

from typing import Any

from mmengine.config import Config, ConfigDict
from torch import nn

PRETRAINED_TYPES = ('Pretrained', 'Pretrained_Part')


def is_pretrained(init_cfg: Any) -> bool:
    """Whether an ``init_cfg`` / ``pretrained`` value loads a checkpoint."""
    if isinstance(init_cfg, str):
        return True
    return isinstance(init_cfg, dict) and init_cfg.get('type') in PRETRAINED_TYPES


def without_pretrained(cfg: Any) -> Any:
    """A copy of a (model) config with every checkpoint-loading ``init_cfg`` / ``pretrained`` removed."""
    if isinstance(cfg, dict):
        return {k: without_pretrained(v) for k, v in cfg.items()
                if not (k in ('init_cfg', 'pretrained') and is_pretrained(v))}
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(without_pretrained(v) for v in cfg)
    return cfg


def build_model(config: str | Config) -> nn.Module:
    """The model of ``config`` (a path or a ``Config``), in its ``default_scope``, without pretrained
    weights and without ``init_weights`` (the caller loads or initialises)."""
    from mmengine.registry import MODELS, init_default_scope

    cfg = Config.fromfile(config) if isinstance(config, str) else config
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return MODELS.build(ConfigDict(without_pretrained(cfg.model.to_dict())))
