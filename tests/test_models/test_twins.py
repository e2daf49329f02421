"""Every EWA twin behaves like its upstream backbone in everything but the MoE.

For each twin (small configs in ``twin_cases.py``): registered in its library's scope; from-scratch init
is the upstream init bit for bit (collapse of the twin == the upstream model built with the same seed);
a standard ``Pretrained`` checkpoint loads through the upstream loader and collapses back bit-exactly;
training forward/backward reaches every expert; in eval the twin *is* the upstream model with the
collapsed weights (checked against the upstream class, loaded strictly); freezing and activation
checkpointing are the upstream ones.
"""
from __future__ import annotations

import importlib

import pytest
import torch
from mmengine.config import ConfigDict

from mmewa import collapse_state_dict
from mmewa.models.layers import EWAMoE, ExpertLayer

from .twin_cases import CASES, Case

EWA_CFG = dict(num_experts=3)
SWINV2_REINIT_BUFFERS = ('relative_coords_table', 'relative_position_index')  # SwinV2 rebuilds these on load


def registry(case: Case):
    return importlib.import_module(f'{case.scope}.registry').MODELS


def build(case: Case, twin: bool, seed: int = 0, init: bool = False, **extra):
    """The twin or its upstream backbone, built (and initialised) from one seed."""
    reg = registry(case)
    torch.manual_seed(seed)
    if twin:
        model = reg.get('EWA' + case.name)(**case.kwargs, **extra, ewa_cfg=EWA_CFG)
    else:
        model = reg.get(case.name)(**case.kwargs, **extra)
    if init:
        model.init_weights()
    return model


def tensors(out) -> list[torch.Tensor]:
    return [o for o in (out if isinstance(out, (list, tuple)) else [out]) if torch.is_tensor(o)]


def load_into_upstream(case: Case, model, state_dict):
    result = model.load_state_dict(state_dict, strict=case.name != 'SwinTransformerV2')
    if result is not None and case.name == 'SwinTransformerV2':
        assert all(k.endswith(SWINV2_REINIT_BUFFERS) for k in result.missing_keys)
        assert not result.unexpected_keys


def assert_same_state(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    bad = [k for k in b if not torch.equal(a[k], b[k])]
    assert not bad, f'{len(bad)} tensors differ, e.g. {bad[:3]}'


all_cases = pytest.mark.parametrize('case', CASES, ids=lambda c: c.id)


@all_cases
def test_registered_in_its_own_scope_only(case):
    from mmengine.registry import MODELS as ROOT
    twin = registry(case).get('EWA' + case.name)
    assert twin is not None and issubclass(twin, registry(case).get(case.name))
    assert 'EWA' + case.name not in ROOT.module_dict


@all_cases
def test_from_scratch_init_is_the_upstream_init_bit_for_bit(case):
    upstream, twin = build(case, False, init=True), build(case, True, init=True)
    assert twin.moe_layer_indices and all(isinstance(twin.get_submodule(n), ExpertLayer)
                                          for n, m in twin.named_modules() if isinstance(m, ExpertLayer))
    assert_same_state(collapse_state_dict(twin.state_dict()), upstream.state_dict())


@all_cases
def test_standard_pretrained_checkpoint_loads_and_collapses_back(case, tmp_path):
    upstream = build(case, False, seed=1)
    with torch.no_grad():
        for p in upstream.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    path = tmp_path / 'standard.pth'
    torch.save({'state_dict': {case.ckpt_prefix + k: v for k, v in upstream.state_dict().items()}}, path)
    twin = build(case, True, seed=2, init=True, init_cfg=ConfigDict(type='Pretrained', checkpoint=str(path)))
    assert_same_state(collapse_state_dict(twin.state_dict()), upstream.state_dict())


@all_cases
def test_trains_every_expert_and_eval_is_the_upstream_model_with_collapsed_weights(case):
    twin = build(case, True)
    twin.train()  # (some upstream `train` overrides return None, so no chaining)
    x = torch.randn(2, 3, case.image, case.image, generator=torch.Generator().manual_seed(0))
    sum(o.float().square().mean() for o in tensors(twin(x))).backward()
    experts = [p for m in twin.modules() if isinstance(m, ExpertLayer) for p in m.expert_parameters()]
    assert experts and all(p.grad is not None and p.grad.abs().sum() > 0 for p in experts)
    with torch.no_grad():  # experts that differ, so the mean is no single expert
        for p in experts:
            p.add_(torch.randn_like(p) * 0.05)
    twin.eval()
    upstream = build(case, False)
    upstream.eval()
    load_into_upstream(case, upstream, collapse_state_dict(twin.state_dict()))
    for a, b in zip(tensors(twin(x)), tensors(upstream(x)), strict=True):
        if case.atol:
            torch.testing.assert_close(a, b, rtol=0, atol=case.atol)
        else:
            assert torch.equal(a, b)


@pytest.mark.parametrize('case', [c for c in CASES if c.frozen], ids=lambda c: c.id)
def test_frozen_parts_stay_frozen_experts_included(case):
    upstream, twin = build(case, False, init=True, **case.frozen), build(case, True, init=True, **case.frozen)
    upstream.train()
    twin.train()
    want = {k: p.requires_grad for k, p in upstream.named_parameters()}
    got = {k.replace('.experts.', '.'): p.requires_grad for k, p in twin.named_parameters()}
    assert got == want
    frozen_experts = [n for n, p in twin.named_parameters() if '.experts.' in n and not p.requires_grad]
    assert frozen_experts, 'the freezing option should cover at least one expert layer in this config'


@pytest.mark.parametrize('case', [c for c in CASES if c.with_cp], ids=lambda c: c.id)
def test_activation_checkpointing_gives_the_same_gradients(case):
    grads = []
    for with_cp in (False, True):
        twin = build(case, True, with_cp=with_cp)
        twin.train()
        x = torch.randn(2, 3, case.image, case.image, generator=torch.Generator().manual_seed(0),
                        requires_grad=True)
        for m in twin.modules():  # a private partition generator, as EWAHook sets (checkpointing does not
            if isinstance(m, EWAMoE):  # restore it: the recomputed forward must reuse the partition)
                m.partition_generator = torch.Generator().manual_seed(5)
        torch.manual_seed(7)  # the same drop paths in both runs
        sum(o.float().square().mean() for o in tensors(twin(x))).backward()
        grads.append([p.grad.clone() for p in twin.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
