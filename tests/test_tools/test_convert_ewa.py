"""tools/convert_ewa.py: what users get wrong ends in one clear line, exit code 2, nothing overwritten."""
import subprocess
import sys

import pytest
import torch
from tool_utils import load_tool

import mmewa  # noqa: F401

convert_ewa = load_tool('convert_ewa')


@pytest.fixture(scope='module')
def ewa_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = convert_ewa.build_model('configs/demo/seg_ewa_vit_tiny.py')
    path = tmp_path_factory.mktemp('ckpt') / 'ewa.pth'
    torch.save({'meta': {'seed': 0}, 'state_dict': model.state_dict(), 'optimizer': {}}, path)
    return path


def run(args, capsys):
    rc = convert_ewa.main([str(a) for a in args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_convert_drops_training_state_and_keeps_plain_meta(ewa_ckpt, tmp_path, capsys):
    out = tmp_path / 'out.pth'
    rc, stdout, _ = run([ewa_ckpt, out], capsys)
    assert rc == 0 and 'collapsed 2 EWA layers' in stdout
    ckpt = torch.load(out, weights_only=True)
    assert set(ckpt) == {'meta', 'state_dict'}
    assert ckpt['meta']['seed'] == 0
    assert ckpt['meta']['ewa_collapsed']['layers'] == ['backbone.layers.1.ffn', 'backbone.layers.3.ffn']
    assert not any('experts' in k for k in ckpt['state_dict'])


def test_non_ewa_checkpoint(tmp_path, capsys):
    std = convert_ewa.build_model('configs/demo/seg_vit_tiny.py')
    src, out = tmp_path / 'std.pth', tmp_path / 'out.pth'
    torch.save({'state_dict': std.state_dict()}, src)
    rc, _, err = run([src, out], capsys)
    assert rc == 2 and 'not a checkpoint of an EWA model' in err and not out.exists()


def test_corrupt_file(tmp_path, capsys):
    src, out = tmp_path / 'broken.pth', tmp_path / 'out.pth'
    src.write_bytes(b'PK\x03\x04 truncated checkpoint')
    rc, _, err = run([src, out], capsys)
    assert rc == 2 and 'is truncated or corrupt' in err and not out.exists()


def test_directory_instead_of_file(tmp_path, capsys):
    out = tmp_path / 'out.pth'
    rc, _, err = run([tmp_path, out], capsys)
    assert rc == 2 and 'is a directory' in err and 'weights' not in err.lower() and not out.exists()


def test_missing_file(tmp_path, capsys):
    rc, _, err = run([tmp_path / 'nope.pth', tmp_path / 'out.pth'], capsys)
    assert rc == 2 and 'checkpoint not found' in err


class Payload:
    def __reduce__(self):
        return (print, ('code ran during unpickling',))


def test_arbitrary_pickled_objects_are_refused(tmp_path, capsys):
    src, out = tmp_path / 'evil.pth', tmp_path / 'out.pth'
    torch.save({'state_dict': {}, 'x': Payload()}, src)
    rc, stdout, err = run([src, out], capsys)
    assert rc == 2 and "asks to run code when unpickled (the global 'print')" in err
    assert len(err.strip().splitlines()) == 1 and 'weights_only=False' in err
    assert 'code ran' not in stdout and not out.exists()


def test_output_onto_input_is_refused_and_input_kept(ewa_ckpt, capsys):
    before = ewa_ckpt.read_bytes()
    rc, _, err = run([ewa_ckpt, ewa_ckpt], capsys)
    assert rc == 2 and 'OUT is the input file' in err
    assert ewa_ckpt.read_bytes() == before


def test_verify_with_mismatched_configs_writes_nothing(ewa_ckpt, tmp_path, capsys):
    other = tmp_path / 'wider.py'
    other.write_text("_base_ = ['" + str(convert_ewa.Path('configs/demo/seg_vit_tiny.py').resolve()) +
                     "']\nmodel = dict(backbone=dict(embed_dims=96))\n")
    out = tmp_path / 'out.pth'
    rc, _, err = run([ewa_ckpt, out, '--verify', 'configs/demo/seg_ewa_vit_tiny.py', other,
                      '--verify-size', '64', '64'], capsys)
    assert rc == 2 and 'do not fit' in err and not out.exists()


def test_cli_exit_code_and_single_error_line(tmp_path):
    src = tmp_path / 'broken.pth'
    src.write_bytes(b'garbage')
    proc = subprocess.run([sys.executable, 'tools/convert_ewa.py', str(src), str(tmp_path / 'o.pth')],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith('convert_ewa: error:')]
    assert len(errors) == 1, proc.stderr
