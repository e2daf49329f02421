"""mmpretrain ``SwinTransformerV2`` vs ``EWASwinTransformerV2``: the behaviours of mmpretrain 1.2.0's
``tests/test_models/test_backbones/test_swin_transformer_v2.py`` (open-mmlab/mmpretrain, tag v1.2.0,
Apache-2.0), re-checked differentially on a tiny Swin V2 (upstream: the 'b' arch at 256 px)."""
import pytest
from mmpretrain.models.backbones import SwinTransformerV2
from upstream_twin_utils import (
    build_pair,
    check_checkpoint_roundtrip,
    check_forward,
    check_requires_grad,
    check_same_errors,
    check_train_modes,
)

from mmewa.models.backbones.mmpretrain_twins import EWASwinTransformerV2

ARCH = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4], extra_norm_every_n_blocks=0)
TINY = dict(arch=ARCH, img_size=64, window_size=[4, 4, 4, 2], drop_path_rate=0.1, pad_small_map=True)


def test_bad_arguments_fail_like_upstream():
    check_same_errors(SwinTransformerV2, EWASwinTransformerV2, [
        dict(TINY, arch='unknown'), dict(TINY, arch=dict(embed_dims=16, num_heads=[1, 2, 2, 4]))])


@pytest.mark.parametrize('options', [dict(), dict(out_indices=(0, 1, 2, 3)), dict(use_abs_pos_embed=True),
                                     dict(with_cp=True),
                                     dict(arch=dict(ARCH, extra_norm_every_n_blocks=1)),
                                     dict(pretrained_window_sizes=[2, 2, 2, 2])])
def test_forward_matches_upstream(options):
    sizes = [(64, 64)] if options.get('use_abs_pos_embed') else [(64, 64), (61, 47)]
    check_forward(SwinTransformerV2, EWASwinTransformerV2, sizes, **dict(TINY, **options))


@pytest.mark.parametrize('frozen_stages', [0, 2, 3])
def test_frozen_stages_and_norm_eval_like_upstream(frozen_stages):
    up, tw = build_pair(SwinTransformerV2, EWASwinTransformerV2, **TINY, frozen_stages=frozen_stages,
                        norm_eval=True)
    check_train_modes(up, tw)
    check_requires_grad(up, tw)


def test_loads_upstream_checkpoint_like_upstream(tmp_path):
    options = dict(TINY, use_abs_pos_embed=True)
    check_checkpoint_roundtrip(SwinTransformerV2, EWASwinTransformerV2, tmp_path, options,
                               dict(options, img_size=96), sizes=[(96, 96)],
                               strict=False)  # V2 drops its relative-position buffers from checkpoints
