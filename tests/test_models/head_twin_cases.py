"""Tiny versions of the upstream models whose transformer layers live outside the backbone (Mask2Former heads,
the DETR family), their EWA twins, and real-image batches for them (shared by the head/detector twin tests).

Each case is a whole model (segmentor / detector) built from the upstream library's own config, shrunk
(64-dim transformer, 2 layers where upstream has 6, ResNet-18 where upstream has ResNet-50, no pretrained
weights), so ``init_weights``, ``state_dict``, ``loss`` and ``predict`` are exactly the upstream ones.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import mmdet
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from torch import nn

import mmewa  # noqa: F401  (registers the twins)
from mmewa.models.layers.expert_layer import ExpertLayer

ROOT = Path(__file__).resolve().parents[2]
MMDET_CONFIGS = Path(mmdet.__file__).parent / '.mim' / 'configs'
OURS = ROOT / 'configs'
CHANNELS = {256: 64, 512: 128, 1024: 256, 2048: 512}  # ResNet-50 stage widths -> ResNet-18's


@dataclass(frozen=True)
class HeadCase:
    id: str
    scope: str
    config: str  # the upstream config (a path)
    twin_key: str  # where the twin's type goes: '' = the model itself, else a model key ('decode_head')
    ffn_order: tuple[str, ...]  # the FFNs in forward order (module names in the model)
    data: str  # 'camvid' or 'coco128'
    masks: bool = False  # the model needs instance masks
    small_dims: bool = True  # shrink to 64 dims (DINO's decoder hard-codes 256: its config is kept)

    @property
    def twin_prefix(self) -> str:
        return f'{self.twin_key}.' if self.twin_key else ''


def _layers(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f'{prefix}.layers.{i}.ffn' for i in range(n))


CASES = [
    HeadCase('mmseg.Mask2FormerHead', 'mmseg',
             str(OURS / 'ewa_mask2former/mask2former_swin-d32_1xb4-cpu_camvid-112x112.py'),
             'decode_head', _layers('decode_head.pixel_decoder.encoder', 2)
             + _layers('decode_head.transformer_decoder', 3), 'camvid'),
    HeadCase('mmdet.Mask2FormerHead', 'mmdet',
             str(MMDET_CONFIGS / 'mask2former/mask2former_r50_8xb2-lsj-50e_coco.py'), 'panoptic_head',
             _layers('panoptic_head.pixel_decoder.encoder', 2)
             + _layers('panoptic_head.transformer_decoder', 3),
             'coco128', masks=True),
    HeadCase('mmdet.DETR', 'mmdet', str(MMDET_CONFIGS / 'detr/detr_r50_8xb2-150e_coco.py'), '',
             _layers('encoder', 2) + _layers('decoder', 2), 'coco128'),
    HeadCase('mmdet.DeformableDETR', 'mmdet',
             str(MMDET_CONFIGS / 'deformable_detr/deformable-detr-refine_r50_16xb2-50e_coco.py'), '',
             _layers('encoder', 2) + _layers('decoder', 2), 'coco128'),
    HeadCase('mmdet.DINO', 'mmdet', str(OURS / 'ewa_dino/dino-4scale_r18-ffn512_1xb2-cpu_horse-224.py'), '',
             _layers('encoder', 2) + _layers('decoder', 2), 'coco128', small_dims=False),
]
CASE_IDS = [c.id for c in CASES]


def shrink(cfg, small_dims: bool = True):
    """A tiny copy of an upstream DETR-family / Mask2Former model config (same structure)."""
    if isinstance(cfg, list):
        return [shrink(v, small_dims) for v in cfg]
    if not isinstance(cfg, dict):
        return cfg
    out = {}
    for k, v in cfg.items():
        if k == 'init_cfg' and isinstance(v, dict) and v.get('type') == 'Pretrained':
            v = None
        elif k in ('embed_dims', 'feat_channels', 'out_channels') and v == 256 and small_dims:
            v = 64
        elif k == 'feedforward_channels':
            v = 128
        elif k == 'num_heads' and v == 8 and small_dims:
            v = 4
        elif k == 'num_feats' and v == 128 and small_dims:
            v = 32
        elif k == 'num_layers':
            v = {6: 2, 9: 3}.get(v, v)
        elif k in ('num_queries', 'max_per_img'):
            v = 20
        elif k == 'num_dn_queries':
            v = 10
        elif k == 'num_points' and v == 12544:  # Mask2Former's point-sampled mask loss
            v = 1024
        elif k == 'depth' and v == 50:
            v = 18
        elif k == 'in_channels' and isinstance(v, (list, tuple)) and all(c in CHANNELS for c in v):
            v = [CHANNELS[c] for c in v]
        out[k] = shrink(v, small_dims)
    return out


def model_cfg(case: HeadCase, ewa_cfg: dict | None = None) -> dict:
    """The tiny upstream model config of ``case``; with ``ewa_cfg``, its twin's (``type='EWA' + type``)."""
    cfg = Config.fromfile(case.config).model.to_dict()
    cfg = shrink(cfg, case.small_dims)
    if case.data == 'coco128':
        cfg['data_preprocessor'] = dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                                        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32,
                                        pad_mask=case.masks)
        if 'bbox_head' in cfg:
            cfg['bbox_head'].update(num_classes=80, embed_dims=64 if case.small_dims else 256)
        if case.masks:
            cfg['test_cfg'].update(max_per_image=20)  # Mask2Former's spelling
    if case.id == 'mmseg.Mask2FormerHead':
        cfg['data_preprocessor']['size'] = None  # real images keep their (resized) size
        cfg['data_preprocessor']['size_divisor'] = 32
    if ewa_cfg is not None:
        target = cfg[case.twin_key] if case.twin_key else cfg
        target['type'] = 'EWA' + target['type'].split('.')[-1]
        target['ewa_cfg'] = dict(ewa_cfg)
    return cfg


def build(case: HeadCase, ewa_cfg: dict | None = None, seed: int | None = 0, init: bool = True) -> nn.Module:
    """The tiny model of ``case`` (its twin with ``ewa_cfg``), built and ``init_weights``-ed from ``seed``."""
    init_default_scope(case.scope)
    registry = __import__(f'{case.scope}.registry', fromlist=['MODELS']).MODELS
    if seed is not None:
        torch.manual_seed(seed)
    model = registry.build(ConfigDict(model_cfg(case, ewa_cfg)))
    if init:
        model.init_weights()
    return model


def twin_module(case: HeadCase, model: nn.Module) -> nn.Module:
    """The module the twin type replaced (the head, or the detector itself)."""
    return model.get_submodule(case.twin_key) if case.twin_key else model


def expert_layers(model: nn.Module) -> dict[str, ExpertLayer]:
    return {n: m for n, m in model.named_modules() if isinstance(m, ExpertLayer)}


def private_partitions(model: nn.Module, seed: int = 0) -> None:
    """Token partitions from a private generator, so twin and upstream draw the same global random numbers
    (dropout, DINO's denoising queries, Mask2Former's point sampling)."""
    for layer in expert_layers(model).values():
        layer.partition_generator = torch.Generator().manual_seed(seed)


def real_batch(case: HeadCase, data_root: Path, n: int = 2, scale=(128, 96)) -> dict:
    """The first ``n`` real training images (+ annotations), resized (deterministic), collated for
    ``train_step`` / ``test_step``."""
    init_default_scope(case.scope)
    if case.data == 'camvid':
        from mmseg.registry import DATASETS
        cfg = Config.fromfile(case.config)
        dataset = copy.deepcopy(cfg.train_dataloader.dataset)
        dataset.data_root = str(data_root)
        dataset.pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=scale, keep_ratio=True),
                            dict(type='LoadAnnotations', reduce_zero_label=False), dict(type='PackSegInputs')]
    else:
        from mmdet.registry import DATASETS
        pipeline = [dict(type='LoadImageFromFile', color_type='color'),
                    dict(type='LoadAnnotations', with_bbox=True, with_mask=case.masks),
                    dict(type='Resize', scale=scale, keep_ratio=True),
                    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                                          'scale_factor'))]
        dataset = dict(type='CocoDataset', data_root=f'{data_root}/',
                       ann_file='annotations/instances_train.json', data_prefix=dict(img='images/'),
                       filter_cfg=dict(filter_empty_gt=True), pipeline=pipeline)
    ds = DATASETS.build(dataset)
    return pseudo_collate([ds[i] for i in range(n)])


def data_root(case: HeadCase, camvid_root: Path, coco128_root: Path) -> Path:
    return camvid_root if case.data == 'camvid' else coco128_root
