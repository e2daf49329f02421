# Baseline twin of ewa-dino-4scale_r50_8xb2-12e_coco.py: mmdet's own DINO config.
_base_ = 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py'
