"""Every relative link in README.md and docs/*.md leads somewhere: the file exists, the anchor is
one of its headings (GitHub's anchors: lowercase, spaces to ``-``, punctuation dropped, a repeated
heading gets ``-1``, ``-2``, …). Links to the web (``https:``, ``mailto:``) are not followed."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.support.daemon import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`+[^`]*`+")


def prose(text: str, *, code_spans: bool = False) -> list[str]:
    """The page's lines outside fenced code blocks; inline code spans removed unless kept."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line if code_spans else CODE_SPAN.sub("", line))
    return lines


def slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: Counter[str] = Counter()
    found = set()
    for line in prose(page.read_text(), code_spans=True):
        if m := re.match(r"#{1,6} (.+)", line):
            base = slug(m.group(1))
            found.add(base if not seen[base] else f"{base}-{seen[base]}")
            seen[base] += 1
    return found


def links(page: Path) -> list[str]:
    # a link's text may wrap onto the next line: join the prose before matching
    return LINK.findall(" ".join(prose(page.read_text())))


def test_slugs_follow_githubs_rule() -> None:
    assert slug("Webhook payload (schema version 1)") == "webhook-payload-schema-version-1"
    assert slug("tastytrade (DXLink)") == "tastytrade-dxlink"
    assert slug("The `vixmon:quotes` stream") == "the-vixmonquotes-stream"


def test_the_reference_lives_in_docs_pages_the_readme_links() -> None:
    linked = {target.split("#")[0] for target in links(ROOT / "README.md")}
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in linked, f"README does not link {page.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT)}")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)
