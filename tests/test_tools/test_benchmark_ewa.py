"""tools/analysis_tools/benchmark_ewa.py --quick: every section runs and reports sane numbers (structure, not
speed).

Timings on a shared CI machine are noise, so nothing here asserts how fast anything is: only that every
ratio is a positive finite number, that the deployed model has exactly the standard model's parameters and
FLOPs, and that the loop MoE the FFN section compares against computes the same MoE as EWAFFN (the tool
measures; these checks live here, the targets in BENCHMARKS.md)."""
import json
import math

import pytest
import torch
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


def test_all_sections_reported_without_verdicts(results):
    assert set(benchmark_ewa.SECTIONS) <= set(results)
    assert results['machine']['torch'] and results['machine']['cpu_count'] >= 1
    assert 'targets' not in results  # targets are documented in BENCHMARKS.md, not judged by the tool


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


def test_detector_training_iteration(results):
    det = results['det']
    assert det['configs']['ewa'] == 'configs/demo/det_ewa_swin_tiny.py'
    _sane(det['time_ratio'])
    assert set(det['phases_ms']['ewa']) == {'forward', 'backward', 'optimizer', 'ewa'}
    assert det['expert_tensors'] == 8  # 2 EWA Swin blocks x (2 weights + 2 biases)
    assert det['params'] == dict(standard=323_222, ewa=364_662)  # one extra FFN per 2-expert layer


def test_ffn(results):
    rows = results['ffn']['rows']
    assert rows and all(set(r['time_ms']) == {'ffn', 'ewa_ffn', 'loop_moe'} for r in rows)
    assert {r['family'] for r in rows} == set(benchmark_ewa.FFN_FAMILIES)
    for r in rows:
        _sane(r['ewa_vs_dense'])
        _sane(r['loop_vs_dense'])
        _sane(r['ewa_vs_loop'])
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
    assert dep['params']['collapsed'] == dep['params']['standard'] < dep['params']['ewa_eval']
    assert dep['flops_per_image']['collapsed'] == dep['flops_per_image']['standard'] > 0
    _sane(dep['latency_ratio'])


@pytest.mark.parametrize('family', sorted(benchmark_ewa.FFN_FAMILIES))
def test_loop_moe_computes_the_expert_layer(family):
    """The FFN section's comparison point is the same MoE: same partition, same experts, same output."""
    variants = benchmark_ewa.ffn_variants(16, 4, torch.device('cpu'), family)
    x = torch.randn(2, 10, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.manual_seed(1)
        ewa = variants['ewa_ffn'](x)
        torch.manual_seed(1)
        loop = variants['loop_moe'](x)
        dense = variants['ffn'](x)
    assert torch.allclose(ewa, loop, atol=1e-6, rtol=0)
    assert (ewa - dense).abs().max() > 1e-3  # the experts differ, so the MoE is not the dense FFN


def test_compile_check_reports_per_backend(results):
    eager = results['compile']['backends']['eager']
    assert eager['ok'], eager.get('error')
    assert eager['max_abs_diff_vs_eager'] == 0.0


def test_mixffn_rows(results):
    mix = results['mixffn']
    assert mix['num_experts'] == 4 and mix['rows']
    for r in mix['rows']:
        assert set(r['time_ms']) == {'mixffn', 'ewa', 'loop'} and r['tile'] >= 1
        for key in ('ewa_vs_dense', 'loop_vs_dense', 'ewa_vs_loop'):
            _sane(r[key])


def test_loop_mixffn_computes_the_ewa_layer_on_the_same_partition():
    """Section 7's loop is the same MoE: the layer's own cell partition, every expert's full MixFFN."""
    variants = benchmark_ewa.mixffn_variants(12, 16, 32, 2, 4, torch.device('cpu'))
    ewa, loop, dense = variants['ewa'], variants['loop'], variants['mixffn']
    x = torch.randn(2, 144, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ewa.draw_partition = lambda *a, **k: ewa._last_partition[1]  # reuse the partition the loop decoded
        fast, ref, std = ewa(x, (12, 12)), loop(x, (12, 12)), dense(x, (12, 12))
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-6)
    assert (fast - std).abs().max() > 1e-4  # the experts differ, so the MoE is not the dense MixFFN


def test_routed_tight_vs_padded(results):
    rt = results['routed']
    assert set(rt['time_ms']) == {'ffn', 'tight', 'padded'}
    for key in ('tight_vs_padded', 'tight_vs_dense', 'padded_vs_dense'):
        _sane(rt[key])


def test_routed_variants_compute_the_same_moe():
    """Tight and padded buffers differ only in empty rows: the same outputs (what section 8 compares)."""
    variants = benchmark_ewa.routed_variants(torch.device('cpu'))
    x = torch.randn(4, 65, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        tight, padded = variants['tight'](x), variants['padded'](x)
    assert torch.allclose(tight, padded, atol=1e-6, rtol=0)
    assert variants['padded'].capacity(260) == 260 and variants['tight'].capacity(260) == 260
