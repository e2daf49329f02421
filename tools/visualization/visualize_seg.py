#!/usr/bin/env python
"""Predicted masks next to ground truth, for a few images: one row per image, one column per model.

    python tools/visualization/visualize_seg.py --images data/camvid/img_dir/val/0016E5_07965.jpg ... \\
        --model baseline CONFIG CKPT --model "EWA (collapsed)" STD_CONFIG COLLAPSED_CKPT \\
        --out docs/camvid_predictions.jpg
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

import mmewa  # noqa: F401  (registers EWA modules, to show an EWA model before collapse too)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--images', nargs='+', required=True, help='image files (labels found via ann_dir)')
    p.add_argument('--model', nargs=3, action='append', required=True, metavar=('NAME', 'CONFIG', 'CKPT'))
    p.add_argument('--out', required=True, help='output image (.jpg or .png)')
    p.add_argument('--height', type=int, default=180, help='height of each tile in pixels')
    return p.parse_args(argv)


def colorize(label: np.ndarray, palette: np.ndarray) -> np.ndarray:
    out = np.zeros((*label.shape, 3), np.uint8)
    valid = label < len(palette)
    out[valid] = palette[label[valid]]
    return out  # void (255) stays black


def tile(img: np.ndarray, height: int, title: str | None = None) -> np.ndarray:
    img = cv2.resize(img, (round(img.shape[1] * height / img.shape[0]), height),
                     interpolation=cv2.INTER_NEAREST)
    if title:
        cv2.putText(img, title, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, title, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def label_path(image: Path) -> Path:
    parts = list(image.parts)
    parts[parts.index('img_dir')] = 'ann_dir'
    return Path(*parts).with_suffix('.png')


def main(argv=None) -> int:
    from mmseg.apis import inference_model, init_model
    args = parse_args(argv)
    models = [(name, init_model(cfg, ckpt, device='cpu')) for name, cfg, ckpt in args.model]
    palette = np.array(models[0][1].dataset_meta['palette'], np.uint8)
    rows = []
    for i, image in enumerate(map(Path, args.images)):
        rgb = cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB)
        gt = cv2.imread(str(label_path(image)), cv2.IMREAD_UNCHANGED)
        cells = [tile(rgb, args.height, 'image' if i == 0 else None),
                 tile(colorize(gt, palette), args.height, 'ground truth' if i == 0 else None)]
        for name, model in models:
            pred = inference_model(model, str(image)).pred_sem_seg.data[0].numpy().astype(np.int64)
            cells.append(tile(colorize(pred, palette), args.height, name if i == 0 else None))
        rows.append(np.concatenate(cells, axis=1))
    grid = np.concatenate(rows, axis=0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f'wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
