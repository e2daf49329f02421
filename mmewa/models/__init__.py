from .backbones import EWASegSwinTransformer, EWASwinTransformer, EWAVisionTransformer
from .layers import EWAFFN, RoutedMoEFFN, StackedLinear, StackedMLP, random_partition
from .necks import SimpleFPN

__all__ = ['EWAFFN', 'RoutedMoEFFN', 'StackedLinear', 'StackedMLP', 'random_partition',
           'EWAVisionTransformer', 'EWASwinTransformer', 'EWASegSwinTransformer', 'SimpleFPN']
