"""EWA experts for ``MixFFN`` with its depthwise conv (SegFormer's MiT, PVT v2): exact, by tiles with a halo.

MixFFN is ``fc1 (1x1) -> depthwise k x k conv -> act -> fc2 (1x1)`` on the feature map, so a token's output
depends on its ``k x k`` neighbourhood. EWA's contract still holds here: in training, each token's output is
*one* expert's whole MixFFN (its fc1, its depthwise conv over the token's real neighbours with zero padding
only at the image border, its fc2), so eval and the collapsed layer are the upstream layer with the experts'
mean, and every expert is an exact MixFFN.

How tokens reach experts: the feature map is cut into ``t x t`` **cells** (tiles); the cells of the batch
(``partition='batch'``) or of each image (``'sample'``) are dealt to the experts by the same random uniform
partition as tokens elsewhere (:func:`~mmewa.models.layers.partition.random_partition`: equal numbers of
cells, differing by at most one, no router, nothing dropped). Each expert computes its cells with a
``k // 2``-pixel halo of real neighbours (fc1 on ``(t + k - 1)^2`` pixels, a valid depthwise conv, fc2 on
the ``t^2`` cell pixels); halo pixels outside the image are zeroed after fc1, which is the conv's zero
padding. The experts run as grouped convolutions (one call per layer, no Python loop over experts).

Why cells, by measurement (``tools/analysis_tools/benchmark_ewa.py --sections mixffn``, BENCHMARKS.md;
SegFormer-B0 stage 1 at 512 px: 2 x 128 x 128 tokens, 32 channels, hidden 128, E = 4, fwd + bwd, CPU): a
random partition of single tokens needs, for every expert, fc1 at almost every pixel (the 3x3 neighbourhoods
of a quarter of the tokens cover ~92 % of the map), i.e. the per-expert full-map loop (4.6x the upstream
layer) or its batched form (7-14x: the ``E x`` hidden map does not fit the caches); cells with a 1-pixel halo
cost ``(t + 2)^2 / t^2`` on fc1 and the conv only (~2x measured at t = 8, dominated by the tile copies). Whole
images per expert would be free but cannot make ``E`` equal groups when the batch has fewer images than
experts (mmseg's usual 2 images per GPU with E = 4); cells of one image can.

The cell side ``t`` is the largest divisor of both map sides that is at most ``max_tile`` and still gives
every partition group at least ``E`` cells (preferring a cell count divisible by ``E``, i.e. exactly equal
groups); small maps fall back to single-token cells (``t = 1``, a 3x3 halo each). So group sizes in tokens
are equal when the cell count divides by ``E`` and otherwise differ by one cell (``t^2`` tokens).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .experts import Apply, StackedDWConv, StackedLinear, StackedMLP, expert_mean
from .partition import Partition, partition_groups_reference

DEFAULT_MAX_TILE = 8
ToNCHW = Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]
ToNLC = Callable[[torch.Tensor], torch.Tensor]


def choose_tile(h: int, w: int, images_per_group: int, num_experts: int, max_tile: int) -> int:
    """The cell side for an ``h x w`` map (see the module docstring): a common divisor of ``h`` and ``w``,
    ``<= max_tile``, with ``>= num_experts`` cells per partition group, a multiple of it if possible."""
    candidates = [t for t in range(min(h, w, max_tile), 0, -1) if h % t == 0 and w % t == 0]
    cells = {t: (h // t) * (w // t) * images_per_group for t in candidates}
    enough = [t for t in candidates if cells[t] >= num_experts]
    exact = [t for t in enough if cells[t] % num_experts == 0]
    return (exact or enough or [1])[0]


def border_mask(h: int, w: int, tile: int, halo: int, device, dtype) -> torch.Tensor:
    """``[nh * nw, P, P, 1]`` (``P = tile + 2 * halo``): 1 where a cell's halo pixel is inside the map."""
    inside = torch.ones(1, 1, h, w, device=device, dtype=dtype)
    padded = F.pad(inside, (halo, halo, halo, halo))
    P = tile + 2 * halo
    cells = padded.unfold(2, P, tile).unfold(3, P, tile)  # [1, 1, nh, nw, P, P]
    return cells.reshape(-1, P, P, 1)


def sequential_conv_core(stack: nn.Module, x: torch.Tensor, apply: Apply) -> torch.Tensor:
    """MixFFN's ``layers`` run in order (on a map, or on the experts' cells), as ``nn.Sequential`` does
    (a module listed twice, like MixFFN's shared dropout, runs twice)."""
    for m in stack.layers:
        x = apply(m, x)
    return x


def conv_mean(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A stacked leaf as the collapsed upstream conv (the same ``F.conv2d`` call, so bit for bit)."""
    if isinstance(m, StackedLinear):
        return F.conv2d(x, expert_mean(m.weight), None if m.bias is None else expert_mean(m.bias))
    return m.forward_mean(x) if isinstance(m, StackedDWConv) else m(x)


def conv_expert(e: int) -> Apply:
    def apply(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if isinstance(m, StackedLinear):
            return F.conv2d(x, m.weight[e], None if m.bias is None else m.bias[e])
        return m.forward_expert(x, e) if isinstance(m, StackedDWConv) else m(x)
    return apply


def conv_grouped(mask: torch.Tensor, cells: int, tile: int) -> Apply:
    """Leaves on the experts' cells, channels last: ``[E, cells * P * P, ch]`` before the depthwise conv
    (1x1 convs are the batched matmul of :class:`StackedLinear`), ``[E, cells * t * t, ch]`` after it. The
    depthwise conv zeroes the halo outside the image (``mask``: ``[E, cells, P, P, 1]``) and runs *valid*
    on the cells as ``[cells, E * ch, P, P]`` in channels-last memory (one grouped call for all experts)."""
    def apply(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if isinstance(m, StackedDWConv):
            E, _, ch = x.shape
            P = tile + 2 * m.padding
            x = x.view(E, cells, P, P, ch) * mask
            x = x.permute(1, 2, 3, 0, 4).reshape(cells, P, P, E * ch).permute(0, 3, 1, 2)
            y = m(x)  # [cells, E * ch, t, t]
            return y.permute(0, 2, 3, 1).reshape(cells * tile * tile, E, ch).transpose(0, 1)
        return m(x)
    return apply


class StackedConvMLP(StackedMLP):
    """The stacked ``layers`` of a depthwise MixFFN; the forwards take the tokens ``[B, L, C]`` and the map
    size ``hw_shape``. ``to_nchw`` / ``to_nlc`` are the upstream library's own conversions (mmseg and mmdet
    lay the map out differently, and eval must run the upstream convolutions on the upstream layout)."""

    spatial = True

    def __init__(self, children, num_experts: int, core=sequential_conv_core, *, to_nchw: ToNCHW,
                 to_nlc: ToNLC) -> None:
        super().__init__(children, num_experts, core)
        self.to_nchw, self.to_nlc = to_nchw, to_nlc
        self.halo = max(m.padding for m in self.layers if isinstance(m, StackedDWConv))

    def forward_mean(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """The collapsed MixFFN's layers (eval = the deployed model)."""
        return self.to_nlc(self.core(self, self.to_nchw(x, hw_shape), conv_mean))

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int], partition: Partition,
                tile: int) -> torch.Tensor:
        """Training fast path: ``partition`` deals the ``t x t`` cells (in ``(image, row, col)`` order) to
        the experts; each expert computes its cells with a halo; the result is scattered back to tokens."""
        B, L, C = x.shape
        h, w = hw_shape
        E, r, t = self.num_experts, self.halo, tile
        P, nh, nw = t + 2 * r, h // t, w // t
        n = partition.gather_index.numel() // E
        xp = F.pad(x.reshape(B, h, w, C), (0, 0, r, r, r, r))  # pad values are masked after fc1
        cells = xp.unfold(1, P, t).unfold(2, P, t).permute(0, 1, 2, 4, 5, 3).reshape(B * nh * nw, P, P, C)
        grouped = cells.index_select(0, partition.gather_index).view(E, n * P * P, C)
        mask = border_mask(h, w, t, r, x.device, x.dtype).repeat(B, 1, 1, 1)
        mask = mask.index_select(0, partition.gather_index).view(E, n, P, P, 1)
        out = self.core(self, grouped, conv_grouped(mask, n, t))  # [E, n * t * t, C_out]
        C_out = out.shape[-1]
        out = out.reshape(E * n, t, t, C_out).index_select(0, partition.token_slot)
        return out.view(B, nh, nw, t, t, C_out).permute(0, 1, 3, 2, 4, 5).reshape(B, L, C_out)

    def forward_reference(self, x: torch.Tensor, hw_shape: tuple[int, int],
                          expert_of_token: torch.Tensor) -> torch.Tensor:
        """Slow, obvious oracle: every expert runs its whole upstream MixFFN on the full maps (zero padding
        at the border), and each token keeps the output of its expert (``expert_of_token``: ``[B, L]``)."""
        B, L, _ = x.shape
        out = None
        for e in range(self.num_experts):
            y = self.to_nlc(self.core(self, self.to_nchw(x, hw_shape), conv_expert(e)))
            out = torch.zeros_like(y) if out is None else out
            mine = expert_of_token == e
            out[mine] = y[mine]
        return out


def expert_of_each_token(partition: Partition, batch: int, hw_shape: tuple[int, int], tile: int,
                         num_experts: int, num_groups: int) -> torch.Tensor:
    """Slow decoding of a cell partition into ``[B, L]`` expert indices (the oracle's assignment)."""
    h, w = hw_shape
    nh, nw = h // tile, w // tile
    cells = batch * nh * nw
    members = partition_groups_reference(partition, cells // num_groups, num_experts, num_groups)
    experts = torch.full((batch, h, w), -1, dtype=torch.long)
    for e, group in enumerate(members):
        for cell in group:
            b, rest = divmod(cell, nh * nw)
            i, j = divmod(rest, nw)
            assert (experts[b, i * tile:(i + 1) * tile, j * tile:(j + 1) * tile] == -1).all(), 'cell twice'
            experts[b, i * tile:(i + 1) * tile, j * tile:(j + 1) * tile] = e
    assert (experts >= 0).all(), 'a token no expert processes'
    return experts.view(batch, h * w)


__all__ = ['StackedConvMLP', 'choose_tile', 'border_mask', 'expert_of_each_token', 'sequential_conv_core',
           'DEFAULT_MAX_TILE']
