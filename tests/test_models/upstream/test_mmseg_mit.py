"""mmseg ``MixVisionTransformer`` (SegFormer's MiT) vs ``EWAMixVisionTransformer``: the behaviours of
mmsegmentation 1.x's ``tests/test_models/test_backbones/test_mit.py`` (open-mmlab/mmsegmentation, Apache-2.0;
``test_mit``, ``test_mit_init``), re-checked differentially on a tiny MiT (upstream: embed_dims 32 at 224 /
225 px and non-square inputs). Its MixFFN has a 3x3 depthwise conv, so the twin's experts take cells of the
map (``mixffn_experts.py``). Upstream's attention / MixFFN module tests build no backbone."""
import pytest
import torch
from mmseg.models.backbones import MixVisionTransformer
from upstream_twin_utils import (
    build_pair,
    check_checkpoint_roundtrip,
    check_forward,
    check_init_matrix,
    check_same_errors,
)

from mmewa.models.backbones.mmseg_twins import EWAMixVisionTransformer

TINY = dict(embed_dims=8, num_layers=[1, 2, 1, 1], num_heads=[1, 1, 2, 2], mlp_ratio=2,
            out_indices=(0, 1, 2, 3))


def test_bad_arguments_fail_like_upstream():
    check_same_errors(MixVisionTransformer, EWAMixVisionTransformer, [dict(TINY, pretrained=123)])


@pytest.mark.parametrize('options', [dict(), dict(with_cp=True), dict(drop_path_rate=0.1, qkv_bias=False)])
def test_forward_matches_upstream(options):
    shapes = check_forward(MixVisionTransformer, EWAMixVisionTransformer, [(64, 64), (65, 65), (48, 80)],
                           **dict(TINY, **options))
    assert shapes[0] == [(2, 8, 16, 16), (2, 8, 8, 8), (2, 16, 4, 4), (2, 16, 2, 2)]  # dims x num_heads
    assert shapes[1] == [(2, 8, 17, 17), (2, 8, 9, 9), (2, 16, 5, 5), (2, 16, 3, 3)]
    assert shapes[2] == [(2, 8, 12, 20), (2, 8, 6, 10), (2, 16, 3, 5), (2, 16, 2, 3)]


def test_one_image_per_batch_with_more_experts_than_images_trains_every_expert():
    """mmseg's usual 2 images per GPU (here 1) with E = 4: cells of one image still feed all experts."""
    _, tw = build_pair(MixVisionTransformer, EWAMixVisionTransformer, ewa_cfg=dict(num_experts=4), **TINY)
    tw.train()
    sum(o.square().mean() for o in tw(torch.randn(1, 3, 64, 64))).backward()
    experts = [p for n, p in tw.named_parameters() if '.experts.' in n]
    assert experts and all(p.grad.flatten(1).abs().sum(1).gt(0).all() for p in experts)  # each expert


def test_eval_is_bit_for_bit_upstream():
    up, tw = build_pair(MixVisionTransformer, EWAMixVisionTransformer, **TINY)
    up.eval(), tw.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(up(x), tw(x), strict=True))


def test_pretrained_and_init_cfg_matrix_like_upstream():
    check_init_matrix(MixVisionTransformer, EWAMixVisionTransformer, **TINY)


def test_upstream_checkpoint_loads_strictly(tmp_path):
    check_checkpoint_roundtrip(MixVisionTransformer, EWAMixVisionTransformer, tmp_path, TINY,
                               sizes=[(64, 64), (40, 56)])
