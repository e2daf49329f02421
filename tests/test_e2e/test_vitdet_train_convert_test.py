"""The plain-ViT detector (ViT-S/14 + SimpleFPN Mask R-CNN) on real COCO128 images: EWA training through
the Runner, convert_ewa.py, identical detections from the standard twin. Small images, random init (the
pretrained weights are not needed to check the mechanics), 2 iterations."""
from pathlib import Path

import cv2
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from tool_utils import load_tool

import mmewa  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
CFG = ROOT / 'configs' / 'ewa_det' / '{}_1xb2-cpu_coco128-336.py'
SHRINK = """
_base_ = ['{base}']
img_scale = (168, 168)
model = dict(backbone=dict(img_size=img_scale, init_cfg=None, num_layers=4, out_indices=(3, )),
             test_cfg=dict(rcnn=dict(score_thr=0.0, max_per_img=20)))
_train = [dict(type='LoadImageFromFile', color_type='color'),
          dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
          dict(type='Resize', scale=img_scale, keep_ratio=True), dict(type='PackDetInputs')]
_test = [dict(type='LoadImageFromFile', color_type='color'),
         dict(type='Resize', scale=img_scale, keep_ratio=True),
         dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
         dict(type='PackDetInputs',
              meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))]
train_dataloader = dict(num_workers=0, persistent_workers=False,
                        dataset=dict(data_root='{data}/', pipeline=_train))
test_dataloader = dict(num_workers=0, persistent_workers=False,
                       dataset=dict(data_root='{data}/', pipeline=_test, indices=2))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_evaluator = dict(ann_file='{data}/annotations/instances_val.json')
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2)
param_scheduler = []
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2), logger=dict(interval=1))
log_level = 'WARNING'
"""


def small_config(tmp_path: Path, name: str, data: Path) -> Path:
    path = tmp_path / f'{name}.py'
    path.write_text(SHRINK.format(base=CFG.with_name(CFG.name.format(name)), data=data))
    return path


def test_vitdet_ewa_train_convert_and_standard_twin_detections_match(coco128_root, tmp_path):
    ewa_cfg = small_config(tmp_path, 'mask-rcnn_ewa-vit-s14-simplefpn', coco128_root)
    std_cfg = small_config(tmp_path, 'mask-rcnn_vit-s14-simplefpn', coco128_root)
    cfg = Config.fromfile(str(ewa_cfg))
    cfg.work_dir = str(tmp_path / 'ewa')
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = tmp_path / 'ewa' / 'iter_2.pth'

    out = tmp_path / 'collapsed.pth'
    convert_ewa = load_tool('convert_ewa')
    assert convert_ewa.main([str(ckpt), str(out), '--verify', str(ewa_cfg), str(std_cfg),
                             '--verify-size', '168', '168']) == 0

    detections = {}
    for name, config, weights in (('ewa', ewa_cfg, ckpt), ('std', std_cfg, out)):
        cfg = Config.fromfile(str(config))
        cfg.work_dir, cfg.load_from = str(tmp_path / f'test_{name}'), str(weights)
        tester = Runner.from_cfg(cfg)
        tester.test()
        batch = next(iter(tester.test_dataloader))
        with torch.no_grad():
            detections[name] = tester.model.test_step(batch)[0].pred_instances
    assert len(detections['ewa']) > 0
    for key in ('bboxes', 'scores', 'labels', 'masks'):
        assert torch.equal(detections['ewa'][key], detections['std'][key]), key

    picture = tmp_path / 'detections.jpg'
    visualize_det = load_tool('visualize_det')
    assert visualize_det.main(['--ann-file', f'{coco128_root}/annotations/instances_val.json',
                               '--img-dir', f'{coco128_root}/images', '--num-images', '2', '--height', '120',
                               '--score-thr', '0', '--model', 'collapsed', str(std_cfg), str(out),
                               '--out', str(picture)]) == 0
    image = cv2.imread(str(picture))
    assert image.shape[0] == 2 * 120  # 2 rows of 120 px tiles: ground truth and 1 model, side by side
    assert image.shape[1] >= 2 * 60 and image.shape[1] % 2 == 0
