import copy

import pytest
import torch
from mmcv.cnn.bricks.transformer import FFN

from mmewa import EWAFFN, collapse_state_dict
from mmewa.models.layers import partition_groups_reference, random_partition


def make_ffn(seed=0, **kw):
    torch.manual_seed(seed)
    kw.setdefault('act_cfg', dict(type='GELU'))
    return FFN(embed_dims=16, feedforward_channels=40, **kw)


def diversify(m: EWAFFN, seed=1):
    """Give every expert different weights (as after some training)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.expert_parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return m


@pytest.mark.parametrize('shape', [(2, 9, 16), (30, 16), (1, 1, 16), (2, 3, 5, 16)])
@pytest.mark.parametrize('partition', ['batch', 'sample'])
def test_identical_experts_equal_the_original_ffn_for_any_partition(shape, partition):
    ffn = make_ffn()
    m = EWAFFN.from_ffn(ffn, num_experts=4, partition=partition).train()
    x = torch.randn(shape)
    torch.testing.assert_close(m(x), ffn(x), rtol=1e-5, atol=1e-6)


def test_from_ffn_then_collapse_is_bit_exact():
    ffn = make_ffn(num_fcs=3, layer_scale_init_value=0.5)
    m = EWAFFN.from_ffn(ffn, num_experts=3)
    collapsed = collapse_state_dict({f'ffn.{k}': v for k, v in m.state_dict().items()})
    original = {f'ffn.{k}': v for k, v in ffn.state_dict().items()}
    assert list(collapsed) == list(original)
    for k in original:
        assert torch.equal(collapsed[k], original[k]), k


def reference_forward(m: EWAFFN, x: torch.Tensor, seed: int) -> torch.Tensor:
    """Slow oracle: redraw the same partition, loop over experts, scatter back token by token."""
    torch.manual_seed(seed)
    C = x.shape[-1]
    if m.partition == 'sample' and x.dim() >= 3:
        groups, tokens = x[..., 0, 0].numel(), x.shape[-2]
    else:
        groups, tokens = 1, x.numel() // C
    part = random_partition(tokens, m.num_experts, groups, x.device)
    flat = x.reshape(-1, C)
    members = partition_groups_reference(part, tokens, m.num_experts, groups)
    outs = m.experts.forward_reference([flat[idx] for idx in members])
    mlp = torch.zeros(flat.shape[0], outs[0].shape[-1], dtype=x.dtype)
    for idx, out in zip(members, outs):
        mlp[idx] = out
    return x + m.gamma2(mlp.view(x.shape))


@pytest.mark.parametrize('partition,shape', [('batch', (3, 10, 16)), ('sample', (3, 10, 16)),
                                             ('batch', (7, 16)), ('sample', (2, 2, 5, 16))])
def test_fast_forward_matches_slow_reference_outputs_and_gradients(partition, shape):
    m = diversify(EWAFFN.from_ffn(make_ffn(layer_scale_init_value=0.7), 4, partition)).train()
    ref = copy.deepcopy(m)
    x = torch.randn(shape, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    torch.manual_seed(42)
    y = m(x)
    y_ref = reference_forward(ref, x_ref, seed=42)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
    g = torch.randn_like(y)
    y.backward(g)
    y_ref.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)
    for (name, p), p_ref in zip(m.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, p_ref.grad, rtol=1e-5, atol=1e-6, msg=name)


def test_each_expert_gets_gradient_only_from_its_tokens():
    m = diversify(EWAFFN.from_ffn(make_ffn(), 4)).train()
    x = torch.randn(2, 3, 16)  # 6 tokens for 4 experts: 2, 2, 1, 1 tokens
    m(x).sum().backward()
    w = m.experts.layers[0][0].weight
    assert all(w.grad[e].abs().sum() > 0 for e in range(4))


def test_fewer_tokens_than_experts():
    m = diversify(EWAFFN.from_ffn(make_ffn(), 8)).train()
    x = torch.randn(3, 16, requires_grad=True)
    torch.manual_seed(0)
    y = m(x)
    torch.testing.assert_close(y, reference_forward(copy.deepcopy(m), x.detach(), seed=0))
    y.sum().backward()
    used = (m.experts.layers[1].weight.grad.flatten(1).abs().sum(1) > 0).sum().item()
    assert used == 3  # three tokens, three experts touched, five idle


def test_eval_is_deterministic_and_equals_collapsed_ffn():
    m = diversify(EWAFFN.from_ffn(make_ffn(num_fcs=3), 4)).eval()
    std = make_ffn(num_fcs=3).eval()
    collapsed = collapse_state_dict({f'f.{k}': v for k, v in m.state_dict().items()})
    std.load_state_dict({k.removeprefix('f.'): v for k, v in collapsed.items()}, strict=True)
    x = torch.randn(2, 11, 16)
    assert torch.equal(m(x), m(x))
    assert torch.equal(m(x), std(x))
    assert torch.equal(m.to_ffn()(x), std(x))


def test_constructor_matches_mmcv_ffn_semantics():
    torch.manual_seed(0)
    m = EWAFFN(16, 32, num_fcs=2, act_cfg=dict(type='ReLU'), ffn_drop=0.0, add_identity=False,
               dropout_layer=dict(type='DropPath', drop_prob=0.1), layer_scale_init_value=0.1,
               num_experts=2)
    assert m.experts.layers[0][0].weight.shape == (2, 32, 16)
    assert m.experts.layers[1].bias.shape == (2, 16)
    x = torch.randn(2, 5, 16)
    m.eval()
    # no identity: output is the (collapsed) MLP scaled by the layer scale
    expected = m.gamma2(m.experts.forward_mean(x))
    torch.testing.assert_close(m(x), expected)
    identity = torch.randn_like(x)
    m.add_identity = True
    torch.testing.assert_close(m(x, identity=identity), identity + expected)


def test_standard_ffn_state_dict_upcycles_into_every_expert():
    ffn = make_ffn()
    m = EWAFFN(16, 40, act_cfg=dict(type='GELU'), num_experts=3)
    assert not m.load_state_dict(ffn.state_dict(), strict=True).missing_keys
    for p, q in zip(m.expert_parameters(), ffn.parameters()):
        for e in range(3):
            assert torch.equal(p[e], q)


@pytest.mark.parametrize('bad', [0, -1, 2.0, True])
def test_bad_num_experts(bad):
    with pytest.raises(ValueError, match='num_experts'):
        EWAFFN(16, 32, num_experts=bad)


def test_bad_partition():
    with pytest.raises(ValueError, match='partition'):
        EWAFFN(16, 32, partition='tokens')


def test_stacked_linear_backward_against_autograd_of_baddbmm():
    """The custom backward (weight gradient written in [E, out, in]) equals autograd's, in float64."""
    from mmewa.models.layers.experts import StackedLinear, _StackedLinearFn
    torch.manual_seed(0)
    layer = StackedLinear(3, 5, 4).double()
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(3, 7, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_StackedLinearFn.apply, (x, layer.weight, layer.bias))
    assert torch.autograd.gradcheck(_StackedLinearFn.apply, (x, layer.weight, None))
    out = layer(x)
    ref = torch.baddbmm(layer.bias.unsqueeze(1), x, layer.weight.transpose(1, 2))
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (x, layer.weight, layer.bias), g)
    ref_grads = torch.autograd.grad(ref, (x, layer.weight, layer.bias), g)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert grads[1].is_contiguous() and grads[1].shape == layer.weight.shape


def test_stacked_linear_under_bf16_autocast():
    from mmewa.models.layers.experts import StackedLinear
    torch.manual_seed(0)
    layer = StackedLinear(2, 8, 6)
    x = torch.randn(2, 5, 8, requires_grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = layer(x)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert x.grad.dtype == torch.float32 and layer.weight.grad.dtype == torch.float32
    torch.testing.assert_close(layer.weight.grad, torch.bmm(torch.ones(2, 6, 5), x.detach()).float(),
                               rtol=2e-2, atol=2e-2)
