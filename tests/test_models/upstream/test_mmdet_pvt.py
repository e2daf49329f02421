"""mmdet ``PyramidVisionTransformer`` vs ``EWAPyramidVisionTransformer``: the behaviours of mmdetection
3.x's ``tests/test_models/test_backbones/test_pvt.py`` (open-mmlab/mmdetection, Apache-2.0), re-checked
differentially on a tiny PVT (upstream: PVT-Tiny at 512 px). Upstream's ``PVTEncoderLayer`` test builds no
backbone; PVT v2 (depthwise MixFFN) is in ``test_mmdet_pvt_v2.py``."""
import pytest
from mmdet.models.backbones import PyramidVisionTransformer
from upstream_twin_utils import check_forward, check_same_errors

from mmewa.models.backbones.mmdet_twins import EWAPyramidVisionTransformer

TINY = dict(pretrain_img_size=64, embed_dims=16, num_layers=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
            mlp_ratios=[2, 2, 2, 2])


def test_bad_arguments_fail_like_upstream():
    check_same_errors(PyramidVisionTransformer, EWAPyramidVisionTransformer, [
        dict(TINY, pretrained=123), dict(TINY, pretrain_img_size=(64, 64, 64))])


@pytest.mark.parametrize('options', [dict(), dict(use_abs_pos_embed=False), dict(norm_after_stage=True)])
def test_forward_matches_upstream(options):
    shapes = check_forward(PyramidVisionTransformer, EWAPyramidVisionTransformer,
                           [(64, 64), (63, 63), (112, 137)], **dict(TINY, **options))
    assert shapes[0] == [(2, 16, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4), (2, 32, 2, 2)]
    assert shapes[1] == [(2, 16, 15, 15), (2, 16, 7, 7), (2, 32, 3, 3), (2, 32, 1, 1)]

