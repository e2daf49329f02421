"""mmseg ``SwinTransformer`` vs ``EWASwinTransformer`` (python ``EWASegSwinTransformer``): the behaviours of
mmsegmentation 1.x's ``tests/test_models/test_backbones/test_swin.py`` (open-mmlab/mmsegmentation,
Apache-2.0), re-checked differentially on a tiny Swin (upstream: Swin-T at 512 px)."""
import pytest
from mmseg.models.backbones import SwinTransformer
from upstream_twin_utils import build_pair, check_forward, check_requires_grad, check_same_errors

from mmewa.models.backbones.mmseg_twins import EWASegSwinTransformer

TINY = dict(pretrain_img_size=64, embed_dims=16, depths=(2, 2, 1, 1), num_heads=(1, 2, 2, 4), window_size=4,
            mlp_ratio=2)


def test_bad_arguments_fail_like_upstream():
    check_same_errors(SwinTransformer, EWASegSwinTransformer, [
        dict(TINY, pretrained=123), dict(TINY, strides=(2, 2, 2, 2), patch_size=4),
        dict(TINY, pretrain_img_size=(64, 64, 64))])


@pytest.mark.parametrize('options', [dict(), dict(patch_norm=False),
                                     dict(pretrain_img_size=(64, )), dict(with_cp=True)])
def test_forward_matches_upstream(options):
    shapes = check_forward(SwinTransformer, EWASegSwinTransformer, [(64, 64), (63, 63), (29, 37)],
                           **dict(TINY, **options))
    assert shapes[0] == [(2, 16, 16, 16), (2, 32, 8, 8), (2, 64, 4, 4), (2, 128, 2, 2)]
    assert shapes[2] == [(2, 16, 8, 10), (2, 32, 4, 5), (2, 64, 2, 3), (2, 128, 1, 2)]


def test_abs_pos_embed_forward_matches_upstream():
    # upstream's absolute position embedding only takes inputs of pretrain_img_size (as its own test does)
    check_forward(SwinTransformer, EWASegSwinTransformer, [(64, 64)], **dict(TINY, use_abs_pos_embed=True))


@pytest.mark.parametrize('frozen_stages', [0, 2, 4])
def test_frozen_stages_like_upstream(frozen_stages):
    up, tw = build_pair(SwinTransformer, EWASegSwinTransformer, **TINY, frozen_stages=frozen_stages)
    up.train(), tw.train()
    check_requires_grad(up, tw)
