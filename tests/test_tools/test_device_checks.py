""".dev_scripts/device_checks.sh --dry-run end to end on this CPU, from real data: every step runs (the
install check, CIFAR-100 parts packed and unpacked, CamVid staged and checked, the ViT-S/14 carried in
float16 and widened, the benchmark, the three comparisons, cls through two seed groups), and $OUT holds
what the device would return, in the form the repository commits; plus the one-line refusals and the budget
rule that starts a seed group only when it fits."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLS_NAME = 'cls_cifar100_vit-t-p4_1xb128-100e_cifar100-32_e2_gpu'
SEG_NAME = 'seg_camvid_vit-t-p8_from-scratch_i2_gpu'
FT_NAME = 'cls_cifar100_vit-s14-dinov2_finetune-224_e2_gpu'  # the dry run trains the 56-px twins
NAME = re.compile(r'^[A-Za-z0-9._-]+$')  # what the device returns: such names, 8 files at most


def run(args, env, timeout=600):
    python_dir = str(Path(sys.executable).parent)  # `python` in the scripts is this interpreter
    path = f'{python_dir}{os.pathsep}{os.environ["PATH"]}'
    env = {**os.environ, 'PYTHON': sys.executable, **env, 'PATH': path}
    env = {k: v for k, v in env.items() if v is not None}  # None: unset
    return subprocess.run(['bash', '.dev_scripts/device_checks.sh', *args], cwd=ROOT, env=env,
                          capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def data(tmp_path, cifar100_root, camvid_root):
    data = tmp_path / 'data'  # the one data folder the script reads, over whichever sets conftest found
    data.mkdir()
    (data / 'cifar100').symlink_to(cifar100_root)
    (data / 'camvid').symlink_to(camvid_root)
    return data


def stage_lines(out: Path) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in (out / 'stages.txt').read_text().splitlines()}


@pytest.mark.slow  # ~5 min on 2 cores: 8 trainings, 4 collapses, 15 tests, 5 speed runs, each a process
def test_dry_run_runs_every_step_and_leaves_the_results_in_out(tmp_path, data):
    out, stage = tmp_path / 'out', tmp_path / 'stage'
    started = time.time()
    proc = run(['--dry-run'], {'OUT': str(out), 'DRY_STAGE_DIR': str(stage), 'DATA_SRC': str(data),
                               'BUNDLE': str(tmp_path / 'no_bundle'), 'SNAPSHOT': '5',
                               'STAGES': 'bench speed cls seg ft'})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == ['install.log', 'log.txt', 'logs.tar.gz', 'machine.txt', 'results.tar.gz', 'stages.txt']
    assert all(NAME.match(f) and (out / f).is_file() for f in files)
    machine = (out / 'machine.txt').read_text()
    assert 'dry run 1 | CUDA 0' in machine and 'torch' in machine
    steps = stage_lines(out)
    assert list(steps) == ['install', 'data', 'bench', 'speed', 'cls', 'seg', 'ft']
    assert all(fields[1] == '0' and fields[3] == 'ok' for fields in steps.values()), steps
    assert ' '.join(steps['cls'][4:]) == 'seeds done: 0 1; left: none'
    assert ' '.join(steps['seg'][4:]) == 'seeds done: 0; left: none'
    assert ' '.join(steps['ft'][4:]) == 'seeds done: 0; left: none'
    assert steps['data'][-1] == 'yes'  # vit-s14: yes
    log = (out / 'log.txt').read_text()
    assert 'no bundle at' in log and ': not checked' in log  # CI has no bundle; nothing is downloaded
    assert 'data: CIFAR-100 parts unpacked' in log and 'data: CamVid checked' in log
    assert 'data: ViT-S/14 checked' in log
    assert 'cls: seeds 1 (with 0 1 in the table' in log  # the second seed group
    with tarfile.open(out / 'results.tar.gz') as t:
        names = set(t.getnames())
        read = {n: t.extractfile(n).read() for n in names if t.getmember(n).isfile()}
    for name, seeds, splits in ((CLS_NAME, [0, 1], ['default']), (SEG_NAME, [0], ['val']),
                                (FT_NAME, [0], ['default'])):
        work = f'benchmarks/runs/{name}'
        results = json.loads(read[f'{work}/results.json'])  # compare_seeds' form, every seed in it
        assert [r['seed'] for r in results] == seeds
        for r in results:  # per seed: the three models' test files and their metrics in results.json
            for model, key in (('baseline', 'baseline'), ('ewa', 'ewa_before_collapse'),
                               ('ewa_collapsed', 'collapsed')):
                for split in splits:
                    assert f'{work}/seed{r["seed"]}/{model}_{split}.json' in names
                    metrics = json.loads(read[f'{work}/seed{r["seed"]}/{model}_{split}.json'])
                    assert r[f'{key}_{split}'] and set(r[f'{key}_{split}']) <= set(metrics)
        assert read[f'{work}/command.txt'].startswith(b'python tools/analysis_tools/compare_seeds.py')
        assert any(n.startswith(f'{work}/seed0/baseline/') and n.endswith('/vis_data/scalars.json')
                   for n in names)
        assert f'benchmarks/{name}.md' in names and f'benchmarks/{name}.png' in names
        assert not any(n.endswith(('.pth', '.log', '.py')) for n in names)  # what benchmarks/runs keeps
    bench = json.loads(read['benchmarks/gpu_quick/gpu_vit-s14_448_b16.json'])
    assert set(bench) >= {'seg', 'ffn', 'ewa', 'deploy'}
    assert ' '.join(steps['speed'][4:]) == \
        'runs done: paths_d64 lee9_fast lee9_fast_compiled lee9_fast_x2'
    paths = json.loads(read['benchmarks/gpu_quick/speed_paths_d64.json'])['sections']
    assert set(paths) == {'data', 'train'} and 'fast_vs_standard' in paths['train']
    for name, procs in (('lee9_fast', None), ('lee9_fast_compiled', None), ('lee9_fast_x2', 2)):
        speed = json.loads(read[f'benchmarks/gpu_quick/speed_{name}.json'])
        assert speed['only'] == 'fast' and speed.get('procs') == procs
        assert speed['sections']['train']['fast']['images_per_s'] > 0
    with tarfile.open(out / 'logs.tar.gz') as t:
        assert all(n.endswith('.log') for n in t.getnames() if t.getmember(n).isfile())
    for path in (ROOT / 'benchmarks' / f'{CLS_NAME}.md', ROOT / 'benchmarks' / 'runs' / CLS_NAME,
                 ROOT / 'benchmarks' / f'{SEG_NAME}.md', ROOT / 'benchmarks' / 'runs' / SEG_NAME,
                 ROOT / 'benchmarks' / f'{FT_NAME}.md', ROOT / 'benchmarks' / 'runs' / FT_NAME):
        assert not path.exists()  # the dry run never writes into this tree's benchmarks/
    quick = ROOT / 'benchmarks' / 'gpu_quick' / 'gpu_info.txt'
    assert not quick.exists() or quick.stat().st_mtime < started


def test_a_group_that_the_budget_cannot_hold_is_not_started(tmp_path, data):
    out = tmp_path / 'out'
    proc = run(['--dry-run'], {'OUT': str(out), 'DRY_STAGE_DIR': str(tmp_path / 'stage'),
                               'DATA_SRC': str(data), 'BUNDLE': str(tmp_path / 'no_bundle'),
                               'STAGES': 'bench cls', 'BUDGET': '40'})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    steps = stage_lines(out)
    assert steps['bench'][3] == 'skipped'
    assert steps['cls'][3] == 'partial' and 'seeds done: none; left: 0 1' in ' '.join(steps['cls'])
    assert not (out / 'results.tar.gz').exists()


@pytest.mark.parametrize('args, env, message', [
    (['--dry-run'], {'STAGES': 'bench segm'}, "device_checks: unknown stage 'segm' in STAGES"),
    ([], {'OUT': None}, 'device_checks: OUT is unset: the device tool sets it'),
    (['--wet-run'], {}, "device_checks: unknown argument '--wet-run' (only --dry-run)")])
def test_bad_settings_stop_with_one_line_before_anything_runs(tmp_path, args, env, message):
    proc = run(args, {'DRY_STAGE_DIR': str(tmp_path / 'stage'), **env}, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith(message) and proc.stderr.count('\n') == 1
    assert proc.stdout == '' and not (tmp_path / 'stage').exists()
