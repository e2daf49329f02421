# vit-d64-p4_1xb128-40e_cifar100-32.py with the fast data path (the CPU A/B of the fast path): the 10,000
# train images decoded once into one uint8 tensor (InMemoryDataset) and random crop + flip done for the whole
# batch (BatchAugClsDataPreprocessor, the same distributions as the pipeline's RandomCrop / RandomFlip).
# Only the train dataset and the data preprocessor differ from the standard config.
_base_ = ['./vit-d64-p4_1xb128-40e_cifar100-32.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
data_root = {{_base_.data_root}}
train_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='InMemoryDataset', cache_file='work_dirs/cache/cifar100-train.npz',
                 dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='train', pipeline=[])))
data_preprocessor = dict(
    type='BatchAugClsDataPreprocessor',
    transforms=[dict(type='RandomCrop', crop_size=32, padding=4),
                dict(type='RandomFlip', prob=0.5, direction='horizontal')])
