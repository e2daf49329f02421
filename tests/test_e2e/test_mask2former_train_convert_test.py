"""Mask2Former with EWA in the backbone (Swin) and in the head (pixel decoder + transformer decoder) on real
CamVid: train with one EWAHook, convert_ewa.py, test the unmodified standard config."""
from pathlib import Path

import torch
from runner_utils import ewa_hook, load_cfg, seg_test_both, train
from tool_utils import load_tool

convert_ewa = load_tool('convert_ewa')
CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'ewa_mask2former'
EWA = CONFIGS / 'mask2former_ewa-swin-d32_1xb4-cpu_camvid-112x112.py'
STD = CONFIGS / 'mask2former_swin-d32_1xb4-cpu_camvid-112x112.py'
ITERS = 4
SMALL = dict(num_workers=0, persistent_workers=False)
HEAD_LAYERS = ['decode_head.pixel_decoder.encoder.layers.1.ffn',
               'decode_head.transformer_decoder.layers.1.ffn']


def cfg_of(path: Path, work_dir: Path, camvid_root: Path, **overrides):
    cfg = load_cfg(str(path), work_dir, camvid_root, iters=ITERS, **overrides)
    cfg.train_dataloader.update(batch_size=2, **SMALL)
    cfg.test_dataloader.update(SMALL)
    cfg.val_dataloader.update(SMALL)
    cfg.val_dataloader.dataset.indices = 1  # the end-of-training validation: a smoke check, kept short
    cfg.default_hooks.pop('visualization', None)
    return cfg


def test_mask2former_backbone_and_head_ewa_train_convert_and_standard_config_match(camvid_root, tmp_path,
                                                                                   capsys):
    runner = train(cfg_of(EWA, tmp_path / 'ewa', camvid_root))
    hook = ewa_hook(runner)
    assert runner.iter == ITERS and hook.num_updates == ITERS
    layers = {n: m for n, m in runner.model.named_modules() if hasattr(m, 'expert_parameters')}
    assert [n for n in layers if n.startswith('decode_head.')] == HEAD_LAYERS
    assert sum(n.startswith('backbone.') for n in layers) == 4  # every other Swin block: one per stage
    for name in HEAD_LAYERS:  # the one hook averaged the head's experts too; they trained apart
        spread = [float((p - p.mean(0)).abs().max()) for p in layers[name].expert_parameters()]
        assert max(spread) > 0, name
    ckpt = tmp_path / 'ewa' / f'iter_{ITERS}.pth'

    out = tmp_path / 'collapsed.pth'
    rc = convert_ewa.main([str(ckpt), str(out), '--verify', str(EWA), str(STD), '--verify-size', '112',
                           '112'])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert 'verify: max |EWA model (eval) - standard model (collapsed)| = 0.000e+00 (OK)' in printed

    from mmseg.registry import MODELS
    std_model = MODELS.build(cfg_of(STD, tmp_path / 'std', camvid_root).model)
    std_model.load_state_dict(torch.load(out, weights_only=True)['state_dict'], strict=True)

    results = seg_test_both(
        lambda config, work, weights: cfg_of(config, tmp_path / work, camvid_root, load_from=weights),
        (('ewa', EWA, ckpt), ('std', STD, out)), indices=2)
    assert results['ewa']['mIoU'] == results['std']['mIoU'] and results['ewa']['aAcc'] > 0
    assert torch.equal(results['ewa_logits'], results['std_logits'])
