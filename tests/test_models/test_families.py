"""Every MLP family as EWA experts: fast path vs the slow per-expert reference, exact eval and collapse."""
from __future__ import annotations

import pytest
import torch
from mmcv.cnn.bricks.transformer import FFN
from mmdet.models.backbones.pvt import MixFFN as DetMixFFN
from mmengine.registry import DefaultScope
from mmpretrain.models.backbones.deit3 import DeiT3FFN
from mmpretrain.models.backbones.hivit import Mlp
from mmpretrain.models.utils import SwiGLUFFN, SwiGLUFFNFused
from mmseg.models.backbones.mit import MixFFN as SegMixFFN
from torch import nn

from mmewa import collapse_state_dict
from mmewa.models.layers import EWAMoE, RoutedMoE, family_of, partition_groups_reference, random_partition

C, E = 16, 4
MAKERS = {
    'mmcv.FFN': lambda: FFN(C, 32, num_fcs=3, act_cfg=dict(type='GELU'), layer_scale_init_value=0.5),
    'mmcv.FFN(add_identity=False)': lambda: FFN(C, 32, add_identity=False, act_cfg=dict(type='GELU')),
    'mmpretrain.DeiT3FFN': lambda: DeiT3FFN(C, 32, act_cfg=dict(type='GELU')),
    'mmpretrain.SwiGLUFFN(sub-LN)': lambda: SwiGLUFFN(C, 24, norm_cfg=dict(type='LN'),
                                                      layer_scale_init_value=0.3),
    'mmpretrain.SwiGLUFFNFused': lambda: SwiGLUFFNFused(C, 48),
    'timm.Mlp (HiViT)': lambda: Mlp(C, 32),
    'mmdet.MixFFN(use_conv=False)': lambda: DetMixFFN(C, 32, use_conv=False),
}
HW = (2, 3)  # MixFFN's hw_shape: 6 tokens


def make(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return MAKERS[name]()


def call(module: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    return module(x, HW) if 'MixFFN' in name else module(x)


@torch.no_grad()
def diversify(layer: nn.Module) -> nn.Module:
    for p in layer.expert_parameters():
        p.add_(torch.randn_like(p) * 0.1)
    return layer


@pytest.mark.parametrize('name', list(MAKERS))
def test_upcycled_layer_keeps_the_upstream_class_and_collapses_exactly(name):
    dense = make(name)
    layer = EWAMoE.from_mlp(dense, E)
    assert isinstance(layer, type(dense)) and family_of(dense) is layer.mlp_family
    x = torch.randn(3, 6, C)
    layer.eval()
    dense.eval()
    torch.testing.assert_close(call(layer, name, x), call(dense, name, x), rtol=1e-6, atol=1e-6)
    diversify(layer)
    collapsed = layer.to_dense()
    assert type(collapsed) is type(dense)
    if 'MixFFN' in name:  # a 1x1 conv and the same matmul on tokens round differently
        torch.testing.assert_close(call(layer, name, x), call(collapsed, name, x), rtol=1e-6, atol=1e-6)
    else:
        assert torch.equal(call(layer, name, x), call(collapsed, name, x))  # eval = the deployed module
    sd = collapse_state_dict({f'm.{k}': v for k, v in layer.state_dict().items()})
    assert list(sd) == [f'm.{k}' for k in dense.state_dict()]
    for key, value in collapsed.state_dict().items():
        assert torch.equal(sd[f'm.{key}'], value)


@pytest.mark.parametrize('name', list(MAKERS))
def test_training_fast_path_equals_the_per_expert_reference(name):
    layer = diversify(EWAMoE.from_mlp(make(name), E)).train()
    x = torch.randn(3, 6, C, dtype=torch.float64)
    layer.double()
    torch.manual_seed(5)
    y = call(layer, name, x)
    torch.manual_seed(5)
    part = random_partition(18, E)
    members = partition_groups_reference(part, 18, E)
    flat = x.reshape(-1, C)
    outs = layer.experts.forward_reference([flat[idx] for idx in members])
    mlp = torch.empty(18, outs[0].shape[-1], dtype=x.dtype)
    for idx, out in zip(members, outs):
        mlp[idx] = out
    args = (HW,) if 'MixFFN' in name else ()
    expected = layer.around_mlp(mlp.view(3, 6, -1), x, *args)
    torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12)
    assert sorted(i for idx in members for i in idx) == list(range(18))


def test_routed_moe_works_on_another_family():
    dense = make('mmpretrain.SwiGLUFFN(sub-LN)')
    layer = RoutedMoE.from_mlp(dense, E, top_k=2)
    assert isinstance(layer, SwiGLUFFN) and layer.router.in_features == C
    layer.train()
    x = torch.randn(2, 5, C)
    layer(x).sum().backward()
    assert layer.router.weight.grad is not None and layer.aux_loss is not None
    layer.eval()
    dense.eval()
    assert torch.allclose(layer(x), dense(x), atol=1e-6)  # identical experts, renormalised top-2 = dense


@pytest.mark.parametrize('module', [DetMixFFN(C, 32, use_conv=True), SegMixFFN(C, 32)],
                         ids=['mmdet', 'mmseg'])
def test_depthwise_mixffn_gets_cell_experts_but_no_router(module):
    layer = EWAMoE.from_mlp(module, E)
    assert layer.mlp_family.spatial and 'max_tile=8' in repr(layer)
    with pytest.raises(ValueError, match="moe_type='routed' cannot route .* depthwise conv"):
        RoutedMoE.from_mlp(module, E)
    strided = SegMixFFN(C, 32)
    strided.layers[1] = nn.Conv2d(32, 32, 3, padding=0, groups=32)  # shrinks the map: not a MixFFN conv
    with pytest.raises(ValueError, match='keeps the map size'):
        EWAMoE.from_mlp(strided, E)


def test_unknown_or_non_sequential_mlps_are_refused():
    class Gated(nn.Module):  # fc1/fc2, but not run in order
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(C, C), nn.Linear(C, C)

        def forward(self, x):
            return self.fc2(x) * self.fc1(x)

    with pytest.raises(ValueError, match='not its children run in order'):
        EWAMoE.from_mlp(Gated(), E)
    with pytest.raises(ValueError, match='not a supported transformer MLP'):
        EWAMoE.from_mlp(nn.Conv2d(C, C, 3), E)


def test_a_users_backbone_gets_ewa_by_config_key():
    from mmseg.registry import MODELS
    cfg = dict(img_size=32, patch_size=8, embed_dims=32, num_layers=4, num_heads=2, mlp_ratio=2)
    torch.manual_seed(0)
    named = MODELS.get('EWAVisionTransformer')(**cfg, ewa_cfg=dict(num_experts=2))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):  # a config's default_scope picks the registry
        by_key = MODELS.build(dict(type='EWABackbone', backbone=dict(type='VisionTransformer', **cfg),
                                   ewa_cfg=dict(num_experts=2)))
    assert type(by_key).__name__ == 'EWAVisionTransformer' and by_key.moe_layer_indices == [1, 3]
    for (k1, v1), (k2, v2) in zip(named.state_dict().items(), by_key.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2)
    from mmdet.registry import MODELS as DET
    with DefaultScope.overwrite_default_scope('mmdet'):  # PVT v2: depthwise MixFFNs, experts by map cells
        backbone = dict(type='PyramidVisionTransformerV2', embed_dims=16, num_layers=[1, 1, 1, 1])
        pvt2 = DET.build(dict(type='EWABackbone', backbone=backbone, ewa_cfg=dict()))
    assert type(pvt2).__name__ == 'EWAPyramidVisionTransformerV2' and pvt2.moe_layer_indices == [1, 3]
