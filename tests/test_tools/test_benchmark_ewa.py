"""tools/benchmark_ewa.py --quick: every section runs and reports sane numbers (structure, not speed).

Timings on a shared CI machine are noise, so nothing here asserts how fast anything is: only that every
ratio is a positive finite number, that the deployed model has exactly the standard model's parameters
and FLOPs, and that the loop MoE and the collapsed model compute what they claim to.
"""
import json
import math

import pytest
from tool_utils import load_tool

benchmark_ewa = load_tool('benchmark_ewa')


@pytest.fixture(scope='module')
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp('bench') / 'quick.json'
    args = ['--quick', '--threads', '1', '--compile', '--compile-backends', 'eager', '--out', str(out)]
    assert benchmark_ewa.main(args) == 0
    return json.loads(out.read_text())


def _sane(ratio: dict) -> None:
    for key in ('median', 'p25', 'p75'):
        assert math.isfinite(ratio[key]) and ratio[key] > 0, ratio
    assert ratio['p25'] <= ratio['median'] <= ratio['p75']


def test_all_sections_and_targets_reported(results):
    assert set(benchmark_ewa.SECTIONS) <= set(results)
    assert results['machine']['torch'] and results['machine']['cpu_count'] >= 1
    for verdict in results['targets'].values():
        assert set(verdict) == {'value', 'target', 'met'} and isinstance(verdict['met'], bool)


def test_training_iteration(results):
    seg = results['seg']
    _sane(seg['time_ratio'])
    _sane(seg['ewa_fraction_of_iteration'])
    assert set(seg['phases_ms']['ewa']) == {'forward', 'backward', 'optimizer', 'ewa'}
    assert 'ewa' not in seg['phases_ms']['standard']
    assert seg['expert_tensors'] == 8  # 2 EWA layers x (2 weights + 2 biases)
    assert seg['params']['ewa'] > seg['params']['standard']
    for mem in seg['memory'].values():
        assert mem['state_mb'] > 0 and mem['peak_delta_mb'] > 0
    assert all(math.isfinite(r) and r > 0 for r in seg['memory_ratio'].values())
    assert seg['memory']['ewa']['state_mb'] > seg['memory']['standard']['state_mb']  # experts are params


def test_ffn(results):
    rows = results['ffn']['rows']
    assert rows and all(set(r['time_ms']) == {'ffn', 'ewa_ffn', 'loop_moe'} for r in rows)
    for r in rows:
        _sane(r['ewa_vs_dense'])
        _sane(r['loop_vs_dense'])
        _sane(r['ewa_vs_loop'])
        assert r['max_abs_diff_loop_vs_ewa'] < 1e-5  # the loop reference computes the same MoE
    prof = results['ffn']['profile']
    assert prof['ewa_ffn'] and all(op['self_ms'] >= 0 and 0 <= op['share'] <= 1 for op in prof['ewa_ffn'])


def test_ewa_update(results):
    ewa = results['ewa']
    _sane(ewa['ewa_vs_floor'])
    _sane(ewa['reference_vs_ewa'])
    _sane(ewa['fraction_of_iteration'])
    assert ewa['tensors'] == 8 and ewa['mb'] > 0


def test_deployment_costs_exactly_the_standard_model(results):
    dep = results['deploy']
    assert dep['params_equal'] and dep['flops_equal']
    assert dep['params']['collapsed'] == dep['params']['standard'] < dep['params']['ewa_eval']
    assert dep['flops_per_image']['collapsed'] == dep['flops_per_image']['standard'] > 0
    assert dep['max_abs_diff_collapsed_vs_ewa_eval'] < 1e-4
    _sane(dep['latency_ratio'])
    targets = results['targets']
    assert targets['deploy_params_equal']['met'] and targets['deploy_flops_equal']['met']


def test_compile_check_reports_per_backend(results):
    eager = results['compile']['backends']['eager']
    assert eager['ok'], eager.get('error')
    assert eager['max_abs_diff_vs_eager'] == 0.0


def test_ratio_is_paired_median():
    r = benchmark_ewa.ratio([2.0, 4.0, 9.0], [1.0, 1.0, 3.0])
    assert r == dict(median=3.0, p25=2.5, p75=3.5)


def test_interleaved_alternates_order():
    calls = []
    times = benchmark_ewa.interleaved(dict(a=lambda: calls.append('a'), b=lambda: calls.append('b')),
                                      reps=3, warmup=1, device=benchmark_ewa.torch.device('cpu'))
    assert calls == ['a', 'b', 'a', 'b', 'b', 'a', 'a', 'b']
    assert [len(t) for t in times.values()] == [3, 3]
