import sys

import pytest
import torch
from mmseg.models.backbones import VisionTransformer

import mmewa.collapse as mmewa_collapse
import mmewa.models.layers.experts as experts_module
from mmewa import CollapseError, EWAVisionTransformer, collapse_model, collapse_state_dict
from mmewa.collapse import expert_layer_record

VIT = dict(img_size=32, patch_size=8, embed_dims=32, num_layers=4, num_heads=2, mlp_ratio=2)


def trained_ewa_vit(seed=0):
    torch.manual_seed(seed)
    m = EWAVisionTransformer(**VIT, ewa_cfg=dict(num_experts=3))
    m.init_weights()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))  # experts now differ, as after training
    return m


def test_collapsed_keys_are_exactly_the_standard_backbones_and_outputs_match():
    ewa, std = trained_ewa_vit(), VisionTransformer(**VIT)
    ewa.eval()  # mmseg's ViT.train() returns None, so no chaining
    std.eval()
    sd = collapse_state_dict(ewa.state_dict())
    assert list(sd) == list(std.state_dict())
    std.load_state_dict(sd, strict=True)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(ewa(x)[0], std(x)[0])


def test_collapse_model_equals_state_dict_collapse():
    ewa = trained_ewa_vit()
    sd = collapse_state_dict(ewa.state_dict())
    collapsed = collapse_model(ewa)
    assert not any('experts' in k for k in collapsed.state_dict())
    for k, v in collapsed.state_dict().items():
        assert torch.equal(v, sd[k]), k


def test_prefixed_checkpoint_keys_and_other_tensors_pass_through():
    ewa = trained_ewa_vit()
    sd = {f'backbone.{k}': v for k, v in ewa.state_dict().items()}
    sd['decode_head.conv_seg.weight'] = torch.ones(3)
    out = collapse_state_dict(sd)
    assert 'backbone.layers.1.ffn.layers.0.0.weight' in out
    assert out['backbone.layers.1.ffn.layers.0.0.weight'].shape == (64, 32)
    assert torch.equal(out['decode_head.conv_seg.weight'], torch.ones(3))
    assert torch.equal(out['backbone.layers.0.ffn.layers.0.0.weight'],
                       sd['backbone.layers.0.ffn.layers.0.0.weight'])  # dense layer untouched


def test_no_experts_is_a_clear_error():
    with pytest.raises(CollapseError, match='not a checkpoint of an EWA model'):
        collapse_state_dict(VisionTransformer(**VIT).state_dict())


def test_routed_layers_need_explicit_approximation():
    sd = {'ffn.experts.layers.0.0.weight': torch.randn(2, 4, 3), 'ffn.router.weight': torch.randn(2, 3)}
    with pytest.raises(CollapseError, match='routed MoE'):
        collapse_state_dict(sd)
    out = collapse_state_dict(sd, approximate=True)
    assert list(out) == ['ffn.layers.0.0.weight']


def oracle_mean(stacked: torch.Tensor) -> torch.Tensor:
    """Independent of ``expert_mean``: a Python sum over experts in float64, divided by E."""
    total = torch.zeros(stacked.shape[1:], dtype=torch.float64)
    for expert in stacked:
        total += expert.double()
    return total / stacked.shape[0]


def test_collapse_equals_an_independent_float64_mean_of_experts_that_differ():
    ewa = trained_ewa_vit()
    sd = ewa.state_dict()
    out = collapse_state_dict(sd)
    stacked = {k: v for k, v in sd.items() if '.experts.' in k}
    assert len(stacked) == 8  # 2 EWA layers x (2 weights + 2 biases)
    for key, value in stacked.items():
        assert (value - value[:1]).abs().max() > 1e-3, key  # the experts differ
        want = oracle_mean(value)
        got = out[key.replace('.experts.', '.')]
        # correctly rounded to float32: within half an ulp of the float64 mean
        torch.testing.assert_close(got.double(), want, rtol=2.0 ** -24, atol=1e-12,
                                   msg=f'{key}: not the float64 mean of its experts')
    # and the collapsed standard model computes with those weights: eval of the EWA model agrees
    std = VisionTransformer(**VIT)
    oracle_sd = {k.replace('.experts.', '.'): (oracle_mean(v).float() if '.experts.' in k else v)
                 for k, v in sd.items()}
    std.load_state_dict(oracle_sd, strict=True)
    ewa.eval()
    std.eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ewa(x)[0], std(x)[0], rtol=1e-5, atol=1e-6)


class HeadWithExperts(torch.nn.Module):
    """An EWA backbone next to modules of its own that happen to be called ``experts`` (an MoE head)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = trained_ewa_vit()
        self.moe_head = torch.nn.Module()
        self.moe_head.experts = torch.nn.ModuleList(torch.nn.Linear(32, 4) for _ in range(3))
        self.cls_head = torch.nn.Module()
        self.cls_head.experts = torch.nn.Linear(32, 32)  # weight [32, 32], bias [32]: one leading dim


def test_an_unrelated_experts_module_is_not_averaged():
    model = HeadWithExperts()
    sd = model.state_dict()
    record = expert_layer_record(model)
    assert record == dict(expert_layers=['backbone.layers.1.ffn', 'backbone.layers.3.ffn'], routed_layers=[])
    for layers in (None, record['expert_layers']):  # inferred (older checkpoints) and recorded alike
        out = collapse_state_dict(sd, layers=layers)
        for key in [k for k in sd if k.startswith(('moe_head.', 'cls_head.'))]:
            assert torch.equal(out[key], sd[key]), key
        assert 'backbone.layers.1.ffn.layers.0.0.weight' in out
        assert not any('.experts.' in k for k in out if k.startswith('backbone.'))


def test_only_the_recorded_layers_are_collapsed():
    model = HeadWithExperts()
    model.bias_free = torch.nn.Module()  # passes the structural fallback: only a record tells it apart
    model.bias_free.experts = torch.nn.Module()
    model.bias_free.experts.fc1 = torch.nn.Linear(4, 4, bias=False)
    sd = model.state_dict()
    record = expert_layer_record(model)['expert_layers']
    out = collapse_state_dict(sd, layers=record)
    assert torch.equal(out['bias_free.experts.fc1.weight'], sd['bias_free.experts.fc1.weight'])
    only_first = collapse_state_dict(sd, layers=record[:1])
    assert 'backbone.layers.1.ffn.layers.0.0.weight' in only_first
    assert 'backbone.layers.3.ffn.experts.layers.0.0.weight' in only_first
    with pytest.raises(CollapseError, match="records EWA layer 'backbone.layers.2.ffn'"):
        collapse_state_dict(sd, layers=['backbone.layers.2.ffn'])


def test_a_recorded_layer_with_mixed_expert_counts_is_refused():
    sd = {'ffn.experts.layers.0.weight': torch.randn(3, 4, 2), 'ffn.experts.layers.0.bias': torch.randn(2, 4)}
    with pytest.raises(CollapseError, match='one leading expert dimension'):
        collapse_state_dict(sd, layers=['ffn'])


def test_collapse_model_and_collapse_state_dict_treat_routed_layers_alike():
    torch.manual_seed(0)
    routed = EWAVisionTransformer(**VIT, ewa_cfg=dict(moe_type='routed', num_experts=3))
    with torch.no_grad():
        for p in routed.parameters():
            p.add_(0.05 * torch.randn_like(p))
    sd = routed.state_dict()
    with pytest.raises(CollapseError, match='routed MoE'):
        collapse_state_dict(sd)
    with pytest.raises(CollapseError, match='routed MoE'):
        collapse_model(routed)
    expected = collapse_state_dict(sd, approximate=True)
    collapsed = collapse_model(routed, approximate=True).state_dict()
    assert list(collapsed) == list(expected) == list(VisionTransformer(**VIT).state_dict())
    for k in expected:
        assert torch.equal(collapsed[k], expected[k]), k


def test_convert_ewa_collapses_the_layers_the_checkpoint_records(tmp_path):
    from tool_utils import load_tool
    convert_ewa = load_tool('convert_ewa')
    model = HeadWithExperts()
    model.bias_free = torch.nn.Module()
    model.bias_free.experts = torch.nn.Module()
    model.bias_free.experts.fc1 = torch.nn.Linear(4, 4, bias=False)
    sd = model.state_dict()
    ckpt = dict(meta=dict(seed=0, mmewa=expert_layer_record(model)), state_dict=sd)
    out = convert_ewa.collapse_checkpoint(ckpt, 'x.pth')
    assert out['meta']['ewa_collapsed']['layers'] == ['backbone.layers.1.ffn', 'backbone.layers.3.ffn']
    key = 'bias_free.experts.fc1.weight'
    assert torch.equal(out['state_dict'][key], sd[key])
    legacy = convert_ewa.collapse_checkpoint(dict(meta=dict(seed=0), state_dict=sd), 'x.pth')
    assert key not in legacy['state_dict']  # without a record: the heuristic, which cannot tell


def test_the_oracle_check_fails_when_collapse_takes_one_expert(monkeypatch):
    """Mutation check: the mean replaced by expert 0 everywhere (collapse and eval forward alike, so the
    tests comparing those two computations still agree) must fail the independent oracle."""
    original = experts_module.expert_mean
    patched = [m for name, m in list(sys.modules.items())
               if name.startswith('mmewa') and getattr(m, 'expert_mean', None) is original]
    assert mmewa_collapse in patched
    for module in patched:
        monkeypatch.setattr(module, 'expert_mean', lambda stacked: stacked[0].clone())
    with pytest.raises(AssertionError, match='not the float64 mean of its experts'):
        test_collapse_equals_an_independent_float64_mean_of_experts_that_differ()
