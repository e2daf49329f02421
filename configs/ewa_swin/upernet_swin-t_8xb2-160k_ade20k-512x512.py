# Baseline twin of upernet_ewa-swin-t_8xb2-160k_ade20k-512x512.py: mmseg's own Swin-T UperNet config.
_base_ = 'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'
