"""SegFormer (depthwise MixFFN experts) on real CamVid: train EWA, convert_ewa.py, test the standard model."""
from pathlib import Path

import torch
from runner_utils import ewa_hook, load_cfg, seg_test_both, train
from tool_utils import load_tool

convert_ewa = load_tool('convert_ewa')
CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'ewa_segformer'
EWA = CONFIGS / 'segformer_ewa-mit-b0_1xb4-cpu_camvid-112x112.py'
STD = CONFIGS / 'segformer_mit-b0_1xb4-cpu_camvid-112x112.py'
ITERS = 12
SMALL = dict(num_workers=0, persistent_workers=False)


def cfg_of(path: Path, work_dir: Path, camvid_root: Path, **overrides):
    cfg = load_cfg(str(path), work_dir, camvid_root, iters=ITERS, **overrides)
    cfg.train_dataloader.update(batch_size=2, **SMALL)  # 2 images < 4 experts: cells feed every expert
    cfg.test_dataloader.update(SMALL)
    cfg.val_dataloader.update(SMALL)
    cfg.val_dataloader.dataset.indices = 2  # the end-of-training validation: a smoke check, kept short
    return cfg


def test_segformer_train_convert_and_standard_config_gives_identical_predictions(camvid_root, tmp_path,
                                                                                  capsys):
    runner = train(cfg_of(EWA, tmp_path / 'ewa', camvid_root))
    assert runner.iter == ITERS and ewa_hook(runner).num_updates == ITERS
    experts = [m for m in runner.model.modules() if hasattr(m, 'expert_parameters')]
    assert len(experts) == 4 and all(m.mlp_family.spatial for m in experts)  # one MixFFN MoE per stage
    spread = [float((p - p.mean(0)).abs().max()) for m in experts for p in m.expert_parameters()]
    assert max(spread) > 0  # the experts trained apart (EWA pulls, does not merge them)
    ckpt = tmp_path / 'ewa' / f'iter_{ITERS}.pth'

    out = tmp_path / 'collapsed.pth'
    rc = convert_ewa.main([str(ckpt), str(out), '--verify', str(EWA), str(STD), '--verify-size', '112',
                           '112'])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert 'verify: max |EWA model (eval) - standard model (collapsed)| = 0.000e+00 (OK)' in printed

    collapsed = torch.load(out, weights_only=True)
    from mmseg.registry import MODELS
    std_model = MODELS.build(cfg_of(STD, tmp_path / 'std', camvid_root).model)
    std_model.load_state_dict(collapsed['state_dict'], strict=True)

    results = seg_test_both(
        lambda config, work, weights: cfg_of(config, tmp_path / work, camvid_root, load_from=weights),
        (('ewa', EWA, ckpt), ('std', STD, out)), indices=4)
    assert results['ewa']['mIoU'] == results['std']['mIoU'] and results['ewa']['aAcc'] > 0
    assert torch.equal(results['ewa_logits'], results['std_logits'])
