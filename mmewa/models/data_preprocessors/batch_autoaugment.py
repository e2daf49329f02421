"""``BatchAutoAugment``: mmpretrain's ``AutoAugment`` for a whole uint8 batch, on the batch's device.

It takes mmpretrain's arguments (``policies``: ``'imagenet'`` or a list of sub-policies, each a list of
pipeline dicts; ``hparams``) and lets mmpretrain's own ``AutoAugment`` build and check the transforms; each
built transform is then read back (probability, fixed magnitude or magnitude range / level / std, sign
probability, pad value, direction, interpolation, ...). So the batched version draws from the distributions
the per-sample one draws from, including where mmpretrain differs from its documentation: mmpretrain 1.2.0
builds the transforms from the policies *without* merging ``hparams`` in (``ignored_hparams`` lists what
that left out, and a warning says so).

Per sample, as mmpretrain does: one sub-policy, uniformly; then its ops in order, each applied with its own
probability (``rand <= prob``), with a magnitude that is fixed or drawn from its range (level, normal or
uniform noise), then negated with ``random_negative_prob``. The batch goes through the sub-policies
position by position: each op type present at a position is computed for the whole batch with per-sample
parameters (``batch_image_ops``, pixel-exact to mmcv) and kept where a sample chose it. No loop runs over
samples, and nothing waits for the device.

As in ``batch_transforms``, each draw is split from its application (``sample`` / ``apply``) so the tests
can check the randomness statistically and the pixels exactly. Randomness comes from torch's generator.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Number
from typing import Any, Optional, Union

import torch
from mmengine.registry import DefaultScope

from . import batch_image_ops as ops

GEOMETRIC = ('Shear', 'Translate', 'Rotate')
PHOTOMETRIC = ('Brightness', 'Contrast', 'ColorTransform', 'Sharpness', 'Posterize', 'Solarize',
               'SolarizeAdd', 'Equalize', 'AutoContrast', 'Invert', 'Cutout')
KINDS = GEOMETRIC + PHOTOMETRIC
KIND_ID = {k: i for i, k in enumerate(KINDS)}
# the attribute holding an op's fixed magnitude, where it is not ``magnitude``
FIXED_ATTR = {'Rotate': 'angle', 'Solarize': 'thr', 'Posterize': 'bits', 'Cutout': 'shape'}
NO_MAGNITUDE = ('Equalize', 'AutoContrast', 'Invert')


def _round_half_even_u8(v: float) -> int:
    """OpenCV's saturate_cast<uchar>(double) of a border value."""
    return int(min(max(round(v), 0), 255))


@dataclass
class AugOp:
    """One built mmpretrain augmentation transform: how it draws its magnitude, and its fixed options."""
    kind: str
    prob: float
    magnitude: Optional[float] = None  # fixed magnitude (angle, thr, bits, ...); None: from magnitude_range
    magnitude_range: Optional[tuple[float, float]] = None
    magnitude_level: float = 10.
    magnitude_std: Union[float, str] = 0.
    total_level: float = 10.
    random_negative_prob: float = 0.
    vertical: bool = False
    interpolation: str = 'nearest'
    pad_val: Union[Number, Sequence[Number]] = 128
    center: Optional[tuple[float, float]] = None
    scale: float = 1.
    thr: float = 128.
    wrap: bool = False  # SolarizeAdd with an int magnitude: numpy's uint8 sum wraps
    shape: Optional[tuple[int, int]] = None  # Cutout's fixed (h, w)

    @classmethod
    def from_transform(cls, t: Any) -> AugOp:
        """Read back a transform built by mmpretrain (Shear, Rotate, ..., as listed in ``KINDS``)."""
        kind = type(t).__name__
        if kind not in KIND_ID:
            raise KeyError(f'BatchAutoAugment: no batched version of {kind!r} in an AutoAugment policy; '
                           f'supported: {sorted(KINDS)}')
        op = cls(kind=kind, prob=float(t.prob), magnitude_range=t.magnitude_range,
                 magnitude_level=t.magnitude_level, magnitude_std=t.magnitude_std,
                 total_level=t.total_level, random_negative_prob=float(t.random_negative_prob))
        if kind in NO_MAGNITUDE:
            op.magnitude = 0.
        else:
            fixed = getattr(t, FIXED_ATTR.get(kind, 'magnitude'))
            if kind == 'Cutout' and fixed is not None:
                op.shape = (int(fixed), int(fixed)) if isinstance(fixed, Number) else tuple(fixed)
                op.magnitude = 0.
            elif fixed is not None:
                op.magnitude = float(fixed)
                op.wrap = kind == 'SolarizeAdd' and isinstance(fixed, Integral)
        if op.magnitude is None and op.magnitude_range is None:
            raise ValueError(f'BatchAutoAugment: {kind} has neither a magnitude nor a magnitude_range')
        op.vertical = getattr(t, 'direction', 'horizontal') == 'vertical'
        op.interpolation = getattr(t, 'interpolation', 'nearest')
        if kind in GEOMETRIC and op.interpolation not in ops.INTERPOLATIONS:
            raise ValueError(f'BatchAutoAugment: {kind} interpolation {op.interpolation!r} has no batched '
                             f'version (supported: {ops.INTERPOLATIONS})')
        op.pad_val = getattr(t, 'pad_val', 128)
        if kind in ('Shear', 'Translate') and not isinstance(op.pad_val, (int, tuple)):
            raise ValueError(f'BatchAutoAugment: {kind} pad_val must be an int or a sequence (mmcv refuses '
                             f'{type(op.pad_val).__name__})')
        op.center = getattr(t, 'center', None)
        op.scale = float(getattr(t, 'scale', 1.))
        if kind == 'SolarizeAdd':
            op.thr = float(t.thr)
        return op

    def fill(self, channels: int) -> list[int]:
        """The uint8 value each channel is filled with, as mmcv / OpenCV turn ``pad_val`` into one: Shear /
        Translate and Cutout repeat an int over the channels; Rotate hands it to cv2.warpAffine as it is,
        which reads a single number as (v, 0, 0, 0), so only the first channel gets it."""
        pad = self.pad_val
        if isinstance(pad, Number):
            values = [pad] + [0] * (channels - 1) if self.kind == 'Rotate' else [pad] * channels
        else:
            values = list(pad)
            if self.kind != 'Rotate' and len(values) != channels:
                raise ValueError(f'BatchAutoAugment: {self.kind} pad_val {tuple(pad)} needs one value per '
                                 f'channel ({channels}), as mmcv asserts')
            values = (values + [0] * channels)[:channels]
        if self.kind == 'Cutout':
            return [int(v) % 256 for v in values]  # np.array(pad_val, dtype=np.uint8)
        if self.kind != 'Rotate':
            values = values[:3] + [0] * (channels - 3)  # mmcv passes border_value[:3] to OpenCV
        return [_round_half_even_u8(v) for v in values]


class BatchAutoAugment:
    """mmpretrain ``AutoAugment(policies, hparams)`` applied to a (B, C, H, W) uint8 batch (loaded BGR)."""

    def __init__(self, policies: Union[str, list], hparams: Optional[dict] = None):
        from mmpretrain.datasets.transforms import AutoAugment
        from mmpretrain.datasets.transforms.auto_augment import AUTOAUG_POLICIES

        hparams = dict(pad_val=128) if hparams is None else dict(hparams)
        with DefaultScope.overwrite_default_scope('mmpretrain'):  # its op names, whatever the caller's scope
            built = AutoAugment(policies=policies, hparams=hparams)
        original = AUTOAUG_POLICIES[policies] if isinstance(policies, str) else policies
        self.policies = built.policies
        self.subpolicies = [[AugOp.from_transform(t) for t in sub.transforms] for sub in built.transforms]
        self.ignored_hparams = sorted({
            key for sub, merged_sub, orig_sub in zip(built.transforms, built.policies, original)
            for t, merged, orig in zip(sub.transforms, merged_sub, orig_sub)
            for key, value in hparams.items()
            if key in merged and key not in orig and getattr(t, key, None) != _normalised(value)})
        if self.ignored_hparams:
            warnings.warn(f'mmpretrain AutoAugment builds its transforms without hparams '
                          f'{self.ignored_hparams} (they keep their defaults); BatchAutoAugment does the '
                          'same. Set them in the policy dicts to have them apply.', stacklevel=2)
        self.num_positions = max(len(sub) for sub in self.subpolicies)
        flat = [op for sub in self.subpolicies for op in sub]
        self.ops = flat
        index, start = [], 0
        for sub in self.subpolicies:
            index.append(list(range(start, start + len(sub))) + [-1] * (self.num_positions - len(sub)))
            start += len(sub)
        self.op_index = torch.tensor(index, dtype=torch.long)  # (sub-policies, positions), -1: none
        # what can happen at each position (ops that never apply are skipped)
        self.kinds_at = [sorted({sub[j].kind for sub in self.subpolicies if j < len(sub) and sub[j].prob > 0},
                                key=KIND_ID.get) for j in range(self.num_positions)]
        self.interpolations_at = [
            sorted({sub[j].interpolation for sub in self.subpolicies
                    if j < len(sub) and sub[j].prob > 0 and sub[j].kind in GEOMETRIC})
            for j in range(self.num_positions)]
        self._tables: dict[tuple, dict[str, torch.Tensor]] = {}

    def tables(self, device: Union[None, str, torch.device], channels: Optional[int] = None,
               height: int = 0, width: int = 0) -> dict[str, torch.Tensor]:
        """Per-op parameters as tensors on ``device``, one row per op of the flattened policies; with the
        image size (``channels`` not None) also what depends on it (fill values, default rotation center)."""
        key = (str(device), channels, height, width)
        if key not in self._tables:
            def col(values: list, dtype: torch.dtype = torch.float64) -> torch.Tensor:
                return torch.tensor(values, dtype=dtype, device=device)

            o = self.ops
            rng = [op.magnitude_range or (0., 0.) for op in o]
            self._tables[key] = dict(
                kind=col([KIND_ID[op.kind] for op in o], torch.long),
                prob=col([op.prob for op in o]),
                fixed=col([op.magnitude is not None for op in o], torch.bool),
                fixed_value=col([op.magnitude or 0. for op in o]),
                level=col([float(op.magnitude_level) for op in o]),
                std=col([0. if op.magnitude_std == 'inf' else float(op.magnitude_std) for op in o]),
                std_inf=col([op.magnitude_std == 'inf' for op in o], torch.bool),
                total=col([float(op.total_level) for op in o]),
                val1=col([float(r[0]) for r in rng]),
                val2=col([float(r[1]) for r in rng]),
                negative=col([op.random_negative_prob for op in o]),
                vertical=col([op.vertical for op in o], torch.bool),
                interpolation=col([ops.INTERPOLATIONS.index(op.interpolation)
                                   if op.kind in GEOMETRIC else 0 for op in o], torch.long),
                scale=col([op.scale for op in o]),
                thr=col([op.thr for op in o]),
                wrap=col([op.wrap for op in o], torch.bool),
                shape_fixed=col([op.shape is not None for op in o], torch.bool),
                shape=col([op.shape or (0, 0) for op in o], torch.long))
            if channels is not None:
                middle = ((width - 1) * 0.5, (height - 1) * 0.5)  # mmcv.imrotate's default center (x, y)
                self._tables[key].update(
                    fill=col([op.fill(channels) for op in o], torch.long),
                    center=col([middle if op.center is None else op.center for op in o]))
        return self._tables[key]

    def sample(self, batch: int, height: int, width: int, device=None) -> dict[str, torch.Tensor]:
        """Per-sample draws: ``policy`` (B,), and per position (B, L): ``op`` (index into ``ops``, -1 where
        the sub-policy is shorter), ``enabled``, signed ``magnitude`` (float64), ``cutout_center`` (B, L, 2)
        (mmcv.cutout's y0, x0 = uniform(size, 1))."""
        t = self.tables(device)
        length = self.num_positions
        policy = torch.randint(0, len(self.subpolicies), (batch,), device=device)
        op = self.op_index.to(device)[policy]
        safe = op.clamp(min=0)

        def rand(*shape: int) -> torch.Tensor:
            return torch.rand(batch, length, *shape, dtype=torch.float64, device=device)

        enabled = (op >= 0) & ~(rand() > t['prob'][safe])  # random_disable: rand > prob
        level = t['level'][safe]
        noisy = (level + t['std'][safe] * torch.randn(batch, length, dtype=torch.float64, device=device))
        level = torch.where(t['std_inf'][safe], level * rand(),
                            torch.where(t['std'][safe] > 0, noisy.clamp(min=0).minimum(t['total'][safe]),
                                        level))
        ranged = level / t['total'][safe] * (t['val2'][safe] - t['val1'][safe]) + t['val1'][safe]
        magnitude = torch.where(t['fixed'][safe], t['fixed_value'][safe], ranged)
        magnitude = torch.where(rand() < t['negative'][safe], -magnitude, magnitude)
        size = torch.tensor([height, width], dtype=torch.float64, device=device)
        center = size + (1 - size) * rand(2)
        return dict(policy=policy, op=op, enabled=enabled, magnitude=magnitude, cutout_center=center)

    def apply(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """The sub-policies' ops with the drawn parameters, position by position."""
        b, c, h, w = x.shape
        t = self.tables(x.device, c, h, w)
        for j in range(self.num_positions):
            safe = params['op'][:, j].clamp(min=0)
            kind = t['kind'][safe]
            chosen = params['enabled'][:, j]
            m = params['magnitude'][:, j]
            if self.interpolations_at[j]:
                matrix = self._matrices(kind, m, safe, t, h, w)
                geometric = chosen & (kind <= KIND_ID[GEOMETRIC[-1]])
                for mode in self.interpolations_at[j]:
                    sel = geometric & (t['interpolation'][safe] == ops.INTERPOLATIONS.index(mode))
                    x = _where(sel, ops.warp_affine(x, matrix, t['fill'][safe], mode), x)
            for k in self.kinds_at[j]:
                if k not in GEOMETRIC:
                    out = self._photometric(k, x, m, safe, t, params['cutout_center'][:, j])
                    x = _where(chosen & (kind == KIND_ID[k]), out, x)
        return x

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(x, self.sample(x.shape[0], x.shape[-2], x.shape[-1], x.device))

    def __repr__(self) -> str:
        subs = '; '.join(', '.join(op.kind for op in sub) for sub in self.subpolicies)
        return f'{type(self).__name__}({len(self.subpolicies)} sub-policies: {subs})'

    @staticmethod
    def _matrices(kind: torch.Tensor, m: torch.Tensor, safe: torch.Tensor, t: dict, h: int,
                  w: int) -> torch.Tensor:
        """(B, 2, 3) forward matrices: Shear (magnitude), Translate (magnitude x width or height pixels),
        Rotate (angle = magnitude, about ``center``)."""
        vertical = t['vertical'][safe]
        shear = ops.shear_matrix(m, vertical)
        translate = ops.translate_matrix(m * torch.where(vertical, h, w).double(), vertical)
        rotate = ops.rotation_matrix(m, t['center'][safe], t['scale'][safe])
        select = kind[:, None, None]
        return torch.where(select == KIND_ID['Shear'], shear,
                           torch.where(select == KIND_ID['Translate'], translate, rotate))

    @staticmethod
    def _photometric(kind: str, x: torch.Tensor, m: torch.Tensor, safe: torch.Tensor, t: dict,
                     center: torch.Tensor) -> torch.Tensor:
        """The op ``kind`` on the whole batch, each sample with its own magnitude."""
        if kind == 'Brightness':
            return ops.adjust_brightness(x, 1 + m)
        if kind == 'Contrast':
            return ops.adjust_contrast(x, 1 + m)
        if kind == 'ColorTransform':
            return ops.adjust_color(x, 1 + m)
        if kind == 'Sharpness':
            return ops.adjust_sharpness(x, 1 + m)
        if kind == 'Posterize':
            return ops.posterize(x, torch.ceil(m))
        if kind == 'Solarize':
            return ops.solarize(x, m)
        if kind == 'SolarizeAdd':
            return ops.solarize_add(x, m, t['thr'][safe], t['wrap'][safe])
        if kind == 'Equalize':
            return ops.equalize(x)
        if kind == 'AutoContrast':
            return ops.auto_contrast(x)
        if kind == 'Invert':
            return ops.invert(x)
        drawn = m.trunc().long()[:, None].expand(-1, 2)  # Cutout: shape = int(random_magnitude())
        shape = torch.where(t['shape_fixed'][safe, None], t['shape'][safe], drawn)
        boxes = ops.cutout_boxes(center, shape, x.shape[-2], x.shape[-1])
        return ops.cutout(x, boxes, t['fill'][safe])


def _normalised(value: Any) -> Any:
    """A hparams value as mmpretrain's transforms store it (sequences become tuples)."""
    return tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else value


def _where(mask: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    return torch.where(mask[:, None, None, None], new, old)

