"""The batched RandomCrop / RandomFlip / RandomErasing of the fast data path against mmpretrain's per-sample
transforms, on real CIFAR-100 images: the pixels for given parameters (exact), the distributions of the
parameters (two-sample tests against mmpretrain's own draws, fixed seeds, each with a control showing the
test rejects a plausible mistake), and BatchAugClsDataPreprocessor around them."""
from __future__ import annotations

from unittest import mock

import mmcv
import numpy as np
import pytest
import torch
from mmcv.transforms import RandomFlip
from mmpretrain.datasets.transforms import RandomCrop, RandomErasing
from mmpretrain.models.utils.data_preprocessor import ClsDataPreprocessor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from scipy import stats

from mmewa.models.data_preprocessors import (
    BatchAugClsDataPreprocessor,
    BatchAutoAugment,
    BatchRandomCrop,
    BatchRandomErasing,
    BatchRandomFlip,
    build_batch_transform,
)

from .batch_aug_utils import _mmpretrain_scope, _one_thread, as_batch, as_hwc, real_images  # noqa: F401

ALPHA = 1e-3  # each distribution test: p must exceed it (same draws every run: the seeds are fixed)
DRAWS = 20_000
BGR_MEAN = [112, 124, 129]
PRE_CFG = dict(num_classes=100, mean=[129.304, 124.070, 112.434], std=[68.170, 65.392, 70.418], to_rgb=True)


@pytest.fixture(scope='module')
def images(cifar100_root) -> np.ndarray:
    return real_images(cifar100_root, 64)


def two_sample_p(a: np.ndarray, b: np.ndarray, min_expected: float = 5.) -> float:
    """Chi-square test that two discrete samples share one distribution (rare values pooled into one cell)."""
    values = np.union1d(a, b)
    table = np.stack([(a[:, None] == values).sum(0), (b[:, None] == values).sum(0)])
    expected = table.sum(0) * min(len(a), len(b)) / (len(a) + len(b))
    rare = expected < min_expected
    if rare.any():
        table = np.concatenate([table[:, ~rare], table[:, rare].sum(1, keepdims=True)], 1)
    assert table.shape[1] >= 2, 'the samples take a single value: nothing to compare'
    return float(stats.chi2_contingency(table)[1])


# ----------------------------------------------------------------------------------------------- RandomCrop

CROPS = [dict(crop_size=32, padding=4),
         dict(crop_size=32, padding=4, pad_val=(10, 20, 30)),
         dict(crop_size=(24, 28), padding=(2, 3), pad_val=7),
         dict(crop_size=30, padding=(1, 2, 3, 4))]


@pytest.mark.parametrize('cfg', CROPS)
def test_crop_pixels_equal_mmpretrain_for_every_offset(images, cfg):
    batched = build_batch_transform(dict(type='RandomCrop', **cfg))
    per_sample = RandomCrop(**cfg)
    left, top, right, bottom = (cfg['padding'],) * 4 if isinstance(cfg['padding'], int) else (
        cfg['padding'] * 2 if len(cfg['padding']) == 2 else cfg['padding'])
    th, tw = batched.crop_size
    offsets = torch.cartesian_prod(torch.arange(32 + top + bottom - th + 1),
                                   torch.arange(32 + left + right - tw + 1))  # every possible offset
    x = as_batch(images, len(offsets))
    out = as_hwc(batched.apply(x, offsets))
    for b, (oh, ow) in enumerate(offsets.tolist()):
        with mock.patch.object(per_sample, 'rand_crop_params', return_value=(oh, ow, th, tw)):
            ref = per_sample(dict(img=as_hwc(x[b:b + 1])[0].copy()))['img']
        assert out[b].shape == ref.shape == (th, tw, 3)
        np.testing.assert_array_equal(out[b], ref, err_msg=f'offset {(oh, ow)}')


def test_crop_offsets_have_mmpretrain_distribution():
    torch.manual_seed(0)
    ours = BatchRandomCrop(crop_size=32, padding=4).sample(DRAWS, 32, 32)
    np.random.seed(0)
    per_sample = RandomCrop(crop_size=32, padding=4)
    theirs = np.array([per_sample.rand_crop_params(np.empty((40, 40, 3)))[:2] for _ in range(DRAWS)])
    joint = lambda o: o[:, 0] * 9 + o[:, 1]  # noqa: E731 (one cell per (top, left))
    assert set(ours[:, 0].tolist()) == set(ours[:, 1].tolist()) == set(range(9))  # randint(0, 40 - 32 + 1)
    assert two_sample_p(joint(ours.numpy()), joint(theirs)) > ALPHA
    # control: an exclusive upper bound (randint(0, 8): offsets 0..7) is rejected by the same test
    off_by_one = np.random.default_rng(1).integers(0, 8, size=(DRAWS, 2))
    assert two_sample_p(joint(off_by_one), joint(theirs)) < ALPHA


def test_crop_without_room_to_move_draws_nothing():
    crop = BatchRandomCrop(crop_size=40, padding=4)
    x = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    state = torch.random.get_rng_state()
    out = crop(x)
    assert torch.equal(torch.random.get_rng_state(), state)  # like mmpretrain: no draw when sizes match
    assert torch.equal(out[:, :, 4:36, 4:36], x) and out.shape == (3, 3, 40, 40)


# ----------------------------------------------------------------------------------------------- RandomFlip

def test_flip_pixels_equal_mmcv(images):
    x = as_batch(images, 32)
    flip = torch.arange(32) % 3 == 0
    out = as_hwc(BatchRandomFlip(prob=0.5).apply(x, flip))
    per_sample = RandomFlip(prob=0.5, direction='horizontal')
    for b in range(32):
        img = as_hwc(x[b:b + 1])[0]
        direction = 'horizontal' if flip[b] else None
        with mock.patch.object(per_sample, '_choose_direction', return_value=direction):
            ref = per_sample(dict(img=img.copy()))['img']
        np.testing.assert_array_equal(out[b], ref)
        np.testing.assert_array_equal(out[b], mmcv.imflip(img) if flip[b] else img)


@pytest.mark.parametrize('prob', [0.5, 0.3])
def test_flip_probability_matches_mmcv(prob):
    torch.manual_seed(0)
    ours = BatchRandomFlip(prob=prob).sample(DRAWS).numpy()
    np.random.seed(0)
    per_sample = RandomFlip(prob=prob, direction='horizontal')
    theirs = np.array([per_sample._choose_direction() == 'horizontal' for _ in range(DRAWS)])
    assert two_sample_p(ours, theirs) > ALPHA
    assert stats.binomtest(int(ours.sum()), DRAWS, prob).pvalue > ALPHA
    assert stats.binomtest(int(ours.sum()), DRAWS, prob + 0.02).pvalue < ALPHA  # control: 2 points off


def test_flip_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match='horizontal'):
        BatchRandomFlip(prob=0.5, direction='vertical')


# -------------------------------------------------------------------------------------------- RandomErasing

ERASING = dict(erase_prob=0.25, min_area_ratio=0.02, max_area_ratio=0.4, aspect_range=(0.3, 1 / 0.3),
               mode='const', fill_color=BGR_MEAN)


@pytest.mark.parametrize('fill_color', [BGR_MEAN, 128, (0.5, 200.9, 255)])
def test_erasing_pixels_equal_mmpretrain(images, fill_color):
    cfg = dict(ERASING, fill_color=fill_color)
    batched = build_batch_transform(dict(type='RandomErasing', **cfg))
    torch.manual_seed(0)
    params = batched.sample(48, 32, 32)
    params[::2, 0] = 1  # erase at least every other image
    params[5] = torch.tensor([1, 0, 0, 32, 32])  # the whole image
    params[7] = torch.tensor([1, 31, 31, 1, 1])  # one corner pixel
    x = as_batch(images, 48)
    out = as_hwc(batched.apply(x, params))
    per_sample = RandomErasing(**cfg)
    for b, (enabled, top, left, h, w) in enumerate(params.tolist()):
        with mock.patch.object(per_sample, 'random_disable', return_value=not enabled), \
                mock.patch.object(per_sample, 'random_patch', return_value=(top, left, h, w)):
            ref = per_sample(dict(img=as_hwc(x[b:b + 1])[0].copy()))['img']
        np.testing.assert_array_equal(out[b], ref, err_msg=str((enabled, top, left, h, w)))
    assert (out != as_hwc(x)).any(axis=(1, 2, 3)).sum() >= 24


def mmpretrain_erasing_draws(cfg: dict, n: int, seed: int) -> np.ndarray:
    """(n, 5) enabled, top, left, h, w from mmpretrain's own random helpers, numpy seeded."""
    np.random.seed(seed)
    t = RandomErasing(**cfg)
    rows = []
    for _ in range(n):
        enabled = not t.random_disable()
        rows.append((enabled, *t.random_patch(32, 32)) if enabled else (0, 0, 0, 0, 0))
    return np.array(rows, dtype=np.int64)


def test_erasing_boxes_have_mmpretrain_distribution():
    n = 3 * DRAWS  # a quarter is erased
    torch.manual_seed(0)
    ours = BatchRandomErasing(**ERASING).sample(n, 32, 32).numpy()
    theirs = mmpretrain_erasing_draws(ERASING, n, seed=0)
    assert two_sample_p(ours[:, 0], theirs[:, 0]) > ALPHA  # how often
    assert stats.binomtest(int(ours[:, 0].sum()), n, 0.25).pvalue > ALPHA
    ours, theirs = ours[ours[:, 0] == 1], theirs[theirs[:, 0] == 1]
    for i, name in enumerate(['top', 'left', 'h', 'w'], start=1):
        assert two_sample_p(ours[:, i], theirs[:, i]) > ALPHA, name
    area = lambda d: d[:, 3] * d[:, 4]  # noqa: E731
    assert stats.ks_2samp(area(ours), area(theirs)).pvalue > ALPHA
    assert stats.ks_2samp(ours[:, 3] / ours[:, 4], theirs[:, 3] / theirs[:, 4]).pvalue > ALPHA
    assert (ours[:, 1] + ours[:, 3] <= 32).all() and (ours[:, 2] + ours[:, 4] <= 32).all()
    # control: Lee et al.'s uniform (not log-uniform) aspect, same areas, is told apart by the h test
    rng = np.random.default_rng(0)
    aspect = rng.uniform(0.3, 1 / 0.3, len(theirs))
    s = 1024 * rng.uniform(0.02, 0.4, len(theirs))
    uniform_h = np.minimum(np.round(np.sqrt(s * aspect)), 32)
    assert two_sample_p(uniform_h, theirs[:, 3]) < ALPHA


@pytest.mark.parametrize('fill_std', [None, 30.])
def test_erasing_random_fill_matches_mmpretrain(fill_std):
    cfg = dict(ERASING, mode='rand', fill_std=fill_std)
    x = torch.zeros(64, 3, 32, 32, dtype=torch.uint8)
    torch.manual_seed(0)
    ours = BatchRandomErasing(**cfg).fill(x)[:, :, :8, :8].permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    np.random.seed(0)
    per_sample = RandomErasing(**cfg)
    theirs = np.concatenate([per_sample._fill_pixels(np.zeros((8, 8, 3), np.uint8), 0, 0, 8, 8).reshape(-1, 3)
                             for _ in range(64)])
    for c in range(3):  # each channel: fill_color[c] + fill_std * N(0, 1), or uniform over 0..255
        assert two_sample_p(ours[:, c] // 8, theirs[:, c] // 8) > ALPHA, c
    control = theirs[:, 0] // 8 + 1  # a shift of 8 grey levels is rejected
    assert two_sample_p(ours[:, 0] // 8, control) < ALPHA


# ------------------------------------------------------------------------------ BatchAugClsDataPreprocessor

TRANSFORMS = [dict(type='RandomCrop', crop_size=32, padding=4),
              dict(type='RandomFlip', prob=0.5, direction='horizontal'),
              dict(type='AutoAugment', policies='imagenet'),
              dict(type='RandomErasing', **ERASING)]


def batch_data(images: np.ndarray, n: int = 16) -> dict:
    """What pseudo_collate gives the data preprocessor: lists of (3, 32, 32) uint8 tensors and samples."""
    x = as_batch(images, n)
    return dict(inputs=list(x), data_samples=[DataSample().set_gt_label(i % 100) for i in range(n)])


def assert_same_output(a: dict, b: dict) -> None:
    assert torch.equal(a['inputs'], b['inputs'])
    labels = [[s.gt_label.tolist() for s in d['data_samples']] for d in (a, b)]
    assert labels[0] == labels[1]


def test_preprocessor_at_test_time_is_cls_data_preprocessor(images):
    ours = BatchAugClsDataPreprocessor(transforms=TRANSFORMS, **PRE_CFG)
    reference = ClsDataPreprocessor(**PRE_CFG)
    assert_same_output(ours(batch_data(images), False), reference(batch_data(images), False))


def test_preprocessor_without_transforms_is_cls_data_preprocessor(images):
    ours = BatchAugClsDataPreprocessor(transforms=[], **PRE_CFG)
    reference = ClsDataPreprocessor(**PRE_CFG)
    assert_same_output(ours(batch_data(images), True), reference(batch_data(images), True))


def test_preprocessor_augments_uint8_batch_before_normalising(images):
    ours = BatchAugClsDataPreprocessor(transforms=TRANSFORMS, **PRE_CFG)
    torch.manual_seed(3)
    out = ours(batch_data(images), True)
    torch.manual_seed(3)
    x = torch.stack(batch_data(images)['inputs'])
    for t in ours.transforms:
        x = t(x)
    data = dict(batch_data(images), inputs=list(x))
    assert_same_output(out, ClsDataPreprocessor(**PRE_CFG)(data, True))
    plain = ClsDataPreprocessor(**PRE_CFG)(batch_data(images), True)['inputs']
    assert (out['inputs'] != plain).flatten(1).any(1).sum() >= 8  # most images changed
    # a stacked batch (default_collate) gives the same as the list (pseudo_collate)
    torch.manual_seed(3)
    stacked = ours(dict(batch_data(images), inputs=torch.stack(batch_data(images)['inputs'])), True)
    assert torch.equal(stacked['inputs'], out['inputs'])


def test_preprocessor_refuses_float_and_mixed_sizes(images):
    ours = BatchAugClsDataPreprocessor(transforms=TRANSFORMS[:2], **PRE_CFG)
    data = batch_data(images, 4)
    with pytest.raises(TypeError, match='uint8 images as loaded, got torch.float32'):
        ours(dict(data, inputs=[i.float() for i in data['inputs']]), True)
    mixed = data['inputs'][:3] + [data['inputs'][3][:, :30, :30]]
    with pytest.raises(ValueError, match=r'images of one size; got \[\(3, 30, 30\), \(3, 32, 32\)\]'):
        ours(dict(data, inputs=mixed), True)
    with pytest.raises(KeyError, match="no batched version of the pipeline transform 'ColorJitter'"):
        BatchAugClsDataPreprocessor(transforms=[dict(type='ColorJitter')])


def test_preprocessor_builds_from_config():
    pre = MODELS.build(dict(type='BatchAugClsDataPreprocessor', transforms=TRANSFORMS, **PRE_CFG))
    assert isinstance(pre, BatchAugClsDataPreprocessor) and isinstance(pre, ClsDataPreprocessor)
    assert [type(t) for t in pre.transforms] == [BatchRandomCrop, BatchRandomFlip, BatchAutoAugment,
                                                 BatchRandomErasing]
    assert pre.transforms[0].crop_size == (32, 32) and pre.transforms[3].erase_prob == 0.25
    assert pre.to_rgb and pre.mean.flatten().tolist() == pytest.approx(PRE_CFG['mean'])
