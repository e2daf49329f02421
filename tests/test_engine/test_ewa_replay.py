"""EWAHook's mode, schedule and window through a real Runner, checked against ``ewa_reference_`` replayed
step by step on the weights each optimizer step produced."""
import math

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from runner_utils import ewa_hook, load_cfg, train

import mmewa.engine.hooks.ewa_hook as ewa_hook_module
from mmewa import ewa_reference_
from mmewa.engine import find_expert_layers

SHARE, FINAL, BEGIN, END, ITERS = 0.5, 0.1, 2, 6, 7
TOL = dict(rtol=0, atol=2e-7)  # fused fp32 lerp vs the float64 reference, rounded once


class ExpertProbe(Hook):
    """Snapshots the expert tensors in ``after_train_iter``: with ``priority='HIGH'`` right after the
    optimizer step (before EWAHook, ``ABOVE_NORMAL``), with ``'NORMAL'`` right after EWAHook."""

    def __init__(self) -> None:
        self.snapshots: list[list[torch.Tensor]] = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        layers = find_expert_layers(runner.model).values()
        self.snapshots.append([p.detach().clone() for m in layers for p in m.expert_parameters()])


@pytest.fixture(scope='module', autouse=True)
def _register_probe():
    HOOKS.register_module(module=ExpertProbe, force=True)


def expected_share_rate(i: int, schedule: str) -> float | None:
    """β at iteration ``i``, written out from the definition in docs/options.md (window [BEGIN, END))."""
    if not BEGIN <= i < END:
        return None
    progress = (i - BEGIN) / (END - BEGIN - 1)
    if schedule == 'linear':
        return FINAL + (SHARE - FINAL) * (1 - progress)
    return FINAL + (SHARE - FINAL) * 0.5 * (1 + math.cos(math.pi * progress))


def check_replay(camvid_root, tmp_path, mode: str, schedule: str) -> None:
    cfg = load_cfg('seg_ewa_vit_tiny.py', tmp_path, camvid_root, iters=ITERS)
    cfg.experiment_name = tmp_path.name  # its own MessageHub: runners built in one second share a name
    cfg.custom_hooks = [dict(type='EWAHook', share_rate=SHARE, final_share_rate=FINAL, mode=mode,
                             schedule=schedule, begin=BEGIN, end=END, spread_interval=0),
                        dict(type='ExpertProbe', priority='HIGH'),
                        dict(type='ExpertProbe', priority='NORMAL')]
    runner = train(cfg)
    stepped, averaged = (h.snapshots for h in runner.hooks if isinstance(h, ExpertProbe))
    assert len(stepped) == len(averaged) == ITERS
    for i, (before, after) in enumerate(zip(stepped, averaged)):
        beta = expected_share_rate(i, schedule)
        if beta is None:
            for a, b in zip(before, after):
                assert torch.equal(a, b), f'iteration {i} is outside the window, yet the experts changed'
            continue
        expected = [t.clone() for t in before]
        ewa_reference_(expected, beta, mode)
        moved = max((e - b).abs().max().item() for e, b in zip(expected, before))
        assert moved > 100 * TOL['atol'], f'iteration {i}: experts too close for the check to mean anything'
        for e, a in zip(expected, after):
            torch.testing.assert_close(a, e, **TOL, msg=f'iteration {i}, beta={beta}')
    assert ewa_hook(runner).num_updates == END - BEGIN
    logged = runner.message_hub.get_scalar('train/ewa_share_rate').data[0]
    assert list(logged) == pytest.approx([expected_share_rate(i, schedule) for i in range(BEGIN, END)])


@pytest.mark.parametrize('mode,schedule', [('others', 'linear'), ('all', 'cosine')])
def test_weights_follow_the_reference_step_by_step(camvid_root, tmp_path, mode, schedule):
    check_replay(camvid_root, tmp_path, mode, schedule)


def test_the_replay_check_fails_when_ewa_is_a_no_op(camvid_root, tmp_path, monkeypatch):
    monkeypatch.setattr(ewa_hook_module, 'ewa_', lambda tensors, share_rate, mode='others': None)
    with pytest.raises(AssertionError):
        check_replay(camvid_root, tmp_path, 'others', 'linear')
