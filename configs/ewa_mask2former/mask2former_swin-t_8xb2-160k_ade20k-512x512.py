# Baseline twin of mask2former_ewa-swin-t_8xb2-160k_ade20k-512x512.py: mmseg's own Swin-T Mask2Former config.
_base_ = 'mmseg::mask2former/mask2former_swin-t_8xb2-160k_ade20k-512x512.py'
