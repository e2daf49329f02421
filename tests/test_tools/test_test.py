"""tools/test.py: ``--out`` dumps predictions as mmseg's / mmdet's own tools/test.py do; ``--metrics-out``
writes the metrics JSON; a metrics-style ``--out x.json`` is refused before anything runs."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from tool_utils import load_tool

test_tool = load_tool('test')
convert_ewa = load_tool('convert_ewa')

SEG_CONFIG = 'configs/demo/seg_vit_tiny.py'
DET_CONFIG = 'configs/demo/det_swin_tiny.py'


def _checkpoint(config: str, path) -> str:
    torch.manual_seed(0)
    torch.save({'state_dict': convert_ewa.build_model(config).state_dict()}, path)
    return str(path)


def _seg_options(camvid_root, n: int) -> list[str]:
    return ['--cfg-options', f'test_dataloader.dataset.data_root={camvid_root}',
            f'test_dataloader.dataset.indices={n}']


def test_help_names_both_outputs():
    proc = subprocess.run([sys.executable, 'tools/test.py', '--help'], capture_output=True, text=True)
    assert proc.returncode == 0
    assert '--metrics-out' in proc.stdout and 'PNG' in proc.stdout and '.pkl' in proc.stdout


def test_out_json_is_refused_and_names_metrics_out(tmp_path):
    ckpt = _checkpoint(SEG_CONFIG, tmp_path / 'seg.pth')
    out = tmp_path / 'metrics.json'
    with pytest.raises(SystemExit, match='--metrics-out') as e:
        test_tool.main([SEG_CONFIG, ckpt, '--out', str(out), '--work-dir', str(tmp_path / 'w')])
    assert e.value.code != 0 and not out.exists() and not (tmp_path / 'w').exists()


def test_detector_out_must_be_a_pickle(tmp_path):
    with pytest.raises(SystemExit, match=r'\.pkl'):
        test_tool.main([DET_CONFIG, 'unused.pth', '--out', str(tmp_path / 'preds.txt')])
    assert not (tmp_path / 'preds.txt').exists()


def test_seg_out_writes_label_maps_and_metrics_out_the_metrics(camvid_root, tmp_path):
    ckpt = _checkpoint(SEG_CONFIG, tmp_path / 'seg.pth')
    preds, metrics_file = tmp_path / 'preds', tmp_path / 'metrics.json'
    metrics = test_tool.main([SEG_CONFIG, ckpt, '--work-dir', str(tmp_path / 'w'), '--out', str(preds),
                              '--metrics-out', str(metrics_file), *_seg_options(camvid_root, 3)])
    pngs = sorted(preds.glob('*.png'))
    assert len(pngs) == 3
    first = np.asarray(Image.open(pngs[0]))
    label = next((camvid_root / 'ann_dir').rglob(pngs[0].name))  # the ground truth of that frame
    assert first.shape == np.asarray(Image.open(label)).shape  # a full-size label map (not the 72 px input)
    assert first.max() <= 10  # with the 11 classes
    written = json.loads(metrics_file.read_text())
    assert set(written) == {'aAcc', 'mIoU', 'mAcc'}
    assert written['mIoU'] == pytest.approx(float(metrics['mIoU']))
    assert 0.0 <= written['aAcc'] <= 100.0


def test_det_out_dumps_detections(coco128_root, tmp_path):
    ckpt = _checkpoint(DET_CONFIG, tmp_path / 'det.pth')
    preds = tmp_path / 'preds.pkl'
    test_tool.main([DET_CONFIG, ckpt, '--work-dir', str(tmp_path / 'w'), '--out', str(preds),
                    '--cfg-options', f'test_dataloader.dataset.data_root={coco128_root}',
                    'test_dataloader.dataset.indices=2',
                    f'test_evaluator.ann_file={coco128_root}/annotations/instances_val.json'])
    with open(preds, 'rb') as f:
        dumped = pickle.load(f)
    assert len(dumped) == 2
    assert dumped[0]['pred_instances']['bboxes'].shape == (20, 4)  # max_per_img=20, score_thr=0
