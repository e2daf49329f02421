"""EWAHook's RNG handling through MMEngine's Runner: per-rank partition generators, resume vs load_from."""
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from runner_utils import ewa_hook, load_cfg, train

from mmewa.checkpoint import load_checkpoint
from mmewa.engine import find_expert_layers
from mmewa.engine.hooks.ewa_hook import partition_seed


class RNGProbe(Hook):
    """Records the RNG states the first training iteration starts from (after every other hook)."""

    priority = 'LOWEST'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if hasattr(self, 'first'):
            return
        generators = {id(m.partition_generator): m.partition_generator
                      for m in find_expert_layers(runner.model).values()}
        self.first = dict(iter=runner.iter, torch=torch.get_rng_state(),
                          partition=[g.get_state() for g in generators.values()],
                          device=[g.device for g in generators.values()])


def seeded_state(first: dict, seed: int) -> torch.Tensor:
    """The state of a fresh partition generator of rank 0, on the device the layers are on."""
    return torch.Generator(first['device'][0]).manual_seed(partition_seed(seed, 0)).get_state()


@pytest.fixture(scope='module', autouse=True)
def _register_probe():
    HOOKS.register_module(module=RNGProbe, force=True)


def run(tmp_path, camvid_root, name, iters=4, **cfg_overrides):
    cfg = load_cfg('seg_ewa_vit_tiny.py', tmp_path / name, camvid_root, iters=iters)
    cfg.default_hooks.checkpoint.interval = 2
    cfg.custom_hooks = [dict(type='EWAHook', share_rate=0.3, spread_interval=0), dict(type='RNGProbe')]
    cfg.merge_from_dict(cfg_overrides)
    runner = train(cfg)
    return runner, next(h for h in runner.hooks if isinstance(h, RNGProbe)).first


def test_partition_draws_from_a_seeded_generator_of_its_own(camvid_root, tmp_path):
    runner, first = run(tmp_path, camvid_root, 'a', iters=2)
    assert len(first['partition']) == 1  # one generator per device, shared by the EWA layers
    assert torch.equal(first['partition'][0], seeded_state(first, runner.seed))
    assert partition_seed(0, 0) != partition_seed(0, 1)  # ranks draw different partitions
    assert partition_seed(0, 0) != 0  # and not the global RNG's stream of the same seed
    assert all(m.partition_generator is None for m in find_expert_layers(runner.model).values())


def test_load_from_keeps_the_seeded_rng_and_counts_updates_from_zero(camvid_root, tmp_path):
    trained, _ = run(tmp_path, camvid_root, 'trained')
    assert ewa_hook(trained).num_updates == 4
    _, fresh = run(tmp_path, camvid_root, 'fresh', iters=2)
    tuned, from_ckpt = run(tmp_path, camvid_root, 'tuned', iters=2,
                           load_from=str(tmp_path / 'trained' / 'iter_4.pth'))
    # fine-tuning from an EWA checkpoint starts from the run's seeded RNG, like a run without load_from
    assert from_ckpt['iter'] == 0
    assert torch.equal(from_ckpt['torch'], fresh['torch'])
    assert torch.equal(from_ckpt['partition'][0], fresh['partition'][0])
    assert ewa_hook(tuned).num_updates == 2


def test_resume_restores_this_ranks_states_and_the_update_count(camvid_root, tmp_path):
    run(tmp_path, camvid_root, 'straight')
    ckpt = load_checkpoint(tmp_path / 'straight' / 'iter_2.pth')
    saved = ckpt['ewa_hook']
    assert saved['num_updates'] == 2 and len(saved['rank_rng']) == 1
    assert ckpt['meta']['mmewa'] == dict(expert_layers=['backbone.layers.1.ffn', 'backbone.layers.3.ffn'],
                                         routed_layers=[])
    resumed, first = run(tmp_path, camvid_root, 'resumed', resume=True,
                         load_from=str(tmp_path / 'straight' / 'iter_2.pth'))
    assert first['iter'] == 2
    assert torch.equal(first['torch'], saved['rank_rng'][0]['torch'])
    assert list(saved['rank_rng'][0]['partition']) == [str(first['device'][0])]
    assert torch.equal(first['partition'][0], saved['rank_rng'][0]['partition'][str(first['device'][0])])
    assert ewa_hook(resumed).num_updates == 4


def test_checkpoints_with_the_old_single_rng_state_still_resume(camvid_root, tmp_path):
    run(tmp_path, camvid_root, 'straight')
    ckpt = load_checkpoint(tmp_path / 'straight' / 'iter_2.pth')
    old_rng = torch.Generator().manual_seed(1234).get_state()
    ckpt['ewa_hook'] = dict(num_updates=7, torch_rng=old_rng)  # what mmewa wrote before per-rank states
    old = tmp_path / 'old.pth'
    torch.save(ckpt, old)
    resumed, first = run(tmp_path, camvid_root, 'resumed', resume=True, load_from=str(old))
    assert torch.equal(first['torch'], old_rng)
    assert torch.equal(first['partition'][0], seeded_state(first, resumed.seed))
    assert ewa_hook(resumed).num_updates == 9
