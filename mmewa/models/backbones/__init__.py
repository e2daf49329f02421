from .ewa_swin import EWASwinTransformer
from .ewa_vit import EWAVisionTransformer

__all__ = ['EWAVisionTransformer', 'EWASwinTransformer']
