"""EWAFFN: a drop-in for mmcv's ``FFN`` that is a router-free Mixture-of-Experts while training.

:class:`ExpertFFN` is the part every stacked-expert FFN shares (EWA's and the routed one): the mmcv
``FFN`` around the MLP, the ``expert_parameters()`` protocol and upcycling of standard checkpoints.
"""
from __future__ import annotations

import copy
import math

import torch
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule
from torch import nn

from .experts import StackedMLP
from .partition import random_partition

PARTITIONS = ('batch', 'sample')


def check_num_experts(num_experts: int, name: str = 'num_experts') -> int:
    """``num_experts`` must be a real integer >= 1 (``True`` and ``2.0`` are refused)."""
    if isinstance(num_experts, bool) or not isinstance(num_experts, int) or num_experts < 1:
        raise ValueError(f'{name} must be an integer >= 1, got {num_experts!r}')
    return num_experts


class ExpertFFN(BaseModule):
    """mmcv ``FFN`` whose MLP (``layers``) is ``num_experts`` stacked experts; subclasses define ``mlp``.

    Everything around the MLP (identity add, ``dropout_layer``, layer scale) is mmcv's ``FFN`` unchanged,
    and the experts are stored as ``experts.<the FFN's own keys>`` with a leading expert dimension, so
    :class:`EWAHook` (via :meth:`expert_parameters`) and :func:`mmewa.collapse_state_dict` treat every
    subclass alike. A standard FFN checkpoint (``layers.*`` keys) loads by copying it into every expert.
    """

    @staticmethod
    def _template(embed_dims: int, feedforward_channels: int, num_fcs: int, act_cfg: dict, ffn_drop: float,
                  dropout_layer: dict | None, add_identity: bool, layer_scale_init_value: float) -> FFN:
        """The mmcv ``FFN`` the constructor arguments describe (its layers become the experts)."""
        return FFN(embed_dims, feedforward_channels, num_fcs, act_cfg, ffn_drop, dropout_layer, add_identity,
                   layer_scale_init_value=layer_scale_init_value)

    @classmethod
    def _blank(cls) -> ExpertFFN:
        """An instance with only ``BaseModule`` initialised, for ``from_ffn`` constructors."""
        m = cls.__new__(cls)
        BaseModule.__init__(m, init_cfg=None)
        return m

    def _adopt_ffn(self, ffn: FFN, num_experts: int) -> None:
        """Take over ``ffn``'s wrapper modules and stack its ``layers`` into ``num_experts`` copies."""
        self.embed_dims = ffn.embed_dims
        self.feedforward_channels = ffn.feedforward_channels
        self.num_fcs = ffn.num_fcs
        self.num_experts = check_num_experts(num_experts)
        self.experts = StackedMLP(ffn.layers, num_experts)
        self.dropout_layer = ffn.dropout_layer
        self.add_identity = ffn.add_identity
        self.gamma2 = ffn.gamma2

    def expert_parameters(self) -> list[nn.Parameter]:
        """The stacked ``[E, ...]`` tensors EWA averages (the protocol :class:`EWAHook` looks for)."""
        return self.experts.stacked_parameters()

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        return self.around_mlp(self.mlp(x), x, identity)

    def around_mlp(self, mlp_out: torch.Tensor, x: torch.Tensor,
                   identity: torch.Tensor | None = None) -> torch.Tensor:
        """mmcv ``FFN.forward`` after its MLP: layer scale, ``dropout_layer`` and the identity add."""
        out = self.gamma2(mlp_out)
        if not self.add_identity:
            return self.dropout_layer(out)
        if identity is None:
            identity = x
        return identity + self.dropout_layer(out)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        # A standard (dense) checkpoint holds `<prefix>layers.*`: upcycle it into every expert, so
        # `init_cfg=dict(type='Pretrained')` and `load_from` work with ordinary mmseg/mmdet checkpoints.
        dense = [k for k in state_dict if k.startswith(prefix + 'layers.')]
        has_experts = any(k.startswith(prefix + 'experts.') for k in state_dict)
        if dense and not has_experts:
            for key in dense:
                value = state_dict.pop(key)
                state_dict[prefix + 'experts.' + key[len(prefix):]] = value.unsqueeze(0).expand(
                    self.num_experts, *value.shape)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


class EWAFFN(ExpertFFN):
    """mmcv ``FFN`` whose MLP is ``num_experts`` stacked experts fed by a random uniform partition.

    Training: the tokens are split into ``num_experts`` random groups of equal size (no router, nothing
    dropped) and each expert processes its group. Eval: the experts' mean is applied to every token,
    i.e. exactly the FFN that :func:`mmewa.collapse_state_dict` produces, so eval metrics of the EWA model
    are the deployed model's. Everything around the MLP (identity add, ``dropout_layer``, layer scale)
    is mmcv's ``FFN`` unchanged.

    Args:
        embed_dims, feedforward_channels, num_fcs, act_cfg, ffn_drop, dropout_layer, add_identity,
        init_cfg, layer_scale_init_value: as mmcv's ``FFN``.
        num_experts: number of experts ``E`` (``1`` is a plain FFN).
        partition: ``'batch'`` (one random permutation of all tokens of the batch, the default) or
            ``'sample'`` (each sample's tokens are partitioned separately, needs ``[..., L, C]`` input).
    """

    def __init__(self,
                 embed_dims: int = 256,
                 feedforward_channels: int = 1024,
                 num_fcs: int = 2,
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 ffn_drop: float = 0.,
                 dropout_layer: dict | None = None,
                 add_identity: bool = True,
                 init_cfg: dict | None = None,
                 layer_scale_init_value: float = 0.,
                 num_experts: int = 4,
                 partition: str = 'batch') -> None:
        super().__init__(init_cfg)
        template = self._template(embed_dims, feedforward_channels, num_fcs, act_cfg, ffn_drop, dropout_layer,
                                  add_identity, layer_scale_init_value)
        self._adopt(template, num_experts, partition)

    @classmethod
    def from_ffn(cls, ffn: FFN, num_experts: int, partition: str = 'batch') -> EWAFFN:
        """Upcycle a (trained) FFN: every expert is an exact copy of it; the rest is copied as is."""
        m = cls._blank()
        m._adopt(copy.deepcopy(ffn), num_experts, partition)
        return m

    def _adopt(self, ffn: FFN, num_experts: int, partition: str) -> None:
        check_num_experts(num_experts)
        if partition not in PARTITIONS:
            raise ValueError(f'partition must be one of {PARTITIONS}, got {partition!r}')
        self._adopt_ffn(ffn, num_experts)
        self.partition = partition
        # The RNG of the token partition: None = the global torch RNG; EWAHook sets a per-rank generator.
        self.partition_generator: torch.Generator | None = None

    def to_ffn(self) -> FFN:
        """The collapsed mmcv ``FFN`` (experts averaged), as a new module."""
        ffn = FFN.__new__(FFN)
        BaseModule.__init__(ffn, init_cfg=None)
        ffn.embed_dims, ffn.feedforward_channels, ffn.num_fcs = (
            self.embed_dims, self.feedforward_channels, self.num_fcs)
        ffn.layers = self.experts.mean_layers()
        ffn.dropout_layer = copy.deepcopy(self.dropout_layer)
        ffn.add_identity = self.add_identity
        ffn.gamma2 = copy.deepcopy(self.gamma2)
        return ffn.train(self.training)

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        """The MoE MLP alone: random-partition experts in training, the experts' mean in eval."""
        if not self.training:
            return self.experts.forward_mean(x)
        C = x.shape[-1]
        if self.partition == 'sample' and x.dim() >= 3:
            groups, tokens = math.prod(x.shape[:-2]), x.shape[-2]
        else:
            groups, tokens = 1, x.numel() // C
        part = random_partition(tokens, self.num_experts, groups, x.device, self.partition_generator)
        flat = x.reshape(groups * tokens, C)
        grouped = flat.index_select(0, part.gather_index).view(self.num_experts, -1, C)
        out = self.experts(grouped)
        out = out.reshape(-1, out.shape[-1]).index_select(0, part.token_slot)
        return out.view(*x.shape[:-1], out.shape[-1])

    def extra_repr(self) -> str:
        return f'num_experts={self.num_experts}, partition={self.partition!r}'
