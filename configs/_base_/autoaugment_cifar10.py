# The CIFAR-10 AutoAugment policy (Cubuk et al. 2019, "AutoAugment: Learning Augmentation Strategies from
# Data", the policy torchvision calls AutoAugmentPolicy.CIFAR10) in mmpretrain's format, for
#   dict(type='AutoAugment', policies={{_base_.autoaugment_cifar10}})
# in a pipeline (mmpretrain) or in BatchAugClsDataPreprocessor's transforms (mmewa's batched twin, which
# draws and applies it the same way). mmpretrain itself ships only the ImageNet policy.
#
# 25 sub-policies of 2 ops, in torchvision's order; one sub-policy is drawn per image, then each op applies
# with its probability (torchvision: rand <= p; mmpretrain: not rand > prob, the same). Magnitudes are
# torchvision's bin k of 10 (_augmentation_space(10, (32, 32))), written as that bin's value:
#   Shear (ShearX/Y)        0.3 * k / 9        shear factor, about the top-left corner as torchvision
#   Translate (TranslateX/Y) int(150/331 * 32 * k / 9) / 32: torchvision moves whole pixels (4, 12, 14 for
#                          k = 3, 8, 9 at 32 px); as a fraction of the 32-px side mmpretrain moves the same
#   Rotate                  30 * k / 9         degrees
#   Brightness, ColorTransform (Color), Contrast, Sharpness   0.9 * k / 9, factor 1 +- magnitude
#   Posterize               8 - round(k / (9 / 4)) bits (bin 7: 5 bits)
#   Solarize                255 * (9 - k) / 9  threshold: values >= it are inverted (torchvision's bins;
#                          mmpretrain's ImageNet policy uses 256-based bins instead)
# The signed ops (shear, translate, rotate, brightness, color, contrast, sharpness) take a random sign with
# probability 0.5 in both libraries (mmpretrain's default random_negative_prob). Geometric ops use nearest
# interpolation (torchvision's default; mmpretrain's Shear would otherwise be bicubic) and fill with
# (128, 128, 128), the grey of the widely used DeepVoltaire implementation of this policy (torchvision
# fills 0). The fill is set in each op: mmpretrain 1.2.0's AutoAugment does not pass ``hparams`` on to them.
# Written for 32 x 32 images (the translations are pixels of a 32-px side).
autoaugment_cifar10 = [
    [dict(op, interpolation='nearest', pad_val=(128, 128, 128))
     if op['type'] in ('Shear', 'Translate', 'Rotate') else op for op in sub]
    for sub in [
        [dict(type='Invert', prob=0.1),
         dict(type='Contrast', magnitude=0.9 * 6 / 9, prob=0.2)],
        [dict(type='Rotate', angle=30 * 2 / 9, prob=0.7),
         dict(type='Translate', magnitude=14 / 32, direction='horizontal', prob=0.3)],
        [dict(type='Sharpness', magnitude=0.9 * 1 / 9, prob=0.8),
         dict(type='Sharpness', magnitude=0.9 * 3 / 9, prob=0.9)],
        [dict(type='Shear', magnitude=0.3 * 8 / 9, direction='vertical', prob=0.5),
         dict(type='Translate', magnitude=14 / 32, direction='vertical', prob=0.7)],
        [dict(type='AutoContrast', prob=0.5),
         dict(type='Equalize', prob=0.9)],
        [dict(type='Shear', magnitude=0.3 * 7 / 9, direction='vertical', prob=0.2),
         dict(type='Posterize', bits=5, prob=0.3)],
        [dict(type='ColorTransform', magnitude=0.9 * 3 / 9, prob=0.4),
         dict(type='Brightness', magnitude=0.9 * 7 / 9, prob=0.6)],
        [dict(type='Sharpness', magnitude=0.9 * 9 / 9, prob=0.3),
         dict(type='Brightness', magnitude=0.9 * 9 / 9, prob=0.7)],
        [dict(type='Equalize', prob=0.6),
         dict(type='Equalize', prob=0.5)],
        [dict(type='Contrast', magnitude=0.9 * 7 / 9, prob=0.6),
         dict(type='Sharpness', magnitude=0.9 * 5 / 9, prob=0.6)],
        [dict(type='ColorTransform', magnitude=0.9 * 7 / 9, prob=0.7),
         dict(type='Translate', magnitude=12 / 32, direction='horizontal', prob=0.5)],
        [dict(type='Equalize', prob=0.3),
         dict(type='AutoContrast', prob=0.4)],
        [dict(type='Translate', magnitude=4 / 32, direction='vertical', prob=0.4),
         dict(type='Sharpness', magnitude=0.9 * 6 / 9, prob=0.2)],
        [dict(type='Brightness', magnitude=0.9 * 6 / 9, prob=0.9),
         dict(type='ColorTransform', magnitude=0.9 * 8 / 9, prob=0.2)],
        [dict(type='Solarize', thr=255 * (9 - 2) / 9, prob=0.5),
         dict(type='Invert', prob=0.0)],
        [dict(type='Equalize', prob=0.2),
         dict(type='AutoContrast', prob=0.6)],
        [dict(type='Equalize', prob=0.2),
         dict(type='Equalize', prob=0.6)],
        [dict(type='ColorTransform', magnitude=0.9 * 9 / 9, prob=0.9),
         dict(type='Equalize', prob=0.6)],
        [dict(type='AutoContrast', prob=0.8),
         dict(type='Solarize', thr=255 * (9 - 8) / 9, prob=0.2)],
        [dict(type='Brightness', magnitude=0.9 * 3 / 9, prob=0.1),
         dict(type='ColorTransform', magnitude=0.9 * 0 / 9, prob=0.7)],
        [dict(type='Solarize', thr=255 * (9 - 5) / 9, prob=0.4),
         dict(type='AutoContrast', prob=0.9)],
        [dict(type='Translate', magnitude=14 / 32, direction='vertical', prob=0.9),
         dict(type='Translate', magnitude=14 / 32, direction='vertical', prob=0.7)],
        [dict(type='AutoContrast', prob=0.9),
         dict(type='Solarize', thr=255 * (9 - 3) / 9, prob=0.8)],
        [dict(type='Equalize', prob=0.8),
         dict(type='Invert', prob=0.1)],
        [dict(type='Translate', magnitude=14 / 32, direction='vertical', prob=0.7),
         dict(type='AutoContrast', prob=0.9)],
    ]]
