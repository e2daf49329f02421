#!/usr/bin/env python
"""Baseline vs EWA over several seeds, the way a user would check the claim: train both, collapse the EWA
checkpoint, test the collapsed model with the *baseline* (standard) config, and tabulate with statistics.

    python tools/analysis_tools/compare_seeds.py configs/ewa_vit/upernet_vit-s14_1xb4-cpu_camvid-112x112.py \\
        configs/ewa_vit/upernet_ewa-vit-s14_1xb4-cpu_camvid-112x112.py --seeds 0 1 2 \\
        --work-dir work_dirs/compare_camvid --out benchmarks/seg_camvid_cpu.md

For every seed it runs tools/train.py (both configs), tools/convert_ewa.py, and tools/test.py on each
split: the baseline, the collapsed EWA model in the baseline config, and the EWA model before collapse
(the collapse gap). Finished steps are skipped on a rerun, so an interrupted comparison resumes, and
``--from-results`` re-tabulates what a work dir holds (e.g. one copied back from a GPU machine) without
running anything. Results: ``results.json`` in the work dir, a markdown table (mean ± std over seeds) and
the paired statistics of the per-seed differences (t-test, bootstrap interval, verdict). With
``--val-interval`` both models are also validated during training and their learning curves are drawn.
An interrupted training resumes from its last checkpoint; ``--jobs N`` runs N trainings/tests at once,
each with an equal share of the cores (one thread per run on a 2-core machine with ``--jobs 2``).

A sweep shares one baseline: run each variant with its own ``--ewa-name`` (and its own EWA config or
``--ewa-cfg-options``), then tabulate them side by side::

    python tools/analysis_tools/compare_seeds.py BASE EWA --seeds 0 1 --ewa-name beta0.9 \\
        --ewa-cfg-options custom_hooks.0.share_rate=0.9 --work-dir work_dirs/sweep
    python tools/analysis_tools/compare_seeds.py BASE EWA --seeds 0 1 --work-dir work_dirs/sweep \\
        --from-results --variants ewa beta0.9
"""
from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np

from mmewa.stats import PairedSummary, summarize

ROOT = Path(__file__).resolve().parents[2]

# the training loss as MMEngine's LoggerHook writes it to scalars.json (validation records have no 'loss')
TRAIN_LOSS = 'loss'
# tools/test.py's option for its metrics JSON; the only place this tool names it
TEST_METRICS_FLAG = '--metrics-out'
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 10_000, 0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('baseline_config')
    p.add_argument('ewa_config')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--work-dir', default='work_dirs/compare',
                   help='runs and results; rerunning resumes: a model whose test results are here is not '
                        'trained or tested again (even without its checkpoints), so give changed settings '
                        'a new work dir or --ewa-name')
    p.add_argument('--splits', nargs='+', default=['val', 'test'],
                   help="splits to test on: 'default' (or 'test') is the config's own test_dataloader (e.g. "
                        "COCO128's val json, CIFAR's test set); a name given to --split-options gets those "
                        "options; any other name is an img_dir/<split> folder of an mmseg dataset")
    p.add_argument('--split-options', nargs='+', action='append', default=[], metavar=('NAME', 'KEY=VALUE'),
                   help='define a split by the cfg-options that point the test set at it, e.g. '
                        '--split-options train test_dataloader.dataset.data_prefix=train '
                        '(repeat for several splits; test_dataloader./test_evaluator. keys are reused for '
                        'validation during training)')
    p.add_argument('--metric', nargs='+', default=['mIoU'],
                   help='metric keys to tabulate (e.g. coco/bbox_mAP coco/segm_mAP, accuracy/top1)')
    p.add_argument('--out', help='write the markdown table here')
    p.add_argument('--cfg-options', nargs='*', default=[], help='passed to every train/test run')
    p.add_argument('--ewa-cfg-options', nargs='*', default=[],
                   help='passed to the EWA training and its pre-collapse tests only (after --cfg-options), '
                        'for a sweep: e.g. --ewa-name beta0.1 '
                        '--ewa-cfg-options custom_hooks.0.share_rate=0.1')
    p.add_argument('--jobs', type=int, default=1,
                   help='runs at once (trainings, then tests); each gets cpu_count / jobs threads unless '
                        'OMP_NUM_THREADS is set')
    p.add_argument('--variants', nargs='+', metavar='NAME',
                   help='with --from-results: one summary row per EWA variant (--ewa-name of earlier runs '
                        'in --work-dir) against the shared baseline, paired by seed')
    p.add_argument('--against', default='baseline', metavar='NAME',
                   help="with --variants: the model they are paired with, 'baseline' or another variant "
                        "(e.g. routed MoE + Early EWA against routed MoE)")
    p.add_argument('--baseline-name', default='baseline',
                   help="what the tables and curves call the first model, e.g. 'routed' when it is a routed "
                        "MoE compared with the same MoE + Early EWA (its runs stay under baseline/)")
    p.add_argument('--ewa-name', default='ewa',
                   help='sub-folder name of the EWA runs, to compare several variants with one baseline')
    p.add_argument('--no-collapse', action='store_true',
                   help='test the second model as it is (e.g. a routed MoE, which stays an MoE)')
    p.add_argument('--from-results', action='store_true',
                   help='run nothing: tabulate the per-seed results already in --work-dir (seeds with '
                        'missing results are reported and left out)')
    p.add_argument('--val-interval', type=int,
                   help='validate during training every N iterations (epochs for an epoch-based config) on '
                        '--val-split, for learning curves; off by default (training then skips validation)')
    p.add_argument('--val-split', help='split validated on during training (default: the first of --splits)')
    p.add_argument('--loss-curves', action='store_true',
                   help="also draw the training loss (MMEngine's logged window means) against the iteration: "
                        'learning curves at no extra cost, where validating during training is too slow')
    p.add_argument('--curves', help='learning-curve PNG (default: <work-dir>/curves.png when validation '
                                    'or, with --loss-curves, training logs exist)')
    args = p.parse_args(argv)
    for opt in args.split_options:
        if len(opt) < 2 or any('=' not in kv for kv in opt[1:]):
            p.error(f'--split-options wants NAME KEY=VALUE [KEY=VALUE ...], got {" ".join(opt)}')
    if args.jobs < 1:
        p.error(f'--jobs wants a positive number of runs, got {args.jobs}')
    if args.variants and not args.from_results:
        p.error('--variants tabulates earlier runs: add --from-results '
                '(run each variant first with --ewa-name)')
    args.val_split = args.val_split or args.splits[0]
    return args


def defined_splits(args: argparse.Namespace) -> dict[str, list[str]]:
    return {opt[0]: opt[1:] for opt in args.split_options}


def sh(cmd: list[str], log: Path, threads: Optional[int] = None) -> None:
    """Run a tool of this repository, its output in ``log``; ``threads`` caps its OpenMP/MKL threads."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = None
    if threads:
        env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads)}
    with open(log, 'w') as f:
        proc = subprocess.run([sys.executable, *cmd], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=env)
    if proc.returncode:
        raise SystemExit(f'compare_seeds: `{" ".join(cmd)}` failed (exit {proc.returncode}); see {log}')


def threads_per_run(args: argparse.Namespace) -> Optional[int]:
    """Each of ``--jobs`` concurrent runs gets an equal share of the cores (None: leave the default)."""
    if args.jobs == 1 or 'OMP_NUM_THREADS' in os.environ:
        return None
    return max(1, (os.cpu_count() or 1) // args.jobs)


def split_options(split: str, defined: Optional[dict[str, list[str]]] = None) -> list[str]:
    """cfg-options pointing the test dataloader at ``split``: as defined, else an mmseg img_dir/ann_dir."""
    if defined and split in defined:
        return list(defined[split])
    if split in ('default', 'test'):
        return []
    return [f'test_dataloader.dataset.data_prefix.img_path=img_dir/{split}',
            f'test_dataloader.dataset.data_prefix.seg_map_path=ann_dir/{split}']


def val_options(test_options: list[str]) -> list[str]:
    """The same split for validation during training: test_dataloader/test_evaluator keys -> val_*."""
    out = []
    for opt in test_options:
        for test, val in (('test_dataloader.', 'val_dataloader.'), ('test_evaluator.', 'val_evaluator.')):
            if opt.startswith(test):
                opt = val + opt[len(test):]
        out.append(opt)
    return out


def test_cmd(config: str, ckpt: str, work_dir: Path, metrics_json: Path, options: list[str]) -> list[str]:
    """tools/test.py writing the metrics JSON (the one call that knows its option name)."""
    return ['tools/test.py', config, ckpt, '--work-dir', str(work_dir), TEST_METRICS_FLAG, str(metrics_json),
            *(['--cfg-options', *options] if options else [])]


def load_config(config: str, cfg_options: list[str]):
    """``config`` with ``cfg_options`` merged, as tools/train.py would see it."""
    from mmengine.config import Config, DictAction

    cfg = Config.fromfile(config)
    if cfg_options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--cfg-options', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--cfg-options', *cfg_options]).cfg_options)
    return cfg


def write_val_config(config: str, path: Path, interval: int, cfg_options: list[str]) -> None:
    """``config`` validating every ``interval`` train-loop units on (a copy of) its own test set.

    Written as a full config because cfg-options cannot copy test_dataloader into a val_dataloader that a
    CPU config sets to None; ``cfg_options`` are merged before the copy so that a test_dataloader override
    (e.g. its data_root) reaches validation too.
    """
    cfg = load_config(config, cfg_options)
    cfg.val_dataloader = copy.deepcopy(cfg.test_dataloader)
    cfg.val_evaluator = copy.deepcopy(cfg.test_evaluator)
    cfg.val_cfg = dict(type='ValLoop')
    cfg.train_cfg.val_interval = interval
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.stem}.{os.getpid()}.{id(cfg)}.tmp.py')
    cfg.dump(str(tmp))
    os.replace(tmp, path)  # a training started by an earlier comparison may be reading it


def final_checkpoint(config: str, cfg_options: list[str]) -> Optional[str]:
    """File name of the checkpoint a finished run of ``config`` ends with (None for a custom loop)."""
    train_cfg = load_config(config, cfg_options).train_cfg
    if 'max_epochs' in train_cfg:
        return f'epoch_{train_cfg.max_epochs}.pth'
    if 'max_iters' in train_cfg:
        return f'iter_{train_cfg.max_iters}.pth'
    return None


def training_finished(work_dir: Path, final: Optional[str]) -> bool:
    """Whether the run's last checkpoint is its ``final`` one (MMEngine also writes ``last_checkpoint`` for
    the intermediate checkpoints of an interrupted run, which is then resumed, not taken as finished)."""
    last = work_dir / 'last_checkpoint'
    if not last.exists():
        return False
    return final is None or Path(last.read_text().strip()).name == final


def scalars_files(work_dir: Path) -> list[Path]:
    """MMEngine's per-launch ``<timestamp>/vis_data/scalars.json`` logs, oldest first."""
    return sorted(work_dir.glob('*/vis_data/scalars.json'))


def seconds_per_iter(work_dir: Path) -> Optional[float]:
    """Median logged iteration time (MMEngine's IterTimerHook), skipping the first logged window."""
    files = scalars_files(work_dir)
    if not files:
        return None
    times = [rec['time'] for rec in read_scalars(files[-1]) if 'time' in rec and 'loss' in rec]
    if not times:
        return None
    return statistics.median(times[1:] if len(times) > 1 else times)


def read_scalars(path: Path) -> list[dict]:
    """One dict per line, as LocalVisBackend.add_scalars appends them."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def metric_scale(metric: str) -> float:
    """mmdet's COCO metrics are fractions (3 decimals); tabulate them in percent like papers do.
    mmseg's mIoU and mmpretrain's accuracy/top1 are percent already."""
    return 100.0 if metric.startswith('coco/') else 1.0


def val_series(work_dir: Path, metric: str) -> tuple[dict[int, float], str]:
    """Validation ``metric`` by step over every launch of one run (a resumed run's later logs win), and
    the step's unit: 'epoch' when the train loop counts epochs and the metric was logged by epoch."""
    series: dict[int, float] = {}
    max_epoch = None
    for path in scalars_files(work_dir):
        for rec in read_scalars(path):
            if metric in rec:
                series[int(rec['step'])] = metric_scale(metric) * float(rec[metric])
            elif 'epoch' in rec:
                max_epoch = max(max_epoch or 0, int(rec['epoch']))
    unit = 'epoch' if max_epoch is not None and series and max(series) <= max_epoch else 'iteration'
    return series, unit


def train_dir(work: Path, seed: int, name: str, args: argparse.Namespace) -> Path:
    return work / f'seed{seed}' / (args.ewa_name if name == 'ewa' else name)


def test_runs(args: argparse.Namespace, seed: int, work: Path) -> dict[str, tuple[str, str, Path]]:
    """Result name -> (file stem, config, checkpoint) of the three models tested on every split."""
    runs = {'baseline': ('baseline', args.baseline_config, train_dir(work, seed, 'baseline', args)),
            'ewa_before_collapse': (args.ewa_name, args.ewa_config, train_dir(work, seed, 'ewa', args))}
    if args.no_collapse:
        runs['collapsed'] = runs['ewa_before_collapse']  # the model is deployed as it is
    else:
        runs['collapsed'] = (f'{args.ewa_name}_collapsed', args.baseline_config,
                             work / f'seed{seed}' / f'{args.ewa_name}_collapsed.pth')
    return runs


def checkpoint(path: Path) -> str:
    """A training work dir's last checkpoint, or the checkpoint file itself."""
    return (path / 'last_checkpoint').read_text().strip() if path.is_dir() else str(path)


MODELS = ('baseline', 'ewa')


def training_plan(args: argparse.Namespace, name: str, work: Path) -> dict:
    """How to train one of the two models (every seed alike): its config, options and final checkpoint.

    Made in the main thread before any run starts, since MMEngine's config loading is not thread-safe.
    """
    cfg = args.ewa_config if name == 'ewa' else args.baseline_config
    user = [*args.cfg_options, *(args.ewa_cfg_options if name == 'ewa' else [])]
    final = final_checkpoint(cfg, user)
    if args.val_interval:
        opts = [*val_options(split_options(args.val_split, defined_splits(args))), *user]
        derived = work / 'configs' / f'{train_dir(work, 0, name, args).name}_val{args.val_interval}.py'
        write_val_config(cfg, derived, args.val_interval, user)
        cfg = str(derived)
    else:  # no validation during training: every model is tested afterwards, on each split
        opts = ['val_cfg=None', 'val_dataloader=None', 'val_evaluator=None', *user]
    return dict(config=cfg, options=opts, final=final)


def result_files(args: argparse.Namespace, seed: int, work: Path, name: str) -> list[Path]:
    """The test-result files of one of the two models (the EWA model's before and after collapse)."""
    runs = test_runs(args, seed, work)
    keys = ('baseline',) if name == 'baseline' else ('ewa_before_collapse', 'collapsed')
    return [work / f'seed{seed}' / f'{runs[k][0]}_{split}.json' for k in keys for split in args.splits]


def train_step(args: argparse.Namespace, seed: int, name: str, work: Path, plan: dict) -> Optional[float]:
    """Train one of the two models for ``seed`` unless it has finished, or its results are on file already
    (a work dir kept without its checkpoints, e.g. under benchmarks/runs/); minutes taken, or None."""
    wd = train_dir(work, seed, name, args)
    if training_finished(wd, plan['final']) or all(f.exists() for f in result_files(args, seed, work, name)):
        return None
    resume = ['--resume'] if (wd / 'last_checkpoint').exists() else []  # interrupted: go on from there
    log = wd.parent / f'{wd.name}{".resumed" if resume else ""}.log'  # names may hold dots ('beta0.9')
    t = time.time()
    sh(['tools/train.py', plan['config'], '--work-dir', str(wd), *resume, '--cfg-options',
        f'randomness.seed={seed}', *plan['options']], log, threads_per_run(args))
    return (time.time() - t) / 60


def test_seed(args: argparse.Namespace, seed: int, work: Path) -> None:
    """Collapse the EWA checkpoint and test the three models on every split, skipping what is there."""
    runs = test_runs(args, seed, work)
    if not args.no_collapse:
        collapsed = runs['collapsed'][2]
        tested = all(f.exists() for f in result_files(args, seed, work, 'ewa'))
        if not (collapsed.exists() or tested):
            sh(['tools/convert_ewa.py', checkpoint(runs['ewa_before_collapse'][2]), str(collapsed)],
               collapsed.with_suffix('.log'), threads_per_run(args))
    for split in args.splits:
        options = [*split_options(split, defined_splits(args)), *args.cfg_options]
        for stem, cfg, ckpt in runs.values():
            out = work / f'seed{seed}' / f'{stem}_{split}.json'
            if not out.exists():
                extra = args.ewa_cfg_options if stem == args.ewa_name else []  # the EWA model as trained
                cmd = test_cmd(cfg, checkpoint(ckpt), out.with_suffix(''), out, [*options, *extra])
                sh(cmd, out.with_suffix('.log'), threads_per_run(args))


def finish_seed(args: argparse.Namespace, seed: int, work: Path, *minutes: Optional[float]) -> dict:
    """Test the seed once both its trainings are done, and collect its results (with the training minutes)."""
    test_seed(args, seed, work)
    return {**collect_seed(args, seed, work),
            **{f'{name}_train_minutes': m for name, m in zip(MODELS, minutes) if m is not None}}


class Steps:
    """Steps with dependencies, run by ``jobs`` threads that always take the first *ready* step in key
    order. A step waiting for others holds no thread (a seed's tests used to take one of the ``--jobs``
    slots while its trainings ran, so a new variant beside a finished baseline trained one seed at a time).
    Keys ``(seed index, stage)`` keep one job going seed by seed and let more jobs test a seed as soon as
    its trainings are done, ahead of later seeds' trainings. The first failure stops what has not started.
    """

    def __init__(self) -> None:
        self.steps: list[dict] = []

    def add(self, key: tuple, fn, after: tuple = ()) -> dict:
        """A step; ``fn`` is called with the results of the steps in ``after``, in that order."""
        step = dict(key=key, fn=fn, after=after, done=False, result=None)
        self.steps.append(step)
        return step

    def run(self, jobs: int) -> None:
        cond, failed = threading.Condition(), []
        pending = sorted(self.steps, key=lambda st: st['key'])

        def next_step() -> Optional[dict]:
            with cond:
                while not failed and pending:
                    step = next((st for st in pending if all(d['done'] for d in st['after'])), None)
                    if step is not None:
                        pending.remove(step)
                        return step
                    cond.wait()
                return None

        def worker() -> None:
            while (step := next_step()) is not None:
                try:
                    result = step['fn'](*(d['result'] for d in step['after']))
                except BaseException as e:  # re-raised in the calling thread
                    with cond:
                        failed.append(e)
                        cond.notify_all()
                    return
                with cond:
                    step['result'], step['done'] = result, True
                    cond.notify_all()

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failed:
            raise failed[0]


def run_all(args: argparse.Namespace, work: Path) -> list[dict]:
    """Every seed's trainings and tests, at most ``--jobs`` runs at a time, in seed order (with one job:
    seed by seed, so an interrupted comparison leaves whole seeds)."""
    plans = {name: training_plan(args, name, work) for name in MODELS}
    steps, finishes = Steps(), []
    for i, seed in enumerate(args.seeds):
        trainings = tuple(steps.add((i, 0), functools.partial(train_step, args, seed, m, work, plans[m]))
                          for m in MODELS)
        finishes.append(steps.add((i, 1), functools.partial(finish_seed, args, seed, work), after=trainings))
    steps.run(args.jobs)
    return [f['result'] for f in finishes]


def check_splits(args: argparse.Namespace) -> None:
    """A split that is neither the config's own test set nor defined must be an mmseg img_dir/<split>."""
    implicit = [s for s in args.splits if s not in ('default', 'test') and s not in defined_splits(args)]
    if not implicit:
        return
    prefix = load_config(args.baseline_config, args.cfg_options).test_dataloader.dataset.get('data_prefix')
    if not (isinstance(prefix, dict) and 'seg_map_path' in prefix):
        raise SystemExit(f'compare_seeds: split(s) {implicit} are not defined and the test set of '
                         f'{args.baseline_config} is not an mmseg img_dir/ann_dir dataset: test its own test '
                         f'set with --splits default, or define a split with --split-options NAME KEY=VALUE')


def collect_seed(args: argparse.Namespace, seed: int, work: Path) -> dict:
    """One seed's results from the files its runs left in the work dir; FileNotFoundError if incomplete."""
    res: dict = {'seed': seed}
    for name in ('baseline', 'ewa'):
        wd = train_dir(work, seed, name, args)
        res[f'{name}_s_per_iter'] = seconds_per_iter(wd)
        last = wd / 'last_checkpoint'
        res[f'{name}_ckpt'] = last.read_text().strip() if last.exists() else None
    for split in args.splits:
        for name, (stem, _, _) in test_runs(args, seed, work).items():
            res[f'{name}_{split}'] = json.loads((work / f'seed{seed}' / f'{stem}_{split}.json').read_text())
    return res


def collect_all(args: argparse.Namespace, work: Path) -> tuple[list[dict], list[int]]:
    """(results of the complete seeds, seeds with missing results)."""
    results, missing = [], []
    for seed in args.seeds:
        try:
            results.append(collect_seed(args, seed, work))
        except FileNotFoundError:
            missing.append(seed)
    return results, missing


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def table(results: list[dict], args) -> str:
    name = args.ewa_name
    lines = []
    for m in args.metric:
        lines += metric_table(results, args, m) + ['']
    for m in args.metric:
        lines += stats_table(results, args, m) + ['']
    sb = [r['baseline_s_per_iter'] for r in results if r.get('baseline_s_per_iter') is not None]
    se = [r['ewa_s_per_iter'] for r in results if r.get('ewa_s_per_iter') is not None]
    if sb and se:
        lines += [f'Training time per iteration (median of logged windows): '
                  f'{args.baseline_name} {mean_std(sb)} s, '
                  f'{name} {mean_std(se)} s (ratio {statistics.mean(se) / statistics.mean(sb):.3f}); '
                  f'seeds {", ".join(str(r["seed"]) for r in results)}.']
    return '\n'.join(lines).rstrip('\n')


def paired(results: list[dict], split: str, m: str) -> tuple[list[float], list[float], list[float]]:
    """Per-seed (baseline, collapsed, before-collapse) values of metric ``m``, in the table's units."""
    k = metric_scale(m)
    return tuple([k * r[f'{name}_{split}'][m] for r in results]
                 for name in ('baseline', 'collapsed', 'ewa_before_collapse'))


def metric_table(results: list[dict], args, m: str) -> list[str]:
    name, base_name = args.ewa_name, args.baseline_name
    if args.no_collapse:
        model_col, before_col = f'{name} {m} (as is)', f'{name} (same model)'
    else:
        model_col, before_col = f'{name} collapsed {m} (baseline config)', f'{name} before collapse'
    lines = [f'| split | {base_name} {m} | {model_col} | Δ ({name} − {base_name}) | {before_col} '
             '| per-seed Δ |',
             '| --- | --- | --- | --- | --- | --- |']
    for split in args.splits:
        base, ewa, before = paired(results, split, m)
        deltas = [e - b for e, b in zip(ewa, base)]
        lines.append(f'| {split} | {mean_std(base)} | {mean_std(ewa)} | {mean_std(deltas)} | '
                     f'{mean_std(before)} | {", ".join(f"{d:+.2f}" for d in deltas)} |')
    return lines


def stats_cells(s: PairedSummary) -> list[str]:
    """t (dof), p, bootstrap interval and verdict cells; dashes where one seed gives no spread."""
    if s.n < 2:
        return ['–', '–', '–', s.verdict()]
    t = f'{s.t:+.2f}' if math.isfinite(s.t) else ('+∞' if s.t > 0 else '−∞')
    return [f'{t} ({s.dof})', f'{s.p:.3f}', f'[{s.ci[0]:+.2f}, {s.ci[1]:+.2f}]', s.verdict()]


def stats_table(results: list[dict], args, m: str) -> list[str]:
    """Paired statistics of Δ = EWA − baseline (matched by seed) and the collapse gap, per split."""
    name = args.ewa_name
    seeds = ', '.join(str(r['seed']) for r in results)
    lines = [f'{m}, paired by seed (Δ = {name} − {args.baseline_name}, n = {len(results)}: seeds {seeds}; '
             f'two-sided paired t-test; percentile bootstrap of the mean Δ, {BOOTSTRAP_RESAMPLES} resamples, '
             f'seed {BOOTSTRAP_SEED}):',
             '',
             '| split | mean Δ ± std | t (dof) | p | bootstrap 95% CI | verdict | max collapse gap |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    for split in args.splits:
        base, ewa, before = paired(results, split, m)
        s = summarize([e - b for e, b in zip(ewa, base)], resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED)
        gap = max(abs(b - e) for b, e in zip(before, ewa))
        spread = f'{s.mean:+.2f} ± {s.std:.2f}' if s.std is not None else f'{s.mean:+.2f}'
        cells = [split, spread, *stats_cells(s), '– (not collapsed)' if args.no_collapse else f'{gap:.2f}']
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def curves(args: argparse.Namespace, work: Path, seeds: list[int]) -> dict[str, dict[str, dict]]:
    """metric -> model -> {'steps', 'mean', 'min', 'max', 'std', 'unit', 'seeds'} over the seeds that logged
    validation (and the training loss with ``--loss-curves``); steps are those every such seed logged.
    Empty when no run validated during training and no loss curve was asked for."""
    out: dict[str, dict[str, dict]] = {}
    for m in [*args.metric, *([TRAIN_LOSS] if args.loss_curves else [])]:
        for model in ('baseline', 'ewa'):
            per_seed, unit = {}, 'iteration'
            for seed in seeds:
                series, unit_s = val_series(train_dir(work, seed, model, args), m)
                if series:
                    per_seed[seed], unit = series, unit_s
            if not per_seed:
                continue
            steps = sorted(set.intersection(*(set(s) for s in per_seed.values())))
            v = np.array([[s[x] for x in steps] for s in per_seed.values()], dtype=float).reshape(
                len(per_seed), len(steps))
            out.setdefault(m, {})[model] = dict(
                steps=steps, mean=v.mean(0), min=v.min(0), max=v.max(0),
                std=v.std(0, ddof=1) if len(per_seed) > 1 else np.zeros(len(steps)), unit=unit,
                seeds=sorted(per_seed))
    return out


def plot_curves(data: dict[str, dict[str, dict]], path: Path, args: argparse.Namespace) -> None:
    """One panel per metric: mean over seeds, shaded between the seeds' min and max."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(data), figsize=(5.5 * len(data), 4), squeeze=False)
    for ax, (m, models) in zip(axes[0], data.items()):
        for model, color in (('baseline', 'tab:blue'), ('ewa', 'tab:orange')):
            if model not in models:
                continue
            c = models[model]
            label = f'{args.baseline_name if model == "baseline" else args.ewa_name} (n = {len(c["seeds"])})'
            ax.plot(c['steps'], c['mean'], color=color, marker='o', markersize=3, label=label)
            ax.fill_between(c['steps'], c['min'], c['max'], color=color, alpha=0.2, linewidth=0)
        unit = next(iter(models.values()))['unit']
        ax.set_xlabel(unit)
        ax.set_ylabel(f'{m} (training, window means)' if m == TRAIN_LOSS else f'{m} ({args.val_split})')
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f'{Path(args.ewa_config).stem} vs {Path(args.baseline_config).stem}\n'
                 f'mean over seeds, band = min..max ({args.ewa_name} validated before collapse)', fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def variant_values(work: Path, seed: int, name: str, split: str, m: str) -> Optional[float]:
    """A variant's deployed metric for one seed: the collapsed model's, or the model as is (a routed MoE run
    with --no-collapse); None when that seed was not run."""
    for stem in (f'{name}_collapsed', name):
        path = work / f'seed{seed}' / f'{stem}_{split}.json'
        if path.exists():
            return metric_scale(m) * json.loads(path.read_text())[m]
    return None


def variants_table(args: argparse.Namespace, work: Path) -> str:
    """One row per variant and split: Δ against ``--against`` (the baseline) on the same seeds, with the
    paired statistics."""
    lines = []
    ref = args.against
    for m in args.metric:
        lines += [f'{m}, each variant paired by seed with {ref} (Δ = variant − {ref}; two-sided paired '
                  f't-test; percentile bootstrap, {BOOTSTRAP_RESAMPLES} resamples, '
                  f'seed {BOOTSTRAP_SEED}):', '',
                  f'| variant | split | seeds | {ref} | variant | mean Δ ± std | per-seed Δ | p '
                  '| bootstrap 95% CI | verdict |', '|' + ' --- |' * 10]
        for name in args.variants:
            for split in args.splits:
                pairs = [(seed, variant_values(work, seed, ref, split, m),
                          variant_values(work, seed, name, split, m)) for seed in args.seeds]
                pairs = [(seed, b, v) for seed, b, v in pairs if b is not None and v is not None]
                if not pairs:
                    lines.append(f'| {name} | {split} | – | – | – | – | – | – | – | no results in {work} |')
                    continue
                deltas = [v - b for _, b, v in pairs]
                st = summarize(deltas, resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED)
                _, p, ci, verdict = stats_cells(st)
                lines.append(f'| {name} | {split} | {", ".join(str(x) for x, _, _ in pairs)} | '
                             f'{mean_std([b for _, b, _ in pairs])} | {mean_std([v for _, _, v in pairs])} | '
                             f'{mean_std(deltas)} | {", ".join(f"{d:+.2f}" for d in deltas)} | {p} | {ci} | '
                             f'{verdict} |')
        lines.append('')
    return '\n'.join(lines).rstrip('\n')


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces the table (without --from-results: that one only re-reads it)."""
    split_opts = [x for o in args.split_options for x in ('--split-options', *o)]
    return ' '.join(['python tools/analysis_tools/compare_seeds.py', args.baseline_config, args.ewa_config,
                     '--seeds',
                     *map(str, args.seeds), '--work-dir', args.work_dir,
                     *(['--baseline-name', args.baseline_name] if args.baseline_name != 'baseline' else []),
                     '--ewa-name', args.ewa_name,
                     '--splits', *args.splits, *split_opts, '--metric', *args.metric,
                     *(['--no-collapse'] if args.no_collapse else []),
                     *(['--val-interval', str(args.val_interval), '--val-split', args.val_split]
                       if args.val_interval else []),
                     *(['--loss-curves'] if args.loss_curves else []),
                     *(['--cfg-options', *args.cfg_options] if args.cfg_options else []),
                     *(['--ewa-cfg-options', *args.ewa_cfg_options] if args.ewa_cfg_options else [])])


def recorded_minutes(path: Path) -> dict[int, dict[str, float]]:
    """Training minutes per seed in an earlier ``results.json`` of this comparison: a rerun skips the
    finished trainings, and would otherwise drop how long they took."""
    if not path.exists():
        return {}
    return {r['seed']: {k: v for k, v in r.items() if k.endswith('_train_minutes')}
            for r in json.loads(path.read_text())}


def run_file(work: Path, filename: str, name: str) -> Path:
    """``command.txt`` / ``results.json`` of the default variant 'ewa', ``command_<name>.txt`` etc. of others
    (so variants sharing a work dir and its baselines keep their own records)."""
    stem, ext = filename.split('.')
    return work / (filename if name == 'ewa' else f'{stem}_{name}.{ext}')


def reproduce(args: argparse.Namespace, work: Path) -> str:
    """Markdown naming the run's command (as the run recorded it) and the re-tabulation if this is one."""
    if not args.from_results:
        return f'Command: `{command_line(args)}`'
    stored = run_file(work, 'command.txt', args.ewa_name)
    run = stored.read_text().strip() if stored.exists() else command_line(args)
    return f'Command: `{run}`\n\nTabulated from its work dir by: `{command_line(args)} --from-results`'


def write_out(args: argparse.Namespace, title: str, body: str) -> None:
    """The markdown page ``--out`` asks for (nothing without it)."""
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(f'# {title}\n\n{body}\n')


def main(argv=None) -> int:
    args = parse_args(argv)
    work = Path(args.work_dir)
    if args.variants:
        text = variants_table(args, work)
        print(text)
        write_out(args, f'EWA variants vs {args.against} ({Path(args.baseline_config).stem})', text)
        return 0
    if args.from_results:
        results, missing = collect_all(args, work)
        if missing:
            print(f'compare_seeds: no complete results for seeds {missing} in {work}; left out',
                  file=sys.stderr)
        if not results:
            raise SystemExit(f'compare_seeds: no complete results in {work} for seeds {args.seeds}')
    else:
        check_splits(args)
        work.mkdir(parents=True, exist_ok=True)
        run_file(work, 'command.txt', args.ewa_name).write_text(command_line(args) + '\n')
        results_json = run_file(work, 'results.json', args.ewa_name)
        earlier = recorded_minutes(results_json)
        results = [{**earlier.get(r['seed'], {}), **r} for r in run_all(args, work)]
        results_json.write_text(json.dumps(results, indent=2))
    text = table(results, args)
    data = curves(args, work, [r['seed'] for r in results])
    png = Path(args.curves) if args.curves else work / 'curves.png'
    if data:
        plot_curves(data, png, args)
        what = [f'{args.val_split} split, validated during training'] if set(data) - {TRAIN_LOSS} else []
        what += ['training loss'] if TRAIN_LOSS in data else []
        text += f'\n\nLearning curves ({"; ".join(what)}): `{png}`.'
    print(text)
    write_out(args, f'{Path(args.ewa_config).stem} vs baseline', f'{reproduce(args, work)}\n\n{text}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
