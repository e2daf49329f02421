from .ewa_ffn import EWAFFN
from .experts import StackedLinear, StackedMLP
from .partition import Partition, partition_groups_reference, random_partition

__all__ = ['EWAFFN', 'StackedLinear', 'StackedMLP', 'Partition', 'random_partition',
           'partition_groups_reference']
