"""mmpretrain ``BEiTViT`` vs ``EWABEiTViT``: the behaviours of mmpretrain 1.2.0's
``tests/test_models/test_backbones/test_beit.py`` (open-mmlab/mmpretrain, tag v1.2.0, Apache-2.0), re-checked
differentially on a tiny model (upstream: the 'b' arch)."""
import pytest
from mmpretrain.models.backbones import BEiTViT
from upstream_twin_utils import (
    build_pair,
    check_checkpoint_roundtrip,
    check_forward,
    check_requires_grad,
    check_same_errors,
)

from mmewa.models.backbones.mmpretrain_twins import EWABEiTViT

ARCH = dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64)
S = 32
TINY = dict(arch=ARCH, img_size=32, patch_size=8, drop_path_rate=0.1)


def test_bad_arguments_fail_like_upstream():
    check_same_errors(BEiTViT, EWABEiTViT, [dict(TINY, arch='unknown'), dict(TINY, arch=dict(embed_dims=32)),
                                 dict(TINY, out_indices=-13), dict(TINY, out_indices=13),
                                 dict(TINY, out_type='unknown')])


@pytest.mark.parametrize('options', [
    dict(),
    dict(out_type='featmap'),
    dict(out_type='avg_featmap'),
    dict(out_indices=[0, 3]),
    dict(use_abs_pos_emb=True, use_rel_pos_bias=False),
    dict(use_shared_rel_pos_bias=True, use_rel_pos_bias=False),
    dict(layer_scale_init_value=0.),
])
def test_forward_matches_upstream(options):
    check_forward(BEiTViT, EWABEiTViT, [(32, 32)], **dict(TINY, **options))


@pytest.mark.parametrize('frozen_stages', [0, 2,
                                           4])
def test_frozen_stages_like_upstream(frozen_stages):
    up, tw = build_pair(BEiTViT, EWABEiTViT, **TINY, frozen_stages=frozen_stages)
    up.train(), tw.train()
    check_requires_grad(up, tw)


def test_loads_upstream_checkpoint_like_upstream(tmp_path):
    # same img_size: resizing relative-position / RoPE tables is not twin-specific (and needs
    # scipy's removed interp2d for BEiT)
    check_checkpoint_roundtrip(BEiTViT, EWABEiTViT, tmp_path, TINY, sizes=[(S, S)])
