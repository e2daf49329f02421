"""mmdet ``SwinTransformer`` vs ``EWASwinTransformer``: the behaviours of mmdetection 3.x's
``tests/test_models/test_backbones/test_swin.py`` (open-mmlab/mmdetection, Apache-2.0), re-checked
differentially on a tiny Swin (upstream: Swin-T). Upstream's ``SwinBlock`` test builds no backbone (no twin
involved) and is not repeated."""
import pytest
from mmdet.models.backbones import SwinTransformer
from upstream_twin_utils import build_pair, check_forward, check_requires_grad, check_same_errors

from mmewa.models.backbones.mmdet_twins import EWASwinTransformer

TINY = dict(pretrain_img_size=64, embed_dims=16, depths=(2, 2, 1, 1), num_heads=(1, 2, 2, 4), window_size=4,
            mlp_ratio=2)


def test_bad_arguments_fail_like_upstream():
    check_same_errors(SwinTransformer, EWASwinTransformer, [
        dict(TINY, pretrained=123), dict(TINY, strides=(2, 2, 2, 2), patch_size=4),
        dict(TINY, pretrain_img_size=(64, 64, 64))])


@pytest.mark.parametrize('options', [dict(), dict(patch_norm=False),
                                     dict(with_cp=True)])
def test_forward_matches_upstream(options):
    shapes = check_forward(SwinTransformer, EWASwinTransformer, [(32, 32), (31, 31), (29, 37)],
                           **dict(TINY, **options))
    assert shapes[0] == [(2, 16, 8, 8), (2, 32, 4, 4), (2, 64, 2, 2), (2, 128, 1, 1)]
    assert shapes[1] == shapes[0]


def test_abs_pos_embed_forward_matches_upstream():
    # upstream's absolute position embedding only takes inputs of pretrain_img_size (as its own test does)
    check_forward(SwinTransformer, EWASwinTransformer, [(64, 64)], **dict(TINY, use_abs_pos_embed=True))


@pytest.mark.parametrize('frozen_stages', [0, 2, 4])
def test_frozen_stages_like_upstream(frozen_stages):
    up, tw = build_pair(SwinTransformer, EWASwinTransformer, **TINY, frozen_stages=frozen_stages)
    up.train(), tw.train()
    check_requires_grad(up, tw)
    if frozen_stages == 4:  # upstream: everything frozen; here experts included
        assert not any(p.requires_grad for p in tw.parameters())
