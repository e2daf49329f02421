"""EWAHook's RNG handling through MMEngine's Runner: per-rank partition generators, resume vs load_from, and
the data pipeline's RNGs on resume (replayed on either MMEngine)."""
import hashlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from runner_utils import ewa_hook, load_cfg, train

from mmewa.checkpoint import load_checkpoint
from mmewa.engine import find_expert_layers
from mmewa.engine.hooks.ewa_hook import partition_seed
from mmewa.engine.replay import replay_on_resume


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


class DataProbe(Hook):
    """Records, per iteration, the batch the pipeline produced (random crops, flips) and numpy's RNG state
    after producing it: the main process runs the pipeline (num_workers=0)."""

    priority = 'LOWEST'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.seen = getattr(self, 'seen', {})
        images = torch.stack(data_batch['inputs']).numpy().tobytes()
        self.seen[runner.iter] = (hashlib.sha1(images).hexdigest(),
                                  hashlib.sha1(np.random.get_state()[1].tobytes()).hexdigest())


def seeded_state(first: dict, seed: int) -> torch.Tensor:
    """The state of a fresh partition generator of rank 0, on the device the layers are on."""
    return torch.Generator(first['device'][0]).manual_seed(partition_seed(seed, 0)).get_state()


@pytest.fixture(scope='module', autouse=True)
def _register_probe():
    HOOKS.register_module(module=RNGProbe, force=True)
    HOOKS.register_module(module=DataProbe, force=True)


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


def test_resume_gives_the_pipeline_the_batches_and_rng_of_an_uninterrupted_run(camvid_root, tmp_path):
    """Upstream MMEngine replays the trained batches on resume; OneDL's fast-forwards the sampler only, so
    without EWAHook's replay the resumed pipeline would crop from numpy RNG states of iteration 0."""
    hooks = [dict(type='EWAHook', share_rate=0.3, spread_interval=0), dict(type='RNGProbe'),
             dict(type='DataProbe')]
    straight, _ = run(tmp_path, camvid_root, 'straight', custom_hooks=hooks)
    resumed, _ = run(tmp_path, camvid_root, 'resumed', resume=True, custom_hooks=hooks,
                     load_from=str(tmp_path / 'straight' / 'iter_2.pth'))
    a, b = (next(h for h in r.hooks if isinstance(h, DataProbe)).seen for r in (straight, resumed))
    assert sorted(a) == [0, 1, 2, 3] and sorted(b) == [2, 3]
    assert len({a[i][0] for i in range(4)}) == 4  # random crops: every batch differs
    for i in (2, 3):
        assert b[i] == a[i], i


def _loop(iterator, **attrs):
    return SimpleNamespace(dataloader_iterator=iterator, **attrs)


class _FastForwarding:
    """An iterator that, like OneDL's, can skip without producing what it skips."""

    def __init__(self):
        self.produced = 0

    def __next__(self):
        self.produced += 1
        return self.produced

    def skip_iter(self, num_iters):
        raise AssertionError('the fast-forward must not be used')


def test_replay_on_resume_loads_what_it_skips():
    iterator = _FastForwarding()
    assert replay_on_resume(_loop(iterator, fast_forward_on_resume=False))
    iterator.skip_iter(3)
    assert iterator.produced == 3 and next(iterator) == 4


def test_replay_on_resume_leaves_upstream_loops_and_an_explicit_fast_forward_alone():
    plain = iter(range(3))
    assert not replay_on_resume(_loop(plain))  # upstream 0.10.7: replays by itself, no skip_iter
    iterator = _FastForwarding()
    assert not replay_on_resume(_loop(iterator, fast_forward_on_resume=True))
    with pytest.raises(AssertionError, match='fast-forward'):
        iterator.skip_iter(1)
    assert not replay_on_resume(SimpleNamespace())  # an epoch-based loop has no dataloader_iterator
