from .backbones import EWASwinTransformer, EWAVisionTransformer
from .layers import EWAFFN, StackedLinear, StackedMLP, random_partition

__all__ = ['EWAFFN', 'StackedLinear', 'StackedMLP', 'random_partition', 'EWAVisionTransformer',
           'EWASwinTransformer']
