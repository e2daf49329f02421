"""Early EWA on a routed (naive) MoE backbone, trained through MMEngine's Runner on real CamVid images."""
import pytest
import torch
from runner_utils import ewa_hook, load_cfg, train

from mmewa import RoutedMoEFFN, expert_spread
from mmewa.engine import find_expert_layers

NUM_EXPERTS = 4


def test_early_ewa_window_on_routed_moe_with_aux_loss_in_the_loss_dict(camvid_root, tmp_path):
    cfg = load_cfg('seg_ewa_vit_tiny.py', tmp_path, camvid_root, iters=4)
    cfg.model.backbone.ewa_cfg = dict(moe_type='routed', num_experts=NUM_EXPERTS, moe_layers='every_other',
                                      top_k=2, capacity_factor=None, noise_std=0.0, aux_weight=0.01)
    cfg.custom_hooks = [dict(type='EWAHook', share_rate=0.3, end=2, spread_interval=1),
                        dict(type='MoEAuxLossHook')]
    runner = train(cfg)

    hook = ewa_hook(runner)
    assert hook.num_updates == 2  # Early EWA: iterations 0 and 1 only
    share_rates = runner.message_hub.get_scalar('train/ewa_share_rate').data[0]
    assert list(share_rates) == [0.3, 0.3]

    layers = find_expert_layers(runner.model)
    assert sorted(layers) == ['backbone.layers.1.ffn', 'backbone.layers.3.ffn']
    assert all(isinstance(m, RoutedMoEFFN) for m in layers.values())
    # MoEAuxLossHook: an entry of the loss dict, so it is in the total loss and logged every iteration
    aux = runner.message_hub.get_scalar('train/loss_moe_aux').data[0]
    balance = runner.message_hub.get_scalar('train/moe_balance').data[0]
    assert len(aux) == len(balance) == 4
    # E * sum(f * P): 1 when balanced (f uniform), up to E when collapsed; slightly below 1 is possible
    assert all(0.5 < b < NUM_EXPERTS for b in balance), balance
    for a, b in zip(aux, balance):
        assert a == pytest.approx(0.01 * 2 * b, rel=1e-5)  # aux_weight * sum over the 2 routed layers
    last = {n: m.aux_loss.item() for n, m in layers.items()}
    assert aux[-1] == pytest.approx(0.01 * sum(last.values()), rel=1e-5)
    assert all(m.num_dropped.item() == 0 for m in layers.values())  # dropless by default
    assert all(expert_spread(m.expert_parameters()).item() > 0 for m in layers.values())  # experts diverge
    assert all(torch.isfinite(m.router.weight).all() for m in layers.values())
