"""MoEAuxLossHook: the routed MoE aux loss as a loss-dict entry, equivalent to the injected gradient, and
correctly scaled by AMP loss scaling and gradient accumulation (which the injection fallback is not)."""
from types import SimpleNamespace

import pytest
import torch
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from torch.utils.checkpoint import checkpoint

from mmewa import MoEAuxLossHook, RoutedMoEFFN
from mmewa.models.layers import load_balancing_loss

AUX_WEIGHT = 0.5  # large, so the aux gradient is not lost next to the task gradient


class RoutedToy(BaseModel):
    """One upcycled routed MoE FFN and a task loss: the smallest model whose loss dict the hook extends."""

    def __init__(self, with_cp: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.ffn = RoutedMoEFFN.from_ffn(FFN(embed_dims=16, feedforward_channels=32), num_experts=4, top_k=2,
                                         aux_weight=AUX_WEIGHT)
        self.with_cp = with_cp

    def forward(self, inputs, data_samples=None, mode='loss'):
        y = checkpoint(self.ffn, inputs, use_reentrant=True) if self.with_cp else self.ffn(inputs)
        if mode == 'loss':
            return {'loss_task': (y - data_samples).pow(2).mean()}
        return [y]


def batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 24, 16, generator=g), torch.randn(2, 24, 16, generator=g)


def grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def attach(model: BaseModel) -> MoEAuxLossHook:
    hook = MoEAuxLossHook()
    hook.before_train(SimpleNamespace(model=model))
    return hook


def test_loss_dict_entry_equals_the_injected_gradient():
    x, t = batch(0)
    injected = RoutedToy()
    with pytest.warns(UserWarning, match="add dict\\(type='MoEAuxLossHook'\\)"):
        loss, log = injected.parse_losses(injected(x, t))
    assert 'loss_moe_aux' not in log  # the fallback optimises the aux loss but cannot log it
    loss.backward()

    collected = RoutedToy()
    attach(collected)
    losses = collected(x, t)
    assert set(losses) == {'loss_task', 'loss_moe_aux', 'moe_balance'}
    aux = collected.ffn.aux_loss
    assert 0.5 < aux.item() < 4.0  # E * sum f_e P_e: 1 when balanced (can dip below), E when collapsed
    torch.testing.assert_close(losses['loss_moe_aux'].detach(), AUX_WEIGHT * aux, rtol=0, atol=0)
    torch.testing.assert_close(losses['moe_balance'], aux, rtol=0, atol=0)
    loss, log = collected.parse_losses(losses)
    summed = float(log['loss_task'] + log['loss_moe_aux'])
    assert float(log['loss']) == pytest.approx(summed, rel=1e-6)
    assert 'moe_balance' in log  # logged, not optimised
    loss.backward()

    expected, got = grads(injected), grads(collected)
    assert set(expected) == set(got) and 'ffn.router.weight' in got
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-7, msg=name)
    router_task_only = RoutedToy()
    router_task_only.ffn.aux_weight = 0.0
    router_task_only.parse_losses(router_task_only(x, t))[0].backward()
    assert not torch.allclose(router_task_only.ffn.router.weight.grad, got['ffn.router.weight'])


def test_aux_gradient_follows_the_amp_loss_scale():
    x, t = batch(1)
    scale = 1024.0
    collected = RoutedToy()
    attach(collected)
    loss, _ = collected.parse_losses(collected(x, t))
    (loss * scale).backward()  # what GradScaler.scale(loss).backward() does
    injected = RoutedToy()
    loss, _ = injected.parse_losses(injected(x, t))
    (loss * scale).backward()
    reference = RoutedToy()
    attach(reference)
    reference.parse_losses(reference(x, t))[0].backward()

    want = reference.ffn.router.weight.grad
    torch.testing.assert_close(collected.ffn.router.weight.grad / scale, want, rtol=1e-5, atol=1e-9)
    # the injected aux gradient misses the scale: after unscaling its weight is AUX_WEIGHT / scale
    assert not torch.allclose(injected.ffn.router.weight.grad / scale, want, rtol=1e-3, atol=1e-9)


class GradRecorder(torch.optim.SGD):
    """SGD(lr=0) that keeps the gradients it was asked to step with."""

    def __init__(self, params) -> None:
        super().__init__(params, lr=0.0)
        self.seen: list[list[torch.Tensor]] = []

    def step(self, closure=None):
        self.seen.append([p.grad.clone() for g in self.param_groups for p in g['params']])
        return super().step(closure)


def test_aux_gradient_is_averaged_over_accumulated_batches():
    model = RoutedToy()
    attach(model)
    optimizer = GradRecorder([model.ffn.router.weight])
    wrapper = OptimWrapper(optimizer, accumulative_counts=2)
    wrapper.initialize_count_status(model, 0, 2)
    per_batch = []
    for seed in (2, 3):
        x, t = batch(seed)
        wrapper.update_params(model.parse_losses(model(x, t))[0])
        single = RoutedToy()
        attach(single)
        single.parse_losses(single(x, t))[0].backward()
        per_batch.append(single.ffn.router.weight.grad)
    assert len(optimizer.seen) == 1  # one optimizer step for the two accumulated batches
    torch.testing.assert_close(optimizer.seen[0][0], (per_batch[0] + per_batch[1]) / 2, rtol=1e-5, atol=1e-9)


def test_eval_forward_and_predict_mode_are_left_alone():
    model = RoutedToy()
    attach(model)
    x, t = batch(4)
    assert isinstance(model(x, t, mode='predict'), list)
    model.eval()
    assert set(model(x, t)) == {'loss_task'}  # nothing is routed for a training objective in eval


def test_after_train_restores_the_injection_fallback():
    model = RoutedToy()
    hook = attach(model)
    assert model.ffn.collect_aux_loss
    hook.after_train(SimpleNamespace(model=model))
    assert not model.ffn.collect_aux_loss
    x, t = batch(5)
    assert set(model(x, t)) == {'loss_task'}


def test_reentrant_checkpointing_is_refused_with_the_fix():
    model = RoutedToy(with_cp=True)
    attach(model)
    x, t = batch(6)
    with pytest.raises(RuntimeError, match='with_cp=False'):
        model(x.requires_grad_(), t)


def test_bad_options_and_models_without_routed_layers():
    with pytest.raises(ValueError, match="must contain 'loss'"):
        MoEAuxLossHook(loss_name='moe_aux')
    with pytest.raises(ValueError, match="must not contain 'loss'"):
        MoEAuxLossHook(log_name='moe_loss_raw')
    plain = torch.nn.Sequential(FFN(embed_dims=16, feedforward_channels=32))
    with pytest.raises(ValueError, match="moe_type='routed'"):
        MoEAuxLossHook().before_train(SimpleNamespace(model=plain))


class TwoCropToy(RoutedToy):
    """Runs the routed FFN once per crop inside one loss forward (multi-crop / teacher-student style);
    ``use_ffn=False`` computes a loss without routing anything."""

    def forward(self, inputs, data_samples=None, mode='loss', use_ffn=True):
        if mode != 'loss':
            return [self.ffn(inputs)]
        if not use_ffn:
            return {'loss_task': (inputs - data_samples).pow(2).mean()}
        crops = [self.ffn(inputs[:, :12]), self.ffn(inputs[:, 12:])]
        return {'loss_task': sum((y - data_samples[:, :12]).pow(2).mean() for y in crops)}


def test_every_routed_forward_of_one_loss_call_counts():
    model = TwoCropToy()
    attach(model)
    x, t = batch(7)
    losses = model(x, t)
    with torch.no_grad():  # the two crops' aux losses, routed separately by the same layer
        auxes = []
        for crop in (x[:, :12], x[:, 12:]):
            routing = model.ffn.route(crop.reshape(-1, 16))
            auxes.append(load_balancing_loss(routing.probs, routing.experts[:, 0]))
    torch.testing.assert_close(losses['loss_moe_aux'].detach(), AUX_WEIGHT * (auxes[0] + auxes[1]),
                               rtol=1e-6, atol=0)
    torch.testing.assert_close(losses['moe_balance'], (auxes[0] + auxes[1]) / 2, rtol=1e-6, atol=0)
    assert not torch.allclose(auxes[0], auxes[1])  # the crops really route differently


def test_a_train_mode_forward_outside_loss_mode_does_not_leak_into_the_next_loss():
    model = TwoCropToy()
    attach(model)
    x, t = batch(8)
    assert isinstance(model(x, mode='tensor'), list)  # training mode: routes, and its aux loss waits
    assert set(model(x, t, use_ffn=False)) == {'loss_task'}  # this loss call routed nothing
    losses = model(x, t)
    second = TwoCropToy()
    attach(second)
    torch.testing.assert_close(losses['loss_moe_aux'], second(x, t)['loss_moe_aux'], rtol=0, atol=0)
