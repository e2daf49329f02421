#!/usr/bin/env python
"""Make the small real samples in samples/ from the full datasets, or check an existing sample tree.

    python .dev_scripts/make_samples.py FULL_DATA_ROOT --out samples [--overwrite]
    python .dev_scripts/make_samples.py --check samples

FULL_DATA_ROOT holds ``camvid/`` (mmseg img_dir/ann_dir), ``coco128/`` (COCO json + images) and
``cifar100/`` (class folders of PNGs), as described in the data README. The selection is fixed (evenly
spaced frames, first image ids, first classes): no randomness, so a rerun gives the same files. The
samples are for running the mechanics (demo, tests) on a fresh clone, not for measuring accuracy.
Every input and every output passes the alignment checks below; a failure stops with exit code 1.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

CAMVID_SIZE = (240, 180)  # half of SegNet's 480x360: an exact 2x box downscale
CAMVID_FRAMES = {'train': 24, 'val': 8, 'test': 12}
CAMVID_CLASSES = 11
IGNORE_INDEX = 255
COCO_MAX_SIDE = 320
COCO_IMAGES = {'train': 16, 'val': 8}
CIFAR_CLASSES = 5  # the first classes, so folder index == official CIFAR-100 label
CIFAR_IMAGES = {'train': 10, 'train_rest': 5, 'test': 5}  # train_rest: the 50k configs' second part
JPEG_QUALITY = 90
SETS = ('camvid', 'coco128', 'cifar100')


class SampleError(RuntimeError):
    """A dataset (full or sample) fails an alignment check."""


def spread(items: list, n: int) -> list:
    """``n`` evenly spaced items, first one included: covers every sequence of a sorted frame list."""
    if len(items) < n:
        raise SampleError(f'need {n} items, found {len(items)}')
    return [items[i * len(items) // n] for i in range(n)]


# --------------------------------------------------------------------------------------------- CamVid
def check_camvid(root: Path, sizes: tuple[int, int] | None = None) -> dict[str, int]:
    """Every image has its label of the same size, labels are 0-10 or 255; returns frames per split."""
    counts, seen = {}, set()
    for split in CAMVID_FRAMES:
        imgs = {p.stem: p for p in (root / 'img_dir' / split).glob('*.jpg')}
        anns = {p.stem: p for p in (root / 'ann_dir' / split).glob('*.png')}
        if not imgs or imgs.keys() != anns.keys():
            raise SampleError(f'{root}/{{img,ann}}_dir/{split}: images without labels '
                              f'{sorted(imgs.keys() - anns.keys())[:3]}, labels without images '
                              f'{sorted(anns.keys() - imgs.keys())[:3]} ({len(imgs)} images)')
        if seen & imgs.keys():
            raise SampleError(f'{root}: frames in two splits: {sorted(seen & imgs.keys())[:3]}')
        seen |= imgs.keys()
        for stem in sorted(imgs):
            with Image.open(imgs[stem]) as img, Image.open(anns[stem]) as ann:
                if img.size != ann.size or (sizes and img.size != sizes) or ann.mode != 'L':
                    raise SampleError(f'{imgs[stem]}: image {img.size}, label {ann.size} mode {ann.mode} '
                                      f'(expected equal sizes{f" {sizes}" if sizes else ""}, mode L)')
                values = np.unique(np.asarray(ann))
            bad = values[(values >= CAMVID_CLASSES) & (values != IGNORE_INDEX)]
            if bad.size:
                raise SampleError(f'{anns[stem]}: label values {bad.tolist()} outside 0-10 and 255')
        counts[split] = len(imgs)
    return counts


def make_camvid(src: Path, out: Path) -> None:
    check_camvid(src)
    for split, n in CAMVID_FRAMES.items():
        stems = spread(sorted(p.stem for p in (src / 'img_dir' / split).glob('*.jpg')), n)
        for kind in ('img_dir', 'ann_dir'):
            (out / kind / split).mkdir(parents=True)
        for stem in stems:
            with Image.open(src / 'img_dir' / split / f'{stem}.jpg') as img:
                img.convert('RGB').resize(CAMVID_SIZE, Image.BOX).save(
                    out / 'img_dir' / split / f'{stem}.jpg', quality=JPEG_QUALITY)
            with Image.open(src / 'ann_dir' / split / f'{stem}.png') as ann:
                ann.resize(CAMVID_SIZE, Image.NEAREST).save(out / 'ann_dir' / split / f'{stem}.png')
    shutil.copyfile(src / 'classes.txt', out / 'classes.txt')
    check_camvid(out, CAMVID_SIZE)


# -------------------------------------------------------------------------------------------- COCO128
def check_coco(root: Path, splits=tuple(COCO_IMAGES)) -> dict[str, int]:
    """Both json files load in pycocotools, images exist with the recorded sizes, every mask rasterises
    to a non-empty mask, every box and polygon lies inside its image; returns images per split."""
    from pycocotools.coco import COCO
    counts, seen = {}, set()
    for split in splits:
        ann_file = root / 'annotations' / f'instances_{split}.json'
        if not ann_file.is_file():
            raise SampleError(f'{ann_file} is missing')
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
            coco = COCO(str(ann_file))
        if seen & coco.imgs.keys():
            shared = sorted(seen & coco.imgs.keys())[:3]
            raise SampleError(f'{ann_file}: image ids also in another split: {shared}')
        seen |= coco.imgs.keys()
        for info in coco.imgs.values():
            path = root / 'images' / info['file_name']
            if not path.is_file():
                raise SampleError(f'{ann_file}: image {path} is missing')
            with Image.open(path) as img:
                if img.size != (info['width'], info['height']):
                    raise SampleError(f'{path}: size {img.size} != json {(info["width"], info["height"])}')
        for ann in coco.anns.values():
            info = coco.imgs.get(ann['image_id'])
            if info is None or ann['category_id'] not in coco.cats:
                raise SampleError(f'{ann_file}: annotation {ann["id"]} has an unknown image or category')
            w, h = info['width'], info['height']
            x, y, bw, bh = ann['bbox']
            xs = np.concatenate([poly[0::2] for poly in ann['segmentation']])
            ys = np.concatenate([poly[1::2] for poly in ann['segmentation']])
            inside = (min(x, y, bw, bh, xs.min(), ys.min()) >= 0 and x + bw <= w + 0.01
                      and y + bh <= h + 0.01 and xs.max() <= w and ys.max() <= h)
            if not inside or coco.annToMask(ann).sum() == 0:
                raise SampleError(f'{ann_file}: annotation {ann["id"]} (image {info["file_name"]}, {w}x{h}) '
                                  f'has a box {ann["bbox"]} or polygon outside the image, or an empty mask')
        counts[split] = len(coco.imgs)
    return counts


def _scale_annotation(ann: dict, sx: float, sy: float, w: int, h: int) -> dict:
    """Polygons scaled to the resized image; box = polygon extent (as in the full set); area scaled."""
    ann = copy.deepcopy(ann)
    ann['segmentation'] = [[round(min(max(v * s, 0.0), lim), 2)
                            for v, s, lim in zip(poly, [sx, sy] * len(poly), [w, h] * len(poly))]
                           for poly in ann['segmentation']]
    xs = [v for poly in ann['segmentation'] for v in poly[0::2]]
    ys = [v for poly in ann['segmentation'] for v in poly[1::2]]
    ann['bbox'] = [min(xs), min(ys), round(max(xs) - min(xs), 2), round(max(ys) - min(ys), 2)]
    ann['area'] = round(ann['area'] * sx * sy, 2)
    return ann


def make_coco(src: Path, out: Path) -> None:
    check_coco(src)
    (out / 'images').mkdir(parents=True)
    (out / 'annotations').mkdir()
    for split, n in COCO_IMAGES.items():
        data = json.loads((src / 'annotations' / f'instances_{split}.json').read_text())
        images = sorted(data['images'], key=lambda i: i['id'])[:n]
        kept, annotations = [], []
        for info in images:
            scale = COCO_MAX_SIDE / max(info['width'], info['height'])
            w, h = round(info['width'] * scale), round(info['height'] * scale)
            sx, sy = w / info['width'], h / info['height']
            with Image.open(src / 'images' / info['file_name']) as img:
                img.resize((w, h), Image.LANCZOS).save(out / 'images' / info['file_name'],
                                                       quality=JPEG_QUALITY)
            kept.append(dict(info, width=w, height=h))
            annotations += [_scale_annotation(a, sx, sy, w, h) for a in data['annotations']
                            if a['image_id'] == info['id']]
        info = dict(data['info'], description=f'{data["info"]["description"]}: the {n} lowest image ids, '
                    f'resized to {COCO_MAX_SIDE} px on the long side (mmewa samples/coco128)')
        sample = dict(info=info, licenses=data['licenses'], images=kept,
                      annotations=sorted(annotations, key=lambda a: a['id']), categories=data['categories'])
        (out / 'annotations' / f'instances_{split}.json').write_text(json.dumps(sample, indent=1) + '\n')
    check_coco(out)


# ------------------------------------------------------------------------------------------- CIFAR-100
def check_cifar(root: Path, n_classes: int | None = None) -> dict[str, int]:
    """Class folders are ``NNN_name`` in classes.txt order in every split, images are 32x32 RGB."""
    names = (root / 'classes.txt').read_text().split()
    if n_classes is not None and len(names) != n_classes:
        raise SampleError(f'{root}/classes.txt: {len(names)} classes, expected {n_classes}')
    counts = {}
    for split in CIFAR_IMAGES:
        folders = sorted(p.name for p in (root / split).iterdir() if p.is_dir())
        if folders != names:
            raise SampleError(f'{root}/{split}: class folders {folders[:3]}... != classes.txt {names[:3]}...')
        files = sorted((root / split).glob('*/*.png'))
        for path in files:
            with Image.open(path) as img:
                if img.size != (32, 32) or img.mode != 'RGB':
                    raise SampleError(f'{path}: {img.size} {img.mode}, expected 32x32 RGB')
        counts[split] = len(files)
    return counts


def make_cifar(src: Path, out: Path) -> None:
    names = (src / 'classes.txt').read_text().split()[:CIFAR_CLASSES]
    for split, n in CIFAR_IMAGES.items():
        for name in names:
            (out / split / name).mkdir(parents=True)
            for path in sorted((src / split / name).glob('*.png'))[:n]:
                shutil.copyfile(path, out / split / name / path.name)  # lossless: bytes unchanged
    (out / 'classes.txt').write_text('\n'.join(names) + '\n')
    check_cifar(out, CIFAR_CLASSES)


# ------------------------------------------------------------------------------------------------ main
def check_all(root: Path) -> dict[str, dict[str, int]]:
    return dict(camvid=check_camvid(root / 'camvid', CAMVID_SIZE), coco128=check_coco(root / 'coco128'),
                cifar100=check_cifar(root / 'cifar100', CIFAR_CLASSES))


def make_all(full: Path, out: Path) -> None:
    for name, make in (('camvid', make_camvid), ('coco128', make_coco), ('cifar100', make_cifar)):
        make(full / name, out / name)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('full_root', nargs='?', help='folder with the full camvid/, coco128/ and cifar100/')
    p.add_argument('--out', default='samples', help='where to write the samples (default: samples)')
    p.add_argument('--overwrite', action='store_true', help=f'replace {"/".join(SETS)} under --out')
    p.add_argument('--check', metavar='SAMPLES', help='only run the checks on an existing sample tree')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.check:
            for name, counts in check_all(Path(args.check)).items():
                print(f'{name}: {counts} (checks passed)')
            return 0
        if not args.full_root:
            print('make_samples: give the full data root (FULL_DATA_ROOT), or --check SAMPLES',
                  file=sys.stderr)
            return 2
        full, out = Path(args.full_root), Path(args.out)
        missing = [n for n in SETS if not (full / n).is_dir()]
        if missing:
            print(f'make_samples: {full} lacks {", ".join(missing)}: give the folder that holds camvid/, '
                  'coco128/ and cifar100/ (e.g. ../shared/data)', file=sys.stderr)
            return 2
        existing = [str(out / n) for n in SETS if (out / n).exists()]
        if existing and not args.overwrite:
            print(f'make_samples: {", ".join(existing)} exist: pass --overwrite to replace them, or choose '
                  'another --out', file=sys.stderr)
            return 2
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out) as tmp:  # a failed build leaves --out as it was
            make_all(full, Path(tmp))
            counts = check_all(Path(tmp))
            for name in SETS:
                if (out / name).exists():
                    shutil.rmtree(out / name)
                (Path(tmp) / name).rename(out / name)
        for name in SETS:
            print(f'{name}: {counts[name]} -> {out / name}')
    except SampleError as err:
        print(f'make_samples: check failed: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
