"""Import a script of tools/ (or its sub-folders) or .dev_scripts/ as a module; neither is a package, as in
OpenMMLab repos."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
# where scripts live: what a user runs, OpenMMLab's sub-folders, and the project's own machinery
FOLDERS = ('tools', 'tools/analysis_tools', 'tools/model_converters', 'tools/visualization', '.dev_scripts')


def tool_path(name: str) -> Path:
    """The one ``<name>.py`` in FOLDERS."""
    found = [ROOT / folder / f'{name}.py' for folder in FOLDERS if (ROOT / folder / f'{name}.py').is_file()]
    if len(found) != 1:
        raise FileNotFoundError(f'{name}.py: {len(found)} copies in {", ".join(FOLDERS)}, expected 1')
    return found[0]


def load_tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f'tools_{name}', tool_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
