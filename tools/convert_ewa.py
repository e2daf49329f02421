#!/usr/bin/env python
"""Collapse an EWA training checkpoint into a checkpoint for the standard (upstream) config.

    python tools/convert_ewa.py work_dirs/x/iter_N.pth collapsed.pth
    python tools/convert_ewa.py IN OUT --verify configs/x_ewa.py configs/x_baseline.py

Every EWA layer's experts are averaged into the FFN keys of the upstream backbone; optimizer, scheduler,
message-hub and EWA-hook state are dropped. ``--verify`` builds both configs' models, loads IN into the
EWA model and OUT (strictly) into the standard one, and checks that their eval features agree.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from mmewa.checkpoint import CheckpointError, load_checkpoint, save_checkpoint_atomic, state_dict_of
from mmewa.collapse import CollapseError, collapse_state_dict, expert_layer_prefixes, recorded_expert_layers

KEPT_META = ('dataset_meta', 'seed', 'experiment_name', 'epoch', 'iter', 'mmengine_version', 'time')
VERIFY_ATOL = 1e-4


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('input', help='EWA checkpoint (MMEngine .pth or a bare state dict)')
    p.add_argument('output', help='where to write the collapsed checkpoint (never the input)')
    p.add_argument('--verify', nargs=2, metavar=('EWA_CONFIG', 'STD_CONFIG'),
                   help='build both configs and check the collapsed model matches the EWA model in eval')
    p.add_argument('--verify-size', type=int, nargs=2, default=(224, 224), metavar=('H', 'W'),
                   help='input size for --verify (default 224 224)')
    p.add_argument('--approximate-routed', action='store_true',
                   help='also collapse routed-MoE layers (drops routers: changes the model)')
    return p.parse_args(argv)


def collapse_checkpoint(ckpt: dict, source: str, approximate: bool = False) -> dict:
    """The deployable checkpoint: collapsed weights and plain metadata, no training state."""
    state_dict = state_dict_of(ckpt)
    # The layers the training run recorded (exactly mmewa's); older checkpoints: inferred from the keys.
    layers = expert_layer_prefixes(state_dict, recorded_expert_layers(ckpt))
    collapsed = collapse_state_dict(state_dict, layers=layers, approximate=approximate)
    meta = {k: v for k, v in (ckpt.get('meta') or {}).items() if k in KEPT_META}
    meta['ewa_collapsed'] = dict(source=os.path.basename(source), layers=layers,
                                 approximate_routed=approximate)
    return dict(meta=meta, state_dict=collapsed)


def build_model(config: str) -> torch.nn.Module:
    """The eval-mode model of an mmseg/mmdet config, without loading pretrained weights."""
    import mmewa  # noqa: F401  (registers the EWA modules for configs that forget custom_imports)
    from mmewa.builder import build_model as build
    model = build(config)
    model.eval()  # not chained: some backbones' train() returns None
    return model


def _load_strict(model: torch.nn.Module, state_dict: dict, what: str, config: str) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [k for k in expected if k in state_dict and state_dict[k].shape != expected[k].shape]
    if missing or unexpected or mismatched:
        raise CheckpointError(
            f'the {what} weights do not fit {config}: {len(missing)} missing (e.g. {missing[:2]}), '
            f'{len(unexpected)} unexpected (e.g. {unexpected[:2]}), {len(mismatched)} of another shape '
            f'(e.g. {mismatched[:2]}); do the configs describe the architecture that was trained?')
    model.load_state_dict(state_dict, strict=True)


@torch.no_grad()
def verify(ewa_state_dict: dict, std_state_dict: dict, ewa_config: str, std_config: str,
           size: tuple[int, int] = (224, 224)) -> float:
    """Max abs difference of ``extract_feat`` between the EWA model (eval) and the collapsed standard one."""
    ewa_model, std_model = build_model(ewa_config), build_model(std_config)
    _load_strict(ewa_model, ewa_state_dict, 'EWA', ewa_config)
    _load_strict(std_model, std_state_dict, 'collapsed', std_config)
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
    feats_ewa = list(_flatten(ewa_model.extract_feat(x)))
    feats_std = list(_flatten(std_model.extract_feat(x)))
    if [f.shape for f in feats_ewa] != [f.shape for f in feats_std]:
        raise CheckpointError(f'{ewa_config} and {std_config} produce features of different shapes')
    return max((a - b).abs().max().item() for a, b in zip(feats_ewa, feats_std))


def _flatten(x):
    if isinstance(x, torch.Tensor):
        yield x
    else:
        for v in x:
            yield from _flatten(v)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if Path(args.output).resolve() == Path(args.input).resolve():
            raise CheckpointError('OUT is the input file; choose another output path (the input is kept)')
        ckpt = load_checkpoint(args.input)
        out = collapse_checkpoint(ckpt, args.input, approximate=args.approximate_routed)
        layers = out['meta']['ewa_collapsed']['layers']
        print(f'collapsed {len(layers)} EWA layers ({len(out["state_dict"])} tensors)')
        if args.verify:
            diff = verify(state_dict_of(ckpt), out['state_dict'], *args.verify,
                          size=tuple(args.verify_size))
            ok = diff <= VERIFY_ATOL
            print(f'verify: max |EWA model (eval) - standard model (collapsed)| = {diff:.3e} '
                  f'({"OK" if ok else f"MISMATCH > {VERIFY_ATOL}; nothing written"})')
            if not ok:
                return 1
        save_checkpoint_atomic(out, args.output)
        print(f'wrote {args.output}')
    except (CheckpointError, CollapseError) as e:
        print(f'convert_ewa: error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
