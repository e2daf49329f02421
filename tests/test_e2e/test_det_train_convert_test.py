"""The mmdet user path on real COCO128 images: EWA Swin Mask R-CNN, convert_ewa.py, standard config."""
import torch
from mmengine.runner import Runner
from runner_utils import ewa_hook, load_cfg, train
from tool_utils import load_tool

convert_ewa = load_tool('convert_ewa')


def test_train_convert_and_standard_detector_gives_identical_detections(coco128_root, tmp_path, capsys):
    runner = train(load_cfg('det_ewa_swin_tiny.py', tmp_path / 'ewa', coco128_root))
    assert ewa_hook(runner).num_updates == 3
    ckpt = tmp_path / 'ewa' / 'iter_3.pth'

    out = tmp_path / 'collapsed.pth'
    rc = convert_ewa.main([str(ckpt), str(out), '--verify', 'configs/demo/det_ewa_swin_tiny.py',
                           'configs/demo/det_swin_tiny.py', '--verify-size', '96', '128'])
    printed = capsys.readouterr().out
    assert rc == 0 and '(OK)' in printed, printed
    collapsed = torch.load(out, weights_only=True)['state_dict']
    assert 'backbone.stages.0.blocks.1.ffn.layers.0.0.weight' in collapsed

    detections, metrics = {}, {}
    for name, cfg_name, weights in (('ewa', 'det_ewa_swin_tiny.py', ckpt), ('std', 'det_swin_tiny.py', out)):
        cfg = load_cfg(cfg_name, tmp_path / f'test_{name}', coco128_root, load_from=str(weights))
        cfg.test_dataloader.dataset.indices = 4
        cfg.custom_hooks = []
        tester = Runner.from_cfg(cfg)
        metrics[name] = tester.test()
        batch = next(iter(tester.test_dataloader))
        with torch.no_grad():
            detections[name] = tester.model.test_step(batch)[0].pred_instances
    assert 'coco/bbox_mAP' in metrics['ewa'] and 'coco/segm_mAP' in metrics['ewa']
    assert metrics['ewa'] == metrics['std']
    assert len(detections['ewa']) > 0
    for key in ('bboxes', 'scores', 'labels', 'masks'):
        assert torch.equal(detections['ewa'][key], detections['std'][key]), key
