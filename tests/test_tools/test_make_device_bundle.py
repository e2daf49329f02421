""".dev_scripts/make_device_bundle.py without a network: the pins are what CPython 3.12 on Linux x86-64
installs, and on a fabricated bundle the closure check names what neither the bundle nor the device
provides, every file is held to its pinned hash, --check writes nothing, staged CamVid passes
`sha256sum -c`, and the ViT-S/14 travels in float16 within its stated error."""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import zipfile

import pytest
from packaging.tags import Tag, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from tool_utils import load_tool

bundle_tool = load_tool('make_device_bundle')
BundleError = bundle_tool.BundleError


def test_the_pins_are_one_version_per_project_each_installable_by_cpython_312_on_x86_64_linux():
    platforms = ['manylinux_2_28_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64', 'linux_x86_64']
    supported = set(cpython_tags((3, 12), platforms=platforms)) | {Tag('py3', 'none', 'any')}
    names = []
    for fname, digest in bundle_tool.PINS.items():
        name, _, _, tags = parse_wheel_filename(fname)
        names.append(name)
        assert tags & supported, f'{fname} does not install on CPython 3.12 x86-64'
        assert len(digest) == 64 and int(digest, 16) >= 0
    assert len(names) == len(set(names)), 'two versions of one project: pip would refuse the install'
    pinned = {canonicalize_name(n) for n in names}
    assert {'mmengine', 'mmdet', 'mmsegmentation', 'mmpretrain', 'setuptools'} <= pinned
    assert not pinned & {'torch', 'torchvision', 'numpy', 'opencv-python', 'opencv-python-headless'}
    setuptools = next(f for f in bundle_tool.PINS if f.startswith('setuptools-'))
    version = tuple(map(int, setuptools.split('-')[1].split('.')))
    assert (77,) <= version < (81,)  # torch's floor; pkg_resources (mmcv's setup.py, mmengine) is gone in 81
    assert bundle_tool.MMCV_SDIST[0] == 'mmcv-2.1.0.tar.gz'


def make_wheel(folder, name, version, requires=(), tag='py3-none-any'):
    """A wheel with only its METADATA (the description repeats a Requires-Dist that must not count)."""
    path = folder / f'{name}-{version}-{tag}.whl'
    meta = '\n'.join(['Metadata-Version: 2.1', f'Name: {name}', f'Version: {version}',
                      *(f'Requires-Dist: {r}' for r in requires), '', 'Requires-Dist: not-a-header'])
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr(f'{name}-{version}.dist-info/METADATA', meta)
    return path


def make_sdist(folder):
    path = folder / 'tinymmcv-1.0.tar.gz'
    with tarfile.open(path, 'w:gz') as t:
        data = b'print("setup")\n'
        info = tarfile.TarInfo('tinymmcv-1.0/setup.py')
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


DEVICE = frozenset({'numpy', 'pyyaml', 'opencv-python-headless'})
VERSIONS = {'numpy': '2.5.2'}


@pytest.fixture
def bundle(tmp_path):
    """A tiny bundle laid out as the real one, with its pins: app needs lib (bundled), numpy and pyyaml (on
    the device), opencv-python (met by the device's headless build) and only on Windows pywin32."""
    root = tmp_path / 'bundle'
    (root / 'wheels').mkdir(parents=True)
    (root / 'src').mkdir()
    needs = ['lib>=0.2', 'numpy>=1.26', 'pyyaml', 'opencv-python>=3', 'pywin32; sys_platform == "win32"',
             'extra-thing; extra == "docs"']
    wheels = [make_wheel(root / 'wheels', 'app', '1.0', needs),
              make_wheel(root / 'wheels', 'lib', '0.3', ['zipp>=3; python_version < "3.10"'])]
    sdist = make_sdist(root / 'src')
    pins = {w.name: sha(w) for w in wheels}
    return dict(root=root, pins=pins, sdist=(sdist.name, sha(sdist)), needs=[('app==1.0', 'mmewa')])


def build(b, **kw):
    args = dict(pins=b['pins'], sdist=b['sdist'], needs=b['needs'], device=DEVICE, versions=VERSIONS)
    return bundle_tool.build(b['root'], **{**args, **kw})


def test_a_complete_bundle_gets_sums_and_a_manifest_and_check_writes_nothing(bundle):
    manifest = build(bundle)  # every file is there already: nothing is downloaded
    root = bundle['root']
    assert subprocess.run(['sha256sum', '-c', '--quiet', 'SHA256SUMS'], cwd=root).returncode == 0
    met = {(m['requirement'], m['of']): m['met_by'] for m in manifest['requirements']}
    assert met[('lib>=0.2', 'app-1.0-py3-none-any.whl')] == 'bundle: lib-0.3-py3-none-any.whl'
    assert met[('numpy>=1.26', 'app-1.0-py3-none-any.whl')] == 'device: numpy 2.5.2'
    assert met[('pyyaml', 'app-1.0-py3-none-any.whl')] == 'device (its version unknown here)'
    assert met[('opencv-python>=3', 'app-1.0-py3-none-any.whl')].startswith('device: opencv-python-headless')
    assert met[('app==1.0', 'mmewa')] == 'bundle: app-1.0-py3-none-any.whl'
    assert not any('pywin32' in r or 'zipp' in r or 'extra-thing' in r or 'not-a-header' in r for r, _ in met)
    assert json.loads((root / 'manifest.json').read_text())['total_bytes'] == manifest['total_bytes']
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob('*') if p.is_file()}
    assert build(bundle, offline=True)['files'] == manifest['files']
    assert {p: p.stat().st_mtime_ns for p in root.rglob('*') if p.is_file()} == stamps


@pytest.mark.parametrize('requires, message', [
    (['missing-lib'], 'missing-lib (of odd-1.0-py3-none-any.whl)'),
    (['numpy<2'], 'numpy<2 (of odd-1.0-py3-none-any.whl; the device has numpy 2.5.2)'),
    (['lib>=1'], 'lib>=1 (of odd-1.0-py3-none-any.whl; the bundle has lib-0.3-py3-none-any.whl)')])
def test_an_unmet_requirement_is_named_with_whose_it_is(bundle, requires, message):
    odd = make_wheel(bundle['root'] / 'wheels', 'odd', '1.0', requires)
    with pytest.raises(BundleError, match='met neither by the bundle nor by the device') as e:
        build(bundle, pins={**bundle['pins'], odd.name: sha(odd)})
    assert message in str(e.value)
    assert not (bundle['root'] / 'SHA256SUMS').exists()  # nothing written before the closure holds


def test_every_file_is_held_to_its_pin(bundle):
    build(bundle)
    root = bundle['root']
    wheel = root / 'wheels' / 'lib-0.3-py3-none-any.whl'
    original = wheel.read_bytes()
    wheel.write_bytes(original + b'x')
    with pytest.raises(BundleError, match='does not have the pinned SHA-256'):
        build(bundle, offline=True)
    wheel.write_bytes(original)
    extra = make_wheel(root / 'wheels', 'stray', '1.0')
    with pytest.raises(BundleError, match=r"unpinned wheels \['stray-1.0-py3-none-any.whl'\]"):
        build(bundle, offline=True)
    extra.unlink()
    (root / 'SHA256SUMS').write_text((root / 'SHA256SUMS').read_text().splitlines()[0] + '\n')
    with pytest.raises(BundleError, match='SHA256SUMS does not list exactly the pinned files'):
        build(bundle, offline=True)
    wheel.unlink()
    with pytest.raises(BundleError, match='lib-0.3-py3-none-any.whl is missing'):
        build(bundle, offline=True)  # --check never downloads


def test_check_on_the_command_line(bundle, monkeypatch, capsys):
    for name, value in dict(PINS=bundle['pins'], MMCV_SDIST=bundle['sdist'], MMCV_REQUIRES=(), MMEWA_EXTRA=(),
                            MMEWA_RUNTIME=bundle['root'] / 'none.txt', DEVICE_PACKAGES=DEVICE,
                            DEVICE_VERSIONS=VERSIONS).items():
        monkeypatch.setattr(bundle_tool, name, value)
    out = str(bundle['root'])
    assert bundle_tool.main(['--out', out, '--check']) == 1  # no SHA256SUMS yet
    assert 'SHA256SUMS does not list exactly the pinned files' in capsys.readouterr().err
    assert bundle_tool.main(['--out', out]) == 0
    assert bundle_tool.main(['--out', out, '--check']) == 0
    assert 'checked, nothing written' in capsys.readouterr().out


def test_staged_camvid_is_a_copy_that_passes_its_sums(tmp_path, camvid_root):
    staged = bundle_tool.stage_camvid(camvid_root, tmp_path / 'camvid')
    files = sorted(p.relative_to(camvid_root) for p in camvid_root.rglob('*') if p.is_file())
    assert sorted(p.relative_to(staged) for p in staged.rglob('*') if p.is_file()) == sorted(
        [*files, type(files[0])('SHA256SUMS')])
    assert subprocess.run(['sha256sum', '-c', '--quiet', 'SHA256SUMS'], cwd=staged).returncode == 0
    victim = staged / files[0]
    victim.write_bytes(b'changed' + victim.read_bytes()[7:])
    assert subprocess.run(['sha256sum', '-c', '--quiet', 'SHA256SUMS'], cwd=staged,
                          capture_output=True).returncode == 1
    shutil.rmtree(staged)
    with pytest.raises(BundleError, match='no CamVid at'):
        bundle_tool.stage_camvid(tmp_path / 'nowhere', tmp_path / 'camvid')


def test_the_vit_travels_in_float16_within_its_stated_error_and_passes_its_sums(tmp_path):
    """--sets dinov2: half the bytes, every tensor within 4.5e-4 of its largest value (the tool's claim for
    the real checkpoint, here on weights with DINOv2-like scales), integer tensors and meta kept."""
    import torch
    gen = torch.Generator().manual_seed(0)
    state = {'w': torch.randn(384, 1536, generator=gen) * 0.05, 'count': torch.tensor([3, 4]),
             'ln': 1 + 0.1 * torch.randn(384, generator=gen)}
    src = tmp_path / 'vit.pth'
    torch.save(dict(meta=dict(layout='mmpretrain'), state_dict=state), src)
    folder = bundle_tool.stage_dinov2(src, tmp_path / 'part')
    assert sorted(p.name for p in folder.iterdir()) == ['SHA256SUMS', bundle_tool.DINOV2_FILE]
    assert subprocess.run(['sha256sum', '-c', '--quiet', 'SHA256SUMS'], cwd=folder).returncode == 0
    half = torch.load(folder / bundle_tool.DINOV2_FILE, weights_only=True)
    assert half['meta']['layout'] == 'mmpretrain' and 'float16' in half['meta']['carried_as']
    assert half['state_dict']['w'].dtype == torch.float16 and torch.equal(half['state_dict']['count'],
                                                                            state['count'])
    for k in ('w', 'ln'):
        err = (half['state_dict'][k].float() - state[k]).abs().max() / state[k].abs().max()
        assert err <= 4.5e-4, (k, float(err))
    assert (folder / bundle_tool.DINOV2_FILE).stat().st_size < 0.6 * src.stat().st_size
    with pytest.raises(BundleError, match='--layout mmpretrain'):
        bundle_tool.stage_dinov2(tmp_path / 'missing.pth', tmp_path / 'other')
