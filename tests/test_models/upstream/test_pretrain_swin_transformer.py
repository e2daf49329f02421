"""mmpretrain ``SwinTransformer`` vs ``EWASwinTransformer`` (python ``EWAPretrainSwinTransformer``): the
behaviours of mmpretrain 1.2.0's ``tests/test_models/test_backbones/test_swin_transformer.py``
(open-mmlab/mmpretrain, tag v1.2.0, Apache-2.0), re-checked differentially on a tiny Swin (upstream: the
'b' arch at 224 px)."""
import pytest
import torch
from mmpretrain.models.backbones import SwinTransformer
from upstream_twin_utils import (
    build_pair,
    check_checkpoint_roundtrip,
    check_forward,
    check_requires_grad,
    check_same_errors,
    check_train_modes,
)

from mmewa.models.backbones.mmpretrain_twins import EWAPretrainSwinTransformer

ARCH = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4])
TINY = dict(arch=ARCH, img_size=64, window_size=4, drop_path_rate=0.1, pad_small_map=True)


def test_bad_arguments_fail_like_upstream():
    check_same_errors(SwinTransformer, EWAPretrainSwinTransformer, [
        dict(TINY, arch='unknown'), dict(TINY, arch=dict(embed_dims=16, num_heads=[1, 2, 2, 4]))])


@pytest.mark.parametrize('options', [dict(), dict(out_indices=(0, 1, 2, 3)), dict(use_abs_pos_embed=True),
                                     dict(with_cp=True),
                                     dict(out_after_downsample=True), dict(norm_eval=True)])
def test_forward_matches_upstream(options):
    sizes = [(64, 64)] if options.get('use_abs_pos_embed') else [(64, 64), (61, 47)]
    check_forward(SwinTransformer, EWAPretrainSwinTransformer, sizes, **dict(TINY, **options))


@pytest.mark.parametrize('frozen_stages', [0, 2, 3])
def test_frozen_stages_and_norm_eval_like_upstream(frozen_stages):
    up, tw = build_pair(SwinTransformer, EWAPretrainSwinTransformer, **TINY, frozen_stages=frozen_stages,
                        norm_eval=True)
    check_train_modes(up, tw)
    check_requires_grad(up, tw)


def test_loads_upstream_checkpoint_like_upstream(tmp_path):
    # v3 checkpoint, loaded at another img_size (absolute position embedding resized the upstream way)
    options = dict(TINY, use_abs_pos_embed=True)
    check_checkpoint_roundtrip(SwinTransformer, EWAPretrainSwinTransformer, tmp_path, options,
                               dict(options, img_size=96), sizes=[(96, 96)])


def to_v1_format(model):
    """What upstream's test does to write a version-1 checkpoint: final norm as ``norm``, an ``attn_mask``."""
    model.norm = model.norm3
    del model.norm3
    model.stages[0].blocks[1].attn.attn_mask = torch.zeros(16, 16, 16)
    model._version = 1


def test_loads_version_1_checkpoint_like_upstream(tmp_path):
    check_checkpoint_roundtrip(SwinTransformer, EWAPretrainSwinTransformer, tmp_path, TINY,
                               mutate=to_v1_format, sizes=[(64, 64)])
