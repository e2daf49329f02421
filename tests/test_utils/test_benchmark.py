"""mmewa.utils.benchmark: the paired-ratio statistics and the interleaved timing order."""
import torch

from mmewa.utils.benchmark import interleaved, quantile, ratio, tensor_bytes


def test_ratio_is_paired_median():
    r = ratio([2.0, 4.0, 9.0], [1.0, 1.0, 3.0])
    assert r == dict(median=3.0, p25=2.5, p75=3.5)


def test_quantile_interpolates():
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5 and quantile([7.0], 0.25) == 7.0


def test_interleaved_alternates_order():
    calls = []
    times = interleaved(dict(a=lambda: calls.append('a'), b=lambda: calls.append('b')),
                        reps=3, warmup=1, device=torch.device('cpu'))
    assert calls == ['a', 'b', 'a', 'b', 'b', 'a', 'a', 'b']
    assert [len(t) for t in times.values()] == [3, 3]


def test_tensor_bytes_counts_shared_storage_once():
    w = torch.zeros(10, 10)
    assert tensor_bytes([w, w[0], w.t(), torch.zeros(5, dtype=torch.float64)]) == 400 + 40
