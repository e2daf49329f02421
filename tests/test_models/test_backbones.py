"""EWA backbones: registry, layer selection, upcycling from *standard* pretrained checkpoints."""
import pytest
import torch
from mmdet.models.backbones import SwinTransformer
from mmengine.config import ConfigDict
from mmseg.models.backbones import SwinTransformer as SegSwinTransformer
from mmseg.models.backbones import VisionTransformer

from mmewa import EWAFFN, EWASwinTransformer, EWAVisionTransformer, collapse_state_dict
from mmewa.models.backbones import EWASegSwinTransformer
from mmewa.models.backbones.upcycle import select_layers

VIT = dict(img_size=32, patch_size=8, embed_dims=32, num_layers=4, num_heads=2, mlp_ratio=2,
           out_indices=(1, 3))
SWIN = dict(embed_dims=16, depths=(2, 2), num_heads=(1, 2), strides=(4, 2), out_indices=(0, 1),
            window_size=4, drop_path_rate=0.0)


def randomized(model, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
    return model


def test_registered_where_mmseg_and_mmdet_configs_look():
    from mmdet.registry import MODELS as DET
    from mmengine.registry import HOOKS
    from mmseg.registry import MODELS as SEG
    assert SEG.get('EWAVisionTransformer') is EWAVisionTransformer
    assert DET.get('EWASwinTransformer') is EWASwinTransformer
    assert SEG.get('EWASwinTransformer') is EWASegSwinTransformer  # mmseg's Swin twin
    assert HOOKS.get('EWAHook') is not None


@pytest.mark.parametrize('sel,n,expected', [('every_other', 12, [1, 3, 5, 7, 9, 11]), ('all', 3, [0, 1, 2]),
                                            ('last_half', 6, [3, 4, 5]), ([0, -1, 0], 4, [0, 3])])
def test_layer_selection(sel, n, expected):
    assert select_layers(sel, n) == expected


@pytest.mark.parametrize('ewa_cfg,match', [
    (dict(moe_layers=[]), 'selects no layer'), (dict(moe_layers=[7]), 'out of range'),
    (dict(moe_layers='odd'), 'must be one of'), (dict(num_experts=0), 'num_experts must be an integer >= 1'),
    (dict(experts=4), 'unknown ewa_cfg key'), (dict(partition='token'), 'partition must be one of')])
def test_bad_ewa_cfg_is_one_clear_error(ewa_cfg, match):
    with pytest.raises(ValueError, match=match):
        EWAVisionTransformer(**VIT, ewa_cfg=ewa_cfg)


def test_vit_structure():
    m = EWAVisionTransformer(**VIT, ewa_cfg=dict(num_experts=3))
    assert m.moe_layer_indices == [1, 3]
    assert [isinstance(layer.ffn, EWAFFN) for layer in m.layers] == [False, True, False, True]
    assert m.layers[1].ffn.experts.layers[0][0].weight.shape == (3, 64, 32)


def test_vit_upcycles_a_standard_pretrained_checkpoint_bit_for_bit(tmp_path):
    std = randomized(VisionTransformer(**VIT))
    ckpt = tmp_path / 'vit.pth'
    torch.save({'state_dict': std.state_dict()}, ckpt)
    ewa = EWAVisionTransformer(**VIT, ewa_cfg=dict(num_experts=4, moe_layers='all'),
                               init_cfg=dict(type='Pretrained', checkpoint=str(ckpt)))
    ewa.init_weights()
    for layer, std_layer in zip(ewa.layers, std.layers):
        for stacked, dense in zip(layer.ffn.expert_parameters(), std_layer.ffn.parameters()):
            assert all(torch.equal(stacked[e], dense) for e in range(4))
    collapsed = collapse_state_dict(ewa.state_dict())
    assert all(torch.equal(collapsed[k], v) for k, v in std.state_dict().items())
    ewa.train()
    std.train()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(ewa(x), std(x), rtol=1e-5, atol=1e-6)  # training mode, random partition


def test_vit_from_scratch_experts_start_identical():
    torch.manual_seed(0)
    m = EWAVisionTransformer(**VIT, ewa_cfg=dict(num_experts=3))
    m.init_weights()
    for t in m.layers[1].ffn.expert_parameters():
        assert torch.equal(t, t[:1].expand_as(t))
    w = m.layers[1].ffn.experts.layers[0][0].weight[0]
    assert 0.015 < w.std().item() < 0.025  # trunc_normal(0.02), as mmseg inits its linears


def test_swin_upcycles_an_mmdet_style_checkpoint_and_collapses_into_both_swins(tmp_path):
    std = randomized(SwinTransformer(**SWIN))
    ckpt = tmp_path / 'swin.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in std.state_dict().items()}}, ckpt)
    ewa = EWASwinTransformer(**SWIN, ewa_cfg=dict(num_experts=2),
                             init_cfg=ConfigDict(type='Pretrained', checkpoint=str(ckpt)))  # as from a config
    ewa.init_weights()
    assert ewa.moe_layer_indices == [1, 3]  # blocks numbered across stages
    assert isinstance(ewa.stages[0].blocks[1].ffn, EWAFFN) and isinstance(ewa.stages[1].blocks[1].ffn, EWAFFN)
    collapsed = collapse_state_dict(ewa.state_dict())
    assert all(torch.equal(collapsed[k], v) for k, v in std.state_dict().items())
    seg_swin = SegSwinTransformer(**SWIN)
    seg_swin.load_state_dict(collapsed, strict=True)
    ewa.eval()
    seg_swin.eval()
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(ewa(x), seg_swin(x)):
        assert torch.equal(a, b)


def test_mmseg_swin_twin_loads_a_plain_swin_checkpoint(tmp_path):
    std = randomized(SegSwinTransformer(**SWIN))
    ckpt = tmp_path / 'swin_plain.pth'
    torch.save({'state_dict': std.state_dict()}, ckpt)  # mmseg-style: no 'backbone.' prefix
    ewa = EWASegSwinTransformer(**SWIN, ewa_cfg=dict(num_experts=3, moe_layers='all'),
                                init_cfg=ConfigDict(type='Pretrained', checkpoint=str(ckpt)))
    ewa.init_weights()
    collapsed = collapse_state_dict(ewa.state_dict())
    assert all(torch.equal(collapsed[k], v) for k, v in std.state_dict().items())
