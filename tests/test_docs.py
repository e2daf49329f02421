"""The README and the guides link only to what exists: every relative link of every tracked Markdown file
points at a file of the repository, and a link into a Markdown file's section names one of its headings
(GitHub's anchors)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'^\s*```')


def markdown_files() -> list[Path]:
    """Tracked and new (not ignored) Markdown files: what a clone has."""
    out = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '*.md'], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return sorted(ROOT / p for p in out if (ROOT / p).is_file())


def prose(path: Path) -> str:
    """The file without its fenced code blocks (a link-like string in code is not a link)."""
    keep, inside = [], False
    for line in path.read_text(encoding='utf-8').splitlines():
        if FENCE.match(line):
            inside = not inside
        elif not inside:
            keep.append(line)
    return '\n'.join(keep)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r'[`*_]|\[([^\]]*)\]\([^)]*\)', r'\1', heading.strip().lower())
    return re.sub(r'[^\w\- ]', '', text).replace(' ', '-')


def anchors(path: Path) -> set[str]:
    return {anchor(line.lstrip('#')) for line in prose(path).splitlines() if re.match(r'^#{1,6} ', line)}


def relative_links(path: Path) -> list[str]:
    return [t for t in LINK.findall(prose(path)) if not re.match(r'^[a-z][a-z0-9+.-]*:', t)]


def test_anchor_follows_github():
    assert anchor('Results: EWA fine-tuning of the pretrained ViT-S/14 on CamVid (CPU config, 3 seeds)') == \
        'results-ewa-fine-tuning-of-the-pretrained-vit-s14-on-camvid-cpu-config-3-seeds'
    assert anchor("Routed MoE and \"Early EWA\"") == 'routed-moe-and-early-ewa'
    assert anchor('SegFormer `MixFFN` experts') == 'segformer-mixffn-experts'


@pytest.mark.parametrize('path', markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path):
    broken = []
    for target in relative_links(path):
        file, _, section = target.partition('#')
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f'{target}: no such file')
        elif section and dest.suffix == '.md' and section not in anchors(dest):
            broken.append(f'{target}: no heading with that anchor in {dest.relative_to(ROOT)}')
    assert not broken, broken


def test_readme_is_a_front_door():
    """At most ~300 lines, and it links every guide in docs/."""
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    assert len(readme.splitlines()) <= 300
    guides = sorted(p.name for p in (ROOT / 'docs').glob('*.md'))
    assert [g for g in guides if f'docs/{g}' not in readme] == []
