import pytest
import torch
from mmseg.models.backbones import VisionTransformer

from mmewa import CollapseError, EWAVisionTransformer, collapse_model, collapse_state_dict

VIT = dict(img_size=32, patch_size=8, embed_dims=32, num_layers=4, num_heads=2, mlp_ratio=2)


def trained_ewa_vit(seed=0):
    torch.manual_seed(seed)
    m = EWAVisionTransformer(**VIT, ewa_cfg=dict(num_experts=3))
    m.init_weights()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))  # experts now differ, as after training
    return m


def test_collapsed_keys_are_exactly_the_standard_backbones_and_outputs_match():
    ewa, std = trained_ewa_vit(), VisionTransformer(**VIT)
    ewa.eval()  # mmseg's ViT.train() returns None, so no chaining
    std.eval()
    sd = collapse_state_dict(ewa.state_dict())
    assert list(sd) == list(std.state_dict())
    std.load_state_dict(sd, strict=True)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(ewa(x)[0], std(x)[0])


def test_collapse_model_equals_state_dict_collapse():
    ewa = trained_ewa_vit()
    sd = collapse_state_dict(ewa.state_dict())
    collapsed = collapse_model(ewa)
    assert not any('experts' in k for k in collapsed.state_dict())
    for k, v in collapsed.state_dict().items():
        assert torch.equal(v, sd[k]), k


def test_prefixed_checkpoint_keys_and_other_tensors_pass_through():
    ewa = trained_ewa_vit()
    sd = {f'backbone.{k}': v for k, v in ewa.state_dict().items()}
    sd['decode_head.conv_seg.weight'] = torch.ones(3)
    out = collapse_state_dict(sd)
    assert 'backbone.layers.1.ffn.layers.0.0.weight' in out
    assert out['backbone.layers.1.ffn.layers.0.0.weight'].shape == (64, 32)
    assert torch.equal(out['decode_head.conv_seg.weight'], torch.ones(3))
    assert torch.equal(out['backbone.layers.0.ffn.layers.0.0.weight'],
                       sd['backbone.layers.0.ffn.layers.0.0.weight'])  # dense layer untouched


def test_no_experts_is_a_clear_error():
    with pytest.raises(CollapseError, match='not a checkpoint of an EWA model'):
        collapse_state_dict(VisionTransformer(**VIT).state_dict())


def test_routed_layers_need_explicit_approximation():
    sd = {'ffn.experts.layers.0.0.weight': torch.randn(2, 4, 3), 'ffn.router.weight': torch.randn(2, 3)}
    with pytest.raises(CollapseError, match='routed MoE'):
        collapse_state_dict(sd)
    out = collapse_state_dict(sd, approximate=True)
    assert list(out) == ['ffn.layers.0.0.weight']
