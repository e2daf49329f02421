"""mmseg ``VisionTransformer`` vs ``EWAVisionTransformer``: the behaviours of mmsegmentation 1.x's
``tests/test_models/test_backbones/test_vit.py`` (open-mmlab/mmsegmentation, Apache-2.0), re-checked
differentially on a tiny ViT (upstream: ViT-B at 224 px)."""
import pytest
import torch
from mmseg.models.backbones import VisionTransformer
from upstream_twin_utils import (
    build_pair,
    check_forward,
    check_init_matrix,
    check_requires_grad,
    check_same_errors,
    check_train_modes,
    outcome,
)

from mmewa.models.backbones.mmseg_twins import EWAVisionTransformer

TINY = dict(img_size=32, patch_size=8, embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=2)
SIZES = [(32, 32), (48, 48), (16, 16), (16, 32), (29, 43)]  # normal, larger, smaller, unbalanced, irregular


def test_bad_arguments_fail_like_upstream():
    check_same_errors(VisionTransformer, EWAVisionTransformer, [
        dict(TINY, img_size=32.0), dict(TINY, out_indices=1.), dict(TINY, img_size=(32, 32, 32)),
        dict(TINY, pretrained=123), dict(TINY, with_cls_token=False, output_cls_token=True)])
    bad_pos = torch.randn(1, 16)  # not a [B, L, C] position embedding
    expected = outcome(lambda: VisionTransformer.resize_pos_embed(bad_pos, (64, 64), (32, 32), 'bilinear'))
    assert expected is not None
    assert outcome(lambda: EWAVisionTransformer.resize_pos_embed(bad_pos, (64, 64), (32, 32), 'bilinear')) \
        is expected


@pytest.mark.parametrize('options', [
    dict(), dict(img_size=(32, )), dict(img_size=(32, 32)), dict(with_cp=True), dict(with_cls_token=False),
    dict(final_norm=True), dict(patch_norm=True), dict(output_cls_token=True), dict(out_indices=[0, 1]),
    dict(pre_norm=True), dict(out_origin=True)])
def test_forward_matches_upstream(options):
    shapes = check_forward(VisionTransformer, EWAVisionTransformer, SIZES, **dict(TINY, **options))
    assert shapes[0][0] == (2, 32, 4, 4)
    assert shapes[-1][0] == (2, 32, 4, 6)  # 29 x 43, 8 px patches, 'corner' padding
    if options.get('output_cls_token'):
        assert shapes[0][1] == (2, 32)


def test_norm_eval_and_frozen_exclude_like_upstream():
    up, tw = build_pair(VisionTransformer, EWAVisionTransformer, **TINY, norm_eval=True)
    check_train_modes(up, tw)


@pytest.mark.parametrize('exclude', [['all'], [],
                                     ['pos_embed'], ['layers.1'],
                                     ['layers.1.ffn']])
def test_frozen_exclude_like_upstream(exclude):
    up, tw = build_pair(VisionTransformer, EWAVisionTransformer, **TINY, frozen_exclude=exclude)
    check_requires_grad(up, tw)


def test_pretrained_and_init_cfg_matrix_like_upstream():
    check_init_matrix(VisionTransformer, EWAVisionTransformer, **TINY)
