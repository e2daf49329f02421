"""mmewa.checkpoint: MMEngine's checkpoint types are allowed only while a checkpoint loads, and no pickle
can use them to call anything; a refused file gets one line naming the global it asked for, a damaged one
"truncated or corrupt", and files torch.save did not write a plain "not a PyTorch checkpoint". Every such
error is also an instance of what torch or MMEngine raises there (upstream's ``except`` clauses catch it), and
no loader mmewa installs hands a file to one that falls back to full unpickling (the OneDL MMEngine does)."""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import CheckpointLoader
from mmengine.runner import checkpoint as mmengine_checkpoint

import mmewa  # noqa: F401  (what a config's custom_imports does)
from mmewa.checkpoint import CheckpointError, allow_mmengine_checkpoints, checkpoint_error, load_checkpoint

# MMEngine's own local loader, as its module defines it (mmewa's import re-registers prefix '' only)
UPSTREAM_LOAD_FROM_LOCAL = mmengine_checkpoint.load_from_local


def _mmengine_checkpoint(path: Path) -> Path:
    """What the Runner saves, as far as the unpickler is concerned: message-hub buffers and weights."""
    hub = MessageHub.get_instance('test_checkpoint')
    for loss in (3.0, 1.0, 2.0):
        hub.update_scalar('train/loss', loss)
    torch.save({'meta': {'iter': 3}, 'message_hub': hub.state_dict(),
                'state_dict': {'w': torch.arange(4.0)}}, path)
    return path


def _torch_file_with_pickle(path: Path, payload: bytes) -> Path:
    """A well-formed torch.save zip whose data.pkl is the given raw pickle."""
    torch.save({}, path)
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    with zipfile.ZipFile(path, 'w') as zf:
        for name, data in entries.items():
            zf.writestr(name, payload if name.endswith('/data.pkl') else data)
    return path


def _global(module: str, name: str) -> bytes:
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def _str(s: str) -> bytes:
    return b'X' + len(s.encode()).to_bytes(4, 'little') + s.encode()


HISTORY_BUFFER = _global('mmengine.logging.history_buffer', 'HistoryBuffer')
PROTO, TUPLE1, TUPLE2, REDUCE, STOP = b'\x80\x02', b'\x85', b'\x86', b'R', b'.'


def _exec_via_getattr(marker: Path) -> bytes:
    """getattr(getattr, '__self__') is the builtins module; getattr(builtins, 'exec')(code)."""
    code = f'open({str(marker)!r}, "w").write("pwned")'
    return (PROTO + _global('builtins', 'getattr') * 3 + _str('__self__') + TUPLE2 + REDUCE +
            _str('exec') + TUPLE2 + REDUCE + _str(code) + TUPLE1 + REDUCE + STOP)


def _first_step_to_module_globals() -> bytes:
    """getattr(HistoryBuffer, '__init__'), the first step of HistoryBuffer.__init__.__globals__['os']."""
    return (PROTO + _global('builtins', 'getattr') + HISTORY_BUFFER +
            _str('__init__') + TUPLE2 + REDUCE + STOP)


def _call_statistics_method() -> bytes:
    """getattr(HistoryBuffer, 'mean') is what checkpoints contain; calling it must still be refused."""
    return (PROTO + _global('builtins', 'getattr') + HISTORY_BUFFER +
            _str('mean') + TUPLE2 + REDUCE + _str('x') + TUPLE1 + REDUCE + STOP)


def test_import_leaves_torch_allow_list_alone(tmp_path):
    allowed = torch.serialization.get_safe_globals()
    assert getattr not in allowed and HistoryBuffer not in allowed and np.ndarray not in allowed
    assert not any(isinstance(g, tuple) and g[1] == 'builtins.getattr' for g in allowed)
    with pytest.raises(pickle.UnpicklingError, match='Unsupported global'):
        torch.load(_mmengine_checkpoint(tmp_path / 'iter_3.pth'), weights_only=True)


def test_mmewa_loader_reads_mmengine_checkpoints_and_restores_the_allow_list(tmp_path):
    class Registered:
        pass

    path = _mmengine_checkpoint(tmp_path / 'iter_3.pth')
    before = torch.serialization.get_safe_globals()
    with torch.serialization.safe_globals([Registered]):
        ckpt = load_checkpoint(path)
        assert torch.serialization.get_safe_globals().count(Registered) == 1
    assert set(torch.serialization.get_safe_globals()) == set(before)
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == 2.0 and buffer.current() == 2.0 and buffer.max() == 3.0
    assert torch.equal(ckpt['state_dict']['w'], torch.arange(4.0))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_runner_checkpoint_loader_reads_mmengine_checkpoints(tmp_path):
    """The path of Runner.resume / load_from and init_cfg=Pretrained."""
    ckpt = CheckpointLoader.load_checkpoint(str(_mmengine_checkpoint(tmp_path / 'iter_3.pth')), 'cpu')
    assert ckpt['message_hub']['log_scalars']['train/loss'].min() == 1.0
    assert HistoryBuffer not in torch.serialization.get_safe_globals()


@pytest.mark.parametrize('load', [load_checkpoint, lambda p: CheckpointLoader.load_checkpoint(str(p), 'cpu')],
                         ids=['mmewa', 'mmengine'])
def test_getattr_chains_cannot_reach_code(tmp_path, load):
    marker = tmp_path / 'marker'
    for i, payload in enumerate([_exec_via_getattr(marker), _first_step_to_module_globals(),
                                 _call_statistics_method()]):
        path = _torch_file_with_pickle(tmp_path / f'evil{i}.pth', payload)
        with pytest.raises(CheckpointError, match='refusing|reduce|asks to run code'):
            load(path)
    assert not marker.exists()


def test_plain_pickle_protocol_reaches_the_same_code_without_the_guard(tmp_path):
    """The payload is real: with the ordinary unpickler it runs; only the weights-only loader stops it."""
    marker = tmp_path / 'marker'
    with zipfile.ZipFile(_torch_file_with_pickle(tmp_path / 'evil.pth', _exec_via_getattr(marker))) as zf:
        payload = zf.read(next(n for n in zf.namelist() if n.endswith('data.pkl')))
    pickle.loads(payload)
    assert marker.read_text() == 'pwned'


def test_directly_named_dangerous_globals_are_refused(tmp_path):
    marker = tmp_path / 'marker'
    payload = PROTO + _global('os', 'system') + _str(f'touch {marker}') + TUPLE1 + REDUCE + STOP
    with pytest.raises(CheckpointError, match="asks to run code when unpickled \\(the global 'os.system'\\)"):
        load_checkpoint(_torch_file_with_pickle(tmp_path / 'evil.pth', payload))
    assert not marker.exists()


class _Reduce:
    def __reduce__(self):
        import os
        return (os.system, ('echo ran',))


@pytest.mark.parametrize('load', [load_checkpoint, lambda p: CheckpointLoader.load_checkpoint(str(p), 'cpu')],
                         ids=['mmewa', 'mmengine'])
def test_a_reduce_payload_gets_one_line_naming_its_global_and_the_fix(tmp_path, load):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(2)}, 'x': _Reduce()}, path)
    with pytest.raises(CheckpointError) as e:
        load(path)
    message = str(e.value)
    assert '\n' not in message and "the global 'posix.system'" in message
    assert 'weights_only=False' in message and 'Weights only load failed' not in message


@pytest.mark.parametrize('load', [load_checkpoint, lambda p: CheckpointLoader.load_checkpoint(str(p), 'cpu')],
                         ids=['mmewa', 'mmengine'])
@pytest.mark.parametrize('keep', [0.5, 0.9, 0.99])
def test_a_truncated_checkpoint_is_called_truncated(tmp_path, load, keep):
    full, cut = tmp_path / 'full.pth', tmp_path / 'cut.pth'
    torch.save({'state_dict': {'w': torch.arange(4096.0)}}, full)
    data = full.read_bytes()
    cut.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(CheckpointError, match='is truncated or corrupt'):
        load(cut)


@pytest.mark.parametrize(('content', 'message'), [
    (b'', 'is not a PyTorch checkpoint'), (b'hello world\n', 'is not a PyTorch checkpoint'),
    (b'garbage\x80\x02', 'is not a PyTorch checkpoint'),
    (b'PK\x03\x04 truncated checkpoint', 'truncated or corrupt'),
    (np.random.default_rng(0).bytes(1000), 'is not a PyTorch checkpoint'),
    (pickle.dumps({'state_dict': {}}, protocol=2), 'is not a PyTorch checkpoint')],
    ids=['empty', 'text', 'garbage', 'truncated-zip', 'random', 'plain-pickle'])
def test_not_a_checkpoint(tmp_path, content, message):
    path = tmp_path / 'x.pth'
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as e:
        load_checkpoint(path)
    assert 'weights only' not in str(e.value).lower()


def test_zip_without_pickle_is_not_a_checkpoint(tmp_path):
    path = tmp_path / 'x.pth'
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('x/readme.txt', 'hi')
    with pytest.raises(CheckpointError, match='is not a PyTorch checkpoint'):
        load_checkpoint(path)


def test_corrupt_pickle_in_a_torch_zip_is_not_called_unsafe(tmp_path):
    path = _torch_file_with_pickle(tmp_path / 'x.pth', b'\x80\x02garbage')
    with pytest.raises(CheckpointError, match='is truncated or corrupt'):
        load_checkpoint(path)


def test_directory(tmp_path):
    with pytest.raises(CheckpointError, match='is a directory'):
        load_checkpoint(tmp_path)


# -- upstream's exception types ---------------------------------------------------------------------
def _damaged(tmp_path: Path, kind: str) -> Path:
    """A file (or folder, or nothing) that neither torch nor MMEngine can load, of the named kind."""
    path = tmp_path / f'{kind}.pth'
    full = tmp_path / 'full.pth'
    torch.save({'state_dict': {'w': torch.arange(4096.0)}}, full)
    contents = {'empty': b'', 'text': b'hello world\n', 'garbage': b'garbage\x80\x02',
                'truncated-zip-head': b'PK\x03\x04 truncated checkpoint',
                'random': np.random.default_rng(0).bytes(1000),
                'plain-pickle': pickle.dumps({'state_dict': {}}, protocol=2),
                'cut-half': full.read_bytes()[:len(full.read_bytes()) // 2],
                'cut-end': full.read_bytes()[:-100]}
    if kind == 'folder':
        path.mkdir()
    elif kind == 'corrupt-pickle':
        _torch_file_with_pickle(path, b'\x80\x02garbage')
    elif kind == 'refused':
        torch.save({'state_dict': {'w': torch.zeros(2)}, 'x': _Reduce()}, path)
    elif kind != 'missing':
        path.write_bytes(contents[kind])
    return path


DAMAGED = ['missing', 'folder', 'empty', 'text', 'garbage', 'truncated-zip-head', 'random', 'plain-pickle',
           'cut-half', 'cut-end', 'corrupt-pickle', 'refused']


def _raised(fn, *args, **kwargs) -> BaseException:
    with pytest.raises(Exception) as e:  # noqa: B017, PT011  (the type is what is being found out)
        fn(*args, **kwargs)
    return e.value


@pytest.mark.parametrize('kind', DAMAGED)
def test_errors_are_instances_of_what_upstream_raises(tmp_path, kind):
    """Runner/Pretrained path: what MMEngine's own loader raises (its weights-only torch.load for files: on
    torch >= 2.6 that is what it does, and the oracle must not unpickle a hostile file fully)."""
    path = _damaged(tmp_path, kind)
    oracle = (_raised(UPSTREAM_LOAD_FROM_LOCAL, str(path), 'cpu') if kind in ('missing', 'folder')
              else _raised(torch.load, path, 'cpu', weights_only=True))
    for load in (lambda p: CheckpointLoader.load_checkpoint(str(p), 'cpu'), load_checkpoint):
        error = _raised(load, path)
        assert isinstance(error, CheckpointError) and isinstance(error, type(oracle)), (kind, type(oracle))
        assert '\n' not in str(error) and str(error).startswith(('checkpoint not found', str(path)))
    torch_error = _raised(torch.load, path, 'cpu', weights_only=True)  # mmewa.load_checkpoint's upstream
    assert isinstance(_raised(load_checkpoint, path), type(torch_error))


def test_a_missing_file_is_a_file_not_found_error_with_one_line():
    with pytest.raises(FileNotFoundError, match='^checkpoint not found: nonexistent.pth$') as e:
        CheckpointLoader.load_checkpoint('nonexistent.pth', 'cpu')
    assert isinstance(e.value, CheckpointError) and isinstance(e.value, OSError)


def test_upstream_backbones_raise_os_error_for_a_missing_pretrained_file():
    """mmseg's own backbone tests (test_vit, test_beit, test_mae, test_twins, test_mit) expect OSError from
    init_weights() with a missing ``Pretrained`` checkpoint; mmewa is imported, as in a user's process."""
    from mmseg.models.backbones import BEiT, MixVisionTransformer, VisionTransformer

    from mmewa.models.backbones import EWAVisionTransformer
    for model in (VisionTransformer(img_size=32, embed_dims=32, num_layers=2, num_heads=2,
                                    init_cfg=dict(type='Pretrained', checkpoint='pretrained')),
                  BEiT(img_size=32, embed_dims=32, num_layers=2, num_heads=2,
                       init_cfg=dict(type='Pretrained', checkpoint='pretrained')),
                  MixVisionTransformer(embed_dims=8, num_layers=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                                       init_cfg=dict(type='Pretrained', checkpoint='pretrained')),
                  EWAVisionTransformer(img_size=32, embed_dims=32, num_layers=2, num_heads=2,
                                       init_cfg=dict(type='Pretrained', checkpoint='pretrained'))):
        with pytest.raises(OSError, match='checkpoint not found: pretrained'):
            model.init_weights()


def test_checkpoint_error_keeps_the_message_for_any_upstream_type():
    assert str(checkpoint_error('one line', KeyError)) == 'one line'  # KeyError's str would quote it
    error = checkpoint_error('one line', UnicodeDecodeError)  # needs five arguments: nearest base instead
    assert isinstance(error, UnicodeError) and str(error) == 'one line'
    assert type(checkpoint_error('a', OSError)) is type(checkpoint_error('b', OSError))


# -- no fallback to full unpickling, on any MMEngine ---------------------------------------------------
def _falls_back(filename, map_location=None):
    """The OneDL MMEngine's local loader (0.10.12): weights-only first, then the full unpickler."""
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except Exception:  # noqa: BLE001
        return torch.load(filename, map_location=map_location, weights_only=False)


def _os_system_payload(tmp_path: Path, marker: Path) -> Path:
    payload = PROTO + _global('os', 'system') + _str(f'touch {marker}') + TUPLE1 + REDUCE + STOP
    return _torch_file_with_pickle(tmp_path / 'evil.pth', payload)


def test_the_stand_in_really_runs_the_payload(tmp_path):
    marker = tmp_path / 'marker'
    _falls_back(_os_system_payload(tmp_path, marker))
    assert marker.exists()


def test_the_runner_loader_never_hands_a_file_to_a_loader_that_falls_back(tmp_path, monkeypatch):
    """MMEngine's module-level loader replaced by a falling-back one (as on the OneDL fork)."""
    marker = tmp_path / 'marker'
    monkeypatch.setattr(mmengine_checkpoint, 'load_from_local', _falls_back)
    with pytest.raises(pickle.UnpicklingError, match="the global 'os.system'"):
        CheckpointLoader.load_checkpoint(str(_os_system_payload(tmp_path, marker)), 'cpu')
    assert not marker.exists()
    ckpt = CheckpointLoader.load_checkpoint(str(_mmengine_checkpoint(tmp_path / 'iter_3.pth')), 'cpu')
    assert ckpt['message_hub']['log_scalars']['train/loss'].min() == 1.0


def test_mmewa_takes_the_local_prefix_back_from_a_falling_back_loader(tmp_path, monkeypatch):
    """A falling-back loader registered for local files (as the OneDL fork's import does) is replaced."""
    marker = tmp_path / 'marker'
    monkeypatch.setattr(CheckpointLoader, '_schemes', dict(CheckpointLoader._schemes))
    CheckpointLoader.register_scheme(prefixes='', loader=_falls_back, force=True)
    allow_mmengine_checkpoints()
    with pytest.raises(CheckpointError, match="asks to run code when unpickled \\(the global 'os.system'\\)"):
        CheckpointLoader.load_checkpoint(str(_os_system_payload(tmp_path, marker)), 'cpu')
    assert not marker.exists()


def test_the_installed_mmengine_does_not_run_a_malicious_checkpoint(tmp_path):
    """Whichever MMEngine is installed (OpenMMLab's or OneDL's), with mmewa imported."""
    marker = tmp_path / 'marker'
    for path in (_os_system_payload(tmp_path, marker), _reduce_file(tmp_path, marker)):
        for load in (lambda p: CheckpointLoader.load_checkpoint(str(p), 'cpu'),
                     lambda p: CheckpointLoader.load_checkpoint(str(p), 'cpu', logger='current'),
                     load_checkpoint):
            with pytest.raises(CheckpointError, match='asks to run code'):
                load(path)
    assert not marker.exists()


class _Touch:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os
        return (os.system, (f'touch {self.marker}',))


def _reduce_file(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / 'evil_reduce.pth'
    torch.save({'state_dict': {'w': torch.zeros(2)}, 'x': _Touch(marker)}, path)
    return path
