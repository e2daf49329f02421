"""mmcv's image functions for a whole uint8 batch, with one parameter per sample, pixel for pixel.

Each function takes ``(B, C, H, W)`` uint8 images in the channel order they were loaded (BGR, as the
per-sample pipeline sees them) and gives, per sample, what the mmcv function it is named after gives that
image with that sample's parameter. Exact equality needs OpenCV's arithmetic, not just its formulas, and
OpenCV 4 and 5 differ in it, so the code follows the installed OpenCV (the major version of
``cv2.__version__``, read at each call). Measured on opencv-python 5.1.0 (under mmcv 2.1.0) and 4.12.0.88
(under onedl-mmcv 2.3.6), by the tests on real CIFAR images and by probes calling cv2 directly:

* grey (``cvtColor`` BGR2GRAY on uint8) is fixed point with 15-bit weights 3735 / 19235 / 9798 (both);
* ``addWeighted`` of float32 images (brightness, contrast, sharpness) computes ``fma(a, alpha, b * beta)``:
  OpenCV 5 in float32 with alpha and beta cast to float32, OpenCV 4 in float64 with them as given, rounded
  to float32 (the emulations give cv2's float32 results bit for bit, on all pairs of values 0 to 255 for
  hundreds of alphas); mmcv then clips and truncates (``astype``). On uint8 images (color) both compute the
  float32 fma above and round it half to even, saturated;
* ``warpAffine`` inverts the matrix in float64 (both). OpenCV 5 maps in floating point: nearest picks
  ``floor(coord + 0.5)``, and a pixel is inside when each coordinate lies in ``[-0.5, size - 0.5]``;
  bilinear / bicubic (A = -0.75) interpolate with the constant border around the image. OpenCV 4 maps in
  fixed point: source coordinates in 1/1024 pixel (a rounded term per row plus one per column), which
  nearest rounds to whole pixels, the others to 1/32 pixel for tables of 15-bit integer weights
  (``_warp_affine_fixed_point``, ``_remap_weights``).

With OpenCV 4 everything is exact (warps with random matrices of all kinds on random images included).
With OpenCV 5, nearest is exact but for coordinates that fall exactly half-way between pixels up to float
rounding (a rotation by 45 degrees, or a scaled one about some centers: not the policies' angles), where
OpenCV breaks the tie its own way. Bilinear and bicubic round values near a half differently from OpenCV 5:
about 0.1 % of the values differ by 1 (a few % for magnitudes that put many samples at half pixels, such as
shear 0.3).

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


def _opencv_major() -> int:
    """The installed OpenCV's major version: which arithmetic the ops below reproduce."""
    import cv2
    return int(cv2.__version__.split('.', 1)[0])


def _fma_float32(a: torch.Tensor, alpha: torch.Tensor, b: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """float32 ``fma(a, alpha, b * beta)`` with alpha and beta cast to float32, emulated in float64 (each
    product is exact there) and rounded to float32."""
    alpha = alpha.float().double()
    beta = beta.float().double()
    t = (b.double() * beta).float().double()
    return (a.double() * alpha + t).float()


def _fma_float64(a: torch.Tensor, alpha: torch.Tensor, b: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """float64 ``fma(a, alpha, b * beta)`` rounded to float32, for integer images a (0 to 255): Boldo and
    Melquiond's emulation of a fused multiply-add (an exact product, an exact sum, their errors added with
    rounding to odd, one last rounding to nearest), in plain float64 ops, so every device rounds alike."""
    a, alpha = a.double(), alpha.double()
    t = b.double() * beta.double()
    split = alpha * 134217729.0  # 2 ** 27 + 1: alpha = hi + lo, halves whose products with a are exact
    hi = split - (split - alpha)
    lo = alpha - hi
    uh = a * alpha
    ul = (a * hi - uh) + a * lo  # uh + ul = a * alpha exactly

    def two_sum(p: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = p + q
        r = s - p
        return s, (p - (s - r)) + (q - r)

    th, tl = two_sum(t, uh)  # th + tl = t + uh exactly
    v, err = two_sum(tl, ul)
    inexact_even = (err != 0) & ((v.view(torch.int64) & 1) == 0)
    towards = torch.copysign(torch.full_like(v, math.inf), err)
    v = torch.where(inexact_even, torch.nextafter(v, towards), v)  # tl + ul rounded to odd
    return (th + v).float()


def _add_weighted(a: torch.Tensor, alpha: torch.Tensor, b: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """cv2.addWeighted(a, alpha, b, beta, 0) of float32 images holding uint8 values (mmcv's brightness,
    contrast and sharpness), float32: OpenCV 5 computes ``fma(a, alpha, b * beta)`` in float32, OpenCV 4 in
    float64."""
    return (_fma_float64 if _opencv_major() < 5 else _fma_float32)(a, alpha, b, beta)


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
    float32 result (OpenCV 4 and 5 alike) OpenCV rounds half to even and saturates."""
    a = _per_sample(alpha, x)
    gray = bgr2gray(x).expand_as(x)
    return torch.round(_fma_float32(x, a, gray, 1 - a)).clamp(0, 255).to(torch.uint8)


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


def _remap_weights(bicubic: bool) -> torch.Tensor:
    """OpenCV 4's fixed-point remap weights (initInterTab2D): (32 * 32, k * k) int64, row fy * 32 + fx for
    the fractions (fy, fx) in 1/32 pixel, the k x k taps (bilinear 2, bicubic 4) row-major. Each is the
    float32 product of the 1-D float32 weights at fy / 32 and fx / 32, times 2 ** 15, rounded half to even
    and saturated to int16 (so the weight 1 at fractions (0, 0) becomes 32767). Where they do not sum to
    2 ** 15, OpenCV adds the difference to the first largest (sum short) or takes it from the first smallest
    (sum over) of four weights: bicubic, those of the taps at +1 and +2 in each direction; bilinear, that of
    tap (1, 1) and three past it (the next row's, still 0 then), so fractions (0, 0) get 32767 and 1.
    Computed in float32 on the CPU (single IEEE operations, as OpenCV builds it)."""
    t = torch.arange(32, dtype=torch.float32) * (1 / 32)
    one_d = _cubic_weights(t) if bicubic else torch.stack([1 - t, t], -1)  # (32, k) float32
    k = one_d.shape[1]
    products = (one_d[:, None, :, None] * one_d[None, :, None, :]).reshape(32 * 32, k * k)
    table = torch.round(products * (1 << 15)).clamp(-(1 << 15), (1 << 15) - 1).long()
    diff = table.sum(1) - (1 << 15)
    if bicubic:
        block = table[:, [10, 11, 14, 15]]  # taps (+1, +1), (+1, +2), (+2, +1), (+2, +2)
        at = torch.tensor([10, 11, 14, 15])[torch.where(diff < 0, block.argmax(1), block.argmin(1))]
    else:
        at = torch.full_like(diff, 3)
    return table.scatter_add(1, at[:, None], -diff[:, None])


def _warp_affine_fixed_point(x: torch.Tensor, inv: torch.Tensor, fill: torch.Tensor,
                             interpolation: str) -> torch.Tensor:
    """OpenCV 4's warpAffine (``inv`` the inverted matrix): source coordinates in 1/1024 pixel, each row's
    ``round((inv[0, 1] * y + inv[0, 2]) * 1024)`` plus each column's ``round(inv[0, 0] * x * 1024)``
    (float64, rounded half to even), plus 512 for nearest (floor to whole pixels, outside: the border
    value), else plus 16, floored to 1/32 pixel for the weight tables of ``_remap_weights``; uint8 results
    ``(sum + 2 ** 14) >> 15``, saturated, with the border value at taps outside the image."""
    b, c, h, w = x.shape
    nearest = interpolation == 'nearest'
    cols = torch.arange(w, dtype=torch.float64, device=x.device)
    rows = torch.arange(h, dtype=torch.float64, device=x.device)

    def fixed(v: torch.Tensor) -> torch.Tensor:  # saturate_cast<int>(v * 1024), far-off values clamped
        return torch.round((v * 1024).clamp(-2.0 ** 40, 2.0 ** 40)).long()

    delta = 512 if nearest else 16
    coords = []
    for i in range(2):  # source x, then y: (B, H * W) in 1/1024 pixel
        per_row = fixed(inv[:, i, 1:2] * rows + inv[:, i, 2:3]) + delta
        coords.append((per_row[:, :, None] + fixed(inv[:, i, 0:1] * cols)[:, None, :]).flatten(1))
    cval = torch.round(fill).clamp(0, 255).long()  # OpenCV's saturate_cast<uchar> of the border value
    if nearest:
        sx, sy = (v // 1024 for v in coords)
        inside = (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
        index = sy.clamp(0, h - 1) * w + sx.clamp(0, w - 1)
        picked = x.flatten(2).gather(2, index.unsqueeze(1).expand(b, c, -1)).long()
        return torch.where(inside.unsqueeze(1), picked, cval).reshape(b, c, h, w).to(torch.uint8)
    sx, sy = (v // 32 for v in coords)  # 1/32 pixel
    bicubic = interpolation == 'bicubic'
    weights = _remap_weights(bicubic).to(x.device)[(sy % 32) * 32 + sx % 32]  # (B, H * W, k * k)
    k, first = (4, -1) if bicubic else (2, 0)
    x0, y0 = sx // 32 + first, sy // 32 + first
    pad = 2  # the taps reach 2 pixels out at most; further ones clamp onto the border ring
    padded = cval.reshape(b, c, 1, 1).expand(b, c, h + 2 * pad, w + 2 * pad).clone()
    padded[:, :, pad:pad + h, pad:pad + w] = x.long()
    padded = padded.flatten(2)
    acc = torch.zeros_like(cval.expand(b, c, h * w))
    for i in range(k):
        yy = (y0 + i).clamp(-pad, h - 1 + pad) + pad
        for j in range(k):
            xx = (x0 + j).clamp(-pad, w - 1 + pad) + pad
            value = padded.gather(2, (yy * (w + 2 * pad) + xx).unsqueeze(1).expand(b, c, -1))
            acc = acc + value * weights[:, :, i * k + j].unsqueeze(1)
    return ((acc + (1 << 14)) // (1 << 15)).clamp(0, 255).reshape(b, c, h, w).to(torch.uint8)


def _warp_affine_float(x: torch.Tensor, inv: torch.Tensor, fill: torch.Tensor,
                       interpolation: str) -> torch.Tensor:
    """OpenCV 5's warpAffine (``inv`` the inverted matrix): source coordinates in float64; nearest picks
    ``floor(coord + 0.5)`` of those in ``[-0.5, size - 0.5]``, bilinear / bicubic interpolate in float64
    with the constant border around the image, rounded half to even."""
    b, c, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64, device=x.device),
                            torch.arange(w, dtype=torch.float64, device=x.device), indexing='ij')
    xs, ys = xs.reshape(1, -1), ys.reshape(1, -1)
    sx = (inv[:, 0, 0:1] * xs + inv[:, 0, 1:2] * ys + inv[:, 0, 2:3]).clamp(-1e6, 1e6)  # (B, H*W)
    sy = (inv[:, 1, 0:1] * xs + inv[:, 1, 1:2] * ys + inv[:, 1, 2:3]).clamp(-1e6, 1e6)
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


INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area')


def warp_affine(x: torch.Tensor, matrix: torch.Tensor, border: torch.Tensor,
                interpolation: str = 'nearest') -> torch.Tensor:
    """``cv2.warpAffine(img, matrix, (w, h), flags=interpolation, borderValue=border)`` per sample, as
    mmcv.imshear / imtranslate / imrotate call it, with the installed OpenCV's arithmetic: ``matrix``
    (B, 2, 3) float64 maps source to destination, ``border`` (B, C) the constant fill. 'area' is bilinear
    (OpenCV's warpAffine does the same)."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f'warp_affine: interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}')
    inv = _invert_affine(matrix)
    fill = border.to(device=x.device, dtype=torch.float64).reshape(x.shape[0], x.shape[1], 1)
    if _opencv_major() < 5:
        return _warp_affine_fixed_point(x, inv, fill, interpolation)
    return _warp_affine_float(x, inv, fill, interpolation)
