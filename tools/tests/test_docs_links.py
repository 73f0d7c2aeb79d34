"""Every relative link in README.md and docs/*.md resolves: the file exists and, for a `#anchor`,
the target Markdown file has a heading with that GitHub anchor. Links inside fenced code blocks
and inline code are not links; web links (`http:`, `https:`, `mailto:`) are not checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation other than `-` and `_` removed,
    spaces turned into `-`."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def prose(text: str) -> str:
    """`text` without fenced code blocks and inline code spans."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's `-1`, `-2` suffixes for repeats."""
    seen: dict[str, int] = {}
    out = set()
    body = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    for m in re.finditer(r"^#{1,6} +(.+?) *#*$", body, flags=re.M):
        a = github_anchor(m.group(1))
        n = seen.get(a, 0)
        seen[a] = n + 1
        out.add(a if n == 0 else f"{a}-{n}")
    return out


def test_github_anchor_matches_hand_values() -> None:
    # Hand-derived from GitHub's rule (lower-case, drop punctuation but - and _, spaces to -).
    assert github_anchor("4. Datasets") == "4-datasets"
    assert github_anchor("Check on a GPU: `scripts/gpu-check.sh`") == "check-on-a-gpu-scriptsgpu-checksh"
    assert github_anchor("Sweeps (`just bench-sweep`, i.e. `bench_sweep`)") == "sweeps-just-bench-sweep-ie-bench_sweep"
    assert github_anchor("Does MARNet help?") == "does-marnet-help"


def test_prose_drops_code() -> None:
    text = "see [a](a.md)\n```sh\n[b](b.md)\n```\nand `[c](c.md)`"
    assert LINK.findall(prose(text)) == ["a.md"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(prose(doc.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path_part, _, anchor = target.partition("#")
        dest = (doc.parent / path_part).resolve() if path_part else doc
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    assert not broken, f"{doc.relative_to(REPO)}: broken links:\n" + "\n".join(broken)


def test_every_manual_is_linked_from_the_readme() -> None:
    readme = prose((REPO / "README.md").read_text())
    linked = {Path(t.partition("#")[0]).name for t in LINK.findall(readme)}
    missing = [p.name for p in DOCS[1:] if p.name not in linked]
    assert not missing, f"docs not linked from README.md: {missing}"
