"""Backbones new in the twin mechanism, on real images: train the EWA twin through the Runner, collapse
with convert_ewa.py (--verify), and the *standard* backbone's config scores exactly like the EWA model.

mmseg: BEiT on CamVid; mmdet: PVT (token-wise MixFFN) Mask R-CNN on COCO128. (mmpretrain: the ViT in
test_cls_train_convert_test.py.)
"""
from __future__ import annotations

import copy

import pytest
from mmengine.runner import Runner
from runner_utils import ewa_hook, load_cfg, train
from tool_utils import load_tool

convert_ewa = load_tool('convert_ewa')

EWA_CFG = dict(num_experts=3, moe_layers='every_other')
BEIT = dict(type='BEiT', img_size=(64, 64), patch_size=16, embed_dims=64, num_layers=4, num_heads=2,
            mlp_ratio=2, out_indices=(1, 3), drop_path_rate=0.1)
PVT = dict(type='PyramidVisionTransformer', pretrain_img_size=128, embed_dims=32, num_stages=2,
           num_layers=[2, 2], num_heads=[1, 2], patch_sizes=[4, 2], strides=[4, 2], sr_ratios=[2, 1],
           mlp_ratios=[2, 2], out_indices=(0, 1), drop_path_rate=0.1)
SLIDE = dict(test_cfg=dict(mode='slide', crop_size=(64, 64), stride=(32, 32)))  # BEiT's tables are 4x4
CASES = {
    'mmseg.BEiT': ('seg_ewa_vit_tiny.py', 'seg_vit_tiny.py', BEIT, SLIDE, 'camvid_root', ('mIoU', 'aAcc')),
    'mmdet.PyramidVisionTransformer': ('det_ewa_swin_tiny.py', 'det_swin_tiny.py', PVT,
                                       dict(neck=dict(in_channels=[32, 64])), 'coco128_root',
                                       ('coco/bbox_mAP', 'coco/segm_mAP')),
}


def with_backbone(cfg, backbone: dict, model: dict, ewa: bool):
    """The demo config with ``backbone`` (its EWA twin if ``ewa``) and the ``model`` overrides it needs."""
    cfg = copy.deepcopy(cfg)
    b = dict(backbone, _delete_=True)
    if ewa:
        b.update(type='EWA' + b['type'], ewa_cfg=EWA_CFG)
    cfg.merge_from_dict(dict(model=dict(model, backbone=b)))
    return cfg


@pytest.mark.parametrize('name', list(CASES))
def test_new_backbone_trains_converts_and_scores_identically(name, request, tmp_path, capsys):
    ewa_name, std_name, backbone, model, data_fixture, metric_keys = CASES[name]
    data_root = request.getfixturevalue(data_fixture)
    ewa_cfg = with_backbone(load_cfg(ewa_name, tmp_path / 'ewa', data_root), backbone, model, ewa=True)
    std_cfg = with_backbone(load_cfg(std_name, tmp_path / 'std', data_root), backbone, model, ewa=False)
    runner = train(ewa_cfg)
    assert ewa_hook(runner).num_updates == runner.iter > 0
    ckpt = tmp_path / 'ewa' / f'iter_{runner.iter}.pth'

    files = [str(tmp_path / 'ewa_cfg.py'), str(tmp_path / 'std_cfg.py')]
    ewa_cfg.dump(files[0])
    std_cfg.dump(files[1])
    out = tmp_path / 'collapsed.pth'
    assert convert_ewa.main([str(ckpt), str(out), '--verify', *files, '--verify-size', '64', '64']) == 0
    printed = capsys.readouterr().out
    assert '(OK)' in printed and 'collapsed 2 EWA layers' in printed, printed

    metrics = {}
    for key, cfg, weights in (('ewa', ewa_cfg, ckpt), ('std', std_cfg, out)):
        cfg = copy.deepcopy(cfg)
        cfg.work_dir, cfg.load_from, cfg.custom_hooks = str(tmp_path / f'test_{key}'), str(weights), []
        cfg.test_dataloader.dataset.indices = 4
        metrics[key] = Runner.from_cfg(cfg).test()
    assert all(k in metrics['ewa'] for k in metric_keys)
    assert metrics['ewa'] == metrics['std']
