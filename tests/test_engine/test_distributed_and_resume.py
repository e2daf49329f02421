"""Real processes: DDP (gloo, 2 CPU ranks) via tools/dist_train.sh, and --resume after SIGKILL."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

from mmewa.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]

# Deterministic data (no random crop), no drop-path or dropout, no BatchNorm (per-rank statistics):
# runs are comparable across process layouts.
DDP_CONFIG = """
_base_ = ['{root}/configs/demo/seg_ewa_vit_tiny.py']
_pipe = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', reduce_zero_label=False),
         dict(type='Resize', scale=(64, 64), keep_ratio=False), dict(type='PackSegInputs')]
train_dataloader = dict(batch_size={batch}, sampler=dict(type='InfiniteSampler', shuffle=False),
                        dataset=dict(data_root='{data}', pipeline=_pipe))
test_dataloader = dict(dataset=dict(data_root='{data}'))
model = dict(backbone=dict(drop_path_rate=0.0), decode_head=dict(norm_cfg=None, dropout_ratio=0.0))
optim_wrapper = dict(_delete_=True, type='OptimWrapper', accumulative_counts=2,
                     optimizer=dict(type='{optim}', lr=0.01, {optim_args}))
custom_hooks = [dict(type='EWAHook', share_rate={beta}, mode='{mode}', spread_interval=0),
                dict(type='ReplicaSyncHook', interval=1)]
train_cfg = dict(max_iters=4)
default_hooks = dict(checkpoint=dict(interval=4), logger=dict(interval=1))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def write_cfg(tmp_path, name, **kw) -> Path:
    path = tmp_path / f'{name}.py'
    path.write_text(DDP_CONFIG.format(root=ROOT, **kw))
    return path


def run(cmd, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', PORT=str(free_port()),
               PYTHON=sys.executable)  # dist_train.sh must use this interpreter, activated or not
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def weights(path: Path) -> dict:
    return load_checkpoint(path)['state_dict']


def test_ddp_two_ranks_stay_bit_identical_and_match_one_process(camvid_root, tmp_path):
    # 1) The real setting (AdamW, beta=0.3, gradient accumulation): ranks must stay bit-identical;
    #    ReplicaSyncHook broadcasts every tensor from rank 0 after every iteration and fails otherwise.
    cfg = write_cfg(tmp_path, 'ddp_adamw', batch=2, data=camvid_root, optim='AdamW',
                    optim_args='weight_decay=0.01', beta=0.3, mode='others')
    proc = run(['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir', str(tmp_path / 'ddp_adamw')])
    log = proc.stdout + proc.stderr
    for it in (1, 2, 3, 4):
        assert f'all ranks bit-identical at iteration {it}' in log

    # 2) Same global batch in one process vs two: with beta=1 / mode='all' and SGD the result does not
    #    depend on how tokens were partitioned, so both layouts must agree up to float rounding.
    kw = dict(data=camvid_root, optim='SGD', optim_args='momentum=0.9', beta=1.0, mode='all')
    ddp_cfg = write_cfg(tmp_path, 'ddp_sgd', batch=2, **kw)
    one_cfg = write_cfg(tmp_path, 'one_sgd', batch=4, **kw)
    run(['bash', 'tools/dist_train.sh', str(ddp_cfg), '2', '--work-dir', str(tmp_path / 'ddp_sgd')])
    run([sys.executable, 'tools/train.py', str(one_cfg), '--work-dir', str(tmp_path / 'one_sgd')])
    ddp, one = weights(tmp_path / 'ddp_sgd' / 'iter_4.pth'), weights(tmp_path / 'one_sgd' / 'iter_4.pth')
    assert ddp.keys() == one.keys()
    start = weights(tmp_path / 'ddp_adamw' / 'iter_4.pth')  # sanity: training moved the weights
    assert not torch.equal(start['decode_head.conv_seg.weight'], ddp['decode_head.conv_seg.weight'])
    for k in ddp:
        torch.testing.assert_close(ddp[k], one[k], rtol=1e-4, atol=1e-5, msg=k)



ROUTED_DDP_CONFIG = """
_base_ = ['{base}']
model = dict(backbone=dict(ewa_cfg=dict(_delete_=True, moe_type='routed', num_experts=4,
                                        moe_layers='every_other', top_k=2, aux_weight=0.01)))
custom_hooks = [dict(type='MoEAuxLossHook'), dict(type='EWAHook', share_rate=0.3, end=2, spread_interval=0),
                dict(type='ReplicaSyncHook', interval=1)]
"""


def test_ddp_routed_moe_with_aux_loss_in_the_loss_dict(camvid_root, tmp_path):
    # Routed MoE + MoEAuxLossHook + Early EWA under DDP with gradient accumulation: the aux loss is part
    # of each rank's loss (DDP all-reduces its gradient like the task's), so ranks stay bit-identical.
    base = write_cfg(tmp_path, 'ddp_base', batch=2, data=camvid_root, optim='AdamW',
                     optim_args='weight_decay=0.01', beta=0.3, mode='others')
    cfg = tmp_path / 'ddp_routed.py'
    cfg.write_text(ROUTED_DDP_CONFIG.format(base=base))
    proc = run(['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir', str(tmp_path / 'ddp_routed')])
    log = proc.stdout + proc.stderr
    for it in (1, 2, 3, 4):
        assert f'all ranks bit-identical at iteration {it}' in log
    assert log.count('loss_moe_aux: ') >= 4 and 'moe_balance: ' in log
    state = weights(tmp_path / 'ddp_routed' / 'iter_4.pth')
    assert 'backbone.layers.1.ffn.router.weight' in state

RESUME_CONFIG = """
_base_ = ['{root}/configs/demo/seg_ewa_vit_tiny.py']
train_dataloader = dict(dataset=dict(data_root='{data}'))
custom_hooks = [dict(type='EWAHook', share_rate=0.3, begin=1, end=6, spread_interval=1)]
train_cfg = dict(max_iters=8)
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
"""


def test_resume_after_sigkill_ends_with_the_uninterrupted_weights(camvid_root, tmp_path):
    # Random crops, drop-path, AdamW, an Early-EWA window [1, 6) that the resumed part crosses.
    cfg = tmp_path / 'resume.py'
    cfg.write_text(RESUME_CONFIG.format(root=ROOT, data=camvid_root))

    def train_cmd(work_dir, *extra):
        return [sys.executable, 'tools/train.py', str(cfg), '--work-dir', str(work_dir), *extra]

    run(train_cmd(tmp_path / 'straight'))

    killed = tmp_path / 'killed'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.Popen(train_cmd(killed), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed / 'iter_4.pth').exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, 'the run finished before it could be killed'
    assert not (killed / 'iter_8.pth').exists()

    resumed = run(train_cmd(killed, '--resume'))
    assert 'Advance dataloader' in resumed.stdout + resumed.stderr
    a, b = weights(tmp_path / 'straight' / 'iter_8.pth'), weights(killed / 'iter_8.pth')
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ewa_a = load_checkpoint(tmp_path / 'straight' / 'iter_8.pth')['ewa_hook']
    ewa_b = load_checkpoint(killed / 'iter_8.pth')['ewa_hook']
    assert ewa_a['num_updates'] == ewa_b['num_updates'] == 5  # Early EWA window [1, 6)


DDP_RESUME_CONFIG = """
_base_ = ['{root}/configs/demo/seg_ewa_vit_tiny.py']
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=False), dataset=dict(data_root='{data}'))
model = dict(decode_head=dict(norm_cfg=None))  # drop-path 0.1 and random crops stay: they use the RNGs
randomness = dict(seed=0, diff_rank_seed=True)  # every rank its own RNG streams
custom_hooks = [dict(type='EWAHook', share_rate=0.3, begin=1, end=5, spread_interval=0),
                dict(type='ReplicaSyncHook', interval=1)]
train_cfg = dict(max_iters=10)  # 8 iterations after the first checkpoint: time to kill
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
"""


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first found first), from /proc."""
    parents = {}
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / 'stat').read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(')', 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def test_ddp_resume_after_sigkill_restores_every_ranks_rng(camvid_root, tmp_path):
    # Under diff_rank_seed each rank has its own global RNG and partition generator: a resume must give
    # each rank back its own states (not rank 0's), or rank 1's drop-path masks and partitions change.
    cfg = tmp_path / 'ddp_resume.py'
    cfg.write_text(DDP_RESUME_CONFIG.format(root=ROOT, data=camvid_root))

    def train_cmd(work_dir, *extra):
        return ['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir', str(work_dir), *extra]

    run(train_cmd(tmp_path / 'straight'))
    killed = tmp_path / 'killed'
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(free_port()), PYTHON=sys.executable)
    proc = subprocess.Popen(train_cmd(killed), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    latest = killed / 'last_checkpoint'  # written once a checkpoint is complete
    while not latest.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    for pid in [*descendants(proc.pid), proc.pid]:  # both ranks (torchrun gives them their own session)
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, 'the run finished before it could be killed'
    assert not (killed / 'iter_10.pth').exists()

    resumed = run(train_cmd(killed, '--resume'))
    log = resumed.stdout + resumed.stderr
    assert 'Advance dataloader' in log and 'all ranks bit-identical at iteration 10' in log
    a, b = weights(tmp_path / 'straight' / 'iter_10.pth'), weights(killed / 'iter_10.pth')
    for k in a:
        assert torch.equal(a[k], b[k]), k
    straight = load_checkpoint(tmp_path / 'straight' / 'iter_10.pth')['ewa_hook']
    assert straight['num_updates'] == load_checkpoint(killed / 'iter_10.pth')['ewa_hook']['num_updates'] == 4
    ranks = straight['rank_rng']
    assert len(ranks) == 2 and not torch.equal(ranks[0]['torch'], ranks[1]['torch'])
    assert not torch.equal(ranks[0]['partition']['cpu'], ranks[1]['partition']['cpu'])
