"""tools/analysis_tools/compare_seeds.py: the tables it publishes are computed right (mean ± std, per-seed
deltas, paired statistics), its curves come from MMEngine's own log format, and --from-results re-tabulates
a run."""
import json
from pathlib import Path

import pytest
from mmengine.visualization import LocalVisBackend
from tool_utils import load_tool

from mmewa import stats

compare = load_tool('compare_seeds')


def result(seed, base, ewa, before, sb, se, metric='mIoU', split='val'):
    return {'seed': seed, 'baseline_s_per_iter': sb, 'ewa_s_per_iter': se,
            f'baseline_{split}': {metric: base}, f'collapsed_{split}': {metric: ewa},
            f'ewa_before_collapse_{split}': {metric: before}}


THREE = [result(0, 60.0, 61.0, 61.0, 1.0, 1.2), result(1, 62.0, 61.5, 61.5, 1.0, 1.2),
         result(2, 61.0, 62.5, 62.5, 1.0, 1.2)]


def test_table_numbers():
    args = compare.parse_args(['baseline.py', 'ewa.py', '--splits', 'val'])
    text = compare.table(THREE, args)
    assert '| val | 61.00 ± 1.00 | 61.67 ± 0.76 | 0.67 ± 1.04 | 61.67 ± 0.76 | +1.00, -0.50, +1.50 |' in text
    assert 'ratio 1.200' in text


def test_stats_table_numbers():
    args = compare.parse_args(['baseline.py', 'ewa.py', '--splits', 'val'])
    text = compare.table(THREE, args)
    # Δ = +1.0, -0.5, +1.5: t = 0.6667 / (1.0408 / √3) = 1.109, p = 0.383 (scipy.stats.ttest_1samp); the
    # bootstrap percentiles of 10,000 means of 3 values reach the extremes -0.5 and +1.5
    assert ('| val | +0.67 ± 1.04 | +1.11 (2) | 0.383 | [-0.50, +1.50] | not distinguishable from noise '
            '| 0.00 |') in text
    assert 'n = 3: seeds 0, 1, 2' in text and '10000 resamples, seed 0' in text


def test_stats_table_says_when_a_gain_is_distinguishable_and_shows_the_collapse_gap():
    args = compare.parse_args(['baseline.py', 'ewa.py', '--splits', 'val'])
    gains = [1.0, 1.2, 0.9, 1.1, 1.05]
    results = [result(s, 60.0, 60.0 + g, 60.0 + g + 0.01 * s, 1.0, 1.0) for s, g in enumerate(gains)]
    s = stats.summarize(gains)
    text = compare.table(results, args)
    assert (f'| val | +1.05 ± 0.11 | {s.t:+.2f} (4) | {s.p:.3f} | [{s.ci[0]:+.2f}, {s.ci[1]:+.2f}] | '
            'distinguishable from zero (p < 0.05 and CI excludes 0) | 0.04 |') in text


def test_one_seed_gives_no_test():
    args = compare.parse_args(['baseline.py', 'ewa.py', '--splits', 'val', '--seeds', '0'])
    text = compare.table(THREE[:1], args)
    assert '| val | +1.00 | – | – | – | n = 1: one seed, no spread, no test | 0.00 |' in text
    assert 'nan' not in text


def test_classification_and_detection_units():
    assert compare.metric_scale('accuracy/top1') == 1.0  # mmpretrain: percent already
    assert compare.metric_scale('mIoU') == 1.0
    assert compare.metric_scale('coco/bbox_mAP') == 100.0  # mmdet: fraction
    args = compare.parse_args(['b.py', 'e.py', '--splits', 'default', '--metric', 'accuracy/top1',
                               '--no-collapse'])
    results = [result(s, b, e, e, 1.0, 1.0, 'accuracy/top1', 'default')
               for s, (b, e) in enumerate([(40.0, 41.3), (40.5, 42.05), (41.0, 40.5), (40.2, 39.6)])]
    text = compare.table(results, args)
    assert '| default | 40.42 ± 0.43 | 40.86 ± 1.05 | 0.44 ± 1.15 |' in text
    assert '| default | +0.44 ± 1.15 | +0.76 (3) | 0.501 |' in text  # scipy: t 0.7638, p 0.5006
    assert '– (not collapsed)' in text
    det = compare.parse_args(['b.py', 'e.py', '--splits', 'default', '--metric', 'coco/bbox_mAP'])
    results = [result(s, b, e, e, 1.0, 1.0, 'coco/bbox_mAP', 'default')
               for s, (b, e) in enumerate([(0.311, 0.315), (0.300, 0.310)])]
    assert '| default | +0.70 ± 0.42 | +2.33 (1) | 0.258 |' in compare.table(results, det)


def test_baseline_name_labels_a_first_model_that_is_not_the_dense_baseline():
    """routed MoE vs routed MoE + Early EWA: the tables, the time line and the command say 'routed'."""
    argv = ['r.py', 're.py', '--splits', 'val', '--no-collapse', '--baseline-name', 'routed', '--ewa-name',
            'routed-earlyewa']
    args = compare.parse_args(argv)
    text = compare.table(THREE, args)
    assert ('| split | routed mIoU | routed-earlyewa mIoU (as is) | Δ (routed-earlyewa − routed) |'
            in text)
    assert '(Δ = routed-earlyewa − routed, n = 3' in text and 'routed 1.00 ± 0.00 s, routed-earlyewa' in text
    assert 'baseline' not in text
    assert '--baseline-name routed --ewa-name routed-earlyewa' in compare.command_line(args)
    assert '--baseline-name' not in compare.command_line(compare.parse_args(['b.py', 'e.py']))


def test_split_options_point_the_test_loader_at_val():
    assert compare.split_options('test') == []
    assert compare.split_options('val') == ['test_dataloader.dataset.data_prefix.img_path=img_dir/val',
                                            'test_dataloader.dataset.data_prefix.seg_map_path=ann_dir/val']


def test_named_splits_for_any_library():
    args = compare.parse_args(['b.py', 'e.py', '--splits', 'default', 'train', '--split-options', 'train',
                               'test_dataloader.dataset.data_prefix=train', '--split-options', 'horse_val',
                               'test_dataloader.dataset.ann_file=a.json', 'test_evaluator.ann_file=x/a.json'])
    defined = compare.defined_splits(args)
    assert compare.split_options('default', defined) == []
    assert compare.split_options('train', defined) == ['test_dataloader.dataset.data_prefix=train']
    assert compare.val_options(compare.split_options('horse_val', defined)) == [
        'val_dataloader.dataset.ann_file=a.json', 'val_evaluator.ann_file=x/a.json']
    assert args.val_split == 'default'
    with pytest.raises(SystemExit):
        compare.parse_args(['b.py', 'e.py', '--split-options', 'train'])


def log_run(work_dir: Path, timestamp: str, metric: str, vals: dict, by_epoch: bool = False,
            iters: range = range(0)) -> None:
    """Write a run's scalars the way MMEngine does: LocalVisBackend under <work_dir>/<timestamp>/vis_data,
    train lines (lr, loss, time, iter[, epoch]) and validation lines (the metric, logged at `step`)."""
    backend = LocalVisBackend(save_dir=str(work_dir / timestamp / 'vis_data'))
    for it in iters:
        train = {'lr': 1e-3, 'data_time': 0.01, 'loss': 2.0 / it, 'time': 0.05, 'iter': it}
        if by_epoch:
            train['epoch'] = 1 + (it - 1) // 10
        backend.add_scalars(train, step=it)
    for step, v in vals.items():
        backend.add_scalars({metric: v, 'data_time': 0.005, 'time': 0.06}, step=step)
    backend.close()


def test_val_series_reads_mmengine_logs(tmp_path):
    # mmseg, IterBasedTrainLoop with log_metric_by_epoch=False; the run was resumed once (later launch wins)
    log_run(tmp_path / 'seg', '20240101_000000', 'mIoU', {2: 10.0, 4: 11.0}, iters=range(1, 5))
    log_run(tmp_path / 'seg', '20240101_010000', 'mIoU', {4: 11.5, 6: 12.0}, iters=range(5, 7))
    assert compare.val_series(tmp_path / 'seg', 'mIoU') == ({2: 10.0, 4: 11.5, 6: 12.0}, 'iteration')
    assert compare.seconds_per_iter(tmp_path / 'seg') == pytest.approx(0.05)  # validation times left out
    # mmdet: fractions -> percent
    log_run(tmp_path / 'det', '20240101_000000', 'coco/bbox_mAP', {100: 0.123}, iters=range(1, 101))
    assert compare.val_series(tmp_path / 'det', 'coco/bbox_mAP') == ({100: 12.3}, 'iteration')
    # mmpretrain: EpochBasedTrainLoop, metrics logged by epoch
    log_run(tmp_path / 'cls', '20240101_000000', 'accuracy/top1', {1: 20.0, 2: 30.0}, by_epoch=True,
            iters=range(1, 21))
    assert compare.val_series(tmp_path / 'cls', 'accuracy/top1') == ({1: 20.0, 2: 30.0}, 'epoch')
    assert compare.val_series(tmp_path / 'nothing', 'mIoU') == ({}, 'iteration')


def test_curves_mean_band_and_png(tmp_path):
    args = compare.parse_args(['b.py', 'e.py', '--splits', 'val', '--seeds', '0', '1', '2',
                               '--work-dir', str(tmp_path), '--metric', 'mIoU', 'aAcc'])
    for seed in (0, 1, 2):
        for model, offset in (('baseline', 0.0), ('ewa', 1.0)):
            wd = tmp_path / f'seed{seed}' / model
            log_run(wd, '20240101_000000', 'mIoU', {2: 10.0 + seed + offset, 4: 12.0 + 2 * seed + offset},
                    iters=range(1, 5))
    data = compare.curves(args, tmp_path, [0, 1, 2])
    assert list(data) == ['mIoU']  # aAcc was not logged: no empty panel
    c = data['mIoU']['ewa']
    assert c['steps'] == [2, 4] and c['seeds'] == [0, 1, 2] and c['unit'] == 'iteration'
    assert list(c['mean']) == [12.0, 15.0]
    assert list(c['min']) == [11.0, 13.0] and list(c['max']) == [13.0, 17.0]
    assert list(c['std']) == pytest.approx([1.0, 2.0])
    png = tmp_path / 'curves.png'
    compare.plot_curves(data, png, args)
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 5000


def test_loss_curves_need_no_validation(tmp_path):
    """--loss-curves: the logged training loss per iteration, averaged over seeds, beside any metric."""
    argv = ['b.py', 'e.py', '--seeds', '0', '1', '--work-dir', str(tmp_path), '--metric', 'accuracy/top1']
    for seed in (0, 1):
        for model in ('baseline', 'ewa'):
            log_run(tmp_path / f'seed{seed}' / model, '20240101_000000', 'accuracy/top1', {}, by_epoch=True,
                    iters=range(1 + seed, 21))  # seed 1 logged from iteration 2 on
    assert compare.curves(compare.parse_args(argv), tmp_path, [0, 1]) == {}  # no validation: no curves
    args = compare.parse_args([*argv, '--loss-curves'])
    data = compare.curves(args, tmp_path, [0, 1])
    assert list(data) == [compare.TRAIN_LOSS]
    c = data[compare.TRAIN_LOSS]['baseline']
    assert c['steps'] == list(range(2, 21)) and c['unit'] == 'iteration'  # the iterations both seeds logged
    assert list(c['mean']) == pytest.approx([2.0 / it for it in range(2, 21)])  # log_run's loss is 2 / iter
    assert '--loss-curves' in compare.command_line(args)
    png = tmp_path / 'curves.png'
    compare.plot_curves(data, png, args)
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def fake_sh(calls: list):
    """Stand-in for compare_seeds.sh: writes what train/convert/test would leave in the work dir, with
    metrics that depend on the seed, model and split (so the round trip is checked on real numbers)."""
    gains = {0: 1.0, 1: -0.5, 2: 1.5, 3: 0.5}

    def sh(cmd, log, threads=None):
        calls.append(cmd)
        tool = cmd[0]
        if tool == 'tools/train.py':
            wd = Path(cmd[cmd.index('--work-dir') + 1])
            seed = int(next(o for o in cmd if o.startswith('randomness.seed=')).split('=')[1])
            wd.mkdir(parents=True, exist_ok=True)
            (wd / 'iter_200.pth').write_bytes(b'x')  # the demo configs' final iteration
            (wd / 'last_checkpoint').write_text(str(wd / 'iter_200.pth'))
            offset = gains[seed] if wd.name == 'ewa' else 0.0
            log_run(wd, '20240101_000000', 'accuracy/top1', {1: 30.0 + offset, 2: 40.0 + seed + offset},
                    by_epoch=True, iters=range(1, 21))
        elif tool == 'tools/convert_ewa.py':
            Path(cmd[2]).write_bytes(b'x')
        else:
            out = Path(cmd[cmd.index(compare.TEST_METRICS_FLAG) + 1])
            seed = int(out.parent.name[len('seed'):])
            split = out.stem.rsplit('_', 1)[1]
            base = 40.0 + seed + (5.0 if split == 'train' else 0.0)
            acc = base + (0.0 if out.stem.startswith('baseline') else gains[seed])
            acc += 0.25 * (seed + 1) if out.stem.startswith('e8') else 0.0  # a second variant, for sweeps
            out.write_text(json.dumps({'accuracy/top1': acc, 'accuracy/top5': acc + 20}))

    return sh


def test_run_then_from_results_round_trip(tmp_path, monkeypatch):
    work = tmp_path / 'cmp'
    argv = ['configs/demo/seg_vit_tiny.py', 'configs/demo/seg_ewa_vit_tiny.py', '--seeds', '0', '1', '2',
            '--work-dir', str(work), '--splits', 'default', 'train',
            '--split-options', 'train', 'test_dataloader.dataset.data_prefix=train',
            '--metric', 'accuracy/top1', '--val-interval', '1', '--out', str(tmp_path / 'run.md')]
    calls = []
    monkeypatch.setattr(compare, 'sh', fake_sh(calls))
    assert compare.main(argv) == 0
    # every model tested on both splits, the named split through its options
    tests = [c for c in calls if c[0] == 'tools/test.py']
    assert len(tests) == 3 * 3 * 2
    for c in tests:
        named = c[c.index(compare.TEST_METRICS_FLAG) + 1].endswith('_train.json')
        assert c[c.index('--cfg-options') + 1:] == ['test_dataloader.dataset.data_prefix=train'] if named \
            else '--cfg-options' not in c
    # validation during training: the derived config, pointed at the val split (the first: 'default')
    trains = [c for c in calls if c[0] == 'tools/train.py']
    assert {Path(c[1]).name for c in trains} == {'baseline_val1.py', 'ewa_val1.py'}
    assert 'val_cfg=None' not in trains[0]
    run_md = (tmp_path / 'run.md').read_text()
    assert '| default | +0.67 ± 1.04 | +1.11 (2) | 0.383 | [-0.50, +1.50] | not distinguishable' in run_md
    assert '| train | 46.00 ± 1.00 | 46.67 ± 1.61 | 0.67 ± 1.04 |' in run_md
    assert (work / 'curves.png').stat().st_size > 5000
    assert json.loads((work / 'results.json').read_text())[2]['collapsed_train'] == {
        'accuracy/top1': 48.5, 'accuracy/top5': 68.5}
    curves = compare.curves(compare.parse_args(argv), work, [0, 1, 2])['accuracy/top1']
    assert curves['baseline']['unit'] == 'epoch' and list(curves['baseline']['mean']) == [30.0, 41.0]

    # nothing runs again: the same tables from the work dir, seed 3 reported as missing
    (work / 'curves.png').unlink()
    monkeypatch.setattr(compare, 'sh',
                        lambda cmd, log, threads=None: pytest.fail(f'--from-results ran {cmd}'))
    assert compare.main([*argv[:6], '3', *argv[6:-1], str(tmp_path / 'again.md'), '--from-results']) == 0
    again_md = (tmp_path / 'again.md').read_text()
    table = run_md.split('\n\n', 2)[2]
    assert again_md.split('\n\n', 3)[3] == table
    assert f'Command: `{(work / "command.txt").read_text().strip()}`' in again_md
    assert '--from-results`' in again_md
    assert (work / 'curves.png').exists()


def test_from_results_with_nothing_there_fails_plainly(tmp_path):
    with pytest.raises(SystemExit, match='no complete results'):
        compare.main(['b.py', 'e.py', '--work-dir', str(tmp_path), '--from-results'])


def test_val_config_copies_the_test_set_with_overrides(tmp_path):
    from mmengine.config import Config
    path = tmp_path / 'seg_val.py'
    compare.write_val_config('configs/demo/seg_vit_tiny.py', path, 50,
                             ['test_dataloader.dataset.data_root=/data/camvid', 'train_cfg.max_iters=100'])
    cfg = Config.fromfile(str(path))
    assert cfg.val_dataloader == cfg.test_dataloader
    assert cfg.val_dataloader.dataset.data_root == '/data/camvid'
    assert cfg.val_evaluator == cfg.test_evaluator and cfg.val_cfg == dict(type='ValLoop')
    assert (cfg.train_cfg.val_interval, cfg.train_cfg.max_iters) == (50, 100)


SEG = ['configs/demo/seg_vit_tiny.py', 'configs/demo/seg_ewa_vit_tiny.py']


def test_ewa_cfg_options_reach_only_the_ewa_model_and_variants_keep_their_records(tmp_path, monkeypatch):
    work = tmp_path / 'cmp'
    calls = []
    monkeypatch.setattr(compare, 'sh', fake_sh(calls))
    argv = [*SEG, '--seeds', '0', '1', '--work-dir', str(work), '--splits', 'default', '--metric',
            'accuracy/top1', '--ewa-name', 'beta0.1', '--ewa-cfg-options', 'custom_hooks.0.share_rate=0.1']
    assert compare.main(argv) == 0
    option = 'custom_hooks.0.share_rate=0.1'
    for c in calls:
        if c[0] == 'tools/train.py':
            assert (option in c) == (Path(c[c.index('--work-dir') + 1]).name == 'beta0.1')
        elif c[0] == 'tools/test.py':  # the model as trained gets it; the collapsed one is the standard model
            out = Path(c[c.index(compare.TEST_METRICS_FLAG) + 1]).name
            assert (option in c) == out.startswith('beta0.1_default')
    assert sum(option in c for c in calls) == 2 * 2
    assert '--ewa-cfg-options custom_hooks.0.share_rate=0.1' in (work / 'command_beta0.1.txt').read_text()
    assert len(json.loads((work / 'results_beta0.1.json').read_text())) == 2
    assert not (work / 'command.txt').exists() and not (work / 'results.json').exists()


def test_jobs_run_trainings_side_by_side_with_a_share_of_the_cores(tmp_path, monkeypatch):
    import threading

    together = threading.Barrier(2, timeout=20)  # broken unless two trainings are in flight at once
    calls, threads = [], []
    record = fake_sh(calls)

    def sh(cmd, log, threads_=None):
        threads.append(threads_)
        if cmd[0] == 'tools/train.py' and 'randomness.seed=0' in cmd:
            together.wait()
        record(cmd, log)

    monkeypatch.setattr(compare, 'sh', lambda cmd, log, threads=None: sh(cmd, log, threads))
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    monkeypatch.setattr(compare.os, 'cpu_count', lambda: 4)
    argv = [*SEG, '--seeds', '0', '1', '2', '--work-dir', str(tmp_path / 'par'), '--splits', 'default',
            '--metric', 'accuracy/top1', '--out', str(tmp_path / 'par.md'), '--jobs', '2']
    assert compare.main(argv) == 0
    assert set(threads) == {2} and len(calls) == 3 * (2 + 1 + 3)
    for seed in (0, 1, 2):  # a seed is tested only after both its trainings
        trained = [i for i, c in enumerate(calls) if f'randomness.seed={seed}' in c]
        tested = [i for i, c in enumerate(calls)
                  if c[0] != 'tools/train.py' and f'/seed{seed}/' in ' '.join(c)]
        assert len(trained) == 2 and len(tested) == 4 and max(trained) < min(tested)
    # the same table as one run at a time
    monkeypatch.setattr(compare, 'sh', fake_sh([]))
    seq = [*argv[:-3], str(tmp_path / 'seq.md')]
    seq[seq.index(str(tmp_path / 'par'))] = str(tmp_path / 'seq')
    assert compare.main(seq) == 0
    tables = [(tmp_path / f'{run}.md').read_text().split('\n\n', 2)[2].split('\n\nLearning curves')[0]
              for run in ('par', 'seq')]
    assert tables[0] == tables[1]
    assert '| default | +0.67 ± 1.04 | +1.11 (2) | 0.383 |' in (tmp_path / 'par.md').read_text()
    # a resumed comparison: seeds 0-2 done, so their steps return at once; seed 3's two trainings must
    # still run side by side
    together = threading.Barrier(2, timeout=20)
    resumed = [*argv[:6], '3', *argv[6:]]
    monkeypatch.setattr(compare, 'sh', lambda cmd, log, threads=None: (
        together.wait() if cmd[0] == 'tools/train.py' else None, record(cmd, log)))
    assert compare.main(resumed) == 0
    with pytest.raises(SystemExit):
        compare.parse_args([*SEG, '--jobs', '0'])


def test_a_variant_beside_a_finished_baseline_trains_jobs_seeds_at_once(tmp_path, monkeypatch):
    """The baseline of seeds 0-3 is on file; a new variant with --jobs 2 must train two seeds at a time (a
    seed waiting for its tests used to hold a slot: one training at a time), never more than two runs, and
    test each seed after its trainings (which step a free thread takes first is
    test_steps_take_a_ready_test_before_a_later_training's; here thread timing decides)."""
    import threading

    work = tmp_path / 'sweep'
    base = [*SEG, '--seeds', '0', '1', '2', '3', '--work-dir', str(work), '--splits', 'default',
            '--metric', 'accuracy/top1']
    monkeypatch.setattr(compare, 'sh', fake_sh([]))
    assert compare.main(base) == 0  # baseline and 'ewa' of every seed

    calls, record, lock = [], fake_sh([]), threading.Lock()
    running, most = [0], [0]
    together = threading.Barrier(2, timeout=20)  # broken unless two trainings are in flight at once

    def sh(cmd, log, threads=None):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            calls.append(cmd)
        if cmd[0] == 'tools/train.py' and ('randomness.seed=0' in cmd or 'randomness.seed=1' in cmd):
            together.wait()
        record(cmd, log)
        with lock:
            running[0] -= 1

    monkeypatch.setattr(compare, 'sh', sh)
    assert compare.main([*base, '--ewa-name', 'e8', '--jobs', '2']) == 0
    trained = [c for c in calls if c[0] == 'tools/train.py']
    assert [Path(c[c.index('--work-dir') + 1]).name for c in trained] == ['e8'] * 4
    assert most[0] == 2
    seed_of = [next(o for o in c if o.startswith('randomness.seed=')) if c[0] == 'tools/train.py'
               else next(p for p in c if '/seed' in p).split('/seed')[1].split('/')[0] for c in calls]
    first_test = {s: next(i for i, c in enumerate(calls) if c[0] != 'tools/train.py' and seed_of[i] == str(s))
                  for s in range(4)}
    start = {s: seed_of.index(f'randomness.seed={s}') for s in range(4)}
    assert all(start[s] < first_test[s] for s in range(4))
    assert len(json.loads((work / 'results_e8.json').read_text())) == 4


def test_steps_take_a_ready_test_before_a_later_training():
    """Two jobs train seeds 0 and 1 together; seed 1's training ends first. The free thread must take seed 1's
    test (ready, key (1, 1)) before seed 2's training (key (2, 0)), while seed 0's training still runs."""
    import threading

    steps, started, lock = compare.Steps(), [], threading.Lock()
    together, next_started = threading.Barrier(2, timeout=20), threading.Event()

    def step(name, wait_for_next=False, meet=False):
        def fn(*_):
            with lock:
                started.append(name)
            if name in ('test1', 'train2'):
                next_started.set()
            if meet:
                together.wait()
            if wait_for_next:
                assert next_started.wait(timeout=20)
            return name
        return fn

    t0 = steps.add((0, 0), step('train0', wait_for_next=True, meet=True))
    t1 = steps.add((1, 0), step('train1', meet=True))
    steps.add((0, 1), step('test0'), after=(t0,))
    steps.add((1, 1), step('test1'), after=(t1,))
    t2 = steps.add((2, 0), step('train2'))
    steps.add((2, 1), step('test2'), after=(t2,))
    steps.run(2)
    assert started[:3] in (['train0', 'train1', 'test1'], ['train1', 'train0', 'test1'])
    assert sorted(started) == ['test0', 'test1', 'test2', 'train0', 'train1', 'train2']
    assert started.index('test0') > started.index('train0')
    assert started.index('test2') > started.index('train2')


def test_steps_stop_at_the_first_failure_and_raise_it():
    steps, ran = compare.Steps(), []

    def boom():
        raise RuntimeError('training failed')

    first = steps.add((0, 0), boom)
    steps.add((0, 1), lambda _: ran.append('test0'), after=(first,))
    steps.add((1, 0), lambda: ran.append('train1'))
    with pytest.raises(RuntimeError, match='training failed'):
        steps.run(1)
    assert ran == []


def test_variants_table_pairs_each_variant_with_the_shared_baseline(tmp_path, monkeypatch):
    work = tmp_path / 'sweep'
    monkeypatch.setattr(compare, 'sh', fake_sh([]))
    common = ['--work-dir', str(work), '--splits', 'default', '--metric', 'accuracy/top1']
    assert compare.main([*SEG, '--seeds', '0', '1', '2', *common]) == 0
    assert compare.main([*SEG, '--seeds', '0', '1', *common, '--ewa-name', 'e8',
                         '--ewa-cfg-options', 'model.backbone.ewa_cfg.num_experts=8']) == 0
    monkeypatch.setattr(compare, 'sh', lambda cmd, log, threads=None: pytest.fail(f'ran {cmd}'))
    out = tmp_path / 'sweep.md'
    assert compare.main([*SEG, '--seeds', '0', '1', '2', *common, '--from-results', '--variants', 'ewa', 'e8',
                         'missing', '--out', str(out)]) == 0
    text = out.read_text()
    # fake gains +1.0, -0.5, +1.5 for seeds 0, 1, 2; baseline 40 + seed
    assert ('| ewa | default | 0, 1, 2 | 41.00 ± 1.00 | 41.67 ± 1.61 | 0.67 ± 1.04 | +1.00, -0.50, +1.50 | '
            '0.383 | [-0.50, +1.50] | not distinguishable from noise |') in text
    # e8 = ewa + 0.25, +0.5: Δ +1.25, +0.00 (t = 0.625 / (0.884 / √2) = 1.0, dof 1: p = 0.5)
    assert ('| e8 | default | 0, 1 | 40.50 ± 0.71 | 41.12 ± 0.18 | 0.62 ± 0.88 | +1.25, +0.00 | 0.500 | '
            '[+0.00, +1.25] |') in text
    assert '| missing | default | – |' in text
    assert compare.main([*SEG, '--seeds', '0', '1', *common, '--from-results', '--variants', 'e8',
                         '--against', 'ewa', '--out', str(out)]) == 0
    text = out.read_text()
    assert '| variant | split | seeds | ewa | variant |' in text
    assert '| e8 | default | 0, 1 | 40.75 ± 0.35 | 41.12 ± 0.18 | 0.38 ± 0.18 | +0.25, +0.50 |' in text
    with pytest.raises(SystemExit):
        compare.parse_args([*SEG, '--variants', 'ewa'])


def test_an_undefined_split_needs_an_mmseg_dataset(tmp_path):
    cls = ['configs/ewa_cls/vit-d64-p4_1xb128-40e_cifar100-32.py',
           'configs/ewa_cls/ewa-vit-d64-p4_1xb128-40e_cifar100-32.py']
    with pytest.raises(SystemExit, match='--splits default'):
        compare.main([*cls, '--splits', 'val', '--work-dir', str(tmp_path / 'cls')])
    assert not (tmp_path / 'cls').exists()
    compare.check_splits(compare.parse_args([*SEG, '--splits', 'val', 'test']))  # img_dir/val: fine


def test_an_interrupted_training_resumes_and_a_finished_one_is_skipped(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(compare, 'sh', lambda cmd, log, threads=None: calls.append((cmd, log)))
    args = compare.parse_args([*SEG, '--work-dir', str(tmp_path), '--splits', 'val'])
    plan = compare.training_plan(args, 'baseline', tmp_path)
    assert plan['final'] == 'iter_200.pth'  # seg_vit_tiny trains 200 iterations
    wd = tmp_path / 'seed0' / 'baseline'
    wd.mkdir(parents=True)
    (wd / 'last_checkpoint').write_text(str(wd / 'iter_100.pth'))
    compare.train_step(args, 0, 'baseline', tmp_path, plan)
    (cmd, log), = calls
    assert '--resume' in cmd and 'randomness.seed=0' in cmd and log.name == 'baseline.resumed.log'
    (wd / 'last_checkpoint').write_text(str(wd / 'iter_200.pth'))
    assert compare.train_step(args, 0, 'baseline', tmp_path, plan) is None and len(calls) == 1
    assert not compare.training_finished(tmp_path / 'seed0' / 'ewa', 'iter_200.pth')
    assert compare.final_checkpoint(SEG[0], ['train_cfg.max_iters=400']) == 'iter_400.pth'
    cls = 'configs/ewa_cls/vit-d64-p4_1xb128-40e_cifar100-32.py'
    assert compare.final_checkpoint(cls, []) == 'epoch_40.pth'


def test_a_variant_name_with_a_dot_keeps_it_in_the_training_log(tmp_path, monkeypatch):
    logs = []
    monkeypatch.setattr(compare, 'sh', lambda cmd, log, threads=None: logs.append(log))
    args = compare.parse_args([*SEG, '--work-dir', str(tmp_path), '--ewa-name', 'beta0.9'])
    compare.train_step(args, 0, 'ewa', tmp_path, compare.training_plan(args, 'ewa', tmp_path))
    assert logs == [tmp_path / 'seed0' / 'beta0.9.log']


def test_a_work_dir_kept_without_checkpoints_resumes_without_retraining(tmp_path, monkeypatch):
    """benchmarks/runs/ keeps results and scalars, not checkpoints: what has results is not trained again, a
    new variant trains only its own model beside the kept baselines."""
    work = tmp_path / 'kept'
    common = [*SEG, '--seeds', '0', '1', '--work-dir', str(work), '--splits', 'default',
              '--metric', 'accuracy/top1']
    monkeypatch.setattr(compare, 'sh', fake_sh([]))
    assert compare.main(common) == 0
    minutes = [{k: v for k, v in r.items() if k.endswith('_train_minutes')}
               for r in json.loads((work / 'results.json').read_text())]
    assert [sorted(m) for m in minutes] == [['baseline_train_minutes', 'ewa_train_minutes']] * 2
    for f in [*work.rglob('*.pth'), *work.rglob('last_checkpoint')]:
        f.unlink()
    calls = []
    monkeypatch.setattr(compare, 'sh', fake_sh(calls))
    assert compare.main([*common, '--out', str(tmp_path / 'again.md')]) == 0
    assert calls == []
    rerun = json.loads((work / 'results.json').read_text())  # nothing trained: the minutes are kept
    assert [{k: r[k] for k in m} for r, m in zip(rerun, minutes)] == minutes
    assert '| +0.25 ± 1.06 |' in (tmp_path / 'again.md').read_text()  # fake gains +1.0, -0.5
    assert compare.main([*common, '--ewa-name', 'e8']) == 0
    trained = [Path(c[c.index('--work-dir') + 1]) for c in calls if c[0] == 'tools/train.py']
    assert trained == [work / 'seed0' / 'e8', work / 'seed1' / 'e8']
    assert [Path(c[2]).name for c in calls if c[0] == 'tools/convert_ewa.py'] == ['e8_collapsed.pth'] * 2
    assert {Path(c[c.index(compare.TEST_METRICS_FLAG) + 1]).name for c in calls if c[0] == 'tools/test.py'} \
        == {'e8_default.json', 'e8_collapsed_default.json'}
