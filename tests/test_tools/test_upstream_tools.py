"""mmseg's and mmdet's own tools (the copies shipped in the pip packages, ``<pkg>/.mim/tools``) as clients of
our configs: train -> resume -> convert -> test through upstream scripts, get_flops on a detector, and
browse_dataset on CamVid. Tiny sizes: a few iterations, a few images."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import mmdet
import mmseg
import pytest

MMSEG_TOOLS = Path(mmseg.__file__).parent / '.mim' / 'tools'
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'


def run(args: list, what: str) -> str:
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{what} failed:\n{log[-3000:]}'
    return log


def miou(log: str) -> float:
    return float(re.findall(r'mIoU: ([\d.]+)', log)[-1])


def test_upstream_tools_exist():
    for tool in ('train.py', 'test.py', 'analysis_tools/browse_dataset.py'):
        assert (MMSEG_TOOLS / tool).is_file(), tool
    assert (MMDET_TOOLS / 'analysis_tools/get_flops.py').is_file()


def test_mmseg_train_resume_convert_test(camvid_root, tmp_path):
    """custom_imports brings mmewa into mmseg's scripts; the collapsed model scores as the EWA model."""
    work = tmp_path / 'ewa'
    data = [f'train_dataloader.dataset.data_root={camvid_root}', 'default_hooks.logger.interval=1']
    train = [MMSEG_TOOLS / 'train.py', 'configs/demo/seg_ewa_vit_tiny.py', '--work-dir', work,
             '--cfg-options', *data, 'default_hooks.checkpoint.interval=2']
    run([*train, 'train_cfg.max_iters=2'], 'mmseg train.py')
    # --resume reads MMEngine's own checkpoint (message hub, numpy) through mmewa's scoped allow-list
    log = run([*train, 'train_cfg.max_iters=4', '--resume'], 'mmseg train.py --resume')
    assert 'resumed epoch: 0, iter: 2' in log and 'Iter(train) [4/4]' in log
    assert (work / 'iter_4.pth').is_file()

    collapsed = tmp_path / 'collapsed.pth'
    assert 'collapsed 2 EWA layers' in run(['tools/convert_ewa.py', work / 'iter_4.pth', collapsed],
                                          'convert_ewa.py')

    test_data = [f'test_dataloader.dataset.data_root={camvid_root}', 'test_dataloader.dataset.indices=4']
    std = run([MMSEG_TOOLS / 'test.py', 'configs/demo/seg_vit_tiny.py', collapsed, '--work-dir',
               tmp_path / 'test_std', '--cfg-options', *test_data], 'mmseg test.py (standard config)')
    ewa = run([MMSEG_TOOLS / 'test.py', 'configs/demo/seg_ewa_vit_tiny.py', work / 'iter_4.pth', '--work-dir',
               tmp_path / 'test_ewa', '--cfg-options', *test_data], 'mmseg test.py (EWA config)')
    assert 'Iter(test) [4/4]' in std
    assert miou(std) == miou(ewa) and miou(std) > 0


def test_mmdet_get_flops_ewa_detector_costs_the_same_as_its_twin(coco128_root):
    def flops(config: str) -> tuple[float, str]:
        log = run([MMDET_TOOLS / 'analysis_tools' / 'get_flops.py', config, '--num-images', '1',
                   '--cfg-options', f'val_dataloader.dataset.data_root={coco128_root}/'],
                  f'get_flops {config}')
        return float(re.search(r'Flops: ([\d.]+)G', log).group(1)), re.search(r'Params: (\S+)', log).group(1)

    ewa_flops, ewa_params = flops('configs/demo/det_ewa_swin_tiny.py')
    std_flops, std_params = flops('configs/demo/det_swin_tiny.py')
    assert (ewa_params, std_params) == ('0.365M', '0.323M')  # the 2-expert layers hold one extra FFN each
    # In eval an EWA layer is one FFN (its experts' mean). The RoI heads' share depends on how many boxes
    # the randomly initialised (unseeded) detector keeps (seen: up to 6 % apart between runs), so this only
    # checks that the upstream tool measures both; exact FLOPs equality of the deployed model is tested in
    # test_benchmark_ewa.py::test_deployment_costs_exactly_the_standard_model.
    assert 0.7 < std_flops < 1.0 and abs(ewa_flops - std_flops) / std_flops < 0.15


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="mmseg 1.2.2's browse_dataset.py hands SegLocalVisualizer a non-contiguous image "
                          "(img[..., [2, 1, 0]]); with numpy 2 and OpenCV >= 4.14 cv2.rectangle refuses it "
                          '("Layout of the output array img is incompatible with cv::Mat"). Upstream bug, '
                          'independent of the config; strict, so a fixed stack makes this test fail.')
def test_mmseg_browse_dataset_on_camvid(camvid_root, tmp_path):
    out = tmp_path / 'browse'
    run([MMSEG_TOOLS / 'analysis_tools' / 'browse_dataset.py', 'configs/demo/seg_ewa_vit_tiny.py',
         '--not-show', '--output-dir', out, '--cfg-options',
         f'train_dataloader.dataset.data_root={camvid_root}', 'train_dataloader.dataset.indices=2'],
        'mmseg browse_dataset.py')
    assert len(list(out.glob('*.png'))) + len(list(out.glob('*.jpg'))) == 2
