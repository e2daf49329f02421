"""Differential checks for the upstream-parity tests: the upstream backbone class is the oracle.

Every ``EWA<Name>`` twin must behave like ``<Name>`` in everything but the MoE. The tests in this folder
re-check, against each twin, the behaviours that the upstream library's own backbone unit tests cover
(argument validation, output shapes for odd input sizes and every output option, ``with_cp``, freezing,
norm modes, the ``pretrained`` / ``init_cfg`` matrix, checkpoint loading with the upstream key conversions),
each on a tiny configuration, by building upstream and twin from the same seed and comparing them.
They are written for mmewa (not copies of upstream code): the upstream test files themselves cannot be
vendored here (see ``README.md`` in this folder).
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import pytest
import torch
from mmengine.runner import load_checkpoint, save_checkpoint
from torch import nn

from mmewa.models.layers.expert_layer import ExpertLayer

EWA_CFG = dict(num_experts=2, moe_layers='every_other')
MISSING = 'PATH_THAT_DOES_NOT_EXIST.pth'


def build_pair(upstream: type, twin: type, ewa_cfg: dict | None = None, seed: int = 0,
               init: bool = True, **kwargs) -> tuple[nn.Module, nn.Module]:
    """Upstream and twin built (and initialised) from the same seed with the same arguments."""
    torch.manual_seed(seed)
    up = upstream(**copy.deepcopy(kwargs))
    if init:
        up.init_weights()
    torch.manual_seed(seed)
    tw = twin(**copy.deepcopy(kwargs), ewa_cfg=dict(ewa_cfg or EWA_CFG))
    if init:
        tw.init_weights()
    assert any(isinstance(m, ExpertLayer) for m in tw.modules()), f'{twin.__name__} got no expert layer'
    return up, tw


def flatten(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for o in out for t in flatten(o)]


def check_forward(upstream: type, twin: type, sizes: Iterable[tuple[int, int]], batch: int = 2,
                  ewa_cfg: dict | None = None, backward: bool = True, **kwargs) -> list[torch.Size]:
    """Same output structure and shapes for each input size; in eval (the collapsed model) the same values;
    in train mode the twin's output has the upstream shapes and backpropagates into its experts."""
    up, tw = build_pair(upstream, twin, ewa_cfg, **kwargs)
    shapes = []
    for h, w in sizes:
        x = torch.randn(batch, 3, h, w)
        up.eval(), tw.eval()
        with torch.no_grad():
            ref, got = up(x), tw(x)
        assert type(got) is type(ref)
        ref_l, got_l = flatten(ref), flatten(got)
        assert [t.shape for t in got_l] == [t.shape for t in ref_l], (h, w)
        for r, g in zip(ref_l, got_l):
            torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)
        shapes.append([t.shape for t in ref_l])
        up.train(), tw.train()
        got_l = flatten(tw(x))
        assert [t.shape for t in got_l] == [t.shape for t in ref_l], (h, w)
        if backward:
            sum(t.float().sum() for t in got_l).backward()
            experts = [p for m in tw.modules() if isinstance(m, ExpertLayer) for p in m.expert_parameters()]
            assert all(p.grad is not None for p in experts if p.requires_grad)
            tw.zero_grad(set_to_none=True)
    return shapes


def outcome(fn: Callable[[], object]) -> type | None:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the exception type is what is compared
        return type(e)
    return None


def check_same_errors(upstream: type, twin: type, bad_kwargs: Iterable[dict],
                      ewa_cfg: dict | None = None) -> None:
    """Each bad argument set fails in the twin with the exception type the upstream class raises."""
    for kwargs in bad_kwargs:
        expected = outcome(lambda kw=kwargs: upstream(**copy.deepcopy(kw)))
        assert expected is not None, f'upstream accepts {kwargs}: not a bad-argument case'
        got = outcome(lambda kw=kwargs: twin(**copy.deepcopy(kw), ewa_cfg=dict(ewa_cfg or EWA_CFG)))
        assert got is expected, f'{kwargs}: upstream raises {expected.__name__}, twin {got}'


def check_init_matrix(upstream: type, twin: type, **kwargs) -> None:
    """``pretrained`` x ``init_cfg`` (None, a missing file, an unsupported value): every combination is
    refused, stored or fails at ``init_weights`` exactly like upstream (mmseg/mmdet convention)."""
    pretrained_cfg = dict(type='Pretrained', checkpoint=MISSING)
    for pretrained in (None, MISSING, 123):
        for init_cfg in (None, pretrained_cfg, 123):
            args = dict(kwargs, pretrained=pretrained, init_cfg=init_cfg)
            up_build = outcome(lambda a=args: upstream(**copy.deepcopy(a)))
            tw_build = outcome(lambda a=args: twin(**copy.deepcopy(a), ewa_cfg=dict(EWA_CFG)))
            assert tw_build is up_build, (pretrained, init_cfg, up_build, tw_build)
            if up_build is not None:
                continue
            up, tw = upstream(**copy.deepcopy(args)), twin(**copy.deepcopy(args), ewa_cfg=dict(EWA_CFG))
            assert tw.init_cfg == up.init_cfg
            assert outcome(tw.init_weights) is outcome(up.init_weights), (pretrained, init_cfg)
    with pytest.raises(TypeError):  # init_weights takes no checkpoint argument (as upstream)
        twin(**copy.deepcopy(kwargs), ewa_cfg=dict(EWA_CFG)).init_weights(pretrained=0)


def dense_name(twin_param: str) -> str:
    """``...ffn.experts.layers.0.0.weight`` -> ``...ffn.layers.0.0.weight`` (the upstream parameter)."""
    return twin_param.replace('.experts.', '.')


def check_requires_grad(up: nn.Module, tw: nn.Module) -> None:
    """Every twin parameter (experts included) is trainable exactly when its upstream parameter is."""
    ref = dict(up.named_parameters())
    for name, p in tw.named_parameters():
        assert dense_name(name) in ref, name
        assert p.requires_grad == ref[dense_name(name)].requires_grad, name


def check_train_modes(up: nn.Module, tw: nn.Module) -> None:
    """After ``train()`` (``norm_eval``, frozen stages in eval) each twin module has the upstream mode."""
    up.train(), tw.train()
    ref = {name: m.training for name, m in up.named_modules()}
    for name, m in tw.named_modules():
        if name in ref:
            assert m.training == ref[name], name


def check_checkpoint_roundtrip(upstream: type, twin: type, tmp_path, save_kwargs: dict,
                               load_kwargs: dict | None = None, mutate: Callable | None = None,
                               sizes: Iterable[tuple[int, int]] = ((32, 32),), strict: bool = True) -> None:
    """A checkpoint of the upstream model (optionally ``mutate``d into an older format) loads strictly into
    the twin (built with ``load_kwargs``, e.g. another image size) exactly as into the upstream class: the
    same state afterwards, so the same collapsed outputs."""
    torch.manual_seed(1)
    src = upstream(**copy.deepcopy(save_kwargs))
    src.init_weights()
    if mutate is not None:
        mutate(src)
    path = str(tmp_path / 'upstream.pth')
    save_checkpoint(src.state_dict(), path)
    load_kwargs = save_kwargs if load_kwargs is None else load_kwargs
    up, tw = build_pair(upstream, twin, seed=2, **load_kwargs)
    load_checkpoint(up, path, strict=strict, map_location='cpu')
    load_checkpoint(tw, path, strict=strict, map_location='cpu')
    up.eval(), tw.eval()
    for h, w in sizes:
        x = torch.randn(1, 3, h, w)
        with torch.no_grad():
            for r, g in zip(flatten(up(x)), flatten(tw(x))):
                torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)
