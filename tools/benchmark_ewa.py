#!/usr/bin/env python
"""What EWA costs, measured side by side in one process: ratios, not absolute times.

    python tools/benchmark_ewa.py --out benchmarks/cpu_benchmark.json            # full CPU run
    python tools/benchmark_ewa.py --quick                                         # tiny, seconds
    python tools/benchmark_ewa.py --device cuda --amp bf16 --compile --out x.json # see benchmark_gpu.sh

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
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

os.environ.setdefault('KINETO_LOG_LEVEL', '5')  # keep torch.profiler's C++ chatter off the table

import torch  # noqa: E402
from torch import nn  # noqa: E402

SECTIONS = ('seg', 'ffn', 'ewa', 'deploy', 'compile')
DEFAULT_SEG = ('configs/demo/seg_vit_tiny.py', 'configs/demo/seg_ewa_vit_tiny.py')
TARGETS = dict(
    seg_time_ratio_max=1.05,
    ffn_ewa_vs_dense_max=1.10,
    ffn_ewa_vs_loop_max=1.0,
    ewa_fraction_of_iteration_max=0.01,
    ewa_vs_floor_max=1.5,
    deploy_latency_ratio_range=(0.95, 1.05),
)
QUICK = dict(reps=3, warmup=1, batch_size=1, ffn_dims=[32], ffn_tokens=[64], ffn_batch=2, ref_reps=2)
FULL = dict(reps=10, warmup=2, batch_size=None, ffn_dims=[192, 384, 768], ffn_tokens=[196, 1024], ffn_batch=4,
            ref_reps=3)


# ----------------------------------------------------------------------------------------------------
# measuring
# ----------------------------------------------------------------------------------------------------
def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so a wall-clock interval covers the work (no-op on CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def interleaved(fns: dict[str, Callable[[], object]], reps: int, warmup: int,
                device: torch.device) -> dict[str, list[float]]:
    """Seconds per call of each function, run in alternating order (A B, B A, ...) after ``warmup`` rounds.

    Alternating the order cancels "who runs first after the other one" effects (caches, clocks), and
    interleaving makes slow phases of a shared machine hit every variant alike.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    for rep in range(reps):
        for name in (names if rep % 2 == 0 else names[::-1]):
            synchronize(device)
            t0 = time.perf_counter()
            fns[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - t0)
    return times


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (``statistics.quantiles`` needs two or more values)."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def ratio(num: Sequence[float], den: Sequence[float]) -> dict[str, float]:
    """Median and quartiles of the per-repetition ratios ``num[i] / den[i]`` (paired: same moment)."""
    r = [a / b for a, b in zip(num, den)]
    return dict(median=statistics.median(r), p25=quantile(r, 0.25), p75=quantile(r, 0.75))


def median_ms(times: Sequence[float]) -> float:
    return 1e3 * statistics.median(times)


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors`` (views and shared storages counted once)."""
    seen: dict[int, int] = {}
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.numel():
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def peak_memory(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes allocated during ``fn()`` above what was allocated before it.

    CUDA: the caching allocator's own peak. CPU has no allocator statistics, so the allocation and free
    events that torch.profiler records are replayed in time order and their running sum's maximum is
    taken: the same quantity, exact and independent of other processes (unlike RSS).
    """
    if device.type == 'cuda':
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    from torch.profiler import ProfilerActivity, profile
    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == '[memory]' and e.device_type() == torch.autograd.DeviceType.CPU)
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


@contextlib.contextmanager
def quiet_stderr():
    """Silence file descriptor 2 (kineto prints profiler start/stop lines there from C++)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def quiet_mmengine():
    """MMEngine logs every parameter's init at INFO; those lines are not results."""
    import logging

    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def top_ops(fn: Callable[[], object], device: torch.device, k: int = 10) -> list[dict]:
    """The ``k`` ops with the most self time in one call of ``fn`` (CPU time, or device time on CUDA)."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == 'cuda' else [])
    with quiet_stderr(), profile(activities=activities) as prof:
        fn()
        synchronize(device)
    key = 'self_device_time_total' if device.type == 'cuda' else 'self_cpu_time_total'
    events = [e for e in prof.key_averages() if getattr(e, key, 0) > 0]
    total = sum(getattr(e, key) for e in events) or 1.0
    events.sort(key=lambda e: getattr(e, key), reverse=True)
    return [dict(op=e.key, self_ms=getattr(e, key) / 1e3, share=getattr(e, key) / total, calls=e.count)
            for e in events[:k]]


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """bf16 autocast over fp32 weights (what AMP training does), or nothing."""
    if amp == 'none':
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


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


def bench_seg(args, std_cfg, ewa_cfg, device: torch.device) -> tuple[dict, nn.Module]:
    """Section 1: EWA vs standard training iteration, same batch; returns the results and the EWA model."""
    steps, phase_log = {}, {}
    for name, cfg in (('standard', std_cfg), ('ewa', ewa_cfg)):
        model = build_model(cfg, device)
        batch_size = args.batch_size or cfg.train_dataloader.batch_size
        batch = synthetic_batch(model, cfg, batch_size, device)
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
        configs=dict(standard=args.seg_config[0], ewa=args.seg_config[1]),
        batch_size=int(steps['ewa'].batch[0].shape[0]), input_size=list(input_size(ewa_cfg)),
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


def ffn_variants(dims: int, num_experts: int, device: torch.device) -> dict[str, nn.Module]:
    """mmcv FFN (ViT's: GELU, ratio 4), the EWAFFN upcycled from it, and the Python-loop MoE."""
    from mmcv.cnn.bricks.transformer import FFN

    from mmewa import EWAFFN
    torch.manual_seed(0)
    dense = FFN(dims, 4 * dims, act_cfg=dict(type='GELU')).to(device).train()
    ewa = EWAFFN.from_ffn(dense, num_experts).train()
    with torch.no_grad():  # make the experts differ, as they do during training
        for p in ewa.expert_parameters():
            p.add_(0.01 * torch.randn_like(p))
    return dict(ffn=dense, ewa_ffn=ewa, loop_moe=LoopMoE(ewa))


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


def loop_matches_ewa(variants: dict[str, nn.Module], x: torch.Tensor) -> float:
    """Max |EWAFFN - loop MoE| on the same RNG draw: the loop really is the same computation."""
    with torch.no_grad():
        torch.manual_seed(1)
        a = variants['ewa_ffn'](x)
        torch.manual_seed(1)
        b = variants['loop_moe'](x)
    return float((a - b).abs().max())


def bench_ffn(args, device: torch.device) -> dict:
    """Section 2: dense FFN vs EWAFFN vs loop MoE, forward + backward, per (width, tokens)."""
    rows = []
    for dims in args.ffn_dims:
        variants = ffn_variants(dims, args.num_experts, device)
        for tokens in args.ffn_tokens:
            g = torch.Generator().manual_seed(0)
            x = torch.randn(args.ffn_batch, tokens, dims, generator=g).to(device).requires_grad_()
            grad = torch.randn(args.ffn_batch, tokens, dims, generator=g).to(device)
            fns = {name: fwd_bwd(m, x, grad, device, args.amp) for name, m in variants.items()}
            times = interleaved(fns, args.reps, args.warmup, device)
            rows.append(dict(
                dims=dims, hidden=4 * dims, batch=args.ffn_batch, tokens=tokens,
                time_ms={name: median_ms(t) for name, t in times.items()},
                ewa_vs_dense=ratio(times['ewa_ffn'], times['ffn']),
                loop_vs_dense=ratio(times['loop_moe'], times['ffn']),
                ewa_vs_loop=ratio(times['ewa_ffn'], times['loop_moe']),
                max_abs_diff_loop_vs_ewa=loop_matches_ewa(variants, x.detach())))
    worst = max(rows, key=lambda r: r['ewa_vs_dense']['median'])
    profile = profile_ffn(args, worst['dims'], worst['tokens'], device) if args.profile else None
    return dict(num_experts=args.num_experts, amp=args.amp, rows=rows, profile=profile)


def profile_ffn(args, dims: int, tokens: int, device: torch.device) -> dict:
    """torch.profiler's top ops (self time) of EWAFFN and of the dense FFN (at the worst ratio's size)."""
    variants = ffn_variants(dims, args.num_experts, device)
    x = torch.randn(args.ffn_batch, tokens, dims, device=device, requires_grad=True)
    grad = torch.randn_like(x)
    out = dict(dims=dims, tokens=tokens, batch=args.ffn_batch)
    for name in ('ewa_ffn', 'ffn'):
        fn = fwd_bwd(variants[name], x, grad, device, args.amp)
        for _ in range(max(args.warmup, 1)):
            fn()
        out[name] = top_ops(fn, device, k=args.profile_top)
    return out


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
        floor_gb_per_s=2 * nbytes / statistics.median(times['floor']) / 1e9,  # read + write once
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
        diff = float((models['collapsed'](x, mode='tensor') - ewa(x, mode='tensor')).abs().max())
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
        params_equal=params['collapsed'] == params['standard'],
        flops_equal=flops['collapsed'] == flops['standard'],
        max_abs_diff_collapsed_vs_ewa_eval=diff,
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
def machine_info(device: torch.device) -> dict:
    """What the numbers were measured on (and how busy it was)."""
    info = dict(python=platform.python_version(), torch=torch.__version__, device=str(device),
                threads=torch.get_num_threads(), cpu=_cpu_model(), cpu_count=os.cpu_count(),
                load_average=list(os.getloadavg()) if hasattr(os, 'getloadavg') else None,
                time=time.strftime('%Y-%m-%d %H:%M:%S'))
    if device.type == 'cuda':
        info['gpu'] = torch.cuda.get_device_name(device)
        info['cuda'] = torch.version.cuda
    return info


def _cpu_model() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def verdicts(results: dict) -> dict[str, dict]:
    """Each target: the measured value, the bound and whether it was met (None: section not run)."""
    t, out = TARGETS, {}
    seg, ffn, ewa, dep, comp = (results.get(k) for k in SECTIONS)
    if seg:
        out['seg_time_ratio'] = _verdict(seg['time_ratio']['median'], f"<= {t['seg_time_ratio_max']}",
                                         seg['time_ratio']['median'] <= t['seg_time_ratio_max'])
    if ffn:
        worst = max(r['ewa_vs_dense']['median'] for r in ffn['rows'])
        out['ffn_ewa_vs_dense_worst'] = _verdict(worst, f"<= {t['ffn_ewa_vs_dense_max']}",
                                                 worst <= t['ffn_ewa_vs_dense_max'])
        worst_loop = max(r['ewa_vs_loop']['median'] for r in ffn['rows'])
        out['ffn_ewa_vs_loop_worst'] = _verdict(worst_loop, f"< {t['ffn_ewa_vs_loop_max']}",
                                                worst_loop < t['ffn_ewa_vs_loop_max'])
    if ewa:
        out['ewa_vs_floor'] = _verdict(ewa['ewa_vs_floor']['median'], f"<= {t['ewa_vs_floor_max']}",
                                       ewa['ewa_vs_floor']['median'] <= t['ewa_vs_floor_max'])
        if 'fraction_of_iteration' in ewa:
            frac = ewa['fraction_of_iteration']['median']
            out['ewa_fraction_of_iteration'] = _verdict(frac, f"<= {t['ewa_fraction_of_iteration_max']}",
                                                        frac <= t['ewa_fraction_of_iteration_max'])
    if dep:
        lo, hi = t['deploy_latency_ratio_range']
        lat = dep['latency_ratio']['median']
        out['deploy_params_equal'] = _verdict(dep['params_equal'], 'True', dep['params_equal'])
        out['deploy_flops_equal'] = _verdict(dep['flops_equal'], 'True', dep['flops_equal'])
        out['deploy_latency_ratio'] = _verdict(lat, f'in [{lo}, {hi}]', lo <= lat <= hi)
    if comp and not comp.get('skipped'):
        for backend, r in comp['backends'].items():
            out[f'compile_{backend}'] = _verdict(r['ok'], 'True', r['ok'])
    return out


def _verdict(value, target: str, met: bool) -> dict:
    return dict(value=value, target=target, met=bool(met))


def _r(x: dict) -> str:
    return f"{x['median']:.3f} [{x['p25']:.3f}, {x['p75']:.3f}]"


def format_report(results: dict) -> str:
    """The human-readable table (ratios: median [p25, p75] of the paired per-repetition ratios)."""
    m = results['machine']
    lines = [f"machine: {m['cpu']} x{m['cpu_count']}, torch {m['torch']}, device {m['device']}, "
             f"threads {m['threads']}, amp {results['args']['amp']}, load {m['load_average']}"]
    formatters = dict(seg=_fmt_seg, ffn=_fmt_ffn, ewa=_fmt_ewa, deploy=_fmt_deploy, compile=_fmt_compile)
    for name, fmt in formatters.items():
        if results.get(name):
            lines += [''] + fmt(results[name])
    lines += ['', 'targets:']
    for name, v in results['targets'].items():
        value = f'{v["value"]:.3f}' if isinstance(v['value'], float) else str(v['value'])
        lines.append(f"  {name:28s} {value:>8} {v['target']:>14}  {'met' if v['met'] else 'MISSED'}")
    return '\n'.join(lines)


def _fmt_seg(seg: dict) -> list[str]:
    mem, tm = seg['memory'], seg['time_ms']
    lines = [f"[1] training iteration  {seg['configs']['ewa']}  batch {seg['batch_size']}, "
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
             f"  {'dims':>5} {'batch x tokens':>15} {'ffn':>8} {'ewa_ffn':>8} {'loop':>8}"
             f"  {'ewa/ffn':>24}  {'loop/ffn':>24}  {'ewa/loop':>24}"]
    for r in ffn['rows']:
        tm, shape = r['time_ms'], f"{r['batch']} x {r['tokens']}"
        ratios = '  '.join(f'{_r(r[k]):>24}' for k in ('ewa_vs_dense', 'loop_vs_dense', 'ewa_vs_loop'))
        lines.append(f"  {r['dims']:>5} {shape:>15} {tm['ffn']:8.2f} {tm['ewa_ffn']:8.2f} "
                     f"{tm['loop_moe']:8.2f}  {ratios}")
    prof = ffn.get('profile')
    for name in (('ewa_ffn', 'ffn') if prof else ()):
        lines.append(f"  top ops {name} (dims {prof['dims']}, {prof['batch']} x {prof['tokens']}): " +
                     ', '.join(f"{o['op']} {100 * o['share']:.0f}%" for o in prof[name][:6]))
    return lines


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
            f"ewa_eval/standard {_r(dep['ewa_eval_latency_ratio'])}",
            f"  max |collapsed - ewa eval| = {dep['max_abs_diff_collapsed_vs_ewa_eval']:.2e}"]


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
    p.add_argument('--num-experts', type=int, default=4, help='experts in the FFN section (default 4)')
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
        results['seg'], ewa_model = bench_seg(args, std_cfg, ewa_cfg, device)
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
    results['targets'] = verdicts(results)
    results['machine']['load_average_end'] = list(os.getloadavg()) if hasattr(os, 'getloadavg') else None
    return results


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    t0 = time.perf_counter()
    results = run(args)
    results['command'] = ' '.join(['python tools/benchmark_ewa.py'] + argv)
    results['wall_s'] = time.perf_counter() - t0
    print(format_report(results))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1) + '\n')
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
