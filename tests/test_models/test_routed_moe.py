"""RoutedMoEFFN: fast path vs the slow reference, capacity, aux loss, upcycling, backbones, collapse."""
import copy
import math

import pytest
import torch
from mmcv.cnn.bricks.transformer import FFN
from mmseg.models.backbones import VisionTransformer

from mmewa import EWAFFN, CollapseError, EWASwinTransformer, EWAVisionTransformer, RoutedMoEFFN
from mmewa.collapse import collapse_state_dict
from mmewa.engine import find_expert_layers
from mmewa.models.layers import AddAuxiliaryLoss, load_balancing_loss

VIT = dict(img_size=32, patch_size=8, embed_dims=32, num_layers=4, num_heads=2)
ROUTED = dict(moe_type='routed', num_experts=4, moe_layers='every_other', top_k=2, capacity_factor=None,
              noise_std=0.0, aux_weight=0.01)
TOL = dict(rtol=1e-5, atol=1e-6)
EXACT = dict(rtol=1e-12, atol=1e-13)  # float64: only summation order differs from the reference


def make_ffn(seed=0, **kw):
    torch.manual_seed(seed)
    kw.setdefault('act_cfg', dict(type='GELU'))
    return FFN(embed_dims=16, feedforward_channels=40, **kw)


def routed(num_experts=4, seed=1, router_std=1.0, ffn=None, **routing) -> RoutedMoEFFN:
    """An upcycled layer with diverse experts and a confident router (as after some training)."""
    m = RoutedMoEFFN.from_ffn(ffn or make_ffn(), num_experts, **routing).train()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.expert_parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
        m.router.weight.copy_(router_std * torch.randn(m.router.weight.shape, generator=g))
        m.router.bias.copy_(0.1 * torch.randn(m.router.bias.shape, generator=g))
    return m


def probe(num_experts=4, **routing) -> RoutedMoEFFN:
    """Expert e outputs one_hot(e) for every token (zero weights, bias = one-hot), no identity: the layer's
    output is sum_j gate_j * one_hot(expert_j), which shows exactly which experts processed each token."""
    m = RoutedMoEFFN(16, 8, act_cfg=dict(type='ReLU'), add_identity=False, num_experts=num_experts,
                     **routing).train()
    with torch.no_grad():
        for p in m.expert_parameters():
            p.zero_()
        m.experts.layers[1].bias[:, :num_experts].copy_(torch.eye(num_experts))
    return m


def set_router(m: RoutedMoEFFN, bias, weight=None):
    with torch.no_grad():
        m.router.bias.copy_(torch.tensor(bias, dtype=torch.float32))
        m.router.weight.copy_(torch.zeros_like(m.router.weight) if weight is None else weight)


def check_against_reference(m: RoutedMoEFFN, x: torch.Tensor, noise_seed=None):
    """Outputs, aux loss, drop count and every gradient (incl. the router's) equal the reference's (in
    float64, so that any disagreement beyond summation order shows)."""
    m = m.double()
    ref = copy.deepcopy(m)
    x = x.double().requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    noise = None
    if noise_seed is not None:
        torch.manual_seed(noise_seed)
        noise = m.noise_std * torch.randn(x[..., 0].numel(), m.num_experts)
        torch.manual_seed(noise_seed)
    y = m(x)
    y_ref, aux_ref, dropped_ref = ref.forward_reference(x_ref, noise=noise)
    torch.testing.assert_close(y, y_ref, **EXACT)
    torch.testing.assert_close(m.aux_loss, aux_ref.detach(), **EXACT)
    assert m.num_dropped.item() == dropped_ref
    g = torch.randn_like(y)
    (y * g).sum().backward()  # the aux loss enters through AddAuxiliaryLoss ...
    ((y_ref * g).sum() + m.aux_weight * aux_ref).backward()  # ... and explicitly in the reference
    torch.testing.assert_close(x.grad, x_ref.grad, **EXACT)
    for (name, p), p_ref in zip(m.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, p_ref.grad, **EXACT, msg=name)
    assert m.router.weight.grad.abs().sum() > 0
    return y, dropped_ref


@pytest.mark.parametrize('top_k,renormalize', [(1, None), (1, True), (2, None), (2, False)])
@pytest.mark.parametrize('shape', [(2, 7, 16), (13, 16)])
def test_fast_forward_matches_reference_outputs_and_gradients(top_k, renormalize, shape):
    torch.manual_seed(0)
    m = routed(top_k=top_k, renormalize=renormalize, ffn=make_ffn(layer_scale_init_value=0.7))
    check_against_reference(m, torch.randn(shape))


@pytest.mark.parametrize('top_k,capacity_factor', [(1, 0.5), (1, 1.0), (2, 0.6), (2, 1.25)])
def test_capacity_drops_match_reference(top_k, capacity_factor):
    torch.manual_seed(0)
    m = routed(top_k=top_k, capacity_factor=capacity_factor, router_std=2.0)
    _, dropped = check_against_reference(m, torch.randn(3, 8, 16))
    if capacity_factor < 1:
        assert dropped > 0  # the case really exercises dropping


def test_router_noise_matches_reference_with_the_same_draw_and_is_off_in_eval():
    torch.manual_seed(0)
    m = routed(top_k=2, noise_std=1.0)
    x = torch.randn(2, 9, 16)
    check_against_reference(m, x, noise_seed=5)
    m.zero_grad()
    m.eval()  # check_against_reference made m float64
    x = x.double()
    y_ref, _, _ = copy.deepcopy(m).forward_reference(x)  # no noise
    torch.testing.assert_close(m(x), y_ref, **EXACT)
    assert torch.equal(m(x), m(x))


@pytest.mark.parametrize('top_k', [1, 2])
def test_dropless_keeps_every_token_even_when_all_pick_one_expert(top_k):
    m = probe(top_k=top_k, renormalize=True)
    set_router(m, [10.0, 5.0, 0.0, 0.0])  # every token: expert 0 first, expert 1 second
    out = m(torch.randn(2, 10, 16))[..., :4].reshape(-1, 4)
    assert m.num_dropped.item() == 0
    assert torch.equal((out > 0).sum(1), torch.full((20,), top_k))  # k experts per token
    torch.testing.assert_close(out.sum(1), torch.ones(20))  # renormalized gates sum to 1
    assert (out[:, 0] > 0).all()

    torch.manual_seed(0)
    m = probe(top_k=top_k)
    set_router(m, [0.0] * 4, weight=3 * torch.randn(4, 16))  # data-dependent routing
    out = m(torch.randn(50, 16))[:, :4]
    assert m.num_dropped.item() == 0
    assert torch.equal((out > 0).sum(1), torch.full((50,), top_k))


def test_capacity_drop_hand_built_case():
    N, E = 10, 4
    m = probe(E, top_k=1, capacity_factor=1.0)
    set_router(m, [10.0, 5.0, 0.0, 0.0])  # all tokens to expert 0; capacity = ceil(1 * 1 * 10 / 4) = 3
    out = m(torch.randn(N, 16))[:, :E]
    assert m.capacity(N) == 3
    assert m.num_dropped.item() == N - 3
    assert torch.is_tensor(m.num_dropped)
    assert (out[:3, 0] > 0).all() and torch.equal(out[3:], torch.zeros(N - 3, E))  # token order priority

    m = probe(E, top_k=2, capacity_factor=1.0)  # capacity = ceil(1 * 2 * 10 / 4) = 5 per expert
    set_router(m, [10.0, 5.0, 0.0, 0.0])
    x = torch.randn(N, 16)
    out = m(x)[:, :E]
    assert m.num_dropped.item() == 10  # 5 first choices on expert 0 and 5 second choices on expert 1
    assert ((out[:5, :2] > 0).all() and torch.equal(out[:5, 2:], torch.zeros(5, 2))
            and torch.equal(out[5:], torch.zeros(5, E)))
    m.eval()  # eval is dropless
    assert ((m(x)[:, :2] > 0).all() and m.num_dropped.item() == 0)


@pytest.mark.parametrize('capacity_factor', [None, 1.0])
def test_fast_path_has_no_data_dependent_shapes_or_host_syncs(capacity_factor):
    """Meta tensors have no data: ``.item()``, ``nonzero`` or data-sized outputs would raise. Forward and
    backward running on them shows the fast path never needs a value on the host (no GPU sync)."""
    m = RoutedMoEFFN(16, 40, num_experts=4, top_k=2, capacity_factor=capacity_factor, noise_std=0.5)
    m = m.to('meta').train()
    x = torch.randn(2, 9, 16, device='meta', requires_grad=True)
    m(x).sum().backward()
    assert m.router.weight.grad.shape == (4, 16) and m.num_dropped.device.type == 'meta'
    with pytest.raises((RuntimeError, NotImplementedError)):
        m.num_dropped.item()  # what a sync would have done


def test_dropless_cpu_buffer_is_the_busiest_experts_load():
    E, N = 4, 12
    m = probe(E, top_k=2)
    experts = torch.tensor([[0, 1]] * 9 + [[2, 0]] * 3)
    assert m.capacity(N) == N  # no experts given (accelerators): the sync-free padded buffer
    assert m.capacity(N, experts) == 12  # expert 0: 9 first + 3 second choices
    assert m.capacity(N, torch.tensor([[0, 1], [2, 3], [0, 2]])) == 2
    assert m.capacity(0, torch.zeros(0, 2, dtype=torch.long)) == 0
    m.capacity_factor = 1.0  # a cap ignores the loads in training, and eval is dropless again
    assert m.capacity(N, experts) == 6 and m.eval().capacity(N, experts) == 12


@pytest.mark.parametrize('top_k', [1, 2])
def test_dropless_tight_and_padded_buffers_compute_the_same(top_k, monkeypatch):
    """The CPU's tight buffer vs the padded ``[E, N, C]`` one accelerators use: same outputs and grads."""
    torch.manual_seed(0)
    tight = routed(top_k=top_k)
    padded = copy.deepcopy(tight)
    monkeypatch.setattr(padded, 'capacity', lambda num_tokens, experts=None: num_tokens)
    sizes = []

    def recorded_capacity(num_tokens, experts=None):
        sizes.append(RoutedMoEFFN.capacity(tight, num_tokens, experts))
        return sizes[-1]
    monkeypatch.setattr(tight, 'capacity', recorded_capacity)
    x = torch.randn(3, 11, 16)
    outs = []
    for m in (tight, padded):
        xi = x.clone().requires_grad_()
        y = m(xi)
        y.pow(2).sum().backward()
        outs.append((y, xi.grad, [p.grad for p in m.parameters()]))
    torch.testing.assert_close(outs[0][0], outs[1][0], **TOL)
    torch.testing.assert_close(outs[0][1], outs[1][1], **TOL)
    for g, g_ref in zip(outs[0][2], outs[1][2]):
        torch.testing.assert_close(g, g_ref, **TOL)
    assert tight.num_dropped.item() == padded.num_dropped.item() == 0
    assert top_k * 33 / 4 <= sizes[0] < 33  # 33 tokens: the busiest expert's load, not N


def test_dropped_tokens_keep_their_identity_path():
    m = probe(4, top_k=1, capacity_factor=0.5)
    m.add_identity = True
    set_router(m, [10.0, 0.0, 0.0, 0.0])
    x = torch.randn(8, 16)
    y = m(x)  # capacity ceil(0.5 * 8 / 4) = 1: only token 0 reaches an expert
    assert m.num_dropped.item() == 7
    assert torch.equal(y[1:], x[1:])


def test_aux_loss_hand_computed():
    # E = 2, logit_0 = x[0], logit_1 = 0: p_0 = sigmoid(x[0]).
    m = RoutedMoEFFN(16, 8, num_experts=2, top_k=1, aux_weight=0.5)
    weight = torch.zeros(2, 16)
    weight[0, 0] = 1
    set_router(m, [0.0, 0.0], weight)
    x = torch.zeros(4, 16)
    x[:, 0] = torch.tensor([math.log(3), math.log(3), -math.log(3), math.log(7 / 3)])  # p_0 = .75 .75 .25 .7
    m(x)
    # f = (3/4, 1/4), P = (2.45/4, 1.55/4): aux = 2 * (0.75 * 0.6125 + 0.25 * 0.3875) = 1.1125
    torch.testing.assert_close(m.aux_loss, torch.tensor(1.1125))
    # all tokens on expert 0 with p_0 = 0.75 everywhere: 2 * 0.75
    set_router(m, [math.log(3), 0.0])
    m(torch.randn(5, 16))
    torch.testing.assert_close(m.aux_loss, torch.tensor(1.5))
    # balanced: exactly 1
    probs = torch.tensor([[0.6, 0.4], [0.4, 0.6]])
    torch.testing.assert_close(load_balancing_loss(probs, probs.argmax(1)), torch.tensor(1.0))


def test_aux_loss_gradient_is_injected_with_its_weight():
    torch.manual_seed(0)
    m = routed(top_k=2, aux_weight=0.3)
    x = torch.randn(12, 16)
    m(x).sum().backward()
    injected = m.router.weight.grad.clone()
    m.zero_grad()
    m.aux_weight = 0.0
    m(x).sum().backward()
    task_only = m.router.weight.grad.clone()
    m.zero_grad()
    routing = m.route(x)
    aux = load_balancing_loss(routing.probs, routing.experts[:, 0])
    (d_aux,) = torch.autograd.grad(aux, m.router.weight)
    torch.testing.assert_close(injected - task_only, 0.3 * d_aux, **TOL)
    assert d_aux.abs().sum() > 0


def test_add_auxiliary_loss_function():
    x = torch.randn(3, requires_grad=True)
    aux = torch.tensor(2.0, requires_grad=True)
    y = AddAuxiliaryLoss.apply(x, aux, 0.25)
    assert torch.equal(y, x)
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.equal(x.grad, torch.tensor([1.0, 2.0, 3.0]))
    assert aux.grad.item() == 0.25


@pytest.mark.parametrize('top_k,renormalize', [(1, True), (2, None)])
def test_identical_experts_equal_the_original_ffn_for_any_routing(top_k, renormalize):
    ffn = make_ffn(layer_scale_init_value=0.5)
    m = RoutedMoEFFN.from_ffn(ffn, 4, top_k=top_k, renormalize=renormalize).train()
    set_router(m, [0.0] * 4, weight=3 * torch.randn(4, 16))  # tokens spread over the experts
    x = torch.randn(2, 9, 16)
    torch.testing.assert_close(m(x), ffn(x), **TOL)
    m.eval()
    torch.testing.assert_close(m(x), ffn(x), **TOL)


def test_top1_default_gate_is_the_router_probability():
    # Switch-style: no renormalization for top-1, so the output is p_e * FFN(x) and the router learns
    # from the task loss; documented in the class.
    ffn = make_ffn()
    m = RoutedMoEFFN.from_ffn(ffn, 2, top_k=1)
    m.add_identity = False
    set_router(m, [math.log(3), 0.0])
    ffn.add_identity = False
    x = torch.randn(5, 16)
    torch.testing.assert_close(m(x), 0.75 * ffn(x), **TOL)


def test_from_ffn_storage_router_init_and_standard_checkpoint_upcycling():
    ffn = make_ffn()
    torch.manual_seed(3)
    m = RoutedMoEFFN.from_ffn(ffn, 3)
    sd = m.state_dict()
    assert sd['experts.layers.0.0.weight'].shape == (3, 40, 16)
    assert sd['experts.layers.1.bias'].shape == (3, 16)
    assert sd['router.weight'].shape == (3, 16) and torch.equal(sd['router.bias'], torch.zeros(3))
    assert 0.01 < m.router.weight.std().item() < 0.03 and m.router.weight.abs().max() <= 0.04
    for p, q in zip(m.expert_parameters(), ffn.parameters()):
        assert all(torch.equal(p[e], q) for e in range(3))

    fresh = RoutedMoEFFN(16, 40, act_cfg=dict(type='GELU'), num_experts=3)
    result = fresh.load_state_dict(ffn.state_dict(), strict=False)  # a standard FFN checkpoint
    assert sorted(result.missing_keys) == ['router.bias', 'router.weight'] and not result.unexpected_keys
    for p, q in zip(fresh.expert_parameters(), ffn.parameters()):
        assert all(torch.equal(p[e], q) for e in range(3))
    fresh.load_state_dict(sd, strict=True)  # its own checkpoint round-trips
    assert torch.equal(fresh.router.weight, m.router.weight)


def test_collapse_refuses_routed_unless_approximate():
    ffn = make_ffn()
    m = RoutedMoEFFN.from_ffn(ffn, 3)
    sd = {f'ffn.{k}': v for k, v in m.state_dict().items()}
    with pytest.raises(CollapseError, match='routed MoE'):
        collapse_state_dict(sd)
    collapsed = collapse_state_dict(sd, approximate=True)
    original = {f'ffn.{k}': v for k, v in ffn.state_dict().items()}
    assert list(collapsed) == list(original)
    assert all(torch.equal(collapsed[k], original[k]) for k in original)  # identical experts: exact


@pytest.mark.parametrize('kwargs,match', [
    (dict(top_k=3), 'top_k must be one of'), (dict(top_k=2.0), 'top_k must be one of'),
    (dict(num_experts=1, top_k=2), 'needs num_experts >= 2'),
    (dict(capacity_factor=0), 'capacity_factor must be None'), (dict(noise_std=-1), 'noise_std'),
    (dict(aux_weight=-0.1), 'aux_weight'), (dict(renormalize='yes'), 'renormalize'),
    (dict(num_experts=0, top_k=1), 'num_experts must be an integer >= 1')])
def test_bad_routing_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RoutedMoEFFN(16, 32, **kwargs)


def test_from_ffn_rejects_unknown_routing_option():
    with pytest.raises(ValueError, match="unknown routing option.*'partition'"):
        RoutedMoEFFN.from_ffn(make_ffn(), 4, partition='batch')


# -- backbones ------------------------------------------------------------------------------------------
def test_vit_builds_routed_layers_and_ewa_default_is_unchanged():
    m = EWAVisionTransformer(**VIT, ewa_cfg=ROUTED)
    assert m.moe_layer_indices == [1, 3]
    assert [type(layer.ffn).__name__ for layer in m.layers] == ['FFN', 'RoutedMoEFFN', 'FFN', 'RoutedMoEFFN']
    ffn = m.layers[1].ffn
    assert (ffn.num_experts, ffn.top_k, ffn.capacity_factor, ffn.aux_weight) == (4, 2, None, 0.01)
    assert ffn.experts.layers[0][0].weight.shape == (4, 128, 32)
    assert set(find_expert_layers(m)) == {'layers.1.ffn', 'layers.3.ffn'}  # EWAHook sees them
    default = EWAVisionTransformer(**VIT, ewa_cfg=dict(num_experts=2))
    assert isinstance(default.layers[1].ffn, EWAFFN) and default.ewa_cfg['moe_type'] == 'ewa'


def test_swin_builds_routed_layers():
    swin = dict(embed_dims=16, depths=(2, 2), num_heads=(1, 2), strides=(4, 2), out_indices=(1,),
                window_size=4)
    m = EWASwinTransformer(**swin, ewa_cfg=dict(moe_type='routed', num_experts=2, top_k=1))
    assert [type(b.ffn).__name__ for s in m.stages for b in s.blocks] == ['FFN', 'RoutedMoEFFN'] * 2
    m.train()  # (mmdet's Swin.train returns None)
    m(torch.randn(1, 3, 32, 32))[0].sum().backward()
    assert m.stages[1].blocks[1].ffn.router.weight.grad.abs().sum() > 0


def test_vit_aux_loss_gradient_reaches_the_router_from_the_main_output_alone():
    torch.manual_seed(0)
    model = EWAVisionTransformer(**VIT, ewa_cfg=ROUTED)
    model.init_weights()
    model.train()
    x = torch.randn(2, 3, 32, 32)
    g = torch.randn_like(model(x)[0])
    model.zero_grad()
    (model(x)[0] * g).sum().backward()  # only the main output: the aux loss rides along
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    moe = [model.layers[i].ffn for i in model.moe_layer_indices]
    assert all(0.9 < ffn.aux_loss.item() < 4 for ffn in moe)

    # Oracle: the same model without injection, adding 0.01 * (sum of aux losses) to the loss explicitly.
    twin = copy.deepcopy(model)
    twin.zero_grad()
    auxes = []
    for i in twin.moe_layer_indices:
        ffn = twin.layers[i].ffn
        ffn.aux_weight = 0.0
        ffn.register_forward_hook(lambda mod, args, out: auxes.append(
            load_balancing_loss(*_probs_top1(mod, args[0]))))
    ((twin(x)[0] * g).sum() + 0.01 * sum(auxes)).backward()
    for n, p in twin.named_parameters():
        torch.testing.assert_close(grads[n], p.grad, rtol=1e-4, atol=1e-7, msg=n)

    twin.zero_grad()
    (twin(x)[0] * g).sum().backward()  # without the aux loss the router gradients differ
    for i in model.moe_layer_indices:
        name = f'layers.{i}.ffn.router.weight'
        assert not torch.allclose(grads[name], dict(twin.named_parameters())[name].grad, rtol=0, atol=1e-7)


def _probs_top1(ffn: RoutedMoEFFN, x: torch.Tensor):
    routing = ffn.route(x.reshape(-1, x.shape[-1]))
    return routing.probs, routing.experts[:, 0]


def test_vit_routed_collapse_needs_approximate_and_then_loads_into_the_standard_vit():
    m = EWAVisionTransformer(**VIT, ewa_cfg=ROUTED)
    with pytest.raises(CollapseError, match='2 layer\\(s\\) are routed MoE'):
        collapse_state_dict(m.state_dict())
    collapsed = collapse_state_dict(m.state_dict(), approximate=True)
    VisionTransformer(**VIT).load_state_dict(collapsed, strict=True)


@pytest.mark.parametrize('ewa_cfg,match', [
    (dict(top_k=2), "configure a router, but moe_type='ewa'"),
    (dict(capacity_factor=1.0, noise_std=0.1), r"\['capacity_factor', 'noise_std'\] configure a router"),
    (dict(moe_type='routed', partition='sample'), "only apply to moe_type='ewa'"),
    (dict(moe_type='switch'), 'moe_type must be one of'),
    (dict(moe_type='routed', top_k=4), 'ewa_cfg.top_k must be one of'),
    (dict(moe_type='routed', num_experts=1), 'ewa_cfg.top_k=2 needs num_experts >= 2'),
    (dict(moe_type='routed', capacity_factor=-1.0), 'ewa_cfg.capacity_factor'),
    (dict(moe_type='routed', aux_weight=None), 'ewa_cfg.aux_weight'),
    (dict(moe_type='routed', router='linear'), 'unknown ewa_cfg key')])
def test_bad_routed_ewa_cfg_is_one_clear_error(ewa_cfg, match):
    with pytest.raises(ValueError, match=match):
        EWAVisionTransformer(**VIT, ewa_cfg=ewa_cfg)
