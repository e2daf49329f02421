"""The Weizmann Horse detection configs on the real annotations: the dataset the Runner builds (262 / 65
photos, one `horse` each, masks included) and the evaluator it is scored with (the ground truth submitted as
predictions scores a perfect 1.0 bbox and segm mAP, so class mapping, boxes and masks line up)."""
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from mmdet.datasets.api_wrappers import COCO
from mmdet.registry import DATASETS, METRICS
from mmdet.utils import register_all_modules
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
CFG = ROOT / 'configs' / 'ewa_det' / 'mask-rcnn_vit-s14-simplefpn_1xb2-cpu_horse-224.py'


def horse_cfg(root: Path) -> Config:
    cfg = Config.fromfile(str(CFG))
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = f'{root}/'
    cfg.test_evaluator.ann_file = f'{root}/annotations/instances_val.json'
    return cfg


def test_horse_datasets_hold_one_horse_per_photo(horse_root):
    register_all_modules()
    cfg = horse_cfg(horse_root)
    train, val = DATASETS.build(cfg.train_dataloader.dataset), DATASETS.build(cfg.val_dataloader.dataset)
    assert (len(train), len(val)) == (262, 65)
    assert train.metainfo['classes'] == val.metainfo['classes'] == ('horse', )
    sample = train[0]
    gt = sample['data_samples'].gt_instances
    assert len(gt) == 1 and gt.labels.tolist() == [0]
    assert max(sample['inputs'].shape[1:]) <= round(224 * 1.2)
    assert 0.05 < gt.masks.areas[0] / np.prod(sample['inputs'].shape[1:]) < 1.0  # one large horse


def test_ground_truth_as_predictions_scores_a_perfect_map(horse_root):
    register_all_modules()
    cfg = horse_cfg(horse_root)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    metric = METRICS.build(cfg.test_evaluator)
    metric.dataset_meta = dataset.metainfo
    coco = COCO(cfg.test_evaluator.ann_file)
    preds = []
    for img_id in coco.get_img_ids():
        info = coco.load_imgs([img_id])[0]
        ann = coco.load_anns(coco.get_ann_ids(img_ids=[img_id]))[0]
        x, y, w, h = ann['bbox']
        rle = mask_util.merge(mask_util.frPyObjects(ann['segmentation'], info['height'], info['width']))
        mask = torch.from_numpy(mask_util.decode(rle)).bool()[None]
        preds.append(dict(img_id=img_id, ori_shape=(info['height'], info['width']),
                          pred_instances=dict(bboxes=torch.tensor([[x, y, x + w, y + h]]),
                                              scores=torch.tensor([0.99]), labels=torch.tensor([0]),
                                              masks=mask)))
    metric.process({}, preds)
    results = metric.evaluate(size=len(preds))
    assert len(preds) == 65
    assert results['coco/bbox_mAP'] == pytest.approx(1.0)
    assert results['coco/segm_mAP'] == pytest.approx(1.0)
