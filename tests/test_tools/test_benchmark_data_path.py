"""tools/analysis_tools/benchmark_data_path.py on the real CIFAR-100 configs: both paths run real training
steps on the same model, and the report holds paired numbers for each section (the speed itself is
BENCHMARKS' business)."""
import json

import pytest
from tool_utils import load_tool

bench = load_tool('benchmark_data_path')
STD = 'configs/ewa_cls/vit-d64-p4_1xb128-40e_cifar100-32.py'
FAST = 'configs/ewa_cls/vit-d64-p4_1xb128-40e_cifar100-32_fast.py'


def test_reports_both_paths_side_by_side(cifar100_root, tmp_path, capsys):
    out = tmp_path / 'data_path.json'
    rc = bench.main([STD, FAST, '--iters', '2', '--reps', '2', '--warmup', '0', '--out', str(out),
                     '--cfg-options', f'train_dataloader.dataset.data_root={cifar100_root}',
                     'train_dataloader.batch_size=16', 'train_dataloader.num_workers=0',
                     'train_dataloader.persistent_workers=False'])
    assert rc == 0
    res = json.loads(out.read_text())
    assert set(res['sections']) == {'data', 'train'} and res['reps'] == 2
    for section in res['sections'].values():
        for name in ('standard', 'fast'):
            row = section[name]
            assert row['batch_size'] == 16 and row['num_images'] == section['standard']['num_images'] > 0
            assert row['images_per_s'] > 0
            assert abs(row['epoch_s'] - row['num_images'] / row['images_per_s']) < 1e-6 * row['epoch_s']
        r = section['fast_vs_standard']
        assert 0 < r['p25'] <= r['median'] <= r['p75']
    assert 'fast / standard time' in capsys.readouterr().out


def test_one_path_alone(cifar100_root, tmp_path):
    out = tmp_path / 'fast.json'
    rc = bench.main([STD, FAST, '--only', 'fast', '--sections', 'train', '--iters', '1', '--reps', '1',
                     '--warmup', '0', '--out', str(out), '--cfg-options',
                     f'train_dataloader.dataset.data_root={cifar100_root}', 'train_dataloader.batch_size=8'])
    assert rc == 0
    res = json.loads(out.read_text())
    assert res['only'] == 'fast' and list(res['sections']['train']) == ['fast', 'wall_s']


def test_several_processes_at_once_are_summed(cifar100_root, tmp_path, capsys):
    out = tmp_path / 'procs.json'
    rc = bench.main([STD, FAST, '--only', 'fast', '--procs', '2', '--sections', 'train', '--iters', '1',
                     '--reps', '1', '--warmup', '0', '--out', str(out), '--cfg-options',
                     f'train_dataloader.dataset.data_root={cifar100_root}', 'train_dataloader.batch_size=8'])
    assert rc == 0
    res = json.loads(out.read_text())
    row = res['sections']['train']['fast']
    assert res['procs'] == 2 and len(res['each']) == 2 and len(row['images_per_s_each']) == 2
    assert abs(row['images_per_s'] - sum(row['images_per_s_each'])) < 1e-6 * row['images_per_s']
    assert '2 processes of fast' in capsys.readouterr().out


def test_procs_needs_one_path():
    with pytest.raises(SystemExit):
        bench.parse_args([STD, FAST, '--procs', '2'])


def test_each_path_gets_its_configs_data_preprocessor_as_the_runner_gives_it(cifar100_root):
    import torch
    from mmpretrain.models.utils.data_preprocessor import ClsDataPreprocessor

    from mmewa.models.data_preprocessors import BatchAugClsDataPreprocessor
    options = {'train_dataloader.dataset.data_root': str(cifar100_root)}
    fast = bench.TrainPath(FAST, options, torch.device('cpu')).model.data_preprocessor
    std = bench.TrainPath(STD, options, torch.device('cpu')).model.data_preprocessor
    assert isinstance(fast, BatchAugClsDataPreprocessor) and len(fast.transforms) == 2
    assert type(std) is ClsDataPreprocessor and std.to_rgb == fast.to_rgb
