#!/usr/bin/env python
"""What EWA costs, measured side by side in one process: ratios, not absolute times.

    python tools/analysis_tools/benchmark_ewa.py --out benchmarks/cpu_benchmark.json  # full CPU run
    python tools/analysis_tools/benchmark_ewa.py --quick                               # tiny, seconds
    python tools/analysis_tools/benchmark_ewa.py --device cuda --amp bf16 --compile --out x.json  # GPU
                                                   # (.dev_scripts/benchmark_gpu.sh runs it so)

Absolute times on a shared machine are noise, so every comparison runs its variants interleaved
(A B, B A, A B, ... after warm-up) in this one process and reports the median of the per-repetition
ratios (with its quartiles). Sections:

1. ``seg``: one training iteration of a real segmentor (EWA backbone + the ``ewa_`` step EWAHook runs)
   vs the standard config on the same synthetic batch: time ratio, phase breakdown, peak memory ratio.
2. ``ffn``: the FFN alone (forward + backward): mmcv ``FFN`` vs ``EWAFFN`` (train) vs a per-expert
   Python-loop MoE, over widths and token counts; plus a torch.profiler table of ``EWAFFN``'s top ops.
3. ``ewa``: one ``ewa_`` step vs the bandwidth floor (one ``_foreach_lerp_`` over the same tensors) and vs
   ``ewa_reference_``; its share of a training iteration is measured inside section 1.
4. ``deploy``: the collapsed checkpoint in the standard config vs the standard model: parameters,
   FLOPs, inference latency.
5. ``compile`` (``--compile``): ``torch.compile(EWAFFN, fullgraph=True)`` in train mode, per backend.
6. ``det``: section 1 for a detector (``--det-config``; default the tiny Swin Mask R-CNN pair), on a
   synthetic batch with boxes and masks.
7. ``mixffn``: SegFormer's depthwise MixFFN alone (forward + backward) at the MiT-B0 stage sizes of a
   512 px crop (``--mixffn-batch`` images): upstream layer vs the EWA fast path (random cells with a halo,
   grouped convs) vs a per-expert loop (every expert's whole MixFFN on the full map, its tokens kept).
   (SegFormer's training iteration is section 1 with ``--seg-config configs/ewa_segformer/...``.)
8. ``routed``: the routed MoE (``RoutedMoEFFN(64, 256, E=4, top-2)``, dropless) on 128 x 65 tokens,
   forward + backward: the CPU's tight buffer (the busiest expert's load) vs the padded one (N rows).

The tool measures and reports; the targets the numbers are read against live in BENCHMARKS.md, and the
correctness of what is measured (the loop MoE computes EWAFFN's MoE, the collapsed model costs exactly the
standard one) is asserted by tests/test_tools/test_benchmark_ewa.py.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault('KINETO_LOG_LEVEL', '5')  # keep torch.profiler's C++ chatter off the table

import torch  # noqa: E402
from torch import nn  # noqa: E402

from mmewa.utils.benchmark import (  # noqa: E402
    autocast,
    interleaved,
    machine_info,
    median_ms,
    peak_memory,
    quiet_mmengine,
    ratio,
    synchronize,
    tensor_bytes,
    top_ops,
)

SECTIONS = ('seg', 'det', 'ffn', 'ewa', 'deploy', 'compile', 'mixffn', 'routed')
DEFAULT_SEG = ('configs/demo/seg_vit_tiny.py', 'configs/demo/seg_ewa_vit_tiny.py')
DEFAULT_DET = ('configs/demo/det_swin_tiny.py', 'configs/demo/det_ewa_swin_tiny.py')
# MiT-B0 stages at a 512 px crop: (map side, channels, hidden); quick: one tiny stage
MIT_B0_512 = [(128, 32, 128), (64, 64, 256), (32, 160, 640), (16, 256, 1024)]
QUICK = dict(reps=3, warmup=1, batch_size=1, ffn_dims=[32], ffn_tokens=[64], ffn_batch=2, ref_reps=2,
             mixffn_stages=[(12, 16, 64)], routed_tokens=[8, 65])
FULL = dict(reps=10, warmup=2, batch_size=None, ffn_dims=[192, 384, 768], ffn_tokens=[196, 1024], ffn_batch=4,
            ref_reps=3, mixffn_stages=MIT_B0_512, routed_tokens=[128, 65])


# ----------------------------------------------------------------------------------------------------
# building models from configs
# ----------------------------------------------------------------------------------------------------
def load_config(path: str, crop_size: Sequence[int] | None = None, cfg_options: dict | None = None):
    """The config with ``--cfg-options`` merged and, if asked, another crop size for model and input."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if crop_size:
        size = tuple(int(s) for s in crop_size)
        cfg.model.data_preprocessor.size = size
        if 'img_size' in cfg.model.backbone:
            cfg.model.backbone.img_size = size
        cfg.crop_size = size
    return cfg


def input_size(cfg) -> tuple[int, int]:
    """(H, W) of a training input: the config's ``crop_size``, else the data preprocessor's ``size``."""
    size = cfg.get('crop_size') or cfg.model.data_preprocessor.get('size')
    if not size:
        raise ValueError('the config has neither crop_size nor model.data_preprocessor.size: '
                         'pass --crop-size H W')
    return int(size[0]), int(size[1])


def build_model(cfg, device: torch.device, seed: int = 0) -> nn.Module:
    """The config's model (pretrained loading dropped), initialised from ``seed``, in train mode."""
    import mmewa  # noqa: F401  (registers the EWA backbones)
    from mmewa.builder import build_model as build
    torch.manual_seed(seed)
    with quiet_mmengine():
        model = build(cfg)
        model.init_weights()
    model.to(device)
    model.train()  # not chained: some backbones' train() returns None
    return model


def synthetic_batch(model: nn.Module, cfg, batch_size: int, device: torch.device, seed: int = 0):
    """A preprocessed batch of random uint8 images and random labels at the config's input size."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    h, w = input_size(cfg)
    num_classes = cfg.model.decode_head.num_classes
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g))
        sample = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, h, w), generator=g))
        samples.append(sample)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    return data['inputs'].to(device), [s.to(device) for s in data['data_samples']]


def expert_params(model: nn.Module) -> list[torch.Tensor]:
    """The stacked expert tensors EWAHook averages (same discovery as the hook)."""
    from mmewa.engine import find_expert_layers
    return [p for m in find_expert_layers(model).values() for p in m.expert_parameters()]


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------------------
# 1. a segmentor training iteration
# ----------------------------------------------------------------------------------------------------
class TrainStep:
    """One training iteration, as the Runner + EWAHook do it: forward, backward, optimizer step, EWA.

    Calling it returns the seconds each phase took (device-synchronised between phases).
    """

    def __init__(self, model: nn.Module, cfg, batch, device: torch.device, amp: str, share_rate: float):
        from mmengine.optim import build_optim_wrapper
        optim_cfg = cfg.optim_wrapper.copy()
        optim_cfg['type'] = 'OptimWrapper'  # bf16 autocast needs no loss scaler; AMP is done here
        self.model, self.batch, self.device, self.amp = model, batch, device, amp
        with quiet_mmengine():  # it logs every parameter's lr/decay multipliers
            self.optimizer = build_optim_wrapper(model, optim_cfg).optimizer
        self.experts = expert_params(model)
        self.share_rate = share_rate

    def _lap(self, t0: float) -> tuple[float, float]:
        synchronize(self.device)
        t1 = time.perf_counter()
        return t1 - t0, t1

    def __call__(self) -> dict[str, float]:
        from mmewa import ewa_
        inputs, samples = self.batch
        t = time.perf_counter()
        with autocast(self.device, self.amp):
            loss, _ = self.model.parse_losses(self.model(inputs, samples, mode='loss'))
        phases = {}
        phases['forward'], t = self._lap(t)
        loss.backward()
        phases['backward'], t = self._lap(t)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        phases['optimizer'], t = self._lap(t)
        if self.experts:
            ewa_(self.experts, self.share_rate)
            phases['ewa'], t = self._lap(t)
        return phases

    def state_bytes(self) -> int:
        """Parameters, gradients and optimizer state alive between iterations."""
        state = [v for s in self.optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        return tensor_bytes(list(self.model.parameters()) + grads + state)


def bench_train(args, std_cfg, ewa_cfg, config_paths: Sequence[str], device: torch.device,
                make_batch: Callable = None) -> tuple[dict, nn.Module]:
    """Sections 1 and 6: EWA vs standard training iteration, same batch; the results and the EWA model."""
    make_batch = make_batch or synthetic_batch
    steps, phase_log = {}, {}
    for name, cfg in (('standard', std_cfg), ('ewa', ewa_cfg)):
        model = build_model(cfg, device)
        batch_size = args.batch_size or cfg.train_dataloader.batch_size
        batch = make_batch(model, cfg, batch_size, device)
        steps[name] = TrainStep(model, cfg, batch, device, args.amp, args.share_rate)
        phase_log[name] = []
    fns = {name: (lambda n=name: phase_log[n].append(steps[n]())) for name in steps}
    times = interleaved(fns, args.reps, args.warmup, device)
    for log in phase_log.values():
        del log[:len(log) - args.reps]  # keep the timed repetitions only
    ewa_times = [p['ewa'] for p in phase_log['ewa']]
    memory = {}
    for name, step in steps.items():
        gc.collect()
        peak = peak_memory(step, device)
        memory[name] = dict(state_mb=step.state_bytes() / 2**20, peak_delta_mb=peak / 2**20)
        memory[name]['peak_total_mb'] = memory[name]['state_mb'] + memory[name]['peak_delta_mb']
    ewa_model = steps['ewa'].model
    result = dict(
        configs=dict(standard=config_paths[0], ewa=config_paths[1]),
        batch_size=int(steps['ewa'].batch[0].shape[0]), input_size=list(steps['ewa'].batch[0].shape[-2:]),
        tokens_per_image=_tokens(ewa_model, steps['ewa'].batch[0]),
        params=dict(standard=num_params(steps['standard'].model), ewa=num_params(ewa_model)),
        expert_tensors=len(steps['ewa'].experts),
        time_ms=dict(standard=median_ms(times['standard']), ewa=median_ms(times['ewa'])),
        time_ratio=ratio(times['ewa'], times['standard']),
        phases_ms={name: {k: median_ms([p[k] for p in log]) for k in log[0]}
                   for name, log in phase_log.items()},
        ewa_fraction_of_iteration=ratio(ewa_times, times['ewa']),
        memory=memory,
        memory_ratio=dict(peak_total=memory['ewa']['peak_total_mb'] / memory['standard']['peak_total_mb'],
                          peak_delta=memory['ewa']['peak_delta_mb'] / memory['standard']['peak_delta_mb'],
                          state=memory['ewa']['state_mb'] / memory['standard']['state_mb']),
    )
    return result, ewa_model


def synthetic_det_batch(model: nn.Module, cfg, batch_size: int, device: torch.device, seed: int = 0):
    """Random uint8 images at the config's ``img_scale`` with three random boxes (and box masks) each."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    w, h = cfg.get('img_scale') or (320, 320)
    head = cfg.model.get('roi_head', {}).get('bbox_head') or cfg.model.bbox_head
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g))
        xy = torch.rand(3, 2, generator=g) * torch.tensor([w / 2, h / 2])
        wh = (0.2 + 0.3 * torch.rand(3, 2, generator=g)) * torch.tensor([w, h])
        boxes = torch.cat([xy, xy + wh], dim=1)
        masks = torch.zeros(3, h, w, dtype=torch.uint8)
        for m, (x1, y1, x2, y2) in zip(masks, boxes.round().int().tolist()):
            m[y1:y2, x1:x2] = 1
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0)))
        labels = torch.randint(0, head.num_classes, (3,), generator=g)
        sample.gt_instances = InstanceData(bboxes=boxes, labels=labels,
                                           masks=BitmapMasks(masks.numpy(), h, w))
        samples.append(sample)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    return data['inputs'].to(device), [s.to(device) for s in data['data_samples']]


def _tokens(model: nn.Module, inputs: torch.Tensor) -> int | None:
    """Patch tokens per image of a ViT-like backbone (for the record), if it has a patch size."""
    size = getattr(model.backbone, 'patch_size', None)
    if size is None:
        return None
    ph, pw = (size, size) if isinstance(size, int) else size
    return math.ceil(inputs.shape[-2] / ph) * math.ceil(inputs.shape[-1] / pw)


# ----------------------------------------------------------------------------------------------------
# 2. the FFN alone
# ----------------------------------------------------------------------------------------------------
class LoopMoE(nn.Module):
    """The naive MoE an EWAFFN replaces: split the tokens, loop over experts with ``F.linear``, merge.

    Shares ``ewa``'s weights and draws the same partition from the RNG (one ``randperm``, expert ``e``
    takes permuted positions ``e, e+E, ...``), so with the same seed it computes what ``ewa`` computes.
    """

    def __init__(self, ewa: nn.Module) -> None:
        super().__init__()
        self.ewa = ewa

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        num_experts = self.ewa.num_experts
        perm = torch.randperm(flat.shape[0], device=x.device)
        chunks = [perm[e::num_experts] for e in range(num_experts)]
        outs = self.ewa.experts.forward_reference([flat[idx] for idx in chunks])
        order = torch.cat(chunks).argsort()
        out = torch.cat(outs)[order]
        return self.ewa.around_mlp(out.view(*x.shape[:-1], -1), x)


def mmcv_ffn_triple(dims: int, num_experts: int) -> tuple[nn.Module, nn.Module, nn.Module]:
    """mmcv FFN (ViT's: GELU, ratio 4), the EWAFFN upcycled from it, and the Python-loop MoE."""
    from mmcv.cnn.bricks.transformer import FFN

    from mmewa import EWAFFN
    dense = FFN(dims, 4 * dims, act_cfg=dict(type='GELU'))
    ewa = EWAFFN.from_ffn(dense, num_experts)
    return dense, ewa, LoopMoE(ewa)


def family_triple(make_dense: Callable[[int], nn.Module]) -> Callable[[int, int], tuple]:
    """(dense MLP, its EWA expert layer, the loop MoE) for an MLP family other than mmcv's FFN."""
    def triple(dims: int, num_experts: int) -> tuple[nn.Module, nn.Module, nn.Module]:
        from mmewa import EWAMoE
        dense = make_dense(dims)
        ewa = EWAMoE.from_mlp(dense, num_experts)
        return dense, ewa, LoopMoE(ewa)
    return triple


def _deit3_ffn(dims: int) -> nn.Module:
    from mmpretrain.models.backbones.deit3 import DeiT3FFN
    return DeiT3FFN(dims, 4 * dims, act_cfg=dict(type='GELU'), use_layer_scale=False)  # (1e-5 scale: ~no MLP)


def _swiglu_ffn(dims: int) -> nn.Module:  # EVA-02's: hidden 8/3 x dims, sub-LN
    from mmpretrain.models.utils import SwiGLUFFN
    return SwiGLUFFN(dims, dims * 8 // 3, norm_cfg=dict(type='LN'))


def _timm_mlp(dims: int) -> nn.Module:  # fc1 / act / fc2 (mmpretrain's HiViT Mlp)
    from mmpretrain.models.backbones.hivit import Mlp
    return Mlp(dims, 4 * dims)


# MLP family -> (dims, num_experts) -> (dense module, its expert layer, the per-expert loop reference).
# Section 2 times every family given to --ffn-families; a new MLP family adds one entry here.
FFN_FAMILIES: dict[str, Callable[[int, int], tuple[nn.Module, nn.Module, nn.Module]]] = dict(
    mmcv_ffn=mmcv_ffn_triple, deit3_ffn=family_triple(_deit3_ffn), swiglu_ffn=family_triple(_swiglu_ffn),
    timm_mlp=family_triple(_timm_mlp))


def ffn_variants(dims: int, num_experts: int, device: torch.device,
                 family: str = 'mmcv_ffn') -> dict[str, nn.Module]:
    """One family's dense MLP, expert layer and loop MoE, in train mode, with experts that differ."""
    torch.manual_seed(0)
    dense, ewa, loop = FFN_FAMILIES[family](dims, num_experts)
    dense, ewa, loop = (m.to(device).train() for m in (dense, ewa, loop))
    with torch.no_grad():  # make the experts differ, as they do during training
        for p in ewa.expert_parameters():
            p.add_(0.01 * torch.randn_like(p))
    return dict(ffn=dense, ewa_ffn=ewa, loop_moe=loop)


def fwd_bwd(module: nn.Module, x: torch.Tensor, grad: torch.Tensor, device: torch.device,
            amp: str) -> Callable[[], None]:
    """One forward + backward of ``module`` on ``x`` (which needs grad, as inside a network)."""
    params = list(module.parameters())

    def run() -> None:
        for p in params:
            p.grad = None
        x.grad = None
        with autocast(device, amp):
            out = module(x)
        out.backward(grad.to(out.dtype))
    return run


def bench_ffn(args, device: torch.device) -> dict:
    """Section 2: dense FFN vs EWAFFN vs loop MoE, forward + backward, per (width, tokens)."""
    rows = []
    for family, dims in ((f, d) for f in args.ffn_families for d in args.ffn_dims):
        variants = ffn_variants(dims, args.num_experts, device, family)
        for tokens in args.ffn_tokens:
            g = torch.Generator().manual_seed(0)
            x = torch.randn(args.ffn_batch, tokens, dims, generator=g).to(device).requires_grad_()
            grad = torch.randn(args.ffn_batch, tokens, dims, generator=g).to(device)
            fns = {name: fwd_bwd(m, x, grad, device, args.amp) for name, m in variants.items()}
            times = interleaved(fns, args.reps, args.warmup, device)
            rows.append(dict(
                family=family, dims=dims, hidden=4 * dims, batch=args.ffn_batch, tokens=tokens,
                time_ms={name: median_ms(t) for name, t in times.items()},
                ewa_vs_dense=ratio(times['ewa_ffn'], times['ffn']),
                loop_vs_dense=ratio(times['loop_moe'], times['ffn']),
                ewa_vs_loop=ratio(times['ewa_ffn'], times['loop_moe'])))
    worst = max(rows, key=lambda r: r['ewa_vs_dense']['median'])
    profile = profile_ffn(args, worst, device) if args.profile else None
    return dict(num_experts=args.num_experts, amp=args.amp, rows=rows, profile=profile)


def profile_ffn(args, row: dict, device: torch.device) -> dict:
    """torch.profiler's top ops (self time) of EWAFFN and of the dense FFN (at the worst ratio's size)."""
    dims, tokens = row['dims'], row['tokens']
    variants = ffn_variants(dims, args.num_experts, device, row['family'])
    x = torch.randn(args.ffn_batch, tokens, dims, device=device, requires_grad=True)
    grad = torch.randn_like(x)
    out = dict(family=row['family'], dims=dims, tokens=tokens, batch=args.ffn_batch)
    for name in ('ewa_ffn', 'ffn'):
        fn = fwd_bwd(variants[name], x, grad, device, args.amp)
        for _ in range(max(args.warmup, 1)):
            fn()
        out[name] = top_ops(fn, device, k=args.profile_top)
    return out


# ----------------------------------------------------------------------------------------------------
# 7. the depthwise MixFFN (SegFormer, PVT v2) alone; 8. the routed MoE's dropless buffer
# ----------------------------------------------------------------------------------------------------
class LoopMixFFN(nn.Module):
    """The per-expert loop a depthwise-MixFFN EWA layer replaces: every expert runs its whole MixFFN on the
    full map and each token keeps its expert's output (``owner``: ``[B, L]``, fixed when built). Given the
    owner map of the layer's own partition it computes what the layer computes (tested)."""

    def __init__(self, ewa: nn.Module, owner: torch.Tensor) -> None:
        super().__init__()
        self.ewa, self.owner = ewa, owner

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        return self.ewa.around_mlp(self.ewa.experts.forward_reference(x, hw_shape, self.owner), x, hw_shape)


def mixffn_variants(side: int, dims: int, hidden: int, batch: int, num_experts: int,
                    device: torch.device) -> dict[str, nn.Module]:
    """mmseg's MixFFN, its EWA layer (experts that differ) and the loop over the layer's last partition."""
    from mmseg.models.backbones.mit import MixFFN

    from mmewa import EWAMoE
    from mmewa.models.layers.mixffn_experts import expert_of_each_token
    torch.manual_seed(0)
    dense = MixFFN(dims, hidden).to(device).train()
    ewa = EWAMoE.from_mlp(dense, num_experts).train()
    with torch.no_grad():
        for p in ewa.expert_parameters():
            p.add_(0.01 * torch.randn_like(p))
    part, tile, groups = ewa.cell_partition(batch, (side, side), device)
    owner = expert_of_each_token(part, batch, (side, side), tile, num_experts, groups).to(device)
    return dict(mixffn=dense, ewa=ewa, loop=LoopMixFFN(ewa, owner), tile=tile)


def bench_mixffn(args, device: torch.device) -> dict:
    """Section 7: upstream MixFFN vs its EWA layer vs the per-expert loop, forward + backward."""
    rows = []
    for side, dims, hidden in args.mixffn_stages:
        variants = mixffn_variants(side, dims, hidden, args.mixffn_batch, args.num_experts, device)
        tile = variants.pop('tile')
        g = torch.Generator().manual_seed(0)
        x = torch.randn(args.mixffn_batch, side * side, dims, generator=g).to(device).requires_grad_()
        grad = torch.randn(args.mixffn_batch, side * side, dims, generator=g).to(device)
        fns = {name: fwd_bwd(_WithShape(m, (side, side)), x, grad, device, args.amp)
               for name, m in variants.items()}
        times = interleaved(fns, args.reps, args.warmup, device)
        rows.append(dict(side=side, dims=dims, hidden=hidden, batch=args.mixffn_batch, tile=tile,
                         time_ms={name: median_ms(t) for name, t in times.items()},
                         ewa_vs_dense=ratio(times['ewa'], times['mixffn']),
                         loop_vs_dense=ratio(times['loop'], times['mixffn']),
                         ewa_vs_loop=ratio(times['ewa'], times['loop'])))
    return dict(num_experts=args.num_experts, amp=args.amp, rows=rows)


class _WithShape(nn.Module):
    """``module(x, hw_shape)`` as ``module(x)`` (for :func:`fwd_bwd`)."""

    def __init__(self, module: nn.Module, hw_shape: tuple[int, int]) -> None:
        super().__init__()
        self.module, self.hw_shape = module, hw_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x, self.hw_shape)


def padded_capacity(num_tokens: int, experts: torch.Tensor | None = None) -> int:
    """The dropless buffer without the host read: ``N`` rows per expert (what a GPU run uses)."""
    return num_tokens


def routed_variants(device: torch.device, num_experts: int = 4) -> dict[str, nn.Module]:
    """The dense FFN(64, 256), its routed top-2 MoE (tight buffer) and the same MoE with padded buffers."""
    import copy

    from mmcv.cnn.bricks.transformer import FFN

    from mmewa.models.layers import RoutedMoEFFN
    torch.manual_seed(0)
    dense = FFN(64, 256, act_cfg=dict(type='GELU')).to(device).train()
    tight = RoutedMoEFFN.from_ffn(dense, num_experts, top_k=2, aux_weight=0.0).train()
    padded = copy.deepcopy(tight)
    padded.capacity = padded_capacity  # instance attribute: shadows the method for this layer only
    return dict(ffn=dense, tight=tight, padded=padded)


def bench_routed(args, device: torch.device) -> dict:
    """Section 8: the routed MoE's tight dropless buffer vs the padded one (and vs the dense FFN)."""
    batch, tokens = args.routed_tokens
    variants = routed_variants(device, args.num_experts)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, tokens, 64, generator=g).to(device).requires_grad_()
    grad = torch.randn(batch, tokens, 64, generator=g).to(device)
    fns = {name: fwd_bwd(m, x, grad, device, args.amp) for name, m in variants.items()}
    times = interleaved(fns, args.reps, args.warmup, device)
    return dict(layer='RoutedMoEFFN(64, 256, E=4, top_k=2), dropless', batch=batch, tokens=tokens,
                num_experts=args.num_experts, time_ms={name: median_ms(t) for name, t in times.items()},
                tight_vs_padded=ratio(times['tight'], times['padded']),
                tight_vs_dense=ratio(times['tight'], times['ffn']),
                padded_vs_dense=ratio(times['padded'], times['ffn']))


# ----------------------------------------------------------------------------------------------------
# 3. the EWA update
# ----------------------------------------------------------------------------------------------------
def bench_ewa_update(args, params: list[torch.Tensor], seg: dict | None, device: torch.device) -> dict:
    """Section 3: ``ewa_`` vs one ``_foreach_lerp_`` over the same tensors (floor) and vs the oracle."""
    from mmewa import ewa_, ewa_coefficient, ewa_reference_
    if not params:
        raise ValueError('the EWA model has no expert parameters')
    alpha = ewa_coefficient(args.share_rate, params[0].shape[0])
    with torch.no_grad():
        means = [p.mean(0, keepdim=True).expand_as(p) for p in params]

    @torch.no_grad()
    def floor() -> None:
        torch._foreach_lerp_(params, means, alpha)
    fns = dict(ewa_=lambda: ewa_(params, args.share_rate), floor=floor)
    times = interleaved(fns, args.reps, args.warmup, device)
    ref = interleaved(dict(ewa_=fns['ewa_'], reference=lambda: ewa_reference_(params, args.share_rate)),
                      args.ref_reps, 1, device)
    nbytes = tensor_bytes(params)
    result = dict(
        tensors=len(params), numel=sum(p.numel() for p in params), mb=nbytes / 2**20,
        time_ms=dict(ewa_=median_ms(times['ewa_']), floor=median_ms(times['floor']),
                     reference=median_ms(ref['reference'])),
        ewa_vs_floor=ratio(times['ewa_'], times['floor']),
        reference_vs_ewa=ratio(ref['reference'], ref['ewa_']),
        floor_gb_per_s=2 * nbytes / (median_ms(times['floor']) / 1e3) / 1e9,  # read + write once
    )
    if seg is not None:
        result['fraction_of_iteration'] = seg['ewa_fraction_of_iteration']
    return result


# ----------------------------------------------------------------------------------------------------
# 4. deployment
# ----------------------------------------------------------------------------------------------------
class TensorForward(nn.Module):
    """``model(x, mode='tensor')`` as a plain module, for FLOP counting and latency."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        return self.model(x, mode='tensor')


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    """Total FLOPs (fvcore convention: one multiply-add = 1) of the tensor-mode forward."""
    from mmengine.analysis import FlopAnalyzer
    with quiet_mmengine():
        analyzer = FlopAnalyzer(TensorForward(model), (x,))
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analyzer.total())


def bench_deploy(args, std_cfg, ewa_cfg, device: torch.device) -> dict:
    """Section 4: collapse the EWA model, load it strictly into the standard config, compare."""
    from mmewa import collapse_state_dict
    std = build_model(std_cfg, device, seed=0)
    ewa = build_model(ewa_cfg, device, seed=1)
    with torch.no_grad():  # make the experts differ, so collapsing really averages something
        for p in expert_params(ewa):
            p.add_(0.01 * torch.randn_like(p))
    deployed = build_model(std_cfg, device, seed=2)
    deployed.load_state_dict(collapse_state_dict(ewa.state_dict()), strict=True)
    models = dict(standard=std, collapsed=deployed, ewa_eval=ewa)
    for m in models.values():
        m.eval()
    h, w = input_size(std_cfg)
    batch = args.batch_size or std_cfg.train_dataloader.batch_size
    x = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        flops = {name: count_flops(m, x[:1]) for name, m in models.items()}

    def infer(m: nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad(), autocast(device, args.amp):
                m(x, mode='tensor')
        return run
    times = interleaved({name: infer(m) for name, m in models.items()}, args.reps, args.warmup, device)
    params = {name: num_params(m) for name, m in models.items()}
    return dict(
        batch_size=batch, input_size=[h, w], params=params, flops_per_image=flops,
        time_ms={name: median_ms(t) for name, t in times.items()},
        latency_ratio=ratio(times['collapsed'], times['standard']),
        ewa_eval_latency_ratio=ratio(times['ewa_eval'], times['standard']),
    )


# ----------------------------------------------------------------------------------------------------
# 5. torch.compile
# ----------------------------------------------------------------------------------------------------
def check_compile(args, device: torch.device) -> dict:
    """Section 5: does ``torch.compile(EWAFFN, fullgraph=True)`` trace and match eager, per backend?"""
    dims, tokens = min(args.ffn_dims), min(args.ffn_tokens)
    results = {}
    for backend in args.compile_backends:
        results[backend] = compile_one(backend, dims, tokens, args, device)
    return dict(dims=dims, tokens=tokens, batch=args.ffn_batch, backends=results)


def compile_one(backend: str, dims: int, tokens: int, args, device: torch.device) -> dict:
    """Compile one EWAFFN with ``backend``; forward + backward must match eager on the same RNG draw."""
    import torch._dynamo
    torch._dynamo.reset()
    eager = ffn_variants(dims, args.num_experts, device)['ewa_ffn']
    x = torch.randn(args.ffn_batch, tokens, dims, device=device)
    inductor_cfg = _inductor_config() if backend == 'inductor' else None
    previous = getattr(inductor_cfg, 'fallback_random', None)
    try:
        if inductor_cfg is not None:
            inductor_cfg.fallback_random = True  # eager's RNG stream, so partitions match eager
        compiled = torch.compile(eager, backend=backend, fullgraph=True)
        t0 = time.perf_counter()
        out_c, grads_c = _fwd_bwd_with_seed(compiled, x)
        synchronize(device)
        compile_s = time.perf_counter() - t0
        out_e, grads_e = _fwd_bwd_with_seed(eager, x)
        diff = max([float((out_c - out_e).abs().max())] +
                   [float((a - b).abs().max()) for a, b in zip(grads_c, grads_e)])
        result = dict(ok=True, first_call_s=compile_s, max_abs_diff_vs_eager=diff)
        if backend == 'inductor':
            grad = torch.randn_like(x)
            xg = x.clone().requires_grad_()
            times = interleaved(dict(compiled=fwd_bwd(compiled, xg, grad, device, 'none'),
                                     eager=fwd_bwd(eager, xg, grad, device, 'none')),
                                args.reps, args.warmup, device)
            result['compiled_vs_eager'] = ratio(times['compiled'], times['eager'])
        return result
    except Exception as e:  # report, don't crash: this is what the section measures
        lines = traceback.format_exception_only(type(e), e)
        return dict(ok=False, error=''.join(lines).strip()[:2000])
    finally:
        if inductor_cfg is not None:
            inductor_cfg.fallback_random = previous


def _inductor_config():
    import torch._inductor.config as cfg
    return cfg


def _fwd_bwd_with_seed(module: nn.Module, x: torch.Tensor, seed: int = 3):
    xg = x.clone().requires_grad_()
    for p in module.parameters():
        p.grad = None
    torch.manual_seed(seed)
    out = module(xg)
    out.square().sum().backward()
    grads = [xg.grad] + [p.grad for p in module.parameters()]
    return out.detach(), [g.detach() for g in grads]


# ----------------------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------------------
def _r(x: dict) -> str:
    return f"{x['median']:.3f} [{x['p25']:.3f}, {x['p75']:.3f}]"


def format_report(results: dict) -> str:
    """The human-readable table (ratios: median [p25, p75] of the paired per-repetition ratios)."""
    m = results['machine']
    lines = [f"machine: {m['cpu']} x{m['cpu_count']}, torch {m['torch']}, device {m['device']}, "
             f"threads {m['threads']}, amp {results['args']['amp']}, load {m['load_average']}"]
    formatters = dict(seg=_fmt_seg, det=_fmt_seg, ffn=_fmt_ffn, ewa=_fmt_ewa, deploy=_fmt_deploy,
                      compile=_fmt_compile, mixffn=_fmt_mixffn, routed=_fmt_routed)
    for name, fmt in formatters.items():
        if results.get(name):
            lines += [''] + fmt(results[name])
    return '\n'.join(lines)


def _fmt_seg(seg: dict) -> list[str]:
    mem, tm = seg['memory'], seg['time_ms']
    lines = [f"training iteration  {seg['configs']['ewa']}  batch {seg['batch_size']}, "
             f"input {seg['input_size']}, {seg['tokens_per_image']} tokens/image",
             f"  time ms      standard {tm['standard']:.1f}   ewa {tm['ewa']:.1f}   "
             f"ratio {_r(seg['time_ratio'])}"]
    for name, phases in seg['phases_ms'].items():
        lines.append(f'  phases {name:9s}' + '  '.join(f'{k} {v:.1f}' for k, v in phases.items()))
    mem_std, mem_ewa = (f"{mem[k]['peak_total_mb']:.1f} (state {mem[k]['state_mb']:.1f} + peak "
                        f"{mem[k]['peak_delta_mb']:.1f})" for k in ('standard', 'ewa'))
    return lines + [
        f"  memory MB    standard {mem_std}   ewa {mem_ewa}   ratio {seg['memory_ratio']['peak_total']:.3f}",
        f"  params       standard {seg['params']['standard']:,}   ewa {seg['params']['ewa']:,}",
        f"  ewa_ share of the EWA iteration {_r(seg['ewa_fraction_of_iteration'])}"]


def _fmt_ffn(ffn: dict) -> list[str]:
    lines = [f"[2] FFN forward+backward, {ffn['num_experts']} experts (ms; ratios median [p25, p75])",
             f"  {'family':>9} {'dims':>5} {'batch x tokens':>15} {'ffn':>8} {'ewa_ffn':>8} {'loop':>8}"
             f"  {'ewa/ffn':>24}  {'loop/ffn':>24}  {'ewa/loop':>24}"]
    for r in ffn['rows']:
        tm, shape = r['time_ms'], f"{r['batch']} x {r['tokens']}"
        ratios = '  '.join(f'{_r(r[k]):>24}' for k in ('ewa_vs_dense', 'loop_vs_dense', 'ewa_vs_loop'))
        lines.append(f"  {r['family']:>9} {r['dims']:>5} {shape:>15} {tm['ffn']:8.2f} {tm['ewa_ffn']:8.2f} "
                     f"{tm['loop_moe']:8.2f}  {ratios}")
    prof = ffn.get('profile')
    for name in (('ewa_ffn', 'ffn') if prof else ()):
        lines.append(f"  top ops {name} (dims {prof['dims']}, {prof['batch']} x {prof['tokens']}): " +
                     ', '.join(f"{o['op']} {100 * o['share']:.0f}%" for o in prof[name][:6]))
    return lines


def _fmt_mixffn(mix: dict) -> list[str]:
    lines = [f"[7] depthwise MixFFN forward+backward, {mix['num_experts']} experts (ms; ratios median "
             '[p25, p75])',
             f"  {'map':>9} {'C':>4} {'hidden':>6} {'tile':>4} {'mixffn':>8} {'ewa':>8} {'loop':>8}"
             f"  {'ewa/mixffn':>24}  {'loop/mixffn':>24}  {'ewa/loop':>24}"]
    for r in mix['rows']:
        tm, shape = r['time_ms'], f"{r['batch']}x{r['side']}^2"
        ratios = '  '.join(f'{_r(r[k]):>24}' for k in ('ewa_vs_dense', 'loop_vs_dense', 'ewa_vs_loop'))
        lines.append(f"  {shape:>9} {r['dims']:>4} {r['hidden']:>6} {r['tile']:>4} {tm['mixffn']:8.2f} "
                     f"{tm['ewa']:8.2f} {tm['loop']:8.2f}  {ratios}")
    return lines


def _fmt_routed(rt: dict) -> list[str]:
    tm = rt['time_ms']
    return [f"[8] {rt['layer']} on {rt['batch']} x {rt['tokens']} tokens, forward+backward",
            f"  ms   ffn {tm['ffn']:.2f}   tight {tm['tight']:.2f}   padded {tm['padded']:.2f}",
            f"  tight/padded {_r(rt['tight_vs_padded'])}   tight/ffn {_r(rt['tight_vs_dense'])}   "
            f"padded/ffn {_r(rt['padded_vs_dense'])}"]


def _fmt_ewa(ewa: dict) -> list[str]:
    tm = ewa['time_ms']
    lines = [f"[3] EWA update over {ewa['tensors']} tensors, {ewa['mb']:.1f} MB",
             f"  ms   ewa_ {tm['ewa_']:.3f}   floor {tm['floor']:.3f}   reference {tm['reference']:.3f}"
             f"   (floor {ewa['floor_gb_per_s']:.1f} GB/s)",
             f"  ewa_/floor {_r(ewa['ewa_vs_floor'])}   reference/ewa_ {_r(ewa['reference_vs_ewa'])}"]
    if 'fraction_of_iteration' in ewa:
        lines.append(f"  share of a training iteration {_r(ewa['fraction_of_iteration'])}")
    return lines


def _fmt_deploy(dep: dict) -> list[str]:
    return [f"[4] deployment  batch {dep['batch_size']}, input {dep['input_size']}",
            '  params     ' + '   '.join(f'{k} {v:,}' for k, v in dep['params'].items()),
            '  FLOPs/img  ' + '   '.join(f'{k} {v:,}' for k, v in dep['flops_per_image'].items()),
            f"  latency    collapsed/standard {_r(dep['latency_ratio'])}   "
            f"ewa_eval/standard {_r(dep['ewa_eval_latency_ratio'])}"]


def _fmt_compile(comp: dict) -> list[str]:
    lines = ['[5] torch.compile(EWAFFN, fullgraph=True), train mode']
    if comp.get('skipped'):
        lines.append(f"  skipped ({comp['skipped']})")
    for backend, r in comp.get('backends', {}).items():
        if r['ok']:
            extra = f", compiled/eager {_r(r['compiled_vs_eager'])}" if 'compiled_vs_eager' in r else ''
            lines.append(f"  {backend:10s} ok (first call {r['first_call_s']:.1f} s, max diff vs eager "
                         f"{r['max_abs_diff_vs_eager']:.1e}{extra})")
        else:
            lines.append(f"  {backend:10s} FAILED: {r['error'].splitlines()[0][:200]}")
    return lines


# ----------------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------------
def _stage(text: str) -> tuple[int, int, int]:
    side, dims, hidden = (int(v) for v in text.split(','))
    return side, dims, hidden


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true', help='tiny sizes and few repetitions (seconds; for tests)')
    p.add_argument('--out', help='write the results as JSON to this file')
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda' (default cpu)")
    p.add_argument('--amp', choices=('none', 'bf16'), default='none',
                   help='bf16 autocast over fp32 weights for training and FFN timings (default none)')
    p.add_argument('--sections', nargs='+', choices=SECTIONS, default=list(SECTIONS),
                   help='sections to run (default all; compile also needs --compile)')
    p.add_argument('--seg-config', nargs=2, metavar=('STD', 'EWA'), default=list(DEFAULT_SEG),
                   help='standard config and its EWA twin (default the tiny demo pair)')
    p.add_argument('--det-config', nargs=2, metavar=('STD', 'EWA'), default=list(DEFAULT_DET),
                   help='detector config and its EWA twin for section 6 (default the tiny demo pair)')
    p.add_argument('--crop-size', type=int, nargs=2, metavar=('H', 'W'),
                   help="override both configs' input size (backbone img_size and preprocessor size)")
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='merged into both configs')
    p.add_argument('--batch-size', type=int, help="segmentor batch (default: the config's train batch)")
    p.add_argument('--reps', type=int, help='timed repetitions per variant (default 10, quick 3)')
    p.add_argument('--warmup', type=int, help='untimed rounds first (default 2, quick 1)')
    p.add_argument('--ref-reps', type=int, help='repetitions of the slow ewa_reference_ (default 3)')
    p.add_argument('--ffn-dims', type=int, nargs='+', help='FFN widths (hidden = 4x; default 192 384 768)')
    p.add_argument('--ffn-tokens', type=int, nargs='+', help='tokens per sample (default 196 1024)')
    p.add_argument('--ffn-batch', type=int, help='samples per FFN batch (default 4)')
    p.add_argument('--ffn-families', nargs='+', choices=sorted(FFN_FAMILIES), default=sorted(FFN_FAMILIES),
                   help='MLP families for section 2 (default all)')
    p.add_argument('--num-experts', type=int, default=4, help='experts in the FFN section (default 4)')
    p.add_argument('--mixffn-batch', type=int, default=2, help='images per MixFFN batch (default 2)')
    p.add_argument('--mixffn-stages', type=_stage, nargs='+',
                   help='MixFFN sizes SIDE,C,HIDDEN (default: MiT-B0 at 512 px: 128,32,128 64,64,256 ...)')
    p.add_argument('--routed-tokens', type=int, nargs=2, metavar=('BATCH', 'TOKENS'),
                   help='routed MoE input (default 128 65)')
    p.add_argument('--share-rate', type=float, default=0.3, help='EWA share rate beta (default 0.3)')
    p.add_argument('--no-profile', dest='profile', action='store_false', help='skip the EWAFFN op profile')
    p.add_argument('--profile-top', type=int, default=10, help='ops listed in the profile (default 10)')
    p.add_argument('--compile', action='store_true', help='run section 5 (torch.compile; slow on CPU)')
    p.add_argument('--compile-backends', nargs='+', default=['eager', 'aot_eager', 'inductor'],
                   help='backends for --compile (default eager aot_eager inductor)')
    p.add_argument('--threads', type=int, help='torch.set_num_threads (CPU)')
    args = p.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def run(args: argparse.Namespace) -> dict:
    """Run the selected sections; returns the results dict that ``--out`` writes.

    ``--threads`` is undone afterwards, so in-process callers (the tests) keep their thread count.
    """
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('benchmark_ewa: --device cuda but torch.cuda.is_available() is False')
    threads = torch.get_num_threads()
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        return run_sections(args, device)
    finally:
        torch.set_num_threads(threads)


def run_sections(args: argparse.Namespace, device: torch.device) -> dict:
    """The sections in order; section 3 reuses section 1's EWA model and its in-iteration timing."""
    results: dict = dict(machine=machine_info(device),
                         args={k: v for k, v in vars(args).items() if k != 'cfg_options'},
                         cfg_options=args.cfg_options)
    std_cfg = load_config(args.seg_config[0], args.crop_size, args.cfg_options)
    ewa_cfg = load_config(args.seg_config[1], args.crop_size, args.cfg_options)
    ewa_model = None
    if 'seg' in args.sections:
        results['seg'], ewa_model = bench_train(args, std_cfg, ewa_cfg, args.seg_config, device)
    if 'det' in args.sections:
        det_cfgs = [load_config(path, None, args.cfg_options) for path in args.det_config]
        # mmcv's nms / roi_align have no bf16 kernels (mmdet trains with fp16 AMP): the detector runs in fp32
        det_args = argparse.Namespace(**{**vars(args), 'amp': 'none'}) if args.amp == 'bf16' else args
        results['det'], _ = bench_train(det_args, *det_cfgs, args.det_config, device, synthetic_det_batch)
        results['det']['amp'] = det_args.amp
    if 'ffn' in args.sections:
        results['ffn'] = bench_ffn(args, device)
    if 'ewa' in args.sections:
        ewa_model = ewa_model if ewa_model is not None else build_model(ewa_cfg, device)
        results['ewa'] = bench_ewa_update(args, expert_params(ewa_model), results.get('seg'), device)
    del ewa_model
    if 'deploy' in args.sections:
        results['deploy'] = bench_deploy(args, std_cfg, ewa_cfg, device)
    if 'compile' in args.sections:
        results['compile'] = check_compile(args, device) if args.compile else dict(skipped='no --compile')
    if 'mixffn' in args.sections:
        results['mixffn'] = bench_mixffn(args, device)
    if 'routed' in args.sections:
        results['routed'] = bench_routed(args, device)
    results['machine']['load_average_end'] = list(os.getloadavg()) if hasattr(os, 'getloadavg') else None
    return results


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    t0 = time.perf_counter()
    results = run(args)
    results['command'] = ' '.join(['python tools/analysis_tools/benchmark_ewa.py'] + argv)
    results['wall_s'] = time.perf_counter() - t0
    print(format_report(results))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1) + '\n')
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
