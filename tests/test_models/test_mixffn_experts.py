"""EWA experts of a MixFFN with its depthwise conv (SegFormer's MiT, PVT v2), on real CamVid features.

The fast path (cells of the map dealt to experts, each computed with a halo, grouped convolutions) must be
the slow oracle (every expert runs its whole upstream MixFFN on the full map; each token keeps its expert's
output), in outputs and gradients; every token is processed by exactly one expert, in equal groups; every
expert learns; eval is the collapsed upstream layer bit for bit; ``with_cp`` recomputation reuses the
partition.
"""
from __future__ import annotations

import mmcv
import pytest
import torch
import torch.nn.functional as F
from mmdet.models.backbones.pvt import MixFFN as DetMixFFN
from mmseg.models.backbones.mit import MixFFN as SegMixFFN
from mmseg.models.utils import PatchEmbed

from mmewa.models.layers import EWAMoE
from mmewa.models.layers.mixffn_experts import choose_tile, expert_of_each_token

C, HIDDEN, E = 16, 32, 4
MAKERS = {'mmseg': lambda: SegMixFFN(C, HIDDEN), 'mmdet': lambda: DetMixFFN(C, HIDDEN, use_conv=True)}


@pytest.fixture(scope='module')
def features(camvid_root) -> torch.Tensor:
    """Tokens of 2 real CamVid images (96 x 120 px) after a seeded MiT-style patch embedding: [2, L, C]."""
    paths = sorted((camvid_root / 'img_dir' / 'train').iterdir())[:2]
    imgs = [torch.from_numpy(mmcv.imread(str(p), channel_order='rgb')).permute(2, 0, 1).float() / 255
            for p in paths]
    x = torch.stack([F.interpolate(i[None], size=(96, 120), mode='bilinear')[0] for i in imgs])
    torch.manual_seed(0)
    embed = PatchEmbed(3, C, kernel_size=7, stride=4, padding=3)
    with torch.no_grad():
        tokens, hw = embed((x - 0.45) / 0.25)
    assert hw == (24, 30)
    return tokens.double()


def layer_of(name: str, partition: str = 'batch') -> EWAMoE:
    torch.manual_seed(1)
    layer = EWAMoE.from_mlp(MAKERS[name](), E, partition=partition).double()
    with torch.no_grad():  # experts that differ
        for p in layer.expert_parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return layer.train()


def run_fast_and_reference(layer, x, hw):
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    layer.partition_generator = torch.Generator().manual_seed(3)
    y = layer(x1, hw)
    (key, part) = layer._last_partition
    tile, groups = key[-1], (x.shape[0] if layer.partition == 'sample' else 1)
    owner = expert_of_each_token(part, x.shape[0], hw, tile, E, groups)
    g = torch.randn_like(y, generator=torch.Generator().manual_seed(4))
    y.backward(g)
    fast = [p.grad.clone() for p in layer.expert_parameters()] + [x1.grad]
    layer.zero_grad()
    ref = layer.experts.forward_reference(x2, hw, owner) + x2  # MixFFN: identity + MLP (no drop path)
    ref.backward(g)
    slow = [p.grad.clone() for p in layer.expert_parameters()] + [x2.grad]
    return y, ref, fast, slow, owner, tile


@pytest.mark.parametrize('partition', ['batch', 'sample'])
@pytest.mark.parametrize('name', list(MAKERS))
@pytest.mark.parametrize('hw', [(24, 30), (12, 15), (6, 8), (3, 4)])
def test_fast_path_is_the_per_expert_reference_outputs_and_grads(features, name, partition, hw):
    x = features if hw == (24, 30) else F.adaptive_avg_pool2d(
        features.transpose(1, 2).reshape(2, C, 24, 30), hw).flatten(2).transpose(1, 2)
    layer = layer_of(name, partition)
    y, ref, fast, slow, owner, tile = run_fast_and_reference(layer, x, hw)
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert all(a.flatten(1).abs().sum(1).gt(0).all() for a in fast[:-1]), 'an expert got no gradient'
    # every token exactly once (decoded above, asserted there), groups equal up to one cell
    per_group = owner.view(1, -1) if partition == 'batch' else owner
    for row in per_group:
        sizes = torch.bincount(row, minlength=E)
        assert sizes.sum() == row.numel() and sizes.max() - sizes.min() <= tile * tile


def test_cell_choice_gives_every_expert_cells_even_with_fewer_images_than_experts():
    assert choose_tile(128, 128, 2, 4, 8) == 8  # SegFormer-B0 stage 1 at 512 px, 2 images: 512 cells
    assert choose_tile(16, 16, 2, 4, 8) == 8  # stage 4: 2 x 4 cells of 8 x 8
    assert choose_tile(16, 16, 1, 4, 8) == 8  # 'sample': 4 cells per image
    assert choose_tile(7, 7, 2, 4, 8) == 1  # a prime side with 2 images: single-token cells
    assert choose_tile(7, 7, 4, 4, 8) == 7  # 4 images: whole images, one per expert
    assert choose_tile(24, 30, 2, 4, 8) == 6  # common divisors 1, 2, 3, 6: 40 cells


@pytest.mark.parametrize('name', list(MAKERS))
def test_eval_is_the_collapsed_upstream_layer_bit_for_bit(features, name):
    layer = layer_of(name).float().eval()
    collapsed = layer.to_dense().eval()
    assert type(collapsed) is type(MAKERS[name]())
    x = features.float()
    with torch.no_grad():
        assert torch.equal(layer(x, (24, 30)), collapsed(x, (24, 30)))


def test_uniform_over_draws_and_reused_under_checkpointing(features):
    layer = layer_of('mmseg')
    layer.partition_generator = torch.Generator().manual_seed(0)
    counts = torch.zeros(2 * 24 * 30, E)
    for _ in range(200):
        layer(features, (24, 30))
        key, part = layer._last_partition
        owner = expert_of_each_token(part, 2, (24, 30), key[-1], E, 1).flatten()
        counts[torch.arange(owner.numel()), owner] += 1
    freq = counts / 200
    assert (freq - 0.25).abs().mean() < 0.03  # each token with each expert ~1/E of the time
    x = features.clone().requires_grad_()
    out = torch.utils.checkpoint.checkpoint(lambda t: layer(t, (24, 30)), x, use_reentrant=False)
    first = layer._last_partition[1]
    out.square().sum().backward()  # recomputes the forward: must not draw again
    assert layer._last_partition[1] is first
