"""tools/install.sh's choice of OpenMMLab line: an environment keeps the line it has, the other line is
refused with one line naming the fix (both share import names), an unknown line is refused; nothing is
installed in any of these cases (they stop before pip runs). Each line's pins live in its own file."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmewa.utils.stack import installed_stack

ROOT = Path(__file__).resolve().parents[2]


def install(**env) -> subprocess.CompletedProcess:
    """tools/install.sh in this test's environment (VIRTUAL_ENV set: no venv is made or activated)."""
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, 'VIRTUAL_ENV': sys.prefix, 'PATH': f'{bindir}{os.pathsep}{os.environ["PATH"]}',
           **env}
    return subprocess.run(['bash', 'tools/install.sh'], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_the_other_line_is_refused_with_the_command_that_installs_it():
    other = 'onedl' if installed_stack() == 'openmmlab' else 'openmmlab'
    proc = install(MMEWA_STACK=other)
    assert proc.returncode == 2
    message = proc.stderr.strip()
    assert '\n' not in message and f'already has the {installed_stack()} line' in message
    assert f'MMEWA_VENV=.venv-{other} MMEWA_STACK={other} bash tools/install.sh' in message


def test_an_unknown_line_is_refused():
    proc = install(MMEWA_STACK='mmlab')
    assert proc.returncode == 2
    assert 'use MMEWA_STACK=openmmlab or MMEWA_STACK=onedl' in proc.stderr


@pytest.mark.parametrize('stack', ['openmmlab', 'onedl'])
def test_each_line_pins_its_own_distributions_only(stack):
    text = (ROOT / 'requirements' / f'{stack}.txt').read_text()
    pins = {ln.split('#')[0].split('==')[0].strip() for ln in text.splitlines() if '==' in ln.split('#')[0]}
    if stack == 'openmmlab':
        assert pins == {'mmengine', 'mmdet', 'mmsegmentation', 'mmpretrain'}
    else:
        assert pins == {'onedl-mmengine', 'onedl-mmdetection', 'onedl-mmsegmentation', 'onedl-mmpretrain'}
    shared = (ROOT / 'requirements' / 'runtime.txt').read_text()
    assert 'mm' not in ''.join(ln.split('#')[0] for ln in shared.splitlines())  # neither line in both
