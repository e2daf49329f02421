"""mmewa imports with any subset of mmseg / mmdet / mmpretrain installed and registers what is there.

Each case runs in a fresh interpreter whose import system reports the missing libraries as not installed
(a meta-path finder raising ModuleNotFoundError for them, as Python does for an absent package).
"""
import json
import subprocess
import sys

import pytest

LIBS = ('mmseg', 'mmdet', 'mmpretrain')
PROBE = r'''
import importlib.abc, json, sys
missing = set(sys.argv[1:])

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in missing:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Absent())
import mmewa
from mmewa.models import backbones
from mmengine.registry import MODELS as ROOT
found = {}
for lib in ('mmseg', 'mmdet', 'mmpretrain'):
    if lib in backbones.installed:
        reg = __import__(f'{lib}.registry', fromlist=['MODELS']).MODELS
        found[lib] = sorted(k for k in reg.module_dict if k.startswith('EWA'))
print(json.dumps(dict(installed=sorted(backbones.installed), found=found,
                      root=sorted(k for k in ROOT.module_dict if k.startswith('EWA')),
                      ffn=mmewa.EWAFFN.__name__)))
'''


@pytest.mark.parametrize('missing', [(), ('mmdet',), ('mmseg',), ('mmpretrain',), ('mmseg', 'mmdet'), LIBS],
                         ids=lambda m: 'none-missing' if not m else 'without-' + '-'.join(m))
def test_imports_with_any_subset_of_libraries(missing):
    proc = subprocess.run([sys.executable, '-c', PROBE, *missing], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    present = [lib for lib in LIBS if lib not in missing]
    assert out['installed'] == sorted(present)
    assert out['root'] == []  # never in MMEngine's root registry
    expected = {'mmseg': 'EWABEiT', 'mmdet': 'EWAPyramidVisionTransformer', 'mmpretrain': 'EWAViTEVA02'}
    for lib in present:
        assert expected[lib] in out['found'][lib] and 'EWABackbone' in out['found'][lib]
    if 'mmdet' in present:
        assert ('EWAVisionTransformer' in out['found']['mmdet']) == ('mmseg' in present)
