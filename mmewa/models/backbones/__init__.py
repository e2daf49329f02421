from .ewa_swin import EWASegSwinTransformer, EWASwinTransformer
from .ewa_vit import EWAVisionTransformer

__all__ = ['EWAVisionTransformer', 'EWASwinTransformer', 'EWASegSwinTransformer']
