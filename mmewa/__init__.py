"""mmewa: Experts Weights Averaging (arXiv 2308.06093) for OpenMMLab segmentation, detection, classification.

Importing ``mmewa`` registers the ``EWA<Backbone>`` / ``EWA<Head>`` / ``EWA<Detector>`` twins in the
registry scope of each installed library (mmseg, mmdet, mmpretrain) and ``EWAHook`` / ``MoEAuxLossHook``
in MMEngine's root HOOKS registry (which every library's configs resolve), so a config only needs
``custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)``.
"""
from .utils import mmcv_check as _mmcv_check  # noqa: F401 (first: one clear line if mmcv has no ops)

# isort: split
from . import datasets as _datasets  # noqa: F401 (InMemoryDataset, with mmpretrain)
from .averaging import ewa_, ewa_coefficient, ewa_reference_, expert_spread
from .checkpoint import allow_mmengine_checkpoints
from .collapse import CollapseError, collapse_model, collapse_state_dict
from .engine import EWAHook, MoEAuxLossHook
from .models import EWAFFN, EWAMoE, RoutedMoE, RoutedMoEFFN, ewa_twin, upcycle
from .models import backbones as _backbones
from .models import data_preprocessors as _data_preprocessors  # noqa: F401 (BatchAugClsDataPreprocessor)
from .models import detectors as _detectors
from .models import heads as _heads
from .models.backbones import *  # noqa: F401,F403 (EWAVisionTransformer, ... of the installed libraries)
from .models.detectors import *  # noqa: F401,F403 (EWADINO, ... with mmdet)
from .models.heads import *  # noqa: F401,F403 (EWAMask2FormerHead, EWASegMask2FormerHead)
from .utils.stack import resolve_config_packages
from .version import __version__

allow_mmengine_checkpoints()
resolve_config_packages()  # `mmseg::` config bases on the OneDL line (mmewa/utils/stack.py)

__all__ = ['__version__', 'EWAFFN', 'EWAMoE', 'RoutedMoE', 'RoutedMoEFFN', 'ewa_twin', 'upcycle', 'EWAHook',
           'MoEAuxLossHook', 'ewa_', 'ewa_reference_', 'ewa_coefficient', 'expert_spread',
           'collapse_state_dict', 'collapse_model', 'CollapseError',
           *(n for n in _backbones.__all__ if n.startswith('EWA')), *_heads.__all__, *_detectors.__all__]
