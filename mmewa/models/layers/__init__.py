from .ewa_ffn import EWAFFN, EWAMoE, ExpertFFN
from .expert_layer import ExpertLayer, expert_class, upcycle
from .experts import StackedLayerNorm, StackedLinear, StackedMLP
from .families import FAMILIES, MLPFamily, family_of
from .partition import Partition, partition_groups_reference, random_partition
from .routed_moe import AddAuxiliaryLoss, RoutedMoE, RoutedMoEFFN, load_balancing_loss

__all__ = ['EWAFFN', 'EWAMoE', 'ExpertFFN', 'ExpertLayer', 'RoutedMoE', 'RoutedMoEFFN', 'AddAuxiliaryLoss',
           'load_balancing_loss', 'StackedLinear', 'StackedLayerNorm', 'StackedMLP', 'Partition',
           'random_partition', 'partition_groups_reference', 'FAMILIES', 'MLPFamily', 'family_of', 'upcycle',
           'expert_class']
