"""MoEAuxLossHook: routed MoE load-balancing losses as an entry of the model's loss dict."""
from __future__ import annotations

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import nn
from torch.utils.hooks import RemovableHandle

from ...collapse import META_KEY, expert_layer_record


def find_routed_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Modules that follow the routed-MoE protocol (a ``collect_aux_loss`` switch), by name."""
    return {name: m for name, m in model.named_modules() if hasattr(m, 'collect_aux_loss')}


@HOOKS.register_module()
class MoEAuxLossHook(Hook):
    """Add ``sum over routed layers of aux_weight * load-balancing loss`` to the loss dict.

    While training, a forward hook on the (unwrapped) model appends ``loss_name`` to the dict that
    ``model(..., mode='loss')`` returns, so MMEngine's ``parse_losses`` sums it into the objective and logs
    it like any other loss. It holds every routed forward of that model call (a backbone run twice, as in
    multi-crop or teacher-student training, contributes twice); a forward pre-hook drops what an earlier
    call left behind (e.g. a train-mode ``mode='tensor'`` forward), so nothing leaks into the next loss.
    Being an ordinary loss term, it is multiplied by the AMP loss scale, divided by the gradient-accumulation
    count and seen by DDP like the task losses. ``log_name`` (not a loss: it contains no ``'loss'``) logs
    the unweighted mean over layers (and forwards), 1 when balanced and ``E`` when one expert takes
    everything. Checkpoints record the routed layers in ``meta['mmewa']`` (see :mod:`mmewa.collapse`).

    Without this hook a :class:`RoutedMoEFFN` still optimises its aux loss, by injecting its gradient
    into the backward pass; that fallback is neither logged nor scaled by fp16 AMP or accumulation.

    Args:
        loss_name: key of the weighted loss; must contain ``'loss'`` (MMEngine sums only those keys).
        log_name: key of the unweighted balance metric; ``None`` to leave it out.
    """

    priority = 'NORMAL'

    def __init__(self, loss_name: str = 'loss_moe_aux', log_name: str | None = 'moe_balance') -> None:
        if 'loss' not in loss_name:
            raise ValueError(f"MoEAuxLossHook: loss_name must contain 'loss' (MMEngine only optimises such "
                             f"keys), got {loss_name!r}")
        if log_name is not None and 'loss' in log_name:
            raise ValueError(f"MoEAuxLossHook: log_name is a metric, not a loss, so it must not contain "
                             f"'loss', got {log_name!r}")
        self.loss_name, self.log_name = loss_name, log_name
        self._layers: dict[str, nn.Module] = {}
        self._handles: list[RemovableHandle] = []

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self._layers = find_routed_layers(model)
        if not self._layers:
            raise ValueError("MoEAuxLossHook: the model has no routed MoE layers; set "
                             "ewa_cfg=dict(moe_type='routed', ...) in the backbone or remove the hook")
        for layer in self._layers.values():
            layer.collect_aux_loss = True
        self._handles = [model.register_forward_pre_hook(self._drop_pending),
                         model.register_forward_hook(self._add_to_loss_dict)]

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._drop_pending()
        for layer in self._layers.values():
            layer.collect_aux_loss = False

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        checkpoint.setdefault('meta', {})[META_KEY] = expert_layer_record(model)

    def _drop_pending(self, *_) -> None:
        """Forget aux losses of earlier model calls: only this call's routing belongs in its loss dict."""
        for layer in self._layers.values():
            layer.pending_aux_loss = None
            layer.pending_balance = []

    def _add_to_loss_dict(self, module: nn.Module, args, output):
        if not (module.training and isinstance(output, dict)):
            return output  # predictions, or a loss dict computed in eval mode: nothing was routed for it
        weighted, raw = [], []
        for name, layer in self._layers.items():
            pending, balance = layer.pending_aux_loss, layer.pending_balance
            layer.pending_aux_loss, layer.pending_balance = None, []
            if pending is None:
                continue  # the layer did not run in this forward (or has aux_weight 0)
            if torch.is_grad_enabled() and not pending.requires_grad and layer.router.weight.requires_grad:
                raise RuntimeError(
                    f'MoEAuxLossHook: {name} ran without autograd inside a grad-enabled forward, which is '
                    'what reentrant activation checkpointing (with_cp=True) does, so its aux loss cannot '
                    'join the loss dict; set with_cp=False, or remove MoEAuxLossHook (the aux loss is then '
                    'injected into the backward pass instead)')
            weighted.append(pending)
            raw.extend(balance)
        if weighted:
            output[self.loss_name] = torch.stack(weighted).sum()
            if self.log_name is not None:
                output[self.log_name] = torch.stack(raw).mean()
        return output
