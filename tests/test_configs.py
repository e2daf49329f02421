"""Every shipped config parses and builds, and every EWA config has a baseline twin that differs only
in what EWA changes (backbone type + ewa_cfg, EWAHook, custom_imports)."""
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


@pytest.mark.parametrize('path', EWA_CONFIGS, ids=lambda p: p.name)
def test_twins_differ_only_by_ewa(path):
    ewa, base = Config.fromfile(str(path)), Config.fromfile(str(twin_of(path)))
    assert ewa.custom_imports.imports == ['mmewa']
    assert [h.type for h in ewa.custom_hooks] == ['EWAHook']
    assert ewa.model.backbone.type.startswith('EWA')
    assert ewa.model.backbone.type[3:] == base.model.backbone.type.split('.')[-1]  # 'mmseg.' scope
    ewa_backbone = {k: v for k, v in ewa.model.backbone.items() if k not in ('type', 'ewa_cfg')}
    base_backbone = {k: v for k, v in base.model.backbone.items() if k != 'type'}
    assert ewa_backbone == base_backbone
    for key in set(ewa) | set(base):
        if key not in ('model', 'custom_imports', 'custom_hooks'):
            assert ewa.get(key) == base.get(key), key
    assert {k: v for k, v in ewa.model.items() if k != 'backbone'} == \
           {k: v for k, v in base.model.items() if k != 'backbone'}


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
