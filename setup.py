"""mmewa: Experts Weights Averaging for mmsegmentation and mmdetection."""
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def read_requirements(name: str) -> list[str]:
    lines = (ROOT / 'requirements' / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


version: dict = {}
exec((ROOT / 'mmewa' / 'version.py').read_text(), version)

setup(
    name='mmewa',
    version=version['__version__'],
    description='Experts Weights Averaging (EWA) for transformer backbones in mmseg, mmdet and mmpretrain',
    long_description=(ROOT / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=['mmewa', 'mmewa.*']),
    python_requires='>=3.9',
    # The two OpenMMLab lines share import names but not distribution names, so neither is forced: pick
    # one with an extra (tools/install.sh does, and builds its mmcv with only the ops mmewa calls).
    install_requires=['torch>=2.0'] + read_requirements('runtime.txt'),
    extras_require={'openmmlab': ['mmcv>=2.0.0,<2.2.0'] + read_requirements('openmmlab.txt'),
                    'onedl': ['onedl-mmcv>=2.3.6'] + read_requirements('onedl.txt'),
                    'tests': read_requirements('tests.txt'), 'onnx': ['onnx', 'onnxruntime']},
    classifiers=[
        'License :: OSI Approved :: Apache Software License',
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
