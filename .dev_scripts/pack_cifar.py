#!/usr/bin/env python
"""CIFAR-100 in parts small enough to travel to a device machine (64 MiB a call), losslessly, and back.

    python .dev_scripts/pack_cifar.py pack ../shared/data/cifar100 .device_data            # parts a, b, c
    python .dev_scripts/pack_cifar.py unpack .device_data/cifar100-* --out DEST --png --npz  # on the device

The source is the class-folder layout of ``../shared/data/cifar100`` (``train/``, ``train_rest/``, ``test/``
of ``<NNN_class>/<rank>.png``, ``classes.txt``). ``pack`` writes one folder ``cifar100-<part>`` per part:
WebP-lossless mosaics of 10 x 10 images (measured on the 10,000 test images: 16.9 MB against 22.3 MB of
PNG files and 20.4 MB for the raw arrays through xz with a delta filter; 30.7 MB raw), a ``part.json``
naming every image and the SHA-256 of its decoded pixels and labels, and a ``SHA256SUMS`` of the files
(``sha256sum -c`` reads it). The default parts (``DEFAULT_PARTS``) are ~34 MB each: ``a`` = ``test/`` +
``train/`` (what the configs in configs/ewa_cls read), ``b`` and ``c`` = ``train_rest/`` classes 0-49 and
50-99. ``unpack`` checks both hashes of every part given (a mismatch stops with exit 1 before anything is
written) and rebuilds the class folders (``--png``) and the arrays (``--npz``) of what it was given.

The arrays (``write_npz`` / ``load_npz``): ``cifar100_train.npz`` and ``cifar100_test.npz``, each with
``images`` uint8 [N, 32, 32, 3] (RGB), ``labels`` int64 [N], ``classes`` (the folder names of
classes.txt, in label order), ``dirs`` (the source folder of each image: ``train``, ``train_rest`` or
``test``) and ``ranks`` int64 (the file name's number: the image's rank within its class in the official
order). Order (``ORDER``): train = all of ``train/`` then all of ``train_rest/``; within a folder by label,
then rank. So the first 10,000 train images are ``train/`` (the configs' 10,000-image subset) and a
complete train file holds the official 50,000 (``complete`` is True only when a file holds its split's
official count: 50,000 train, 10,000 test images).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

TILE, GRID = 32, 10  # a mosaic holds GRID x GRID images of TILE x TILE pixels
WEBP = dict(lossless=True, method=4, quality=50)  # 4/50: 1% larger than method 6 at 1/60 of its time
DEFAULT_PARTS = 'a=test,train;b=train_rest:0-49;c=train_rest:50-99'
ORDER = {'train': ('train', 'train_rest'), 'test': ('test',)}  # the arrays' folders, in order
SPLIT_OF = {d: split for split, dirs in ORDER.items() for d in dirs}
FULL = {'train': 50_000, 'test': 10_000}  # the official split sizes


class PackError(RuntimeError):
    """A part that is missing, altered or not what it says: the message names the part and the fix."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def read_classes(root: Path) -> list[str]:
    classes = (root / 'classes.txt').read_text().split()
    if not classes:
        raise PackError(f'{root}/classes.txt names no class: is {root} a CIFAR-100 class-folder tree?')
    return classes


def parse_parts(spec: str) -> dict[str, list[tuple[str, int, int]]]:
    """``'a=test,train;b=train_rest:0-49'`` -> {part: [(folder, first label, last label), ...]}."""
    parts = {}
    for item in filter(None, spec.split(';')):
        name, _, dirs = item.partition('=')
        if not name.isalnum() or not dirs:
            raise PackError(f'--parts: {item!r} is not NAME=FOLDER[:FIRST-LAST],... (e.g. {DEFAULT_PARTS})')
        parts[name] = []
        for d in dirs.split(','):
            folder, _, labels = d.partition(':')
            lo, _, hi = labels.partition('-') if labels else ('0', '', '99')
            if folder not in SPLIT_OF:
                raise PackError(f'--parts: unknown folder {folder!r} (one of {", ".join(SPLIT_OF)})')
            parts[name].append((folder, int(lo), int(hi)))
    return parts


def list_images(root: Path, folder: str, classes: Sequence[str], lo: int = 0, hi: int = 99,
                per_class: int | None = None) -> list[tuple[int, int]]:
    """(label, rank) of ``root/folder``'s images of labels lo..hi, in the documented order."""
    if not (root / folder).is_dir():
        raise PackError(f'no {root / folder}: the source needs the class folders the parts name')
    out = []
    for label in range(lo, min(hi, len(classes) - 1) + 1):
        ranks = sorted(int(p.stem) for p in (root / folder / classes[label]).glob('*.png'))
        out += [(label, r) for r in ranks[:per_class]]
    return out


def png_name(rank: int) -> str:
    return f'{rank:05d}.png'


def read_images(root: Path, folder: str, classes: Sequence[str],
                items: Iterable[tuple[int, int]]) -> np.ndarray:
    """Decoded RGB pixels of the listed images, [N, 32, 32, 3] uint8 (the slow, obvious reference)."""
    from PIL import Image

    arrays = [np.asarray(Image.open(root / folder / classes[label] / png_name(rank)).convert('RGB'))
              for label, rank in items]
    return np.stack(arrays) if arrays else np.zeros((0, TILE, TILE, 3), np.uint8)


def pixels_sha256(images: np.ndarray, labels: np.ndarray) -> str:
    """What unpacking must reproduce: the images' bytes, then the labels' as int64 little-endian."""
    return sha256(np.ascontiguousarray(images, np.uint8).tobytes() + labels.astype('<i8').tobytes())


def to_mosaics(images: np.ndarray) -> np.ndarray:
    """[N, 32, 32, 3] -> [ceil(N / 100), 320, 320, 3], row-major tiles, the last padded with zeros."""
    n = len(images)
    per = GRID * GRID
    padded = np.zeros((-(-n // per) * per, TILE, TILE, 3), np.uint8)
    padded[:n] = images
    m = padded.reshape(-1, GRID, GRID, TILE, TILE, 3).transpose(0, 1, 3, 2, 4, 5)
    return m.reshape(-1, GRID * TILE, GRID * TILE, 3)


def from_mosaics(mosaics: np.ndarray, n: int) -> np.ndarray:
    m = mosaics.reshape(-1, GRID, TILE, GRID, TILE, 3).transpose(0, 1, 3, 2, 4, 5)
    return np.ascontiguousarray(m.reshape(-1, TILE, TILE, 3)[:n])


def pack(src: Path, out: Path, spec: str = DEFAULT_PARTS, per_class: int | None = None) -> list[Path]:
    """Write one ``cifar100-<part>`` folder per part; a part already there with the same content is kept
    (its pixel hash decides), so a rerun costs only the reading."""
    from PIL import Image

    classes = read_classes(src)
    written = []
    for name, dirs in parse_parts(spec).items():
        part = out / f'cifar100-{name}'
        groups = []
        for folder, lo, hi in dirs:
            items = list_images(src, folder, classes, lo, hi, per_class)
            images = read_images(src, folder, classes, items)
            labels = np.array([label for label, _ in items], np.int64)
            groups.append(dict(folder=folder, count=len(items), labels=labels.tolist(),
                               ranks=[rank for _, rank in items], pixels_sha256=pixels_sha256(images, labels),
                               mosaics=[], _images=images))
        meta_path = part / 'part.json'
        if meta_path.exists() and _same_pixels(json.loads(meta_path.read_text()), groups, classes):
            verify_part(part)
            written.append(part)
            continue
        part.mkdir(parents=True, exist_ok=True)
        for old in part.glob('*.webp'):
            old.unlink()
        for g in groups:
            for i, mosaic in enumerate(to_mosaics(g.pop('_images'))):
                fname = f'{g["folder"]}_{g["labels"][0] if g["labels"] else 0:03d}_{i:04d}.webp'
                Image.fromarray(mosaic).save(part / fname, 'WEBP', **WEBP)
                g['mosaics'].append(fname)
        meta = dict(format='mmewa cifar100 part 1', part=name, classes=classes, tile=TILE, grid=GRID,
                    groups=groups)
        meta_path.write_text(json.dumps(meta, indent=1))
        files = sorted(p.name for p in part.iterdir() if p.name != 'SHA256SUMS')
        (part / 'SHA256SUMS').write_text(''.join(f'{file_sha256(part / f)}  {f}\n' for f in files))
        written.append(part)
    return written


def _same_pixels(meta: dict, groups: list[dict], classes: list[str]) -> bool:
    old = [(g['folder'], g['count'], g['pixels_sha256']) for g in meta.get('groups', [])]
    return meta.get('classes') == classes and old == [(g['folder'], g['count'], g['pixels_sha256'])
                                                      for g in groups]


def verify_part(part: Path) -> dict:
    """The part's files against its SHA256SUMS (every file listed, none missing); its part.json."""
    sums = part / 'SHA256SUMS'
    if not sums.exists():
        raise PackError(f'{part}: no SHA256SUMS: not a packed part (make it with '
                        '.dev_scripts/pack_cifar.py pack)')
    listed = {}
    for line in sums.read_text().splitlines():
        digest, _, fname = line.partition('  ')
        listed[fname] = digest
    for fname, digest in listed.items():
        if not (part / fname).exists():
            raise PackError(f'{part}: {fname} is missing: carry the whole folder again')
        if file_sha256(part / fname) != digest:
            raise PackError(f'{part}: {fname} does not match its SHA-256 (damaged in transit): carry it '
                            'again')
    return json.loads((part / 'part.json').read_text())


def decode_part(part: Path) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, list[str]]]:
    """[(folder, images, labels, ranks, classes)] of a verified part, each checked against its pixel hash."""
    from PIL import Image

    meta = verify_part(part)
    out = []
    for g in meta['groups']:
        mosaics = [np.asarray(Image.open(part / f).convert('RGB')) for f in g['mosaics']]
        stack = np.stack(mosaics) if mosaics else np.zeros((0, GRID * TILE, GRID * TILE, 3), np.uint8)
        images = from_mosaics(stack, g['count'])
        labels = np.array(g['labels'], np.int64)
        if pixels_sha256(images, labels) != g['pixels_sha256']:
            raise PackError(f'{part}: {g["folder"]} decodes to other pixels than were packed (this Pillow\'s '
                            'WebP decoder?): pack with another codec or carry the PNG folders')
        out.append((g['folder'], images, labels, np.array(g['ranks'], np.int64), meta['classes']))
    return out


def write_npz(path: Path, images: np.ndarray, labels: np.ndarray, classes: Sequence[str],
              dirs: Sequence[str], ranks: np.ndarray, complete: bool) -> None:
    """The documented array file (module docstring); written to a temporary name, then renamed."""
    tmp = path.with_name(f'.{path.name}.tmp.npz')
    np.savez(tmp, images=np.ascontiguousarray(images, np.uint8), labels=labels.astype(np.int64),
             classes=np.array(classes), dirs=np.array(dirs), ranks=ranks.astype(np.int64),
             complete=np.array(complete))
    tmp.replace(path)


def load_npz(path: Path, require_complete: bool = False) -> dict[str, np.ndarray]:
    """A ``cifar100_{train,test}.npz`` as a dict of arrays; ``require_complete``: every image of its split
    (50,000 train, 10,000 test), else a PackError naming the missing parts."""
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    if require_complete and not bool(data['complete']):
        raise PackError(f'{path} holds {len(data["labels"])} images, not all {FULL["train"]} train / '
                        f'{FULL["test"]} test images: unpack every part (a, b and c) into it')
    return data


def unpack(parts: Sequence[Path], out: Path, png: bool = True, npz: bool = True) -> dict[str, int]:
    """Verify and decode every part, then rebuild the class folders and/or arrays under ``out``; returns the
    image count per split. Nothing is written unless every part checks out."""
    decoded = [g for part in sorted(parts) for g in decode_part(part)]
    if not decoded:
        raise PackError('no part to unpack: name the cifar100-<part> folders')
    classes = decoded[0][4]
    if any(g[4] != classes for g in decoded):
        raise PackError('the parts were packed from different class lists: pack them again together')
    by_folder: dict[str, list] = {}
    for folder, images, labels, ranks, _ in decoded:
        by_folder.setdefault(folder, []).append((images, labels, ranks))
    out.mkdir(parents=True, exist_ok=True)
    (out / 'classes.txt').write_text(''.join(f'{c}\n' for c in classes))
    if png:
        write_pngs(out, classes, by_folder)
    counts = {}
    for split, folders in ORDER.items():
        pieces = [(f, *piece) for f in folders for piece in by_folder.get(f, [])]
        if not pieces:
            continue
        images = np.concatenate([p[1] for p in pieces])
        labels = np.concatenate([p[2] for p in pieces])
        ranks = np.concatenate([p[3] for p in pieces])
        dirs = [p[0] for p in pieces for _ in range(len(p[2]))]
        order = np.lexsort((ranks, labels, [folders.index(d) for d in dirs]))  # folder, label, rank
        counts[split] = len(labels)
        if npz:
            complete = len(labels) == FULL[split]
            write_npz(out / f'cifar100_{split}.npz', images[order], labels[order], classes,
                      [dirs[i] for i in order], ranks[order], complete)
    return counts


def write_pngs(out: Path, classes: Sequence[str], by_folder: dict[str, list]) -> None:
    from PIL import Image

    for folder, pieces in by_folder.items():
        for c in classes:
            (out / folder / c).mkdir(parents=True, exist_ok=True)
        for images, labels, ranks in pieces:
            for img, label, rank in zip(images, labels, ranks):
                path = out / folder / classes[label] / png_name(int(rank))
                Image.fromarray(img).save(path, compress_level=1)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)
    pk = sub.add_parser('pack', help='class folders -> cifar100-<part> folders')
    pk.add_argument('src', type=Path)
    pk.add_argument('out', type=Path)
    pk.add_argument('--parts', default=DEFAULT_PARTS,
                    help=f'NAME=FOLDER[:FIRST-LAST],...;... (default {DEFAULT_PARTS})')
    pk.add_argument('--per-class', type=int, help='only the first N images of each class and folder (tests)')
    up = sub.add_parser('unpack', help='cifar100-<part> folders -> class folders and arrays')
    up.add_argument('parts', type=Path, nargs='+')
    up.add_argument('--out', type=Path, required=True)
    up.add_argument('--png', action='store_true', help='rebuild the PNG class folders')
    up.add_argument('--npz', action='store_true', help='write cifar100_{train,test}.npz')
    args = p.parse_args(argv)
    try:
        if args.cmd == 'pack':
            for part in pack(args.src, args.out, args.parts, args.per_class):
                size = sum(f.stat().st_size for f in part.iterdir())
                print(f'{part}: {size / 2**20:.1f} MiB')
        else:
            if not (args.png or args.npz):
                p.error('unpack: give --png, --npz or both')
            counts = unpack(args.parts, args.out, args.png, args.npz)
            print(f'{args.out}: ' + ', '.join(f'{split} {n} images' for split, n in counts.items()))
    except PackError as e:
        print(f'pack_cifar: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
