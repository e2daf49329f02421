"""mmseg ``MAE`` vs ``EWAMAE``: the behaviours of mmsegmentation 1.x's
``tests/test_models/test_backbones/test_mae.py`` (open-mmlab/mmsegmentation, Apache-2.0), re-checked
differentially on a tiny MAE backbone (upstream: ViT-B at 224 px)."""
import copy

import pytest
import torch
from mmseg.models.backbones import MAE
from upstream_twin_utils import (
    build_pair,
    check_forward,
    check_init_matrix,
    check_same_errors,
    check_train_modes,
    outcome,
)

from mmewa.models.backbones.mmseg_twins import EWAMAE

TINY = dict(img_size=32, patch_size=8, embed_dims=32, num_layers=4, num_heads=2, mlp_ratio=2)


def test_bad_arguments_fail_like_upstream():
    check_same_errors(MAE, EWAMAE, [dict(TINY, img_size=32.0), dict(TINY, out_indices=1.),
                                    dict(TINY, img_size=(32, 32, 32)), dict(TINY, pretrained=123)])


@pytest.mark.parametrize('options,size', [
    (dict(), (32, 32)), (dict(img_size=(32, )), (32, 32)), (dict(img_size=(48, 48)), (48, 48)),
    (dict(img_size=(16, 16)), (16, 16)), (dict(img_size=(16, 32)), (16, 32)),
    (dict(img_size=(29, 43)), (29, 43)), (dict(out_indices=[0, 1, 3]), (32, 32)),
    (dict(init_values=0), (32, 32)), (dict(final_norm=True), (32, 32)), (dict(patch_norm=True), (32, 32))])
def test_forward_matches_upstream(options, size):
    # includes MAE's fix_init_weight (it rescales each block's FFN output projection at init)
    shapes = check_forward(MAE, EWAMAE, [size], **dict(TINY, **options))
    assert shapes[0][-1] == (2, 32, size[0] // 8, size[1] // 8)


def test_norm_eval_like_upstream():
    check_train_modes(*build_pair(MAE, EWAMAE, **TINY, norm_eval=True))


def test_pretrained_and_init_cfg_matrix_like_upstream():
    check_init_matrix(MAE, EWAMAE, **TINY)


def test_resize_pos_embeds_like_upstream():
    state = {'layers.0.attn.relative_position_index': 0,
             'layers.0.attn.relative_position_bias_table': torch.randn(732, 2),
             'pos_embed': torch.rand(1, 17, 32)}
    up, tw = build_pair(MAE, EWAMAE, init=False, **dict(TINY, img_size=(64, 64)))
    # rel-pos resizing: AttributeError upstream's way (or NotImplementedError with scipy >= 1.14): the same
    assert outcome(lambda: tw.resize_rel_pos_embed({'state_dict': dict(state)})) is \
        outcome(lambda: up.resize_rel_pos_embed({'state_dict': dict(state)}))
    ref = up.resize_abs_pos_embed(copy.deepcopy(state))
    got = tw.resize_abs_pos_embed(copy.deepcopy(state))
    assert got['pos_embed'].shape == ref['pos_embed'].shape == (1, 65, 32)
    torch.testing.assert_close(got['pos_embed'], ref['pos_embed'])
