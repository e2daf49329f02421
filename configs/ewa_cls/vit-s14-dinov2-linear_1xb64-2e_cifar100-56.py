# Linear probe: the reference a fine-tuning run must beat clearly before its seeds mean anything (issue #31).
# The same data, augmentation, schedule and features as vit-s14-dinov2_1xb64-2e_cifar100-56.py (the pretrained
# ViT-S/14's final-LayerNorm patch tokens, average-pooled), but the whole backbone frozen
# (frozen_stages=12 also freezes its final norm) and only the linear head trained: AdamW lr 2e-3, no weight
# decay, no stochastic depth.
_base_ = ['./vit-s14-dinov2_1xb64-2e_cifar100-56.py']
model = dict(backbone=dict(frozen_stages=12, drop_path_rate=0.))
optim_wrapper = dict(_delete_=True, optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.))
