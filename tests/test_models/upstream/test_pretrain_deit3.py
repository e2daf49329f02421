"""mmpretrain ``DeiT3`` vs ``EWADeiT3``: the behaviours of mmpretrain 1.2.0's
``tests/test_models/test_backbones/test_deit3.py`` (open-mmlab/mmpretrain, tag v1.2.0, Apache-2.0), re-checked
differentially on a tiny model (upstream: the 'b' arch).
``out_type='avg_featmap'`` is not checked: upstream DeiT3 itself fails with it (it has no ``ln2``)."""
import pytest
from mmpretrain.models.backbones import DeiT3
from upstream_twin_utils import check_checkpoint_roundtrip, check_forward, check_same_errors

from mmewa.models.backbones.mmpretrain_twins import EWADeiT3

ARCH = dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64)
TINY = dict(arch=ARCH, img_size=32, patch_size=8, drop_path_rate=0.1)


def test_bad_arguments_fail_like_upstream():
    check_same_errors(DeiT3, EWADeiT3, [dict(TINY, arch='unknown'), dict(TINY, arch=dict(embed_dims=32)),
                                 dict(TINY, out_indices=-13), dict(TINY, out_indices=13),
                                 dict(TINY, out_type='unknown')])


@pytest.mark.parametrize('options', [
    dict(),
    dict(out_type='featmap'),
    dict(out_type='raw'),
    dict(out_indices=[0, 3]),
    dict(with_cls_token=False, out_type='featmap'),
    dict(use_layer_scale=False),
])
def test_forward_matches_upstream(options):
    check_forward(DeiT3, EWADeiT3, [(32, 32), (64, 16)], **dict(TINY, **options))


def test_loads_upstream_checkpoint_like_upstream(tmp_path):
    # including the position-embedding resize upstream does when img_size differs
    check_checkpoint_roundtrip(DeiT3, EWADeiT3, tmp_path, TINY, dict(TINY, img_size=64),
                               sizes=[(64, 64)])
