"""The CPU-sized Swin-T detectors (mmdet's Mask R-CNN and RetinaNet models, unchanged) train through the
Runner on real COCO128 images with EWA, and their collapsed checkpoints load into the standard twins."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from runner_utils import ewa_hook

import mmewa  # noqa: F401
from mmewa import collapse_state_dict, expert_spread
from mmewa.builder import build_model
from mmewa.checkpoint import load_checkpoint
from mmewa.engine import find_expert_layers

ROOT = Path(__file__).resolve().parents[2]
CFG = ROOT / 'configs' / 'ewa_det' / '{}swin-t-p4-w7_fpn_1xb2-cpu_coco128-320.py'
ITERS = 2


@pytest.mark.parametrize('detector', ['mask-rcnn', 'retinanet'])
def test_ewa_swin_detector_trains_on_real_images_and_collapses_to_twin(detector, coco128_root, tmp_path):
    cfg = Config.fromfile(str(CFG).format(f'{detector}_ewa-'))
    cfg.work_dir = str(tmp_path)
    cfg.log_level = 'WARNING'
    cfg.train_dataloader.merge(dict(num_workers=0, persistent_workers=False))
    cfg.train_dataloader.dataset.merge(dict(data_root=f'{coco128_root}/', indices=2 * ITERS))
    cfg.train_cfg.merge(dict(max_epochs=1, val_interval=2))  # one epoch = ITERS iterations, no validation
    cfg.default_hooks.merge(dict(logger=dict(interval=1), checkpoint=dict(interval=1)))
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator'):
        cfg[key] = None
    runner = Runner.from_cfg(cfg)
    runner.train()

    assert ewa_hook(runner).num_updates == ITERS
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == ITERS and all(0 < v < 1e3 for v in losses), losses
    layers = find_expert_layers(runner.model)
    assert len(layers) == 6  # every other of Swin-T's 2 + 2 + 6 + 2 blocks
    assert all(expert_spread(m.expert_parameters()).item() > 0 for m in layers.values())

    state = load_checkpoint(tmp_path / 'epoch_1.pth')['state_dict']  # weights-only, MMEngine types allowed
    standard = build_model(str(CFG).format(f'{detector}_'))
    standard.load_state_dict(collapse_state_dict(state), strict=True)
