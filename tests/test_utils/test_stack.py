"""mmewa.utils.stack: on either OpenMMLab line, importing mmewa lets MMEngine resolve `mmseg::`, `mmdet::`
and `mmpretrain::` config bases (onedl-mmengine maps `mmseg` to a distribution the OneDL line lacks)."""
from __future__ import annotations

from importlib import metadata

import pytest
from mmengine.config import Config
from mmengine.config.utils import MODULE2PACKAGE

import mmewa  # noqa: F401  (what tools/train.py does before parsing a config)
from mmewa.utils.stack import config_package_fixes, installed_stack


def test_the_installed_line_is_known():
    assert installed_stack() in ('openmmlab', 'onedl')


@pytest.mark.parametrize('module', ['mmseg', 'mmdet', 'mmpretrain'])
def test_each_library_maps_to_an_installed_distribution_providing_it(module):
    dist = MODULE2PACKAGE[module]
    assert module in metadata.distribution(dist).read_text('top_level.txt').split()


def test_fixes_only_entries_whose_distribution_is_absent():
    provider = metadata.packages_distributions()['mmseg'][0]  # mmsegmentation or onedl-mmsegmentation
    table = {'mmseg': 'no-such-distribution', 'mmcv': metadata.packages_distributions()['mmcv'][0],
             'no_such_module': 'no-such-distribution-either'}
    assert config_package_fixes(table) == {'mmseg': provider}
    assert config_package_fixes({'mmseg': provider}) == {}


@pytest.mark.parametrize('config', ['configs/ewa_vit/upernet_ewa-vit-b16_8xb2-160k_ade20k-512x512.py',
                                    'configs/ewa_swin/upernet_ewa-swin-t_8xb2-160k_ade20k-512x512.py'])
def test_mmseg_bases_resolve(repo_root, config):
    cfg = Config.fromfile(str(repo_root / config))
    assert cfg.model.backbone.type.startswith('EWA') and cfg.model.decode_head.type == 'UPerHead'
