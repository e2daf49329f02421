"""mmewa: Experts Weights Averaging (arXiv 2308.06093) for OpenMMLab dense prediction.

Importing ``mmewa`` registers ``EWAVisionTransformer`` / ``EWASwinTransformer`` (MODELS), ``EWAHook`` and
``MoEAuxLossHook`` (HOOKS) in MMEngine's root registries, which mmseg and mmdet configs both resolve, so a
config only needs ``custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)``.
"""
from .averaging import ewa_, ewa_coefficient, ewa_reference_, expert_spread
from .checkpoint import allow_mmengine_checkpoints
from .collapse import CollapseError, collapse_model, collapse_state_dict
from .engine import EWAHook, MoEAuxLossHook
from .models import EWAFFN, EWASwinTransformer, EWAVisionTransformer, RoutedMoEFFN
from .version import __version__

allow_mmengine_checkpoints()

__all__ = ['__version__', 'EWAFFN', 'RoutedMoEFFN', 'EWAVisionTransformer', 'EWASwinTransformer', 'EWAHook',
           'MoEAuxLossHook', 'ewa_', 'ewa_reference_', 'ewa_coefficient', 'expert_spread',
           'collapse_state_dict', 'collapse_model', 'CollapseError']
