"""mmcv's image functions for a whole uint8 batch, with one parameter per sample, pixel for pixel.

Each function takes ``(B, C, H, W)`` uint8 images in the channel order they were loaded (BGR, as the
per-sample pipeline sees them) and gives, per sample, what the mmcv function it is named after gives that
image with that sample's parameter. Exact equality needs OpenCV's arithmetic, not just its formulas, so the
code follows what the installed OpenCV (opencv-python 5.1, under mmcv 2.1) computes, as measured by the
tests on real CIFAR images:

* grey (``cvtColor`` BGR2GRAY on uint8) is fixed point with 15-bit weights 3735 / 19235 / 9798;
* ``addWeighted`` computes ``fma(a, alpha, b * beta)`` in float32 with alpha and beta cast to float32; mmcv
  then clips and truncates (``astype``) float32 results, while uint8 results are rounded half to even;
* ``warpAffine`` maps with the matrix inverted in float64; nearest picks ``floor(coord + 0.5)``, and a
  pixel is inside when each coordinate lies in ``[-0.5, size - 0.5]``; bilinear / bicubic (A = -0.75)
  interpolate with the constant border around the image.

Nearest is exact, but for coordinates that fall exactly half-way between pixels up to float rounding (a
rotation by 45 degrees, or a scaled one about some centers: not the policies' angles), where OpenCV breaks
the tie its own way. Bilinear and bicubic round values near a half differently from OpenCV: about 0.1 % of
the values differ by 1 (a few % for magnitudes that put many samples at half pixels, such as shear 0.3).

Everything is computed with torch ops on the batch's device (integer or float64 arithmetic, so a GPU gives
the same pixels as the CPU), without a loop over samples.
"""
from __future__ import annotations

import math
from typing import Union

import torch
import torch.nn.functional as F

Number = Union[int, float]


def _per_sample(value: Union[Number, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """A scalar or (B,) parameter as a float64 (B, 1, 1, 1) tensor on x's device."""
    v = torch.as_tensor(value, dtype=torch.float64, device=x.device)
    return v.expand(x.shape[0]).reshape(-1, 1, 1, 1)


def bgr2gray(x: torch.Tensor) -> torch.Tensor:
    """``mmcv.bgr2gray`` (cv2.cvtColor BGR2GRAY) for (B, 3, H, W) uint8: (B, 1, H, W) uint8."""
    b, g, r = (x[:, i:i + 1].to(torch.int32) for i in range(3))
    return ((b * 3735 + g * 19235 + r * 9798 + 16384) >> 15).to(torch.uint8)


def _add_weighted(a: torch.Tensor, alpha: torch.Tensor, b: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """cv2.addWeighted(a, alpha, b, beta, 0) as OpenCV's SIMD loop computes it: float32
    ``fma(a, alpha, b * beta)``, emulated in float64 (each product is exact there) and rounded to float32."""
    alpha = alpha.float().double()
    beta = beta.float().double()
    t = (b.double() * beta).float().double()
    return (a.double() * alpha + t).float()


def _truncate(v: torch.Tensor) -> torch.Tensor:
    """mmcv's ``np.clip(v, 0, 255).astype(np.uint8)`` of a float image: clip, then truncate."""
    return v.clamp(0, 255).to(torch.uint8)


def adjust_brightness(x: torch.Tensor, factor: Union[Number, torch.Tensor]) -> torch.Tensor:
    """``mmcv.adjust_brightness(img, factor)`` (cv2 backend): blend with black in float32, truncate."""
    f = _per_sample(factor, x)
    return _truncate(_add_weighted(x, f, torch.zeros_like(x), 1 - f))


def adjust_contrast(x: torch.Tensor, factor: Union[Number, torch.Tensor]) -> torch.Tensor:
    """``mmcv.adjust_contrast(img, factor)``: blend with the image's mean grey (rounded half to even)."""
    f = _per_sample(factor, x)
    gray = bgr2gray(x)
    mean = torch.round(gray.flatten(1).sum(1, dtype=torch.int64).double() / gray[0].numel())
    degenerated = mean.reshape(-1, 1, 1, 1).to(torch.uint8).expand_as(x)
    return _truncate(_add_weighted(x, f, degenerated, 1 - f))


def adjust_color(x: torch.Tensor, alpha: Union[Number, torch.Tensor]) -> torch.Tensor:
    """``mmcv.adjust_color(img, alpha)``: uint8 ``addWeighted`` with the grey image (beta = 1 - alpha), whose
    float32 result OpenCV rounds half to even and saturates."""
    a = _per_sample(alpha, x)
    gray = bgr2gray(x).expand_as(x)
    return torch.round(_add_weighted(x, a, gray, 1 - a)).clamp(0, 255).to(torch.uint8)


def _smooth(x: torch.Tensor) -> torch.Tensor:
    """``cv2.filter2D(img, -1, [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13)`` with its default reflect-101
    border, rounded to uint8."""
    padded = F.pad(x.double(), (1, 1, 1, 1), mode='reflect')
    h, w = x.shape[-2:]
    acc = torch.zeros_like(padded[..., 1:-1, 1:-1])
    for i in range(3):
        for j in range(3):
            acc = acc + padded[..., i:i + h, j:j + w] * ((5.0 if (i, j) == (1, 1) else 1.0) / 13)
    return torch.round(acc).clamp(0, 255).to(torch.uint8)


def adjust_sharpness(x: torch.Tensor, factor: Union[Number, torch.Tensor]) -> torch.Tensor:
    """``mmcv.adjust_sharpness(img, factor)`` (default kernel): blend with the smoothed image, truncate."""
    f = _per_sample(factor, x)
    return _truncate(_add_weighted(x, f, _smooth(x), 1 - f))


def posterize(x: torch.Tensor, bits: Union[int, torch.Tensor]) -> torch.Tensor:
    """``mmcv.posterize(img, bits)``: keep the top ``bits`` bits of each value (0 <= bits <= 8)."""
    shift = (8 - _per_sample(bits, x)).clamp(0, 8).to(torch.int32)
    return ((x.to(torch.int32) >> shift) << shift).to(torch.uint8)


def solarize(x: torch.Tensor, thr: Union[Number, torch.Tensor]) -> torch.Tensor:
    """``mmcv.solarize(img, thr)``: values >= thr are inverted."""
    return torch.where(x.double() < _per_sample(thr, x), x, 255 - x)


def solarize_add(x: torch.Tensor, magnitude: Union[Number, torch.Tensor], thr: Union[Number, torch.Tensor],
                 wrap: Union[bool, torch.Tensor] = False) -> torch.Tensor:
    """mmpretrain ``SolarizeAdd``: ``np.where(img < thr, np.minimum(img + magnitude, 255), img)``. With a
    float magnitude the sum is float (saturated at 255, then truncated); with an int magnitude numpy keeps
    uint8 and the sum wraps modulo 256 (``wrap`` per sample)."""
    m = _per_sample(magnitude, x)
    saturated = (x.double() + m).clamp(0, 255).to(torch.uint8)
    wrapped = (x.to(torch.int64) + m.to(torch.int64)).remainder(256).to(torch.uint8)
    added = torch.where(torch.as_tensor(wrap, device=x.device).reshape(-1, 1, 1, 1), wrapped, saturated)
    return torch.where(x.double() < _per_sample(thr, x), added, x)


def invert(x: torch.Tensor) -> torch.Tensor:
    """``mmcv.iminvert``."""
    return 255 - x


def _histograms(x: torch.Tensor) -> torch.Tensor:
    """(B, C, 256) int64 value counts of each channel."""
    flat = x.flatten(2).to(torch.int64)
    return torch.zeros(*flat.shape[:2], 256, dtype=torch.int64, device=x.device).scatter_add_(
        2, flat, torch.ones_like(flat))


def _lookup(x: torch.Tensor, lut: torch.Tensor) -> torch.Tensor:
    """Per (sample, channel) lookup table (B, C, 256) applied to x."""
    return lut.gather(2, x.flatten(2).to(torch.int64)).reshape(x.shape)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """``mmcv.imequalize``: per channel, PIL's histogram equalisation (a channel whose values all but the
    last used one number fewer than 255 pixels is left unchanged)."""
    histo = _histograms(x)
    last = histo.gather(2, x.flatten(2).amax(2, keepdim=True).to(torch.int64))  # count of the top value
    step = (histo.sum(2, keepdim=True) - last) // 255
    safe = step.clamp(min=1)
    lut = (histo.cumsum(2) + safe // 2) // safe
    lut = torch.cat([torch.zeros_like(lut[..., :1]), lut[..., :-1]], 2).clamp(max=255)
    return torch.where(step.unsqueeze(-1) == 0, x, _lookup(x, lut).to(torch.uint8))


def auto_contrast(x: torch.Tensor) -> torch.Tensor:
    """``mmcv.auto_contrast(img)`` (cutoff 0): stretch each channel's [min, max] to [0, 255] with a float64
    lookup table, truncated; a constant channel is left unchanged."""
    flat = x.flatten(2)
    low = flat.amin(2, keepdim=True).double()
    high = flat.amax(2, keepdim=True).double()
    scale = torch.full_like(low, 255.0) / (high - low).clamp(min=1)  # not 255 / t: torch multiplies by 1 / t
    offset = -low * scale
    values = torch.arange(256, dtype=torch.float64, device=x.device)
    lut = (values * scale + offset).clamp(0, 255).to(torch.uint8).to(torch.int64)
    return torch.where((low >= high).unsqueeze(-1), x, _lookup(x, lut).to(torch.uint8))


def cutout(x: torch.Tensor, boxes: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """``mmcv.cutout`` after its random draw: ``boxes`` (B, 4) int (y1, x1, y2, x2, end exclusive) are set
    to ``fill`` (B, C) uint8."""
    rows = torch.arange(x.shape[-2], device=x.device)
    cols = torch.arange(x.shape[-1], device=x.device)
    in_rows = (rows >= boxes[:, 0:1]) & (rows < boxes[:, 2:3])
    in_cols = (cols >= boxes[:, 1:2]) & (cols < boxes[:, 3:4])
    mask = in_rows[:, None, :, None] & in_cols[:, None, None, :]
    return torch.where(mask, fill.to(torch.uint8)[:, :, None, None], x)


def cutout_boxes(center: torch.Tensor, shape: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """mmcv.cutout's box from its two draws ``center`` (B, 2) float64 (y0, x0) and ``shape`` (B, 2) int
    (cut_h, cut_w): ``y1 = int(max(0, y0 - cut_h / 2))``, ``y2 = min(img_h, y1 + cut_h)``, same for x."""
    start = (center - shape.double() / 2).clamp(min=0).trunc().long()
    end = torch.minimum(start + shape.long(), torch.tensor([height, width], device=center.device))
    return torch.cat([start, end], 1)


def shear_matrix(magnitude: torch.Tensor, vertical: Union[bool, torch.Tensor]) -> torch.Tensor:
    """(B, 2, 3) float64: mmcv's float32 shear matrix [[1, m, 0], [0, 1, 0]] (horizontal) or
    [[1, 0, 0], [m, 1, 0]] (vertical), as warpAffine reads it."""
    m = magnitude.float().double()
    vertical = torch.as_tensor(vertical, device=m.device).expand_as(m)
    zero, one = torch.zeros_like(m), torch.ones_like(m)
    row0 = torch.stack([one, torch.where(vertical, zero, m), zero], -1)
    row1 = torch.stack([torch.where(vertical, m, zero), one, zero], -1)
    return torch.stack([row0, row1], 1)


def translate_matrix(offset: torch.Tensor, vertical: Union[bool, torch.Tensor]) -> torch.Tensor:
    """(B, 2, 3) float64: mmcv's float32 translation matrix by ``offset`` pixels along x or y."""
    o = offset.float().double()
    vertical = torch.as_tensor(vertical, device=o.device).expand_as(o)
    zero, one = torch.zeros_like(o), torch.ones_like(o)
    row0 = torch.stack([one, zero, torch.where(vertical, zero, o)], -1)
    row1 = torch.stack([zero, one, torch.where(vertical, o, zero)], -1)
    return torch.stack([row0, row1], 1)


def rotation_matrix(angle: torch.Tensor, center: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(B, 2, 3) float64: ``cv2.getRotationMatrix2D(center, -angle, scale)`` as mmcv.imrotate calls it
    (``angle`` clockwise in degrees, ``center`` (B, 2) (x, y), read by OpenCV as float32)."""
    a = -angle.double() * (math.pi / 180)
    alpha = torch.cos(a) * scale.double()
    beta = torch.sin(a) * scale.double()
    cx, cy = center.float().double().unbind(-1)
    row0 = torch.stack([alpha, beta, (1 - alpha) * cx - beta * cy], -1)
    row1 = torch.stack([-beta, alpha, beta * cx + (1 - alpha) * cy], -1)
    return torch.stack([row0, row1], 1)


def _invert_affine(m: torch.Tensor) -> torch.Tensor:
    """warpAffine's own inversion of the forward matrix (float64, as in OpenCV's imgwarp.cpp)."""
    d = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    d = torch.where(d != 0, 1 / torch.where(d != 0, d, torch.ones_like(d)), torch.zeros_like(d))
    a11, a22 = m[:, 1, 1] * d, m[:, 0, 0] * d
    a12, a21 = m[:, 0, 1] * -d, m[:, 1, 0] * -d
    b1 = -a11 * m[:, 0, 2] - a12 * m[:, 1, 2]
    b2 = -a21 * m[:, 0, 2] - a22 * m[:, 1, 2]
    return torch.stack([torch.stack([a11, a12, b1], -1), torch.stack([a21, a22, b2], -1)], 1)


def _cubic_weights(t: torch.Tensor) -> torch.Tensor:
    """OpenCV's interpolateCubic (A = -0.75): (..., 4) weights of the taps at -1, 0, 1, 2."""
    a = -0.75
    c0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    c1 = ((a + 2) * t - (a + 3)) * t * t + 1
    c2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    return torch.stack([c0, c1, c2, 1 - c0 - c1 - c2], -1)


INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area')


def warp_affine(x: torch.Tensor, matrix: torch.Tensor, border: torch.Tensor,
                interpolation: str = 'nearest') -> torch.Tensor:
    """``cv2.warpAffine(img, matrix, (w, h), flags=interpolation, borderValue=border)`` per sample, as
    mmcv.imshear / imtranslate / imrotate call it: ``matrix`` (B, 2, 3) float64 maps source to destination,
    ``border`` (B, C) the constant fill. 'area' is bilinear (OpenCV's warpAffine does the same)."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f'warp_affine: interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}')
    b, c, h, w = x.shape
    inv = _invert_affine(matrix)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64, device=x.device),
                            torch.arange(w, dtype=torch.float64, device=x.device), indexing='ij')
    xs, ys = xs.reshape(1, -1), ys.reshape(1, -1)
    sx = (inv[:, 0, 0:1] * xs + inv[:, 0, 1:2] * ys + inv[:, 0, 2:3]).clamp(-1e6, 1e6)  # (B, H*W)
    sy = (inv[:, 1, 0:1] * xs + inv[:, 1, 1:2] * ys + inv[:, 1, 2:3]).clamp(-1e6, 1e6)
    fill = border.to(device=x.device, dtype=torch.float64).reshape(b, c, 1)
    if interpolation == 'nearest':
        inside = (sx >= -0.5) & (sx <= w - 0.5) & (sy >= -0.5) & (sy <= h - 0.5)
        ix = torch.floor(sx + 0.5).long().clamp(0, w - 1)
        iy = torch.floor(sy + 0.5).long().clamp(0, h - 1)
        picked = x.flatten(2).gather(2, (iy * w + ix).unsqueeze(1).expand(b, c, -1))
        out = torch.where(inside.unsqueeze(1), picked.double(), fill)
        return out.reshape(b, c, h, w).to(torch.uint8)
    pad = 2  # the taps reach 1 (bilinear) or 2 (bicubic) pixels out; further ones clamp onto the border
    padded = fill.reshape(b, c, 1, 1).expand(b, c, h + 2 * pad, w + 2 * pad).clone()
    padded[:, :, pad:pad + h, pad:pad + w] = x.double()
    padded = padded.flatten(2)
    x0, y0 = torch.floor(sx), torch.floor(sy)
    tx, ty = sx - x0, sy - y0
    x0, y0 = x0.long(), y0.long()

    def tap(dy: int, dx: int) -> torch.Tensor:
        yy = (y0 + dy).clamp(-pad, h - 1 + pad) + pad
        xx = (x0 + dx).clamp(-pad, w - 1 + pad) + pad
        return padded.gather(2, (yy * (w + 2 * pad) + xx).unsqueeze(1).expand(b, c, -1))

    if interpolation == 'bicubic':
        wx, wy = _cubic_weights(tx), _cubic_weights(ty)
        out = torch.zeros_like(fill.expand(b, c, h * w))
        for i in range(4):
            for j in range(4):
                out = out + tap(i - 1, j - 1) * (wy[..., i] * wx[..., j]).unsqueeze(1)
    else:
        tx, ty = tx.unsqueeze(1), ty.unsqueeze(1)
        top = tap(0, 0) + tx * (tap(0, 1) - tap(0, 0))
        bottom = tap(1, 0) + tx * (tap(1, 1) - tap(1, 0))
        out = top + ty * (bottom - top)
    return torch.round(out).clamp(0, 255).reshape(b, c, h, w).to(torch.uint8)
