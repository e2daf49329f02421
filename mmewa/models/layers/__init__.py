from .ewa_ffn import EWAFFN, ExpertFFN
from .experts import StackedLinear, StackedMLP
from .partition import Partition, partition_groups_reference, random_partition
from .routed_moe import AddAuxiliaryLoss, RoutedMoEFFN, load_balancing_loss

__all__ = ['EWAFFN', 'ExpertFFN', 'RoutedMoEFFN', 'AddAuxiliaryLoss', 'load_balancing_loss', 'StackedLinear',
           'StackedMLP', 'Partition', 'random_partition', 'partition_groups_reference']
