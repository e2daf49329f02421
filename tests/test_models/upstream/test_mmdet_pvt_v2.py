"""mmdet ``PyramidVisionTransformerV2`` vs ``EWAPyramidVisionTransformerV2``: the PVT v2 behaviours of
mmdetection 3.x's ``tests/test_models/test_backbones/test_pvt.py`` (open-mmlab/mmdetection, Apache-2.0;
``test_pvtv2``), re-checked differentially on a tiny PVT v2 (upstream: PVTv2-B0 at 512 px). Its MixFFN has
a 3x3 depthwise conv, so the twin's experts take cells of the map (``mixffn_experts.py``); odd sizes (63,
112 x 137) exercise the single-token-cell fallback."""
import pytest
import torch
from mmdet.models.backbones import PyramidVisionTransformerV2
from upstream_twin_utils import build_pair, check_checkpoint_roundtrip, check_forward, check_same_errors

from mmewa.models.backbones.mmdet_twins import EWAPyramidVisionTransformerV2

TINY = dict(pretrain_img_size=64, embed_dims=16, num_layers=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
            mlp_ratios=[2, 2, 2, 2])


def test_bad_arguments_fail_like_upstream():
    check_same_errors(PyramidVisionTransformerV2, EWAPyramidVisionTransformerV2, [
        dict(TINY, pretrained=123), dict(TINY, pretrain_img_size=(64, 64, 64))])


@pytest.mark.parametrize('partition', ['batch', 'sample'])
def test_forward_matches_upstream(partition):
    shapes = check_forward(PyramidVisionTransformerV2, EWAPyramidVisionTransformerV2,
                           [(64, 64), (63, 63), (112, 137)], ewa_cfg=dict(num_experts=2, partition=partition),
                           **TINY)
    assert shapes[0] == [(2, 16, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4), (2, 32, 2, 2)]
    assert shapes[1] == [(2, 16, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4), (2, 32, 2, 2)]  # 7x7 patch, pad 3


def test_eval_is_bit_for_bit_upstream():
    up, tw = build_pair(PyramidVisionTransformerV2, EWAPyramidVisionTransformerV2, **TINY)
    up.eval(), tw.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(up(x), tw(x), strict=True))


def test_upstream_checkpoint_loads_strictly(tmp_path):
    check_checkpoint_roundtrip(PyramidVisionTransformerV2, EWAPyramidVisionTransformerV2, tmp_path, TINY,
                               sizes=[(64, 64), (40, 56)])
