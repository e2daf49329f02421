"""mmewa: Experts Weights Averaging (arXiv 2308.06093) for OpenMMLab dense prediction."""
from .version import __version__

__all__ = ['__version__']
