#!/usr/bin/env python
"""Detections next to ground truth, for a few COCO-format images: one row per image, one column per model.

    python tools/visualization/visualize_det.py --ann-file data/coco128/annotations/instances_val.json \\
        --img-dir data/coco128/images --model baseline CONFIG CKPT \\
        --model "EWA (collapsed)" STD_CONFIG COLLAPSED_CKPT --out docs/coco128_detections.jpg

Without ``--images``, the first ``--num-images`` images of the annotation file with at least
``--min-objects`` objects are shown. Drawing is mmdet's ``DetLocalVisualizer`` (boxes, masks, class names).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

import mmewa  # noqa: F401  (registers EWA modules, to show an EWA model before collapse too)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--ann-file', required=True, help='COCO json with the ground truth')
    p.add_argument('--img-dir', required=True, help='folder of the images named in the json')
    p.add_argument('--model', nargs=3, action='append', required=True, metavar=('NAME', 'CONFIG', 'CKPT'))
    p.add_argument('--out', required=True, help='output image (.jpg or .png)')
    p.add_argument('--images', nargs='+', help='file names from the json (default: chosen automatically)')
    p.add_argument('--num-images', type=int, default=3)
    p.add_argument('--min-objects', type=int, default=3)
    p.add_argument('--score-thr', type=float, default=0.3, help='hide detections scoring below this')
    p.add_argument('--height', type=int, default=240, help='height of each tile in pixels')
    return p.parse_args(argv)


def ground_truth(coco, image: dict, cat_ids: list[int]):
    """The image's (non-crowd) instances as a DetDataSample, as mmdet's visualizer draws them."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import PolygonMasks
    from mmengine.structures import InstanceData
    anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=image['id'], iscrowd=False))
            if isinstance(a['segmentation'], list)]
    boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)],
                         dtype=torch.float32).reshape(-1, 4)
    masks = PolygonMasks([[np.asarray(p, np.float64) for p in a['segmentation']] for a in anns],
                         image['height'], image['width'])
    sample = DetDataSample()
    sample.gt_instances = InstanceData(bboxes=boxes, masks=masks,
                                       labels=torch.tensor([cat_ids.index(a['category_id']) for a in anns]))
    return sample


def tile(img: np.ndarray, height: int, title: str | None = None) -> np.ndarray:
    img = cv2.resize(img, (round(img.shape[1] * height / img.shape[0]), height), interpolation=cv2.INTER_AREA)
    if title:
        cv2.putText(img, title, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, title, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def main(argv=None) -> int:
    from mmdet.apis import inference_detector, init_detector
    from mmdet.visualization import DetLocalVisualizer
    from pycocotools.coco import COCO
    args = parse_args(argv)
    coco = COCO(args.ann_file)
    cat_ids = sorted(coco.getCatIds())
    images = sorted(coco.dataset['images'], key=lambda im: im['id'])
    if args.images:
        by_name = {im['file_name']: im for im in images}
        missing = [n for n in args.images if n not in by_name]
        if missing:
            raise SystemExit(f'visualize_det: {missing} are not in {args.ann_file}; pass file names from it')
        images = [by_name[n] for n in args.images]
    else:
        busy = [im for im in images
                if len(coco.getAnnIds(imgIds=im['id'], iscrowd=False)) >= args.min_objects]
        images = busy[:args.num_images]
        if not images:
            raise SystemExit(f'visualize_det: no image in {args.ann_file} has {args.min_objects} or more '
                             'objects; lower --min-objects (e.g. 1) or name the images with --images')
    models = [(name, init_detector(cfg, ckpt, device='cpu')) for name, cfg, ckpt in args.model]
    visualizer = DetLocalVisualizer(name='mmewa_visualize_det')
    visualizer.dataset_meta = models[0][1].dataset_meta
    rows = []
    for i, image in enumerate(images):
        path = str(Path(args.img_dir) / image['file_name'])
        rgb = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        visualizer.add_datasample('gt', rgb, ground_truth(coco, image, cat_ids), draw_pred=False)
        cells = [tile(visualizer.get_image(), args.height, 'ground truth' if i == 0 else None)]
        for name, model in models:
            result = inference_detector(model, path)
            visualizer.add_datasample(name, rgb, result, draw_gt=False, pred_score_thr=args.score_thr)
            cells.append(tile(visualizer.get_image(), args.height, name if i == 0 else None))
        rows.append(np.concatenate(cells, axis=1))
    width = max(r.shape[1] for r in rows)
    grid = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    names = ', '.join(im['file_name'] for im in images)
    print(f'wrote {args.out} ({grid.shape[1]}x{grid.shape[0]}): {names}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
