#!/usr/bin/env python
"""Baseline vs EWA over several seeds, the way a user would check the claim: train both, collapse the EWA
checkpoint, test the collapsed model with the *baseline* (standard) config, and tabulate.

    python tools/compare_seeds.py configs/ewa_vit/upernet_vit-s14_1xb4-cpu_camvid-112x112.py \\
        configs/ewa_vit/upernet_ewa-vit-s14_1xb4-cpu_camvid-112x112.py --seeds 0 1 2 \\
        --work-dir work_dirs/compare_camvid --out benchmarks/seg_camvid_cpu.md

For every seed it runs tools/train.py (both configs), tools/convert_ewa.py, and tools/test.py on the val
and test splits: the baseline, the collapsed EWA model in the baseline config, and the EWA model before
collapse (the collapse gap). Finished steps are skipped on a rerun, so an interrupted comparison resumes.
Results: ``results.json`` in the work dir and a markdown table (mean ± std over seeds).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('baseline_config')
    p.add_argument('ewa_config')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--work-dir', default='work_dirs/compare')
    p.add_argument('--splits', nargs='+', default=['val', 'test'],
                   help="splits to test on: 'default' is the config's own test_dataloader (e.g. COCO128's "
                        "val json); any other name is an img_dir/<split> folder of an mmseg dataset")
    p.add_argument('--metric', nargs='+', default=['mIoU'],
                   help='metric keys to tabulate (e.g. coco/bbox_mAP coco/segm_mAP)')
    p.add_argument('--out', help='write the markdown table here')
    p.add_argument('--cfg-options', nargs='*', default=[], help='passed to every train/test run')
    p.add_argument('--ewa-name', default='ewa',
                   help='sub-folder name of the EWA runs, to compare several variants with one baseline')
    p.add_argument('--no-collapse', action='store_true',
                   help='test the second model as it is (e.g. a routed MoE, which stays an MoE)')
    return p.parse_args(argv)


def sh(cmd: list[str], log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, 'w') as f:
        proc = subprocess.run([sys.executable, *cmd], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode:
        raise SystemExit(f'compare_seeds: `{" ".join(cmd)}` failed (exit {proc.returncode}); see {log}')


def split_options(split: str) -> list[str]:
    """Point the test dataloader at another split of an img_dir/ann_dir (mmseg) dataset."""
    if split in ('default', 'test'):
        return []
    return [f'test_dataloader.dataset.data_prefix.img_path=img_dir/{split}',
            f'test_dataloader.dataset.data_prefix.seg_map_path=ann_dir/{split}']


def seconds_per_iter(work_dir: Path) -> float:
    """Median logged iteration time (MMEngine's IterTimerHook), skipping the first logged window."""
    scalars = sorted(work_dir.glob('*/vis_data/scalars.json'))[-1]
    times = [json.loads(line)['time'] for line in scalars.read_text().splitlines() if '"time"' in line]
    return statistics.median(times[1:] if len(times) > 1 else times)


def run_seed(args, seed: int, work: Path) -> dict:
    res: dict = {'seed': seed}
    # no validation during training: every model is tested afterwards, on each split
    opts = [f'randomness.seed={seed}', 'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
            *args.cfg_options]
    for name, cfg in (('baseline', args.baseline_config), ('ewa', args.ewa_config)):
        wd = work / f'seed{seed}' / (args.ewa_name if name == 'ewa' else name)
        last = wd / 'last_checkpoint'
        if not last.exists():
            t = time.time()
            sh(['tools/train.py', cfg, '--work-dir', str(wd), '--cfg-options', *opts], wd.with_suffix('.log'))
            res[f'{name}_train_minutes'] = (time.time() - t) / 60
        res[f'{name}_s_per_iter'] = seconds_per_iter(wd)
        res[f'{name}_ckpt'] = last.read_text().strip()
    runs = {'baseline': ('baseline', args.baseline_config, res['baseline_ckpt']),
            'ewa_before_collapse': (args.ewa_name, args.ewa_config, res['ewa_ckpt'])}
    if args.no_collapse:
        runs['collapsed'] = runs['ewa_before_collapse']  # the model is deployed as it is
    else:
        collapsed = work / f'seed{seed}' / f'{args.ewa_name}_collapsed.pth'
        if not collapsed.exists():
            sh(['tools/convert_ewa.py', res['ewa_ckpt'], str(collapsed)], collapsed.with_suffix('.log'))
        runs['collapsed'] = (f'{args.ewa_name}_collapsed', args.baseline_config, str(collapsed))
    for split in args.splits:
        for name, (stem, cfg, ckpt) in runs.items():
            out = work / f'seed{seed}' / f'{stem}_{split}.json'
            if not out.exists():
                options = [*split_options(split), *args.cfg_options]
                sh(['tools/test.py', cfg, ckpt, '--work-dir', str(out.with_suffix('')),
                    '--metrics-out', str(out), *(['--cfg-options', *options] if options else [])],
                   out.with_suffix('.log'))
            res[f'{name}_{split}'] = json.loads(out.read_text())
    return res


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def table(results: list[dict], args) -> str:
    name = args.ewa_name
    lines = []
    for m in args.metric:
        lines += metric_table(results, args, m) + ['']
    sb = [r['baseline_s_per_iter'] for r in results]
    se = [r['ewa_s_per_iter'] for r in results]
    lines += [f'Training time per iteration (median of logged windows): baseline {mean_std(sb)} s, '
              f'{name} {mean_std(se)} s (ratio {statistics.mean(se) / statistics.mean(sb):.3f}); '
              f'seeds {", ".join(str(r["seed"]) for r in results)}.']
    return '\n'.join(lines)


def metric_table(results: list[dict], args, m: str) -> list[str]:
    name = args.ewa_name
    if args.no_collapse:
        model_col, before_col = f'{name} {m} (as is)', f'{name} (same model)'
    else:
        model_col, before_col = f'{name} collapsed {m} (baseline config)', f'{name} before collapse'
    lines = [f'| split | baseline {m} | {model_col} | Δ ({name} − baseline) | {before_col} | per-seed Δ |',
             '| --- | --- | --- | --- | --- | --- |']
    # mmdet's COCO metrics are fractions rounded to 3 decimals; tabulate them in percent like papers do
    k = 100.0 if m.startswith('coco/') else 1.0
    for split in args.splits:
        base = [k * r[f'baseline_{split}'][m] for r in results]
        ewa = [k * r[f'collapsed_{split}'][m] for r in results]
        before = [k * r[f'ewa_before_collapse_{split}'][m] for r in results]
        deltas = [e - b for e, b in zip(ewa, base)]
        lines.append(f'| {split} | {mean_std(base)} | {mean_std(ewa)} | {mean_std(deltas)} | '
                     f'{mean_std(before)} | {", ".join(f"{d:+.2f}" for d in deltas)} |')
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    work = Path(args.work_dir)
    results = [run_seed(args, seed, work) for seed in args.seeds]
    (work / 'results.json').write_text(json.dumps(results, indent=2))
    text = table(results, args)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        cmd = ' '.join(['python tools/compare_seeds.py', args.baseline_config, args.ewa_config, '--seeds',
                        *map(str, args.seeds), '--work-dir', args.work_dir, '--ewa-name', args.ewa_name,
                        '--splits', *args.splits, '--metric', *args.metric,
                        *(['--no-collapse'] if args.no_collapse else []),
                        *(['--cfg-options', *args.cfg_options] if args.cfg_options else [])])
        Path(args.out).write_text(f'# {Path(args.ewa_config).stem} vs baseline\n\nCommand: `{cmd}`\n\n'
                                  f'{text}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
