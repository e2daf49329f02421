"""EWAHook: Experts Weights Averaging after every real optimizer step."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from mmengine.dist import all_gather_object, barrier, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from mmengine.registry import HOOKS
from torch import nn
from torch.utils.hooks import RemovableHandle

from ...averaging import MODES, SCHEDULES, check_share_rate, ewa_, expert_spread, scheduled_share_rate
from ...collapse import META_KEY, expert_layer_record, find_expert_modules
from ..replay import replay_on_resume

UNSUPPORTED_WRAPPERS = ('MMDeepSpeedEngineWrapper', 'DeepSpeedEngine', 'MMFullyShardedDataParallel',
                        'FullyShardedDataParallel')


PARTITION_SEED_TAG = 0x45574150  # keeps the partition streams apart from the global RNG's (same seed)


def find_expert_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Modules that follow the expert protocol (an ``expert_parameters()`` method), by name."""
    return find_expert_modules(model)


def partition_seed(seed: int, rank: int) -> int:
    """Seed of a rank's token-partition generator: distinct per rank, independent of ``torch.manual_seed``."""
    return int(np.random.SeedSequence([int(seed) % 2**63, rank, PARTITION_SEED_TAG]).generate_state(
        1, np.uint64)[0] >> 1)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


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
        restore_rng: on ``--resume``, restore each rank's RNG states saved with the checkpoint (its token
            partition generator and the global torch RNGs), so the resumed run draws the same partitions
            and dropout masks as an uninterrupted one. ``load_from`` (fine-tuning) never restores them.

    Runs on the unwrapped model, on every rank (the weights EWA rewrites are the live ones), only on
    iterations whose optimizer step really happened: a step post-hook on the optimizer(s) holding the
    experts tells, so gradient-accumulation iterations and steps the AMP loss scaler skipped are left out.
    Priority ``ABOVE_NORMAL``: after the optimizer step, before ``EMAHook`` (which then averages EWA'd
    weights), the logger and checkpointing.

    Token partitions draw from a ``torch.Generator`` per rank (on the layers' device) seeded from the
    run's seed and the rank, so ranks draw different partitions and the stream survives a resume. The
    checkpoint holds ``ewa_hook = dict(num_updates, rank_rng=[state of rank 0, rank 1, ...])`` and, in
    ``meta['mmewa']``, the expert layers that ``tools/convert_ewa.py`` collapses.
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
        self._step_handles: list[RemovableHandle] = []
        self._stepped = False
        self._generators: dict[str, torch.Generator] = {}
        self._loaded: tuple[dict, Any] | None = None  # (ewa_hook state, its meta iter) until resume is known
        self._gathered: tuple[int, list[dict]] | None = None  # (runner.iter, every rank's RNG states)

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

    # -- real optimizer steps -----------------------------------------------------------------------
    def before_train(self, runner) -> None:
        self._watch_optimizer_steps(runner)
        self._seed_partition_generators(runner)
        if self.restore_rng and runner.iter > 0:  # resuming: the data pipeline's RNGs must catch up too
            replay_on_resume(runner.train_loop)

    def after_train(self, runner) -> None:
        if self._gathered is not None:
            # Leave together: after the final gather, a rank that exited while rank 0 still wrote the last
            # checkpoint aborted in gloo's teardown (std::terminate; torch 2.14, 2 CPU ranks, 3 runs of 3).
            barrier()
        for handle in self._step_handles:
            handle.remove()
        self._step_handles = []
        for layer in self._layers.values():
            if hasattr(layer, 'partition_generator'):
                layer.partition_generator = None

    def _watch_optimizer_steps(self, runner) -> None:
        """Register a step post-hook on every optimizer that holds expert parameters."""
        wrapper = runner.optim_wrapper
        wrappers = list(wrapper.values()) if isinstance(wrapper, OptimWrapperDict) else [wrapper]
        optimizers = [w.optimizer for w in wrappers]
        experts = {id(p) for p in self._params}
        holding = [o for o in optimizers
                   if any(id(p) in experts for group in o.param_groups for p in group['params'])]
        if not holding:
            runner.logger.warning('EWAHook: no optimizer holds the expert parameters (are they frozen?); '
                                  'averaging after every step of any optimizer')
            holding = optimizers
        for o in holding:
            if not callable(getattr(o, 'register_step_post_hook', None)):
                raise TypeError(f'EWAHook needs a torch.optim.Optimizer (it watches its steps through '
                                f'register_step_post_hook), got {type(o).__name__}; use a torch optimizer')
        self._step_handles = [o.register_step_post_hook(self._on_optimizer_step) for o in holding]

    def _on_optimizer_step(self, optimizer: torch.optim.Optimizer, args, kwargs) -> None:
        # GradScaler does not call step() when it found inf/nan, except on optimizers that skip by
        # themselves (fused Adam/AdamW): it then hands them the public ``found_inf`` flag.
        found_inf = getattr(optimizer, 'found_inf', None)
        if found_inf is not None and bool(found_inf):
            return
        self._stepped = True

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._loaded is not None:
            self._restore_if_resumed(runner)
        self._stepped = False

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        share_rate = self.share_rate_at(runner)
        if share_rate is not None and self._stepped:
            ewa_(self._params, share_rate, self.mode)
            self.num_updates += 1
            runner.message_hub.update_scalar('train/ewa_share_rate', share_rate)
        self._stepped = False
        if self.spread_interval and self.every_n_train_iters(runner, self.spread_interval):
            self._log_spread(runner)
        if self._checkpoint_due(runner, by_epoch=False):
            self._gather_rng_states(runner)

    def after_train_epoch(self, runner) -> None:
        if self._checkpoint_due(runner, by_epoch=True):
            self._gather_rng_states(runner)

    def _log_spread(self, runner) -> None:
        spreads = {f'ewa_spread/{name}': float(expert_spread(m.expert_parameters()))
                   for name, m in self._layers.items()}
        values = list(spreads.values())
        runner.message_hub.update_scalar('train/ewa_spread', sum(values) / len(values))
        runner.message_hub.update_scalar('train/ewa_spread_max', max(values))
        runner.visualizer.add_scalars(spreads, step=runner.iter + 1)

    # -- RNG: per-rank partition generators, saved per rank, restored on resume only ------------------
    def _seed_partition_generators(self, runner) -> None:
        seed = partition_seed(runner.seed, get_rank())
        self._generators = {}
        for layer in self._layers.values():
            if not hasattr(layer, 'partition_generator'):
                continue  # e.g. a routed layer: it draws no partition
            device = next(iter(layer.expert_parameters())).device
            if str(device) not in self._generators:
                self._generators[str(device)] = torch.Generator(device).manual_seed(seed)
            layer.partition_generator = self._generators[str(device)]

    def _rank_rng_state(self) -> dict:
        state = dict(partition={d: g.get_state() for d, g in self._generators.items()},
                     torch=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        return state

    @staticmethod
    def _checkpoint_due(runner, by_epoch: bool) -> bool:
        """Whether a ``CheckpointHook`` saves at this point (it saves on rank 0 only, so every rank must
        hand its RNG state over before); single-process runs need no gathering."""
        if get_world_size() == 1:
            return False
        for hook in runner.hooks:
            if not isinstance(hook, CheckpointHook) or hook.by_epoch != by_epoch:
                continue
            if by_epoch:
                due = hook.every_n_epochs(runner, hook.interval, hook.save_begin)
                last = hook.is_last_train_epoch(runner)
            else:
                due = hook.every_n_train_iters(runner, hook.interval, hook.save_begin)
                last = hook.is_last_train_iter(runner)
            if due or (hook.save_last and last):
                return True
        return False

    def _gather_rng_states(self, runner) -> None:
        self._gathered = (runner.iter, all_gather_object(self._rank_rng_state()))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Save every rank's RNG states (gathered just before, on all ranks) and the expert layers."""
        if get_world_size() == 1:
            states = [self._rank_rng_state()]
        elif self._gathered is not None and self._gathered[0] == runner.iter:
            states = self._gathered[1]
        else:
            runner.logger.warning('EWAHook: this checkpoint was saved outside CheckpointHook, so it holds '
                                  "rank 0's RNG state only; a resume from it is not bit-exact on other ranks")
            states = [self._rank_rng_state()]
        checkpoint['ewa_hook'] = dict(num_updates=self.num_updates, rank_rng=states)
        checkpoint.setdefault('meta', {})[META_KEY] = expert_layer_record(_unwrap(runner.model))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the state until the first training iteration shows whether this was a resume.

        MMEngine calls this for ``load_from`` (fine-tuning: a fresh run, seeded RNGs and ``num_updates=0``)
        and for ``--resume`` alike; only a resume starts at the checkpoint's iteration.
        """
        if 'ewa_hook' in checkpoint:
            self._loaded = (checkpoint['ewa_hook'], (checkpoint.get('meta') or {}).get('iter'))

    def _restore_if_resumed(self, runner) -> None:
        state, saved_iter = self._loaded
        self._loaded = None
        if not (runner.iter > 0 and runner.iter == saved_iter):
            return  # load_from: the checkpoint's weights only
        self.num_updates = int(state.get('num_updates', 0))
        if not self.restore_rng:
            return
        if 'rank_rng' in state:
            rank, states = get_rank(), state['rank_rng']
            if rank >= len(states):
                runner.logger.warning(f'EWAHook: the checkpoint holds RNG states of {len(states)} rank(s); '
                                      f'rank {rank} keeps its seeded RNG (resume is not bit-exact)')
                return
            self._set_rank_rng_state(runner, states[rank])
        elif 'torch_rng' in state:  # checkpoints before per-rank states: rank 0's global RNG, on every rank
            self._set_rank_rng_state(runner, dict(torch=state['torch_rng'], cuda=state.get('cuda_rng')))

    def _set_rank_rng_state(self, runner, state: dict) -> None:
        torch.set_rng_state(state['torch'].cpu())
        cuda_states = state.get('cuda')
        if cuda_states is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states][:torch.cuda.device_count()])
        for device, generator_state in state.get('partition', {}).items():
            if device in self._generators:
                self._generators[device].set_state(generator_state.cpu())
            else:
                runner.logger.warning(f'EWAHook: the checkpoint has a partition RNG state for {device}, '
                                      'where no EWA layer is now; that layer keeps its seeded generator')
