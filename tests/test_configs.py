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
