"""tools/compare_seeds.py: the table it publishes is computed right (mean ± std, per-seed deltas)."""
from tool_utils import load_tool

compare = load_tool('compare_seeds')


def result(seed, base, ewa, before, sb, se):
    return {'seed': seed, 'baseline_s_per_iter': sb, 'ewa_s_per_iter': se,
            'baseline_val': {'mIoU': base}, 'collapsed_val': {'mIoU': ewa},
            'ewa_before_collapse_val': {'mIoU': before}}


def test_table_numbers():
    args = compare.parse_args(['baseline.py', 'ewa.py', '--splits', 'val'])
    results = [result(0, 60.0, 61.0, 61.0, 1.0, 1.2), result(1, 62.0, 61.5, 61.5, 1.0, 1.2),
               result(2, 61.0, 62.5, 62.5, 1.0, 1.2)]
    text = compare.table(results, args)
    assert '| val | 61.00 ± 1.00 | 61.67 ± 0.76 | 0.67 ± 1.04 | 61.67 ± 0.76 | +1.00, -0.50, +1.50 |' in text
    assert 'ratio 1.200' in text


def test_split_options_point_the_test_loader_at_val():
    assert compare.split_options('test') == []
    assert compare.split_options('val') == ['test_dataloader.dataset.data_prefix.img_path=img_dir/val',
                                            'test_dataloader.dataset.data_prefix.seg_map_path=ann_dir/val']
