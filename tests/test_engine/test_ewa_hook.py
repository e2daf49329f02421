"""EWAHook inside MMEngine's Runner, training a tiny EWA segmentor on real CamVid images."""
from types import SimpleNamespace

import pytest
import torch
from runner_utils import ewa_hook, load_cfg, train

from mmewa import EWAHook, expert_spread
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


def _fake_runner(scaler, should_update=True):
    optim_wrapper = SimpleNamespace(loss_scaler=scaler, should_update=lambda: should_update)
    return SimpleNamespace(optim_wrapper=optim_wrapper)


def test_amp_skipped_step_is_detected_with_a_real_grad_scaler():
    """GradScaler (CPU) finds inf, skips optimizer.step() and lowers its scale: EWA must skip too."""
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([param], lr=0.1)
    scaler = torch.amp.GradScaler('cpu', init_scale=2.0 ** 8)
    hook = EWAHook()
    runner = _fake_runner(scaler)
    for grad, expected in ((torch.ones(3), True), (torch.tensor([1.0, float('inf'), 1.0]), False),
                           (torch.ones(3), True)):
        hook.before_train_iter(runner, 0)
        scaler.scale((param * grad).sum()).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad()
        assert hook._step_happened(runner) is expected
    assert hook._step_happened(_fake_runner(None, should_update=False)) is False
