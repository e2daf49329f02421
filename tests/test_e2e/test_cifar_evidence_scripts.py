"""tools/cls_sweep.sh and tools/gpu_evidence.sh, the two CIFAR-100 evidence scripts, end to end in their
smoke-test setting (2 epochs on 64 real images): every run trains, collapses and tests, the pages hold the
tables, and a rerun resumes without training again."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SMOKE = {'EPOCHS': '2', 'WARMUP': '1', 'SUBSET': '64', 'OMP_NUM_THREADS': '1'}


def run(script: str, env: dict) -> subprocess.CompletedProcess:
    python_dir = str(Path(sys.executable).parent)  # `python` in the scripts is this interpreter
    env = {**os.environ, **env, 'PATH': f'{python_dir}{os.pathsep}{os.environ["PATH"]}'}
    return subprocess.run(['bash', script], env=env, capture_output=True, text=True, timeout=900)


def test_cls_sweep_runs_each_variant_beside_the_shared_baseline_and_resumes(tmp_path, cifar100_root):
    work, out = tmp_path / 'sweep', tmp_path / 'sweep.md'
    env = {**SMOKE, 'DATA': str(cifar100_root), 'WORK': str(work), 'OUT': str(out), 'SEEDS': '0',
           'VARIANTS': 'ewa beta0.9 routed'}
    proc = run('tools/cls_sweep.sh', env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = out.read_text()
    row = r'^\| (\S+) \| test \| 0 \| [\d.]+ \| ([\d.]+) \|'  # variant | split | seeds | baseline | variant
    rows = {name: float(value) for name, value in re.findall(row, page, re.M)}
    assert set(rows) == {'ewa', 'beta0.9', 'routed'} and all(0 <= v <= 100 for v in rows.values())
    trained = sorted(p.parent.name for p in (work / 'seed0').glob('*/last_checkpoint'))
    assert trained == ['baseline', 'beta0.9', 'ewa', 'routed']  # one baseline for all variants
    assert (work / 'seed0' / 'beta0.9_collapsed_test.json').exists()  # the EWA variants deploy collapsed
    assert not (work / 'seed0' / 'routed_collapsed_test.json').exists()  # a routed MoE stays an MoE
    for f in work.rglob('*.pth'):  # a kept record without checkpoints: nothing is trained again
        f.unlink()
    logs = sorted(work.rglob('*.log'))
    again = run('tools/cls_sweep.sh', {**env, 'OUT': str(tmp_path / 'again.md')})
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / 'again.md').read_text() == page and sorted(work.rglob('*.log')) == logs


def test_gpu_evidence_smoke_setting_writes_the_table_and_curves(tmp_path, cifar100_root):
    out = tmp_path / 'gpu.md'
    env = {**SMOKE, 'DATA': str(cifar100_root), 'WORK': str(tmp_path / 'gpu'), 'OUT': str(out),
           'SEEDS': '0 1', 'VAL': '1', 'WORKERS': '0', 'JOBS': '2'}
    proc = run('tools/gpu_evidence.sh', env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = out.read_text()
    assert 'paired by seed (Δ = ewa − baseline, n = 2: seeds 0, 1' in page
    assert re.search(r'^\| default \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \|', page, re.M)
    assert out.with_suffix('.png').stat().st_size > 5000


@pytest.mark.parametrize('script', ['tools/cls_sweep.sh', 'tools/gpu_evidence.sh'])
def test_without_cifar100_the_scripts_name_the_fix(tmp_path, script):
    proc = run(script, {'DATA': str(tmp_path / 'nowhere'), 'WORK': str(tmp_path / 'w'),
                        'OUT': str(tmp_path / 'out.md')})
    assert proc.returncode == 2
    assert f'no CIFAR-100 class folders under {tmp_path / "nowhere"} (set DATA=PATH' in proc.stderr
    assert not (tmp_path / 'w').exists() and not (tmp_path / 'out.md').exists()
