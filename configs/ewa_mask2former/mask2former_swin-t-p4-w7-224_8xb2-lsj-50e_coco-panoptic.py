# Baseline twin of mask2former_ewa-swin-t-p4-w7-224_8xb2-lsj-50e_coco-panoptic.py: mmdet's own config.
_base_ = 'mmdet::mask2former/mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco-panoptic.py'
