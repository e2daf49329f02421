"""The mmpretrain user path on real CIFAR-100 images: EWA ViT from scratch, convert, standard config."""
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.runner import Runner
from tool_utils import load_tool

import mmewa  # noqa: F401
from mmewa import collapse_state_dict

convert_ewa = load_tool('convert_ewa')
CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'ewa_cls'
EWA, STD = 'ewa-vit-t-p4_1xb128-100e_cifar100-32.py', 'vit-t-p4_1xb128-100e_cifar100-32.py'


def small(name: str, work_dir: Path, data_root: Path, **overrides) -> Config:
    """The CIFAR config, 2 layers smaller, 4 iterations of batch 8 on real images, single-process loaders."""
    cfg = Config.fromfile(str(CONFIGS / name))
    cfg.work_dir, cfg.log_level = str(work_dir), 'WARNING'
    cfg.model.backbone.arch.num_layers = 4
    cfg.train_cfg = dict(by_epoch=False, max_iters=4, val_interval=100)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=4, by_epoch=False)
    for key, indices in (('train_dataloader', 32), ('test_dataloader', 64), ('val_dataloader', 64)):
        cfg[key].update(batch_size=8, num_workers=0, persistent_workers=False)
        cfg[key].dataset.update(data_root=str(data_root), indices=indices)
    cfg.merge_from_dict(overrides)
    return cfg


def test_classifier_level_init_of_the_ewa_model_is_the_standard_init(cifar100_root, tmp_path):
    # The classifier's init_cfg (TruncNormal on every Linear) must reach the expert MLPs exactly as it
    # reaches the standard model's FFNs: same random numbers, identical experts.
    states = {}
    for name in (EWA, STD):
        runner = Runner.from_cfg(small(name, tmp_path / name, cifar100_root))
        torch.manual_seed(3)
        runner.model.init_weights()
        states[name] = runner.model.state_dict()
    collapsed = collapse_state_dict(states[EWA])
    assert list(collapsed) == list(states[STD])
    assert all(torch.equal(collapsed[k], v) for k, v in states[STD].items())


def test_train_convert_and_standard_config_gives_identical_accuracy(cifar100_root, tmp_path, capsys):
    runner = Runner.from_cfg(small(EWA, tmp_path / 'ewa', cifar100_root))
    runner.train()
    ckpt = tmp_path / 'ewa' / 'iter_4.pth'
    assert ckpt.is_file()
    layers = [m for m in runner.model.modules() if hasattr(m, 'expert_parameters')]
    assert len(layers) == 2
    assert all(m.expert_parameters()[0].std(0).max() > 0 for m in layers)  # the experts trained apart

    out = tmp_path / 'collapsed.pth'
    configs = []
    for name in (EWA, STD):  # the 4-layer configs this test trains, as files for --verify
        configs.append(str(tmp_path / name))
        small(name, tmp_path, cifar100_root).dump(configs[-1])
    rc = convert_ewa.main([str(ckpt), str(out), '--verify', *configs, '--verify-size', '32', '32'])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert 'verify: max |EWA model (eval) - standard model (collapsed)| = 0.000e+00 (OK)' in printed

    results = {}
    for name, cfg_name, weights in (('ewa', EWA, ckpt), ('std', STD, out)):
        cfg = small(cfg_name, tmp_path / f'test_{name}', cifar100_root, load_from=str(weights))
        results[name] = Runner.from_cfg(cfg).test()
    assert results['ewa'] == results['std']
    assert set(results['std']) == {'accuracy/top1', 'accuracy/top5'}
