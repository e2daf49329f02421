# vit-lee9-p4_1xb128-100e_cifar100-50k-32.py with the fast data path, for GPUs: the 50,000 train images
# decoded once into one uint8 tensor (InMemoryDataset, cached in cache_file) and the standard config's
# per-sample augmentations (crop, flip, AutoAugment with the CIFAR-10 policy, erasing, in that order) done
# for the whole batch on the device by BatchAugClsDataPreprocessor: the same transforms with the same
# options, the same distributions per sample and the same pixels for the same draws (the draws come from
# torch's generator, so a seed does not reproduce the standard config's images). Only the train dataset and
# the data preprocessor differ from the standard config; the model, schedule, Mixup/CutMix, test set and
# test-time preprocessing are the same.
# Cache file: --cfg-options train_dataloader.dataset.cache_file=PATH (decoded once, ~10 s).
_base_ = ['./vit-lee9-p4_1xb128-100e_cifar100-50k-32.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
data_root = '../shared/data/cifar100'
train_dataloader = dict(
    num_workers=0, persistent_workers=False, pin_memory=True,
    dataset=dict(_delete_=True, type='InMemoryDataset', cache_file='work_dirs/cache/cifar100-50k-train.npz',
                 dataset=dict(type='ConcatDataset', datasets=[
                     dict(type='CustomDataset', data_root=data_root, data_prefix=prefix, pipeline=[])
                     for prefix in ('train', 'train_rest')])))
data_preprocessor = dict(
    type='BatchAugClsDataPreprocessor',
    transforms=[
        dict(type='RandomCrop', crop_size=32, padding=4),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='AutoAugment', policies={{_base_.autoaugment_cifar10}}),
        dict(type='RandomErasing', erase_prob=0.25, min_area_ratio=0.02, max_area_ratio=0.4,
             aspect_range=(0.3, 1 / 0.3), mode='const', fill_color={{_base_.bgr_mean}})])
