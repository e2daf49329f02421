"""The mmcv build mmewa installs: its ops agree with torchvision on real detector inputs, a left-out op
stops with one line naming the fix, mmcv without ops gets one line at ``import mmewa``, and the op
recorder / op-set tool behind ``tools/install.sh`` work."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import mmcv.ops
import numpy as np
import pytest
import torch
import torchvision
from mmcv.utils import ext_loader
from PIL import Image
from tool_utils import load_tool

mmcv_ops_tool = load_tool('mmcv_ops')
BUILT = getattr(ext_loader, 'BUILT_OPS', None)  # None: a full mmcv build


@pytest.fixture(scope='module')
def detector_inputs(coco128_root):
    """A real COCO128 image as a feature map and its ground-truth boxes, jittered into overlapping
    proposals with scores (what an RPN hands to NMS and RoIAlign)."""
    ann = json.loads((coco128_root / 'annotations' / 'instances_train.json').read_text())
    by_image: dict[int, list] = {}
    for a in ann['annotations']:
        by_image.setdefault(a['image_id'], []).append(a['bbox'])
    image_id = max(by_image, key=lambda i: len(by_image[i]))
    info = next(i for i in ann['images'] if i['id'] == image_id)
    img = np.asarray(Image.open(coco128_root / 'images' / info['file_name']).convert('RGB'), np.float32)
    gen = torch.Generator().manual_seed(0)
    gt = torch.tensor(by_image[image_id], dtype=torch.float32)
    gt[:, 2:] += gt[:, :2]  # xywh -> xyxy
    boxes = gt.repeat(8, 1)
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    boxes = boxes + 0.15 * wh * torch.randn(boxes.shape, generator=gen)
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    scores = torch.rand(len(boxes), generator=gen)
    feats = torch.from_numpy(img).permute(2, 0, 1)[None] / 255
    return feats, boxes, scores


def test_nms_keeps_what_torchvision_keeps(detector_inputs):
    _, boxes, scores = detector_inputs
    for iou in (0.3, 0.5, 0.7):
        _, keep = mmcv.ops.nms(boxes, scores, iou)
        expected = torchvision.ops.nms(boxes, scores, iou)
        assert len(expected) < len(boxes)  # real suppression happened
        assert torch.equal(keep, expected)


def test_roi_align_matches_torchvision_forward_and_backward(detector_inputs):
    feats, boxes, _ = detector_inputs
    rois = torch.cat([torch.zeros(len(boxes), 1), boxes], dim=1)
    scale = 1 / 4
    feats = torch.nn.functional.avg_pool2d(feats, 4).requires_grad_()  # a stride-4 feature map
    ours = mmcv.ops.roi_align(feats, rois, (7, 7), scale, 2, 'avg', True)
    (ours * torch.arange(ours.numel()).reshape(ours.shape)).sum().backward()
    grad_ours, feats.grad = feats.grad.clone(), None
    theirs = torchvision.ops.roi_align(feats, rois, (7, 7), scale, 2, aligned=True)
    (theirs * torch.arange(theirs.numel()).reshape(theirs.shape)).sum().backward()
    assert ours.abs().sum() > 0
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_ours, feats.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(BUILT is None, reason='mmcv was built with every op (MMCV_OPS=full): nothing left out')
def test_a_left_out_op_imports_and_stops_with_one_line_naming_the_fix():
    assert 'box_iou_rotated' not in BUILT
    with pytest.raises(RuntimeError) as e:
        mmcv.ops.box_iou_rotated(torch.rand(2, 5), torch.rand(2, 5))
    message = str(e.value)
    assert '\n' not in message and "'box_iou_rotated'" in message
    assert 'MMCV_OPS=full bash tools/install.sh' in message


@pytest.mark.skipif(BUILT is None, reason='mmcv was built with every op (MMCV_OPS=full)')
def test_the_build_binds_exactly_the_functions_of_its_ops():
    import mmcv._ext as ext
    compiled = {n for n in dir(ext) if not n.startswith('_')
                and getattr(getattr(ext, n), '__module__', None) != ext_loader.__name__}  # not a stub
    assert compiled == set(ext_loader.BUILT_FUNCTIONS)
    assert tuple(sorted(mmcv_ops_tool.MINIMAL_OPS)) == BUILT
    assert {'nms', 'roi_align_forward', 'ms_deform_attn_forward', 'sigmoid_focal_loss_forward'} <= compiled


def test_mmcv_without_ops_gives_one_line_at_import(repo_root):
    """mmcv-lite has no ``mmcv._ext``: simulated by a finder that hides it."""
    code = ('import sys\n'
            'class Hide:\n'
            '    def find_spec(self, name, path=None, target=None):\n'
            "        if name == 'mmcv._ext':\n"
            "            raise ModuleNotFoundError(\"No module named 'mmcv._ext'\", name=name)\n"
            'sys.meta_path.insert(0, Hide())\n'
            'import mmewa\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=repo_root)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('ImportError: mmseg and mmdet need mmcv') and 'bash tools/install.sh' in last


def test_recorder_counts_ext_calls_of_a_subprocess(tmp_path, repo_root, capsys):
    record = tmp_path / 'calls.jsonl'
    env = dict(os.environ, MMEWA_RECORD_MMCV_OPS=str(record),
               PYTHONPATH=os.pathsep.join([str(repo_root / '.dev_scripts' / 'mmcv_ops_record'),
                                           os.environ.get('PYTHONPATH', '')]))
    code = ('import torch, mmcv.ops\n'
            'b = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11.]])\n'
            'for _ in range(3):\n'
            '    mmcv.ops.nms(b, torch.tensor([.9, .8]), 0.5)\n')
    subprocess.run([sys.executable, '-c', code], check=True, env=env, cwd=repo_root)
    calls = json.loads(record.read_text().splitlines()[0])['calls']
    assert calls == {'nms@cpu': 3}
    assert mmcv_ops_tool.usage(record, None) == 0
    assert 'nms' in capsys.readouterr().out


def test_op_sets_and_cache_tags():
    assert mmcv_ops_tool.op_set('full') is None
    assert mmcv_ops_tool.op_set('minimal') == ['focal_loss', 'ms_deform_attn', 'nms', 'roi_align']
    assert mmcv_ops_tool.op_set(' roi_align,nms ') == ['nms', 'roi_align']
    assert mmcv_ops_tool.tag(None) == 'ops-full'
    minimal, custom = mmcv_ops_tool.tag(['focal_loss', 'ms_deform_attn', 'nms', 'roi_align']), \
        mmcv_ops_tool.tag(['nms'])
    assert minimal.startswith('ops-minimal-') and custom.startswith('ops-custom-') and minimal != custom
    with pytest.raises(SystemExit, match='names no op'):
        mmcv_ops_tool.op_set(',')


def test_cpp_reader_finds_definitions_registrations_and_statements():
    src = ('#include "x.h"\n// a comment with nms(\n'
           'Tensor nms_impl(Tensor b, float t);\n'
           'Tensor nms_cuda(Tensor b, float t) {\n  return NMSLauncher(b, t);\n};\n'
           'template <typename T>\nvoid helper(T x) { if (x) { g(x); } }\n'
           'REGISTER_DEVICE_IMPL(nms_impl, CUDA, nms_cuda);\n')
    assert mmcv_ops_tool.defined_functions(src) == {'nms_cuda', 'helper'}
    assert mmcv_ops_tool.registrations(src) == [('nms_impl', 'CUDA', 'nms_cuda')]
    items = mmcv_ops_tool.top_level_items(src)
    assert len(items) == 4 and items[0].startswith('Tensor nms_impl') and items[-1].startswith('REGISTER')


def test_prepare_refuses_what_is_not_an_mmcv_source_tree(tmp_path):
    with pytest.raises(SystemExit, match='not an extracted mmcv source archive'):
        mmcv_ops_tool.prepare(tmp_path, ['nms'])



def test_cudabind_pruning_keeps_type_definitions_and_the_kept_ops_wrappers():
    """cudabind.cpp of mmcv 2.1.0 defines ``typedef enum {...} reduce_t;`` which the kept wrappers use
    (a CUDA build failed with "'reduce_t' does not name a type" when the enum body was dropped)."""
    src = ('typedef enum { SUM = 0, MEAN = 1, MAX = 2 } reduce_t;\n'
           'struct Box { float x1; float area() const { return x1; } };\n'
           'Tensor NMSCUDAKernelLauncher(Tensor boxes, float iou);\n'
           'Tensor nms_cuda(Tensor boxes, float iou) {\n  return NMSCUDAKernelLauncher(boxes, iou);\n}\n'
           'Tensor nms_impl(Tensor boxes, float iou);\n'
           'REGISTER_DEVICE_IMPL(nms_impl, CUDA, nms_cuda);\n'
           'void scatter_cuda(Tensor x, reduce_t r) {\n  ScatterLauncher(x, r);\n}\n'
           'void scatter_impl(Tensor x, reduce_t r);\n'
           'REGISTER_DEVICE_IMPL(scatter_impl, CUDA, scatter_cuda);\n')
    text, needed = mmcv_ops_tool.prune_cudabind(src, {'nms_impl'})
    assert 'typedef enum { SUM = 0, MEAN = 1, MAX = 2 }' in text and 'reduce_t;' in text
    assert 'struct Box' in text and 'Tensor nms_cuda(Tensor boxes, float iou) {' in text
    assert 'REGISTER_DEVICE_IMPL(nms_impl, CUDA, nms_cuda)' in text
    assert 'scatter_cuda(Tensor x, reduce_t r) {' not in text and 'scatter_impl, CUDA' not in text
    assert {'nms_cuda', 'NMSCUDAKernelLauncher'} <= needed and 'ScatterLauncher' not in needed
