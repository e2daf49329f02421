""".dev_scripts/pack_cifar.py on real CIFAR-100 images: pack -> unpack gives back every pixel and label bit
for bit (the PNG class folders and the arrays), a rerun keeps an unchanged part, and a part altered in any
way is refused with one line before anything is written."""
from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image
from tool_utils import load_tool

pack_cifar = load_tool('pack_cifar')


def source_pixels(root, folder, classes, label, rank) -> np.ndarray:
    return np.asarray(Image.open(root / folder / classes[label] / f'{rank:05d}.png').convert('RGB'))


@pytest.fixture(scope='module')
def packed(tmp_path_factory, cifar100_root):
    out = tmp_path_factory.mktemp('parts')
    parts = pack_cifar.pack(cifar100_root, out, pack_cifar.DEFAULT_PARTS, per_class=2)
    return cifar100_root, out, parts


def run_unpack(capsys, *args) -> tuple[int, str]:
    code = pack_cifar.main(['unpack', *map(str, args)])
    return code, capsys.readouterr().err


def test_pack_unpack_roundtrip_is_bit_exact_on_real_images(packed, tmp_path, capsys):
    root, _, parts = packed
    classes = (root / 'classes.txt').read_text().split()
    code, err = run_unpack(capsys, *parts, '--out', tmp_path / 'cifar100', '--png', '--npz')
    assert code == 0, err
    out = tmp_path / 'cifar100'
    assert (out / 'classes.txt').read_text().split() == classes
    folders = [g['folder'] for p in parts for g in json.loads((p / 'part.json').read_text())['groups']]
    arrays = {split: pack_cifar.load_npz(out / f'cifar100_{split}.npz') for split in ('train', 'test')}
    for split, data in arrays.items():
        dirs = [d for d in pack_cifar.ORDER[split] if d in folders]
        expected = [(d, label, rank) for d in dirs for label in range(len(classes))
                    for rank in sorted(int(p.stem) for p in (root / d / classes[label]).glob('*.png'))[:2]]
        assert len(data['labels']) == len(expected) > 0
        assert list(data['classes']) == classes
        assert list(zip(data['dirs'], data['labels'].tolist(), data['ranks'].tolist())) == expected
        for (d, label, rank), image in zip(expected, data['images']):
            src = source_pixels(root, d, classes, label, rank)
            assert np.array_equal(image, src)  # the arrays, pixel for pixel
            assert np.array_equal(np.asarray(Image.open(out / d / classes[label] / f'{rank:05d}.png')), src)
        assert bool(data['complete']) == (len(expected) == pack_cifar.FULL[split])
    with pytest.raises(pack_cifar.PackError, match='not all 50000 train / 10000 test images'):
        pack_cifar.load_npz(out / 'cifar100_train.npz', require_complete=True)


def test_a_rerun_keeps_a_part_whose_pixels_did_not_change(packed):
    root, out, parts = packed
    before = {p: p.stat().st_mtime_ns for part in parts for p in part.iterdir()}
    again = pack_cifar.pack(root, out, pack_cifar.DEFAULT_PARTS, per_class=2)
    assert again == parts
    assert {p: p.stat().st_mtime_ns for part in parts for p in part.iterdir()} == before


def test_parts_unpacked_one_by_one_add_up(packed, tmp_path, capsys):
    """What .dev_scripts/device_checks.sh does with parts carried by successive calls."""
    _, _, parts = packed
    out = tmp_path / 'cifar100'
    for part in parts:
        assert run_unpack(capsys, part, '--out', out, '--png')[0] == 0
    groups = [g for p in parts for g in json.loads((p / 'part.json').read_text())['groups']]
    folders = {g['folder']: sum(h['count'] for h in groups if h['folder'] == g['folder']) for g in groups}
    for folder, count in folders.items():
        assert len(list((out / folder).glob('*/*.png'))) == count


def copy_part(part, dest):
    dest.mkdir()
    for f in part.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    return dest


def rewrite_sums(part):
    files = sorted(p.name for p in part.iterdir() if p.name != 'SHA256SUMS')
    (part / 'SHA256SUMS').write_text(''.join(
        f'{hashlib.sha256((part / f).read_bytes()).hexdigest()}  {f}\n' for f in files))


def tamper_damaged(part):  # one byte of a mosaic flipped, as a broken transfer would
    mosaic = sorted(part.glob('*.webp'))[0]
    data = bytearray(mosaic.read_bytes())
    data[len(data) // 2] ^= 0xFF
    mosaic.write_bytes(bytes(data))
    return 'does not match its SHA-256 (damaged in transit): carry it again'


def tamper_missing(part):
    sorted(part.glob('*.webp'))[-1].unlink()
    return 'is missing: carry the whole folder again'


def tamper_pixels(part):  # a valid WebP with one pixel changed and sums to match: only the pixel hash sees it
    mosaic = sorted(part.glob('*.webp'))[0]
    pixels = np.asarray(Image.open(mosaic).convert('RGB')).copy()
    pixels[0, 0] ^= 1
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, 'WEBP', **pack_cifar.WEBP)
    mosaic.write_bytes(buf.getvalue())
    rewrite_sums(part)
    return 'decodes to other pixels than were packed'


@pytest.mark.parametrize('tamper', [tamper_damaged, tamper_missing, tamper_pixels])
def test_an_altered_part_is_refused_with_one_line_and_nothing_is_written(packed, tmp_path, capsys, tamper):
    _, _, parts = packed
    bad = copy_part(parts[0], tmp_path / parts[0].name)
    message = tamper(bad)
    others = [copy_part(p, tmp_path / p.name) for p in parts[1:]]
    out = tmp_path / 'out'
    code, err = run_unpack(capsys, *others, bad, '--out', out, '--png', '--npz')
    assert code == 1
    assert err.count('\n') == 1 and err.startswith(f'pack_cifar: {bad}: ') and message in err
    assert not out.exists()  # every part is checked before the first file is written


def test_bad_arguments_name_the_fix(tmp_path, capsys, cifar100_root):
    assert pack_cifar.main(['pack', str(cifar100_root), str(tmp_path), '--parts', 'a=nowhere']) == 1
    assert "unknown folder 'nowhere'" in capsys.readouterr().err
    missing = tmp_path / 'cifar100-x'
    assert pack_cifar.main(['unpack', str(missing), '--out', str(tmp_path / 'o'), '--png']) == 1
    assert 'no SHA256SUMS: not a packed part' in capsys.readouterr().err
