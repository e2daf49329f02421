# Baseline twin of upernet_ewa-vit-b16_8xb2-160k_ade20k-512x512.py: mmseg's own config, unchanged
# (DeiT-B/16 UperNet on ADE20K; expects data/ade and pretrain/deit_base_patch16_224-b5f2ef4d.pth).
_base_ = 'mmseg::vit/vit_deit-b16_upernet_8xb2-160k_ade20k-512x512.py'
