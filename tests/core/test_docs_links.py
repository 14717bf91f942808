"""Every relative link in README.md and docs/*.md names a file that exists (sections move
between the README and docs/, whose links resolve from another folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def relative_links(text: str) -> list[str]:
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def test_links_are_found_as_markdown_writes_them():
    text = "see [a](docs/a.md), ![b](images/b.png), [c](https://x.org/c) and [d](quality.md#the-mel)"
    assert relative_links(text) == ["docs/a.md", "images/b.png", "quality.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    missing = [t for t in relative_links(page.read_text()) if not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to files that do not exist: {missing}"
