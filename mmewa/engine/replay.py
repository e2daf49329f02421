"""Resume replays the skipped batches through the data pipeline, on either MMEngine.

Upstream MMEngine (0.10.7) resumes an iteration-based run by loading and discarding the batches already
trained on, so the pipeline's random augmentations (numpy's RNG in the main process, or in each data
worker) are where an uninterrupted run has them, and the resumed run is bit-exact. The OneDL fork
(onedl-mmengine >= 0.10.8) fast-forwards the sampler instead (``skip_iter``): the same images come next,
but drawn through a pipeline whose RNGs never advanced, so the weights diverge. :func:`replay_on_resume`
gives such a loop upstream's replay back; a loop without ``skip_iter`` (upstream's) is left alone, and so is
a loop told ``fast_forward_on_resume=True`` (no advance at all: the user chose speed over reproducibility).
"""
from __future__ import annotations

from typing import Any


def replay_on_resume(loop: Any) -> bool:
    """Make ``loop``'s dataloader iterator advance on resume by loading and discarding the skipped batches
    (upstream's behaviour) instead of fast-forwarding its sampler. Returns whether anything changed."""
    iterator = getattr(loop, 'dataloader_iterator', None)
    if (iterator is None or not hasattr(iterator, 'skip_iter')
            or getattr(loop, 'fast_forward_on_resume', False)):
        return False

    def skip_iter(num_iters: int) -> None:
        for _ in range(num_iters):
            next(iterator)

    iterator.skip_iter = skip_iter
    return True
