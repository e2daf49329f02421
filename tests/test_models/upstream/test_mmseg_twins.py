"""mmseg ``PCPVT`` / ``SVT`` vs ``EWAPCPVT`` / ``EWASVT``: the behaviours of mmsegmentation 1.x's
``tests/test_models/test_backbones/test_twins.py`` (open-mmlab/mmsegmentation, Apache-2.0), re-checked
differentially on tiny models (upstream: 224 px). Upstream's attention / position-encoding module tests
build no backbone and are not repeated."""
from mmseg.models.backbones import PCPVT, SVT
from upstream_twin_utils import check_forward, check_init_matrix

from mmewa.models.backbones.mmseg_twins import EWAPCPVT, EWASVT

PCPVT_TINY = dict(embed_dims=[8, 16, 24, 32], num_heads=[1, 1, 1, 2], mlp_ratios=[2, 2, 2, 2], qkv_bias=True,
                  depths=[1, 2, 1, 1], sr_ratios=[8, 4, 2, 1], norm_after_stage=False)
SVT_TINY = dict(embed_dims=[8, 16, 32], num_heads=[1, 2, 2], mlp_ratios=[2, 2, 2], qkv_bias=False,
                depths=[2, 2, 2], windiow_sizes=[4, 4, 4], norm_after_stage=True)


def test_pcpvt_forward_matches_upstream():
    shapes = check_forward(PCPVT, EWAPCPVT, [(64, 64)], **PCPVT_TINY)
    assert shapes[0] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 24, 4, 4), (2, 32, 2, 2)]


def test_svt_forward_matches_upstream():
    shapes = check_forward(SVT, EWASVT, [(64, 64)], **SVT_TINY)
    assert shapes[0] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4)]


def test_pcpvt_pretrained_and_init_cfg_matrix_like_upstream():
    check_init_matrix(PCPVT, EWAPCPVT, **PCPVT_TINY)


def test_svt_pretrained_and_init_cfg_matrix_like_upstream():
    check_init_matrix(SVT, EWASVT, **SVT_TINY)
