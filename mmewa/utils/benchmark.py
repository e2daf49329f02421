"""Measuring helpers for side-by-side benchmarks: interleaved timing, paired ratios, peak memory, op
profiles, machine info. Torch only (MMEngine imported lazily), so tools and tests can share them.

Absolute times on a shared machine are noise; these helpers time variants interleaved in one process and
report the median of per-repetition ratios with its quartiles.
"""
from __future__ import annotations

import contextlib
import gc
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch


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
