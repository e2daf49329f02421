"""Every shipped config parses and builds, and every EWA config has a baseline twin that differs only
in what EWA changes (an EWA backbone / head / model type + ewa_cfg, EWAHook, custom_imports)."""
from pathlib import Path

import pytest
from mmengine.config import Config

import mmewa  # noqa: F401
from mmewa.builder import build_model

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts)
EWA_CONFIGS = [p for p in CONFIGS if '_ewa' in p.name or 'ewa-' in p.name]


def twin_of(path: Path) -> Path:
    return path.with_name(path.name.replace('_ewa_', '_').replace('ewa-', ''))


def test_every_ewa_config_has_a_twin():
    assert len(EWA_CONFIGS) >= 6
    for path in EWA_CONFIGS:
        assert twin_of(path).is_file(), f'{path.name} has no baseline twin {twin_of(path).name}'


def without_ewa(cfg):
    """A model config with every ``type='EWA<X>'`` (backbone, head or the model) back to ``X``, minus its
    ``ewa_cfg``, and registry scope prefixes (``'mmseg.'``) dropped; returns (config, EWA types found)."""
    found = []
    if isinstance(cfg, (list, tuple)):
        items = [without_ewa(v) for v in cfg]
        return type(cfg)(c for c, _ in items), [t for _, f in items for t in f]
    if not isinstance(cfg, dict):
        return cfg, found
    out = {}
    for k, v in cfg.items():
        if k == 'type' and isinstance(v, str):
            v = v.split('.')[-1]
            if v.startswith('EWA'):
                found.append(v)
                v = v[3:]
        elif k != 'ewa_cfg':
            v, sub = without_ewa(v)
            found += sub
        if k != 'ewa_cfg':
            out[k] = v
    return out, found


@pytest.mark.parametrize('path', EWA_CONFIGS, ids=lambda p: p.name)
def test_twins_differ_only_by_ewa(path):
    ewa, base = Config.fromfile(str(path)), Config.fromfile(str(twin_of(path)))
    assert ewa.custom_imports.imports == ['mmewa']
    assert [h.type for h in ewa.custom_hooks] == ['EWAHook']
    for key in set(ewa) | set(base):
        if key not in ('model', 'custom_imports', 'custom_hooks'):
            assert ewa.get(key) == base.get(key), key
    ewa_model, types = without_ewa(ewa.model.to_dict())
    assert types, 'an EWA config without an EWA twin type (backbone, head or model)'
    assert 'ewa_cfg' in str(ewa.model) and 'EWA' not in str(base.model)
    assert ewa_model == without_ewa(base.model.to_dict())[0]


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: str(p.relative_to(ROOT / 'configs')))
def test_config_builds(path):
    model = build_model(str(path))
    n_experts = sum(1 for m in model.modules() if hasattr(m, 'expert_parameters'))
    assert (n_experts > 0) == (path in EWA_CONFIGS or 'routed-moe' in path.name)


@pytest.mark.parametrize('path', [p for p in CONFIGS if 'routed-moe' in p.name],
                         ids=lambda p: str(p.relative_to(ROOT / 'configs')))
def test_routed_configs_put_the_aux_loss_in_the_loss_dict(path):
    cfg = Config.fromfile(str(path))
    assert cfg.model.backbone.ewa_cfg.moe_type == 'routed'
    assert 'MoEAuxLossHook' in [h.type for h in cfg.custom_hooks]


CIFAR_CONFIGS = [p for p in CONFIGS if 'cifar100' in p.name]


def with_data_root(cfg, root: str):
    """Every ``data_root`` in a (nested) dataset config set to ``root``."""
    if isinstance(cfg, dict):
        return {k: (root if k == 'data_root' else with_data_root(v, root)) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(with_data_root(v, root) for v in cfg)
    return cfg


@pytest.mark.parametrize('path', CIFAR_CONFIGS, ids=lambda p: p.name)
def test_cifar_config_trains_a_step_on_real_images(path, cifar100_root, tmp_path_factory):
    """The train dataloader as the Runner builds it (a list in a config replaces its base list whole, so a
    half-written dataset list only shows here), the config's data preprocessor, one optimizer step."""
    import math

    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(str(path))
    loader_cfg = with_data_root(cfg.train_dataloader.to_dict(), str(cifar100_root))
    loader_cfg.update(batch_size=8, num_workers=0, persistent_workers=False)
    if loader_cfg['dataset']['type'] == 'InMemoryDataset':  # decoded once for both fast twins
        loader_cfg['dataset']['cache_file'] = str(tmp_path_factory.getbasetemp() / f'{path.name[-12:]}.npz')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loader = Runner.build_dataloader(loader_cfg, seed=0)
        model_cfg = cfg.model.copy()
        model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
        init = model_cfg.backbone.get('init_cfg') or {}
        if init.get('type') == 'Pretrained' and not Path(init['checkpoint']).is_file():
            model_cfg.backbone.init_cfg = None  # a fresh clone has no converted checkpoint: random weights
        model = MODELS.build(model_cfg)
    model.init_weights()
    expected = {'train', 'train_rest'} if '50k' in path.name else {'train'}
    infos = [loader.dataset.get_data_info(i)['img_path'] for i in (0, len(loader.dataset) - 1)]
    assert {Path(p).parent.parent.name for p in infos} == expected  # the parts it reads, in order
    fast = '_fast' in path.name
    assert (type(model.data_preprocessor).__name__ == 'BatchAugClsDataPreprocessor') == fast
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # as the Runner builds it (e.g. layer decay)
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    losses = model.train_step(next(iter(loader)), optim_wrapper)
    assert math.isfinite(float(losses['loss'])) and float(losses['loss']) > 0
