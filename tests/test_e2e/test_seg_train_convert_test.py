"""The mmseg user path on real CamVid images: train EWA, convert_ewa.py, test with the standard config."""
import torch
from runner_utils import load_cfg, seg_test_both, train
from tool_utils import load_tool

convert_ewa = load_tool('convert_ewa')


def test_train_convert_and_standard_config_gives_identical_predictions(camvid_root, tmp_path, capsys):
    runner = train(load_cfg('seg_ewa_vit_tiny.py', tmp_path / 'ewa', camvid_root))
    ckpt = tmp_path / 'ewa' / 'iter_4.pth'
    assert runner.iter == 4 and ckpt.is_file()

    out = tmp_path / 'collapsed.pth'
    rc = convert_ewa.main([str(ckpt), str(out), '--verify', 'configs/demo/seg_ewa_vit_tiny.py',
                           'configs/demo/seg_vit_tiny.py', '--verify-size', '64', '64'])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert 'verify: max |EWA model (eval) - standard model (collapsed)| = 0.000e+00 (OK)' in printed

    # The collapsed file loads strictly into the *standard* model and has exactly its keys.
    collapsed = torch.load(out, weights_only=True)
    assert set(collapsed) == {'meta', 'state_dict'}
    std_cfg = load_cfg('seg_vit_tiny.py', tmp_path / 'std', camvid_root)
    from mmseg.registry import MODELS
    std_model = MODELS.build(std_cfg.model)
    std_model.load_state_dict(collapsed['state_dict'], strict=True)

    # Same predictions and same mIoU on real validation images: EWA model (eval) vs deployed model.
    results = seg_test_both(
        lambda config, work, weights: load_cfg(config, tmp_path / work, camvid_root, load_from=weights),
        (('ewa', 'seg_ewa_vit_tiny.py', ckpt), ('std', 'seg_vit_tiny.py', out)), indices=12)
    assert results['ewa']['mIoU'] == results['std']['mIoU']
    assert results['ewa']['aAcc'] > 0
    assert torch.equal(results['ewa_logits'], results['std_logits'])
