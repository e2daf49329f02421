"""mmpretrain ``ViTEVA02`` vs ``EWAViTEVA02``: the behaviours of mmpretrain 1.2.0's
``tests/test_models/test_backbones/test_eva02.py`` (open-mmlab/mmpretrain, tag v1.2.0, Apache-2.0), re-checked
differentially on a tiny model (upstream: the 't' arch)."""
import pytest
from mmpretrain.models.backbones import ViTEVA02
from upstream_twin_utils import (
    build_pair,
    check_checkpoint_roundtrip,
    check_forward,
    check_requires_grad,
    check_same_errors,
)

from mmewa.models.backbones.mmpretrain_twins import EWAViTEVA02

ARCH = dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64)
S = 28
TINY = dict(arch=ARCH, img_size=28, patch_size=14, drop_path_rate=0.1,
            drop_rate=0.1, attn_drop_rate=0.2, proj_drop_rate=0.3)


def test_bad_arguments_fail_like_upstream():
    check_same_errors(ViTEVA02, EWAViTEVA02, [
        dict(TINY, arch='unknown'), dict(TINY, arch=dict(embed_dims=32)),
                                 dict(TINY, out_indices=-13), dict(TINY, out_indices=13),
                                 dict(TINY, out_type='unknown')])


@pytest.mark.parametrize('options', [
    dict(),
    dict(out_type='featmap'),
    dict(out_type='avg_featmap'),
    dict(out_type='raw'),
    dict(out_indices=[0, 3]),
    dict(final_norm=False),
    dict(sub_ln=True),
])
def test_forward_matches_upstream(options):
    check_forward(ViTEVA02, EWAViTEVA02, [(28, 28)], **dict(TINY, **options))


@pytest.mark.parametrize('frozen_stages', [0, 2, 4])
def test_frozen_stages_like_upstream(frozen_stages):
    up, tw = build_pair(ViTEVA02, EWAViTEVA02, **TINY, frozen_stages=frozen_stages)
    up.train(), tw.train()
    check_requires_grad(up, tw)


def test_loads_upstream_checkpoint_like_upstream(tmp_path):
    # same img_size: resizing relative-position / RoPE tables is not twin-specific (and needs
    # scipy's removed interp2d for BEiT)
    check_checkpoint_roundtrip(ViTEVA02, EWAViTEVA02, tmp_path, TINY, sizes=[(S, S)])
