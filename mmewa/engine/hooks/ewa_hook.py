"""EWAHook: Experts Weights Averaging after every real optimizer step."""
from __future__ import annotations

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import nn

from ...averaging import MODES, SCHEDULES, check_share_rate, ewa_, expert_spread, scheduled_share_rate

UNSUPPORTED_WRAPPERS = ('MMDeepSpeedEngineWrapper', 'DeepSpeedEngine', 'MMFullyShardedDataParallel',
                        'FullyShardedDataParallel')


def find_expert_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Modules that follow the expert protocol (an ``expert_parameters()`` method), by name."""
    return {name: m for name, m in model.named_modules() if callable(getattr(m, 'expert_parameters', None))}


@HOOKS.register_module()
class EWAHook(Hook):
    """Pull each expert toward the others after every optimizer step (EWA, arXiv 2308.06093).

    Args:
        share_rate: β in [0, 1]. ``0`` is a no-op, larger values keep the experts closer together.
        mode: ``'others'`` (paper: ``W_i <- (1-β) W_i + β mean_{j≠i} W_j``) or ``'all'``
            (``W_i <- (1-β) W_i + β mean_j W_j``). Both keep the experts' mean.
        schedule: ``'constant'``, or ``'linear'`` / ``'cosine'`` annealing from ``share_rate`` to
            ``final_share_rate`` over the EWA window.
        final_share_rate: β at the end of the window for annealing schedules.
        begin, end: the EWA window ``[begin, end)`` in iterations (or epochs with ``by_epoch=True``);
            ``end=None`` means until the end of training. A finite ``end`` is "Early EWA".
        by_epoch: interpret ``begin`` / ``end`` in epochs.
        spread_interval: log the experts' relative spread ``||W_i - W̄|| / ||W̄||`` every this many
            iterations (``0``: never). It goes to the log as ``ewa_spread`` (mean over layers) and
            ``ewa_spread_max``, and per layer to the visualizer backends. (Routed MoE aux losses are
            logged by ``MoEAuxLossHook``, which puts them in the loss dict.)
        restore_rng: on resume, restore the torch RNG state saved with the checkpoint, so the resumed
            run draws the same token partitions as an uninterrupted one.

    Runs on the unwrapped model, on every rank (the weights EWA rewrites are the live ones), only on
    iterations whose optimizer step really happened (not on gradient-accumulation iterations, not when
    the AMP loss scaler skipped the step). Priority ``ABOVE_NORMAL``: after the optimizer step, before
    ``EMAHook`` (which then averages EWA'd weights), the logger and checkpointing.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 share_rate: float = 0.3,
                 mode: str = 'others',
                 schedule: str = 'constant',
                 final_share_rate: float = 0.0,
                 begin: int = 0,
                 end: int | None = None,
                 by_epoch: bool = False,
                 spread_interval: int = 50,
                 restore_rng: bool = True) -> None:
        self.share_rate = check_share_rate(share_rate)
        self.final_share_rate = check_share_rate(final_share_rate)
        if mode not in MODES:
            raise ValueError(f'EWAHook mode must be one of {MODES}, got {mode!r}')
        if schedule not in SCHEDULES:
            raise ValueError(f'EWAHook schedule must be one of {SCHEDULES}, got {schedule!r}')
        if begin < 0 or (end is not None and end <= begin):
            raise ValueError(f'EWAHook needs 0 <= begin < end, got begin={begin}, end={end}')
        self.mode, self.schedule = mode, schedule
        self.begin, self.end, self.by_epoch = begin, end, by_epoch
        self.spread_interval = spread_interval
        self.restore_rng = restore_rng
        self.num_updates = 0
        self._layers: dict[str, nn.Module] = {}
        self._params: list[torch.Tensor] = []
        self._scale_before: torch.Tensor | float | None = None

    # -- setup ---------------------------------------------------------------------------------------
    def before_run(self, runner) -> None:
        model = runner.model
        for wrapper in (model, getattr(runner, 'optim_wrapper', None)):
            name = type(wrapper).__name__
            if name in UNSUPPORTED_WRAPPERS or 'DeepSpeed' in name:
                raise RuntimeError(f'EWAHook does not support {name}: sharded parameters (ZeRO / FSDP) '
                                   'cannot be averaged in place; train EWA with DDP (launcher=pytorch)')
        if is_model_wrapper(model):
            model = model.module
        self._layers = find_expert_layers(model)
        if not self._layers:
            raise RuntimeError('EWAHook found no EWA expert layers in the model: use an EWA backbone '
                               "(e.g. backbone=dict(type='EWAVisionTransformer', ewa_cfg=...)) or remove "
                               'EWAHook from custom_hooks')
        self._params = [p for m in self._layers.values() for p in m.expert_parameters()]
        runner.logger.info(f'EWAHook: {len(self._layers)} expert layers, {len(self._params)} stacked '
                           f'tensors, share_rate={self.share_rate}, mode={self.mode}, '
                           f'window=[{self.begin}, {self.end}) {"epochs" if self.by_epoch else "iters"}')

    # -- the window and the schedule -----------------------------------------------------------------
    def _iters_per_unit(self, runner) -> int:
        return len(runner.train_dataloader) if self.by_epoch else 1

    def share_rate_at(self, runner) -> float | None:
        """β for the iteration that just ran, or ``None`` outside the EWA window."""
        unit = self._iters_per_unit(runner)
        begin = self.begin * unit
        if self.end is not None:
            end = self.end * unit
        else:
            end = runner.max_epochs * unit if self.by_epoch else runner.max_iters
        if not begin <= runner.iter < end:
            return None
        progress = (runner.iter - begin) / max(end - begin - 1, 1)
        return scheduled_share_rate(self.share_rate, self.final_share_rate, self.schedule, progress)

    # -- the step ------------------------------------------------------------------------------------
    def _loss_scaler(self, runner):
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        return scaler if scaler is not None and scaler.is_enabled() else None

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        scaler = self._loss_scaler(runner)
        if scaler is not None:
            scale = getattr(scaler, '_scale', None)
            self._scale_before = scale.clone() if scale is not None else float(scaler._init_scale)

    def _step_happened(self, runner) -> bool:
        should_update = getattr(runner.optim_wrapper, 'should_update', None)
        if should_update is not None and not should_update():
            return False  # a gradient-accumulation iteration: no optimizer step
        scaler = self._loss_scaler(runner)
        if scaler is not None and self._scale_before is not None:
            # GradScaler lowers its scale exactly when it found inf/nan and skipped optimizer.step().
            return not bool(scaler._scale < self._scale_before)
        return True

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        share_rate = self.share_rate_at(runner)
        if share_rate is not None and self._step_happened(runner):
            ewa_(self._params, share_rate, self.mode)
            self.num_updates += 1
            runner.message_hub.update_scalar('train/ewa_share_rate', share_rate)
        if self.spread_interval and self.every_n_train_iters(runner, self.spread_interval):
            self._log_spread(runner)

    def _log_spread(self, runner) -> None:
        spreads = {f'ewa_spread/{name}': float(expert_spread(m.expert_parameters()))
                   for name, m in self._layers.items()}
        values = list(spreads.values())
        runner.message_hub.update_scalar('train/ewa_spread', sum(values) / len(values))
        runner.message_hub.update_scalar('train/ewa_spread_max', max(values))
        runner.visualizer.add_scalars(spreads, step=runner.iter + 1)

    # -- resume --------------------------------------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # The torch RNG drives the token partitions (and dropout): saving it makes a resumed run draw
        # the partitions the uninterrupted run would have drawn. MMEngine itself does not save it.
        state = dict(num_updates=self.num_updates, torch_rng=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda_rng'] = torch.cuda.get_rng_state_all()
        checkpoint['ewa_hook'] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Restore the update count and the RNG state (rank 0's, as saved; with MMEngine's default
        ``diff_rank_seed=False`` all ranks share one RNG stream anyway)."""
        state = checkpoint.get('ewa_hook', {})
        self.num_updates = int(state.get('num_updates', 0))
        if self.restore_rng and 'torch_rng' in state:
            torch.set_rng_state(state['torch_rng'].cpu())
            cuda_states = state.get('cuda_rng')
            if cuda_states is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states][:torch.cuda.device_count()])
