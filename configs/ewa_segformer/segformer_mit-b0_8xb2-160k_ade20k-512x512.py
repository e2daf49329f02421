# Baseline twin of segformer_ewa-mit-b0_8xb2-160k_ade20k-512x512.py: mmseg's own SegFormer-B0 config.
_base_ = 'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py'
