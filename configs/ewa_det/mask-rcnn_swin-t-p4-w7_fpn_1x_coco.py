# Baseline twin of mask-rcnn_ewa-swin-t-p4-w7_fpn_1x_coco.py: mmdet's own config, unchanged (COCO 2017 in
# data/coco; it loads the ImageNet Swin-T weights named there).
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
