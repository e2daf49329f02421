"""mmseg ``BEiT`` vs ``EWABEiT``: the behaviours of mmsegmentation 1.x's
``tests/test_models/test_backbones/test_beit.py`` (open-mmlab/mmsegmentation, Apache-2.0), re-checked
differentially on a tiny BEiT (upstream: BEiT-B at 224 px)."""
import pytest
import torch
from mmseg.models.backbones import BEiT
from upstream_twin_utils import (
    build_pair,
    check_forward,
    check_init_matrix,
    check_same_errors,
    check_train_modes,
    outcome,
)

from mmewa.models.backbones.mmseg_twins import EWABEiT

TINY = dict(img_size=32, patch_size=8, embed_dims=32, num_layers=4, num_heads=2, mlp_ratio=2)


def test_bad_arguments_fail_like_upstream():
    check_same_errors(BEiT, EWABEiT, [dict(TINY, img_size=32.0), dict(TINY, out_indices=1.),
                                      dict(TINY, img_size=(32, 32, 32)), dict(TINY, pretrained=123)])


@pytest.mark.parametrize('options,size', [
    (dict(), (32, 32)), (dict(img_size=(32, )), (32, 32)), (dict(img_size=(48, 48)), (48, 48)),
    (dict(img_size=(16, 16)), (16, 16)), (dict(img_size=(16, 32)), (16, 32)),
    (dict(img_size=(29, 43)), (29, 43)), (dict(qv_bias=False), (32, 32)),
    (dict(out_indices=[0, 1, 3]), (32, 32)), (dict(init_values=0), (32, 32)),
    (dict(final_norm=True), (32, 32)), (dict(patch_norm=True), (32, 32))])
def test_forward_matches_upstream(options, size):
    # BEiT's relative position tables are sized for img_size, so each input size gets its own model.
    shapes = check_forward(BEiT, EWABEiT, [size], **dict(TINY, **options))
    assert shapes[0][-1] == (2, 32, size[0] // 8, size[1] // 8)


def test_norm_eval_like_upstream():
    check_train_modes(*build_pair(BEiT, EWABEiT, **TINY, norm_eval=True))


def test_pretrained_and_init_cfg_matrix_like_upstream():
    check_init_matrix(BEiT, EWABEiT, **TINY)


def test_resize_rel_pos_embed_like_upstream():
    # Upstream expects AttributeError only without scipy; with scipy >= 1.14 both raise NotImplementedError
    # (`interp2d` was removed): the twin must simply do what upstream does.
    ckpt = {'state_dict': {'layers.0.attn.relative_position_index': 0,
                           'layers.0.attn.relative_position_bias_table': torch.randn(732, 2)}}
    up, tw = build_pair(BEiT, EWABEiT, init=False, **dict(TINY, img_size=(64, 64)))
    assert outcome(lambda: tw.resize_rel_pos_embed(ckpt)) is outcome(lambda: up.resize_rel_pos_embed(ckpt))
