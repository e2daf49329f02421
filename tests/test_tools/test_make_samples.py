""".dev_scripts/make_samples.py and the samples committed in samples/: their checks pass, they are rebuilt
exactly from the full sets, their labels are the full labels subsampled, and the real-image tests run on
them (what a fresh clone without the full sets does)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tool_utils import load_tool

make_samples = load_tool('make_samples')

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / 'samples'
FULL = Path(os.environ.get('MMEWA_DATA', ROOT.parent / 'shared' / 'data'))
COUNTS = dict(camvid=dict(train=24, val=8, test=12), coco128=dict(train=16, val=8),
              cifar100=dict(train=50, train_rest=25, test=25))


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob('*') if p.is_file() and p.name != 'README.md')


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img, dtype=np.int16)


def test_committed_samples_pass_the_alignment_checks(capsys):
    assert make_samples.check_all(SAMPLES) == COUNTS
    assert make_samples.main(['--check', str(SAMPLES)]) == 0
    assert 'camvid: ' in capsys.readouterr().out
    # The CamVid train sample still has every class and void, at 240x180, as exact ids.
    hist = sum(np.bincount(_pixels(p).ravel(), minlength=256)
               for p in sorted((SAMPLES / 'camvid' / 'ann_dir' / 'train').glob('*.png')))
    assert set(np.flatnonzero(hist)) == set(range(11)) | {255}
    assert hist.sum() == 24 * 240 * 180
    # COCO128 sample: the 80 official categories (mmdet's CocoDataset classes), the greyscale image kept.
    val = json.loads((SAMPLES / 'coco128' / 'annotations' / 'instances_val.json').read_text())
    assert len(val['categories']) == 80
    assert val['categories'][0] == dict(id=1, name='person', supercategory='person')
    assert [i['id'] for i in val['images']] == [30, 34, 36, 72, 78, 86, 113, 127]
    assert len(val['annotations']) == 46
    with Image.open(SAMPLES / 'coco128' / 'images' / '000000000086.jpg') as img:
        assert img.mode == 'L' and max(img.size) == 320
    assert (SAMPLES / 'cifar100' / 'classes.txt').read_text().split() == [
        '000_apple', '001_aquarium_fish', '002_baby', '003_bear', '004_beaver']


def test_make_samples_rebuilds_the_committed_samples_from_the_full_sets(tmp_path):
    if not all((FULL / name).is_dir() for name in make_samples.SETS):
        reason = f'rebuilding the samples needs the full camvid, coco128 and cifar100 at {FULL} (CI has them)'
        if os.environ.get('MMEWA_REQUIRE_DATA'):
            pytest.fail(reason)
        pytest.skip(reason)
    out = tmp_path / 'samples'
    assert make_samples.main([str(FULL), '--out', str(out)]) == 0
    assert _files(out) == _files(SAMPLES)
    for rel in _files(SAMPLES):
        new, old = out / rel, SAMPLES / rel
        if new.suffix == '.jpg':  # lossy: allow another libjpeg's rounding
            assert np.abs(_pixels(new) - _pixels(old)).max() <= 2, rel
        elif new.suffix == '.png':
            assert np.array_equal(_pixels(new), _pixels(old)), rel
        else:
            assert new.read_bytes() == old.read_bytes(), rel
    # Labels are the full labels sampled at every other pixel: exact class ids, no blending.
    for label in sorted((SAMPLES / 'camvid' / 'ann_dir').glob('*/*.png')):
        full = _pixels(FULL / 'camvid' / label.relative_to(SAMPLES / 'camvid'))
        assert np.array_equal(_pixels(label), full[1::2, 1::2]), label


def test_a_misaligned_sample_fails_the_check_and_names_the_file(tmp_path, capsys):
    shutil.copytree(SAMPLES, tmp_path / 'samples')
    label = tmp_path / 'samples' / 'camvid' / 'ann_dir' / 'val' / '0016E5_07959.png'
    bad = _pixels(label).astype(np.uint8)
    bad[0, 0] = 11  # SegNet's void id, which the conversion maps to 255
    Image.fromarray(bad).save(label)
    assert make_samples.main(['--check', str(tmp_path / 'samples')]) == 1
    assert 'label values [11] outside 0-10 and 255' in capsys.readouterr().err
    label.unlink()
    with pytest.raises(make_samples.SampleError, match="images without labels \\['0016E5_07959'\\]"):
        make_samples.check_camvid(tmp_path / 'samples' / 'camvid')


def test_make_samples_user_errors_name_the_fix_and_overwrite_nothing(tmp_path, capsys):
    assert make_samples.main([str(tmp_path / 'empty'), '--out', str(tmp_path / 'out')]) == 2
    assert 'lacks camvid, coco128, cifar100' in capsys.readouterr().err
    (tmp_path / 'out' / 'camvid').mkdir(parents=True)
    (tmp_path / 'out' / 'camvid' / 'mine.txt').write_text('keep me')
    assert make_samples.main([str(SAMPLES), '--out', str(tmp_path / 'out')]) == 2
    assert 'pass --overwrite' in capsys.readouterr().err
    assert _files(tmp_path / 'out') == ['camvid/mine.txt']


def test_real_image_tests_run_on_the_samples(camvid_root, coco128_root, tmp_path):
    """On a fresh clone the data fixtures give the samples; with the full sets here (CI), run two of the
    real-image tests again in a subprocess that cannot see them, so the sample path is tested there too."""
    if (camvid_root, coco128_root) == (SAMPLES / 'camvid', SAMPLES / 'coco128'):
        return  # this session is the sample run: every real-image test here already used the samples
    env = {k: v for k, v in os.environ.items() if k != 'MMEWA_REQUIRE_DATA'}
    env.update(MMEWA_DATA=str(tmp_path / 'no_data'), OMP_NUM_THREADS='1')
    tests = ['tests/test_e2e/test_seg_train_convert_test.py', 'tests/test_e2e/test_det_train_convert_test.py']
    proc = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rs', *tests],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    summary = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 0 and '2 passed' in summary and 'skipped' not in summary, proc.stdout[-3000:]
