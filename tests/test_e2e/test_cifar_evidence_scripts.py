""".dev_scripts/cls_sweep.sh and .dev_scripts/gpu_evidence.sh, the two CIFAR-100 evidence scripts, end to end
in their smoke-test setting (2 epochs on 64 real images): every run trains, collapses and tests, the pages
hold the tables, and a rerun resumes without training again."""
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


@pytest.mark.slow  # ~1.5 min on 2 cores: two sweep variants' trainings and tests, then a resume
def test_cls_sweep_runs_each_variant_beside_the_shared_baseline_and_resumes(tmp_path, cifar100_root):
    work, out = tmp_path / 'sweep', tmp_path / 'sweep.md'
    env = {**SMOKE, 'DATA': str(cifar100_root), 'WORK': str(work), 'OUT': str(out), 'SEEDS': '0',
           'VARIANTS': 'ewa beta0.9 routed'}
    proc = run('.dev_scripts/cls_sweep.sh', env)
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
    again = run('.dev_scripts/cls_sweep.sh', {**env, 'OUT': str(tmp_path / 'again.md')})
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / 'again.md').read_text() == page and sorted(work.rglob('*.log')) == logs
    only = tmp_path / 'only.md'
    proc = run('.dev_scripts/cls_sweep.sh', {**env, 'RUN': '0', 'VARIANTS': 'ewa e8', 'OUT': str(only)})
    assert proc.returncode == 0 and sorted(work.rglob('*.log')) == logs  # RUN=0 tabulates, runs nothing
    assert f'| e8 | test | – | – | – | – | – | – | – | no results in {work} |' in only.read_text()


@pytest.mark.slow  # ~2 min on 2 cores: the cls and seg stages end to end in smoke settings
def test_gpu_evidence_smoke_setting_writes_each_stages_table_and_curves(tmp_path, cifar100_root, camvid_root):
    data = tmp_path / 'data'  # the one DATA folder the script wants, over whichever sets conftest found
    data.mkdir()
    (data / 'cifar100').symlink_to(cifar100_root)
    (data / 'camvid').symlink_to(camvid_root)
    out = tmp_path / 'pages'
    env = {**SMOKE, 'STAGES': 'cls seg', 'SUBSET': '8', 'VAL': '1', 'SEG_ITERS': '4', 'SEG_VAL': '2',
           'SEEDS': '0 1', 'WORKERS': '0', 'DATA': str(data), 'WORK': str(tmp_path / 'gpu'),
           'OUT_DIR': str(out)}
    proc = run('.dev_scripts/gpu_evidence.sh', env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cls = (out / 'cls_cifar100_vit-t_from-scratch_gpu.md').read_text()
    assert 'paired by seed (Δ = ewa − baseline, n = 2: seeds 0, 1' in cls
    assert re.search(r'^\| default \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \|', cls, re.M)
    seg = (out / 'seg_camvid_vit-t-p8_from-scratch_gpu.md').read_text()
    for split in ('val', 'test'):  # both splits, the collapsed model tested in the standard config
        assert re.search(rf'^\| {split} \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \|', seg, re.M)
    assert re.search(r'^\| test \| [-+][\d.]+ ± [\d.]+ \| .* \| 0\.0\d \|$', seg, re.M)  # collapse gap
    for page in ('cls_cifar100_vit-t_from-scratch_gpu', 'seg_camvid_vit-t-p8_from-scratch_gpu'):
        assert (out / f'{page}.png').stat().st_size > 5000


@pytest.mark.parametrize('script, message', [
    ('.dev_scripts/cls_sweep.sh', 'no CIFAR-100 class folders (train/, test/) under {nowhere}: set DATA'),
    ('.dev_scripts/gpu_evidence.sh',
     'stage cls needs {nowhere}/cifar100/train: set DATA to the folder that holds')])
def test_without_data_the_scripts_name_the_fix_and_write_nothing(tmp_path, script, message):
    nowhere = tmp_path / 'nowhere'
    proc = run(script, {'DATA': str(nowhere), 'WORK': str(tmp_path / 'w'), 'OUT': str(tmp_path / 'out.md'),
                        'OUT_DIR': str(tmp_path / 'pages')})
    assert proc.returncode == 2
    assert message.format(nowhere=nowhere) in proc.stderr
    assert not any(tmp_path.glob('[wpo]*'))


def test_gpu_evidence_refuses_an_unknown_stage_before_running_any(tmp_path, cifar100_root):
    proc = run('.dev_scripts/gpu_evidence.sh', {'STAGES': 'cls segm', 'DATA': str(cifar100_root.parent),
                                         'WORK': str(tmp_path / 'w')})
    assert proc.returncode == 2 and "unknown stage 'segm' in STAGES (cls, seg, det)" in proc.stderr
    assert not (tmp_path / 'w').exists()
