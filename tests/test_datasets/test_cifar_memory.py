"""InMemoryDataset on real CIFAR-100 PNGs: the same images and labels as the folder dataset's pipeline, a
cache that reloads without decoding and is rebuilt when the image list changes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.dataset import ConcatDataset
from mmengine.registry import DefaultScope
from mmpretrain.datasets import CustomDataset

import mmewa  # noqa: F401 (registers InMemoryDataset)
from mmewa.datasets import InMemoryDataset, in_memory

LOAD_PACK = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """The reference datasets build their pipelines in mmpretrain's scope (other tests may leave another
    default scope behind; InMemoryDataset itself builds in mmpretrain's scope whatever the default)."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def folder(root, prefix: str, pipeline=()) -> dict:
    return dict(type='CustomDataset', data_root=str(root), data_prefix=prefix, pipeline=list(pipeline))


def test_same_images_and_labels_as_the_folder_pipeline(cifar100_root):
    std = CustomDataset(data_root=str(cifar100_root), data_prefix='train', pipeline=LOAD_PACK)
    mem = InMemoryDataset(folder(cifar100_root, 'train'))
    assert len(mem) == len(std) and mem.metainfo['classes'] == std.metainfo['classes']
    assert mem.images.dtype == torch.uint8 and mem.images.shape[1:] == (3, 32, 32)
    assert torch.equal(mem.labels, torch.tensor([std.get_data_info(i)['gt_label'] for i in range(len(std))]))
    for i in range(0, len(std), max(1, len(std) // 150)):  # ~150 images spread over every class
        a, b = std[i], mem[i]
        assert torch.equal(a['inputs'], b['inputs']), i  # PackInputs' CHW uint8, BGR as loaded
        assert torch.equal(a['data_samples'].gt_label, b['data_samples'].gt_label), i
        assert b['data_samples'].img_shape == a['data_samples'].img_shape
    assert len(set(mem.labels.tolist())) == len(std.metainfo['classes'])


def test_concat_of_two_folders_with_one_data_root_option(cifar100_root, tmp_path):
    # train + train_rest, as the 50k configs read them: the order, labels and images of mmengine's
    # ConcatDataset, data_root set on every part by the one option
    parts = [folder('nowhere', 'train'), folder('nowhere', 'train_rest')]
    mem = InMemoryDataset(dict(type='ConcatDataset', datasets=parts), data_root=str(cifar100_root))
    std = ConcatDataset([CustomDataset(data_root=str(cifar100_root), data_prefix=p, pipeline=LOAD_PACK)
                         for p in ('train', 'train_rest')])
    assert len(mem) == len(std)
    for i in (0, len(std.datasets[0]) - 1, len(std.datasets[0]), len(std) - 1):
        assert torch.equal(mem[i]['inputs'], std[i]['inputs'])
        assert int(mem[i]['data_samples'].gt_label) == int(std[i]['data_samples'].gt_label)


def test_cache_reloads_without_decoding_and_rebuilds_for_another_list(cifar100_root, tmp_path, monkeypatch):
    cache = tmp_path / 'cache' / 'cifar.npz'
    total = len(CustomDataset(data_root=str(cifar100_root), data_prefix='test', lazy_init=True))
    n = min(64, total // 2)  # a prefix of the folder: 64 of the full test set, 12 of the sample's 25
    first = InMemoryDataset(folder(cifar100_root, 'test'), cache_file=str(cache), indices=n)
    assert cache.is_file() and len(first) == n

    def no_decoding(path):
        raise AssertionError(f'decoded {path} although the cache holds it')
    monkeypatch.setattr(in_memory, 'decode', no_decoding)
    again = InMemoryDataset(folder(cifar100_root, 'test'), cache_file=str(cache))
    assert len(again) == total > n and torch.equal(again.images[:n], first.images)
    assert again.get_data_info(3)['img_path'] == first.get_data_info(3)['img_path']

    monkeypatch.undo()  # another image list (train): the stale cache is not used but rebuilt
    other = InMemoryDataset(folder(cifar100_root, 'train'), cache_file=str(cache))
    assert len(other) == len(CustomDataset(data_root=str(cifar100_root), data_prefix='train', lazy_init=True))
    with np.load(cache) as saved:
        assert np.array_equal(saved['labels'], other.labels.numpy())


def test_subset_indices_and_one_size_check(cifar100_root, monkeypatch):
    picked = InMemoryDataset(folder(cifar100_root, 'train'), indices=[5, 2, 7])
    full = InMemoryDataset(folder(cifar100_root, 'train'))
    assert torch.equal(picked.images, full.images[[5, 2, 7]])
    assert picked.get_data_info(0)['img_path'] == full.get_data_info(5)['img_path']
    images = {'a.png': full.images[0].permute(1, 2, 0).numpy(), 'b.png': np.zeros((40, 40, 3), np.uint8)}
    monkeypatch.setattr(in_memory, 'decode', images.__getitem__)
    with pytest.raises(ValueError, match=r'one size; b.png is \(40, 40\)'):
        InMemoryDataset._decode_all(['a.png', 'b.png'])


def test_builds_in_mmpretrain_scope_whatever_the_default(cifar100_root):
    with DefaultScope.overwrite_default_scope('mmseg'):  # e.g. left behind by a segmentation config
        mem = InMemoryDataset(folder(cifar100_root, 'test'), indices=8)
    assert len(mem) == 8 and mem[0]['inputs'].shape == (3, 32, 32)
