"""EWA twins of transformer heads and detectors (Mask2Former heads, DETR, Deformable DETR, DINO) against their
upstream models: which FFNs ``moe_layers`` counts (forward order), step-0 parity (from-scratch init and
loading a standard state dict), every expert training, and eval = the collapsed upstream model on real
images."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmewa.builder import build_model
from mmewa.collapse import collapse_state_dict, expert_layer_record
from mmewa.models.backbones.upcycle import find_mlps

from .head_twin_cases import (
    CASE_IDS,
    CASES,
    build,
    data_root,
    expert_layers,
    private_partitions,
    real_batch,
    twin_module,
)

EWA = dict(num_experts=2, moe_layers='every_other')


def collapsed(model) -> dict:
    """The model's state dict collapsed as convert_ewa.py does (the layers EWAHook records)."""
    return collapse_state_dict(model.state_dict(), layers=expert_layer_record(model)['expert_layers'])


def assert_same_state(got: dict, ref: dict) -> None:
    assert list(got) == list(ref)
    different = [k for k in ref if not torch.equal(got[k], ref[k])]
    assert not different, different[:5]


@pytest.fixture
def root(request, camvid_root, coco128_root):
    return lambda case: data_root(case, camvid_root, coco128_root)


@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_moe_layers_count_the_transformer_ffns_in_forward_order(case, root):
    up = build(case, init=False).eval()
    called = []
    for name in case.ffn_order:
        up.get_submodule(name).register_forward_pre_hook(lambda m, a, n=name: called.append(n))
    with torch.no_grad():
        up.test_step(real_batch(case, root(case), n=1))
    assert list(dict.fromkeys(called)) == list(case.ffn_order)  # the order they first run in
    within = type(twin_module(case, build(case, EWA, init=False))).ewa_within
    assert [case.twin_prefix + n for n in find_mlps(twin_module(case, up), within)] == list(case.ffn_order)

    n = len(case.ffn_order)
    for moe_layers, indices in (('every_other', list(range(1, n, 2))), ('all', list(range(n))),
                                ('last_half', list(range(n // 2, n))), ([0, -1], [0, n - 1])):
        tw = build(case, dict(EWA, moe_layers=moe_layers), init=False)
        assert twin_module(case, tw).moe_layer_indices == indices
        assert list(expert_layers(tw)) == [case.ffn_order[i] for i in indices]  # never the backbone's
    with pytest.raises(ValueError, match='out of range'):
        build(case, dict(EWA, moe_layers=[n]), init=False)


@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_from_scratch_init_is_upstream_bit_for_bit(case):
    up, tw = build(case, seed=0), build(case, EWA, seed=0)
    assert len(expert_layers(tw)) == len(case.ffn_order) // 2
    assert_same_state(collapsed(tw), up.state_dict())
    for layer in expert_layers(tw).values():  # upcycled: every expert is the upstream FFN
        for p in layer.expert_parameters():
            assert all(torch.equal(p[0], p[e]) for e in range(1, p.shape[0]))


@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_standard_state_dict_loads_into_every_expert(case, tmp_path):
    from mmengine.runner import load_checkpoint, save_checkpoint
    up = build(case, seed=1)
    path = str(tmp_path / 'upstream.pth')
    save_checkpoint(dict(state_dict=up.state_dict()), path)
    tw = build(case, EWA, seed=2)
    load_checkpoint(tw, path, map_location='cpu', strict=True)  # what `load_from` does
    assert_same_state(collapsed(tw), up.state_dict())


def _perturb_experts(model, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in expert_layers(model).values():
            for p in layer.expert_parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 0.05 * (p.std() + 1e-3))


def _predictions(case, model, batch) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        out = model.test_step(batch)
    if case.data == 'camvid':
        return {f'{i}.seg_logits': o.seg_logits.data for i, o in enumerate(out)}
    keys = ('bboxes', 'scores', 'labels') + (('masks',) if case.masks else ())
    return {f'{i}.{k}': o.pred_instances[k] for i, o in enumerate(out) for k in keys}


@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_eval_is_the_collapsed_upstream_model_on_real_images(case, root):
    tw = build(case, EWA, seed=0)
    _perturb_experts(tw)  # experts that differ, as after training
    state = collapsed(tw)
    up = build(case, seed=3, init=False)
    up.load_state_dict(state, strict=True)  # the collapsed checkpoint fits the upstream model exactly
    batch = real_batch(case, root(case), n=2)
    tw.eval(), up.eval()
    got, ref = _predictions(case, tw, batch), _predictions(case, up, batch)
    assert list(got) == list(ref)
    for k in ref:  # bit for bit: eval runs the experts' mean, which is the collapsed FFN
        assert torch.equal(got[k], ref[k]), k
    assert any(v.numel() for v in ref.values())


@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_every_expert_gets_gradient_and_changes(case, root):
    tw = build(case, dict(EWA, num_experts=4), seed=0).train()
    private_partitions(tw)
    batch = real_batch(case, root(case), n=2)
    loss, _ = tw.parse_losses(tw(**tw.data_preprocessor(batch, True), mode='loss'))
    loss.backward()
    params = [p for layer in expert_layers(tw).values() for p in layer.expert_parameters()]
    assert params and all(p.requires_grad for p in params)
    for p in params:
        assert all(p.grad[e].abs().sum() > 0 for e in range(p.shape[0])), p.shape
    before = [p.detach().clone() for p in params]
    torch.optim.SGD(tw.parameters(), lr=0.1).step()
    for p, b in zip(params, before):
        assert all(not torch.equal(p[e], b[e]) for e in range(p.shape[0]))
        assert not torch.equal(p[0], p[1])  # different tokens -> different experts


def test_backbone_and_head_twins_combine_and_collapse_into_the_standard_config():
    cpu = 'configs/ewa_mask2former/mask2former_{}swin-d32_1xb4-cpu_camvid-112x112.py'
    torch.manual_seed(0)
    ewa = build_model(cpu.format('ewa-'))
    ewa.init_weights()
    record = expert_layer_record(ewa)['expert_layers']
    assert record == [f'backbone.stages.{i}.blocks.1.ffn' for i in range(4)] + [
        'decode_head.pixel_decoder.encoder.layers.1.ffn', 'decode_head.transformer_decoder.layers.1.ffn']
    torch.manual_seed(0)
    std = build_model(cpu.format(''))
    std.init_weights()  # same seed: the upstream init of backbone and head, bit for bit
    assert_same_state(collapse_state_dict(ewa.state_dict(), layers=record), std.state_dict())


def test_detector_twin_leaves_the_backbone_to_the_backbone_twin():
    init_default_scope('mmdet')
    cfg = Config.fromfile('configs/ewa_dino/ewa-dino-4scale_r18-ffn512_1xb2-cpu_horse-224.py')
    cfg.model.backbone = dict(type='EWAPyramidVisionTransformer', pretrain_img_size=224, embed_dims=16,
                              num_layers=[2, 2, 2, 2], num_heads=[1, 1, 2, 2], out_indices=(1, 2, 3),
                              ewa_cfg=dict(num_experts=2, moe_layers='all'))
    cfg.model.neck.in_channels = [16, 32, 32]  # embed_dims x num_heads per stage
    model = build_model(cfg)
    assert model.moe_layer_indices == [1, 3]
    assert [n for n in expert_layers(model) if not n.startswith('backbone.')] == [
        'encoder.layers.1.ffn', 'decoder.layers.1.ffn']
    assert sum(n.startswith('backbone.') for n in expert_layers(model)) == 8
