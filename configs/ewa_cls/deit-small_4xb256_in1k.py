# Baseline twin of ewa-deit-small_4xb256_in1k.py: mmpretrain's DeiT-S ImageNet-1k config, unchanged.
_base_ = ['mmpretrain::deit/deit-small_4xb256_in1k.py']
