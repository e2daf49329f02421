"""Per-sample image augmentations of mmpretrain's pipeline, done for a whole uint8 batch at once.

Each transform is split into *sampling* (one draw per sample, with the same distribution as the mmpretrain
transform of the same name draws with numpy) and *applying* (exact: the same pixels mmcv produces for those
parameters), so the tests can check the mechanics exactly and the randomness statistically. Inputs are
``(B, C, H, W)`` uint8 tensors in the channel order the images were loaded in (BGR, as LoadImageFromFile),
which is what the per-sample pipeline sees before the data preprocessor normalises.

Randomness comes from torch's generator of the batch's device (seeded by MMEngine's ``randomness.seed``),
not numpy's: the same seed gives the same batch, but not the same draws as the per-sample pipeline.
AutoAugment, built the same way, is in ``batch_autoaugment`` (its image ops in ``batch_image_ops``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Number
from typing import Optional, Union

import torch
import torch.nn.functional as F

from .batch_autoaugment import BatchAutoAugment


def _pair(value: Union[int, Sequence[int]]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _padding(padding: Union[None, int, Sequence[int]]) -> tuple[int, int, int, int]:
    """mmcv.impad's padding as (left, top, right, bottom)."""
    if padding is None:
        return 0, 0, 0, 0
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    return tuple(int(p) for p in padding)  # type: ignore[return-value]


@dataclass
class BatchRandomCrop:
    """mmpretrain ``RandomCrop(crop_size, padding, pad_val)`` (constant padding, no pad_if_needed)."""
    crop_size: Union[int, Sequence[int]]
    padding: Union[None, int, Sequence[int]] = None
    pad_val: Union[Number, Sequence[Number]] = 0
    padding_mode: str = 'constant'
    pad_if_needed: bool = False

    def __post_init__(self):
        if self.padding_mode != 'constant' or self.pad_if_needed:
            raise ValueError('BatchRandomCrop supports RandomCrop with padding_mode="constant" and '
                             'pad_if_needed=False only; use the per-sample pipeline for other modes')
        self.crop_size = _pair(self.crop_size)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """mmcv.impad(img, padding, pad_val): cv2.copyMakeBorder reads a single number as (v, 0, 0, 0), so an
        int pad_val fills the first channel only; a tuple gives each channel its value."""
        left, top, right, bottom = _padding(self.padding)
        if not any((left, top, right, bottom)):
            return x
        out = F.pad(x, (left, right, top, bottom), value=0)
        if not isinstance(self.pad_val, Number) or self.pad_val != 0:
            values = self.pad_val
            if isinstance(values, Number):
                values = [values] + [0] * (x.shape[1] - 1)
            fill = torch.as_tensor(values, dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
            inside = torch.zeros(out.shape[-2:], dtype=torch.bool, device=x.device)
            inside[top:top + x.shape[-2], left:left + x.shape[-1]] = True
            out = torch.where(inside, out, fill)
        return out

    def sample(self, batch: int, height: int, width: int, device=None) -> torch.Tensor:
        """(B, 2) offsets (top, left) in the padded image: np.random.randint(0, h - th + 1) per axis."""
        left, top, right, bottom = _padding(self.padding)
        h, w = height + top + bottom, width + left + right
        th, tw = min(self.crop_size[0], h), min(self.crop_size[1], w)
        oh = torch.randint(0, h - th + 1, (batch,), device=device)
        ow = torch.randint(0, w - tw + 1, (batch,), device=device)
        return torch.stack([oh, ow], dim=1)

    def apply(self, x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        padded = self.pad(x)
        th, tw = min(self.crop_size[0], padded.shape[-2]), min(self.crop_size[1], padded.shape[-1])
        rows = offsets[:, 0:1] + torch.arange(th, device=x.device)  # (B, th)
        cols = offsets[:, 1:2] + torch.arange(tw, device=x.device)  # (B, tw)
        b = torch.arange(x.shape[0], device=x.device)[:, None, None]
        return padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        left, top, right, bottom = _padding(self.padding)
        h, w = x.shape[-2] + top + bottom, x.shape[-1] + left + right
        if (h, w) == tuple(self.crop_size):
            return self.apply(x, torch.zeros(x.shape[0], 2, dtype=torch.long, device=x.device))
        return self.apply(x, self.sample(x.shape[0], x.shape[-2], x.shape[-1], x.device))


@dataclass
class BatchRandomFlip:
    """mmcv ``RandomFlip(prob, direction='horizontal')``: each image flipped left-right with ``prob``."""
    prob: float = 0.5
    direction: str = 'horizontal'

    def __post_init__(self):
        if self.direction != 'horizontal' or not isinstance(self.prob, float):
            raise ValueError("BatchRandomFlip supports RandomFlip(prob=<float>, direction='horizontal') only")

    def sample(self, batch: int, device=None) -> torch.Tensor:
        return torch.rand(batch, device=device) < self.prob

    def apply(self, x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
        return torch.where(flip[:, None, None, None], x.flip(-1), x)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(x, self.sample(x.shape[0], x.device))


@dataclass
class BatchRandomErasing:
    """mmpretrain ``RandomErasing``: the same area / log-aspect draws, rounding and exclusive offset range."""
    erase_prob: float = 0.5
    min_area_ratio: float = 0.02
    max_area_ratio: float = 0.4
    aspect_range: Union[float, Sequence[float]] = (3 / 10, 10 / 3)
    mode: str = 'const'
    fill_color: Union[Number, Sequence[Number]] = (128, 128, 128)
    fill_std: Optional[Union[Number, Sequence[Number]]] = None

    def __post_init__(self):
        if isinstance(self.aspect_range, float):
            a = min(self.aspect_range, 1 / self.aspect_range)
            self.aspect_range = (a, 1 / a)
        if self.mode not in ('const', 'rand'):
            raise ValueError(f"BatchRandomErasing: mode must be 'const' or 'rand', got {self.mode!r}")
        if isinstance(self.fill_color, Number):
            self.fill_color = [self.fill_color] * 3
        if isinstance(self.fill_std, Number):
            self.fill_std = [self.fill_std] * 3

    def sample(self, batch: int, height: int, width: int, device=None) -> torch.Tensor:
        """(B, 5) int64: enabled, top, left, h, w (as RandomErasing.random_patch, in float64 like numpy)."""
        enabled = torch.rand(batch, device=device, dtype=torch.float64) <= self.erase_prob
        log_lo, log_hi = (float(v) for v in torch.tensor(self.aspect_range, dtype=torch.float32).log())
        u = torch.rand(batch, device=device, dtype=torch.float64)
        aspect = torch.exp(log_lo + (log_hi - log_lo) * u)
        u = torch.rand(batch, device=device, dtype=torch.float64)
        area = height * width * (self.min_area_ratio + (self.max_area_ratio - self.min_area_ratio) * u)
        h = torch.round(torch.sqrt(area * aspect)).long().clamp(max=height)  # half to even, like numpy
        w = torch.round(torch.sqrt(area / aspect)).long().clamp(max=width)
        # np.random.randint(0, img_h - h): the last offset (img_h - h) is never drawn; 0 when h == img_h
        top = (torch.rand(batch, device=device, dtype=torch.float64) * (height - h)).long()
        left = (torch.rand(batch, device=device, dtype=torch.float64) * (width - w)).long()
        return torch.stack([enabled.long(), top, left, h, w], dim=1)

    def fill(self, x: torch.Tensor) -> torch.Tensor:
        """What an erased pixel becomes: RandomErasing._fill_pixels for the whole batch."""
        if self.mode == 'const':
            color = torch.tensor([int(c) % 256 for c in self.fill_color], dtype=torch.uint8, device=x.device)
            return color.reshape(1, -1, 1, 1).expand_as(x)
        if self.fill_std is None:
            return torch.randint(0, 256, x.shape, dtype=torch.uint8, device=x.device)
        mean = torch.tensor(self.fill_color, dtype=torch.float64, device=x.device).reshape(1, -1, 1, 1)
        std = torch.tensor(self.fill_std, dtype=torch.float64, device=x.device).reshape(1, -1, 1, 1)
        noise = torch.randn(x.shape, dtype=torch.float64, device=x.device) * std + mean
        return noise.trunc().clamp(0, 255).to(torch.uint8)

    def apply(self, x: torch.Tensor, params: torch.Tensor,
              fill: Optional[torch.Tensor] = None) -> torch.Tensor:
        enabled, top, left, h, w = (params[:, i, None] for i in range(5))
        rows = torch.arange(x.shape[-2], device=x.device)[None]
        cols = torch.arange(x.shape[-1], device=x.device)[None]
        in_rows = (rows >= top) & (rows < top + h) & enabled.bool()
        in_cols = (cols >= left) & (cols < left + w)
        mask = in_rows[:, None, :, None] & in_cols[:, None, None, :]
        return torch.where(mask, self.fill(x) if fill is None else fill, x)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(x, self.sample(x.shape[0], x.shape[-2], x.shape[-1], x.device))


BATCH_TRANSFORMS = {'RandomCrop': BatchRandomCrop, 'RandomFlip': BatchRandomFlip,
                    'RandomErasing': BatchRandomErasing, 'AutoAugment': BatchAutoAugment}


BatchTransform = Union[BatchRandomCrop, BatchRandomFlip, BatchRandomErasing, BatchAutoAugment]


def build_batch_transform(cfg: dict) -> BatchTransform:
    """A batched transform from the pipeline dict of its mmpretrain transform (``type`` = the same name)."""
    cfg = dict(cfg)
    kind = cfg.pop('type', None)
    if kind not in BATCH_TRANSFORMS:
        raise KeyError(f'no batched version of the pipeline transform {kind!r}: the batch pipeline supports '
                       f'{sorted(BATCH_TRANSFORMS)}; keep other transforms in the per-sample pipeline')
    try:
        return BATCH_TRANSFORMS[kind](**cfg)
    except TypeError as e:
        raise TypeError(f'batched {kind}: {e} (the options of mmpretrain/mmcv {kind} it supports)') from None

