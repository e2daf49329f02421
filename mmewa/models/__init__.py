from . import backbones, detectors, heads
from .backbones import *  # noqa: F401,F403 (the twins of the installed libraries)
from .backbones import densified, ewa_twin, find_mlps, upcycle_mlps
from .detectors import *  # noqa: F401,F403 (EWADETR, EWADeformableDETR, EWADINO with mmdet)
from .heads import *  # noqa: F401,F403 (the Mask2Former head twins of the installed libraries)
from .layers import (
    EWAFFN,
    FAMILIES,
    EWAMoE,
    ExpertLayer,
    RoutedMoE,
    RoutedMoEFFN,
    StackedLinear,
    StackedMLP,
    family_of,
    random_partition,
    upcycle,
)

if 'mmdet' in backbones.installed:
    from .necks import SimpleFPN  # noqa: F401

__all__ = ['EWAFFN', 'EWAMoE', 'ExpertLayer', 'RoutedMoE', 'RoutedMoEFFN', 'StackedLinear', 'StackedMLP',
           'random_partition', 'FAMILIES', 'family_of', 'upcycle', 'ewa_twin', 'densified', 'find_mlps',
           'upcycle_mlps', *backbones.__all__, *heads.__all__, *detectors.__all__,
           *(['SimpleFPN'] if 'mmdet' in backbones.installed else [])]
