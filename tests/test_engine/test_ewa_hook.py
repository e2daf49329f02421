"""EWAHook inside MMEngine's Runner, training a tiny EWA segmentor on real CamVid images."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import OptimWrapper, OptimWrapperDict
from runner_utils import ewa_hook, load_cfg, train
from torch import nn

from mmewa import EWAFFN, EWAHook, expert_spread
from mmewa.engine import find_expert_layers


def expert_snapshot(runner):
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    return [p.detach().clone() for m in find_expert_layers(model).values() for p in m.expert_parameters()]


class RecordingEWAHook(EWAHook):
    """EWAHook that records, per iteration, whether it averaged (for asserting *when* it fires)."""

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        before = self.num_updates
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        self.fired = getattr(self, 'fired', []) + [self.num_updates > before]


@pytest.fixture(scope='module', autouse=True)
def _register_recording_hook():
    from mmengine.registry import HOOKS
    HOOKS.register_module(module=RecordingEWAHook, force=True)


def test_fires_once_per_optimizer_step_under_gradient_accumulation(camvid_root, tmp_path):
    cfg = load_cfg('seg_ewa_vit_tiny.py', tmp_path, camvid_root, iters=6)
    cfg.optim_wrapper.accumulative_counts = 2
    cfg.custom_hooks = [dict(type='RecordingEWAHook', share_rate=0.5, spread_interval=0)]
    runner = train(cfg)
    hook = ewa_hook(runner)
    assert hook.fired == [False, True, False, True, False, True]
    assert hook.num_updates == 3


def test_early_ewa_window_and_spread_logging(camvid_root, tmp_path):
    cfg = load_cfg('seg_ewa_vit_tiny.py', tmp_path, camvid_root)
    cfg.custom_hooks = [dict(type='RecordingEWAHook', share_rate=0.3, begin=1, end=3, spread_interval=1)]
    runner = train(cfg)
    hook = ewa_hook(runner)
    assert hook.fired == [False, True, True, False]
    spread = runner.message_hub.get_scalar('train/ewa_spread')
    assert len(spread.data[0]) == 4 and all(v > 0 for v in spread.data[0])  # experts really diverge
    assert runner.message_hub.get_scalar('train/ewa_share_rate').current() == pytest.approx(0.3)


def test_share_rate_one_in_all_mode_keeps_experts_identical(camvid_root, tmp_path):
    # beta=1 with mode='all' snaps every expert to the mean after each step: training an EWA model
    # then is exactly training its collapsed dense twin, with zero spread.
    cfg = load_cfg('seg_ewa_vit_tiny.py', tmp_path, camvid_root)
    cfg.custom_hooks = [dict(type='EWAHook', share_rate=1.0, mode='all', spread_interval=0)]
    runner = train(cfg)
    for t in expert_snapshot(runner):
        torch.testing.assert_close(t, t[:1].expand_as(t), rtol=0, atol=1e-7)
    model = runner.model
    layers = find_expert_layers(model)
    assert all(expert_spread(m.expert_parameters()).item() < 1e-6 for m in layers.values())


def test_hook_without_ewa_backbone_is_a_clear_error(camvid_root, tmp_path):
    cfg = load_cfg('seg_vit_tiny.py', tmp_path, camvid_root)
    cfg.custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
    cfg.custom_hooks = [dict(type='EWAHook')]
    with pytest.raises(RuntimeError, match='EWAHook found no EWA expert layers.*EWAVisionTransformer'):
        train(cfg)


@pytest.mark.parametrize('kwargs,match', [(dict(share_rate=1.5), r'share_rate must be a number in \[0, 1\]'),
                                          (dict(mode='mean'), 'mode must be one of'),
                                          (dict(begin=5, end=5), 'begin < end')])
def test_bad_hook_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EWAHook(**kwargs)


class ExpertToy(nn.Module):
    """An EWA layer (experts that differ) and a separate head, each trainable by its own optimizer."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.ffn = EWAFFN(embed_dims=8, feedforward_channels=16, num_experts=4)
        self.head = nn.Linear(8, 1)
        with torch.no_grad():
            for p in self.ffn.expert_parameters():
                p.add_(torch.randn_like(p))

    def loss(self, scale: float = 1.0) -> torch.Tensor:
        x = torch.randn(2, 6, 8, generator=torch.Generator().manual_seed(1))
        return self.head(self.ffn(x)).sum() * scale


def attach(model: nn.Module, optim_wrapper) -> tuple[EWAHook, SimpleNamespace]:
    """EWAHook set up as the Runner does (before_run, before_train) on a stand-in runner."""
    hook = EWAHook(share_rate=0.5, spread_interval=0)
    runner = SimpleNamespace(model=model, optim_wrapper=optim_wrapper, seed=0, iter=0, max_iters=100,
                             hooks=[], logger=MMLogger.get_current_instance(),
                             message_hub=MessageHub.get_instance('ewa_hook_test'))
    hook.before_run(runner)
    hook.before_train(runner)
    return hook, runner


def run_iters(hook, runner, model, steps) -> list[bool]:
    """Per iteration: call ``step(model)`` between the hook's before/after_train_iter; did EWA fire?"""
    fired = []
    for i, step in enumerate(steps):
        runner.iter = i
        before = [p.detach().clone() for p in model.ffn.expert_parameters()]
        updates = hook.num_updates
        hook.before_train_iter(runner, i)
        step(model)
        hook.after_train_iter(runner, i)
        fired.append(hook.num_updates > updates)
        moved = any(not torch.equal(a, b) for a, b in zip(before, model.ffn.expert_parameters()))
        assert hook.num_updates == updates + fired[-1]
        assert moved == fired[-1]  # the experts change exactly when their optimizer really stepped
    return fired


@pytest.mark.parametrize('fused', [False, True])
def test_amp_skipped_steps_are_not_averaged_with_a_real_grad_scaler(fused):
    """GradScaler('cpu') finds inf and skips the step: no EWA. Plain optimizers are not stepped at all;
    fused AdamW is stepped and skips by itself, told by the scaler's public ``found_inf``."""
    model = ExpertToy()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, fused=True) if fused else \
        torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler('cpu', init_scale=2.0 ** 8)
    hook, runner = attach(model, OptimWrapper(optimizer))

    def amp_step(bad: bool):
        def step(m):
            scaler.scale(m.loss(float('inf') if bad else 1.0)).backward()
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad()
        return step

    fired = run_iters(hook, runner, model, [amp_step(False), amp_step(True), amp_step(False)])
    assert fired == [True, False, True]
    assert scaler.get_scale() == 2.0 ** 7  # the scaler did see the inf and backed off once


def test_gradient_accumulation_averages_once_per_real_step():
    model = ExpertToy()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=2)
    wrapper.initialize_count_status(model, 0, 6)
    hook, runner = attach(model, wrapper)
    fired = run_iters(hook, runner, model, [lambda m: wrapper.update_params(m.loss())] * 6)
    assert fired == [False, True, False, True, False, True]


def test_optim_wrapper_dict_averages_when_the_experts_optimizer_stepped():
    model = ExpertToy()
    experts = OptimWrapper(torch.optim.SGD(model.ffn.parameters(), lr=0.1))
    head = OptimWrapper(torch.optim.SGD(model.head.parameters(), lr=0.1))
    hook, runner = attach(model, OptimWrapperDict(experts=experts, head=head))

    def step(*wrappers):
        def run(m):
            m.loss().backward()
            for w in wrappers:
                w.step()
                w.zero_grad()
        return run

    fired = run_iters(hook, runner, model, [step(head), step(experts), step(experts, head), step()])
    assert fired == [False, True, True, False]
    assert hook.num_updates == 2  # both optimizers in one iteration: EWA once
    hook.after_train(runner)  # the step hooks are gone: a later step outside training is not averaged
    hook.before_train_iter(runner, 4)
    step(experts)(model)
    hook.after_train_iter(runner, 4)
    assert hook.num_updates == 2


def test_an_optimizer_without_step_hooks_is_a_clear_error():
    model = ExpertToy()
    not_torch = SimpleNamespace(param_groups=[dict(params=list(model.parameters()))])
    with pytest.raises(TypeError, match='EWAHook needs a torch.optim.Optimizer'):
        attach(model, SimpleNamespace(optimizer=not_torch))
