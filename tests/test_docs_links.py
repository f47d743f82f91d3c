"""Every relative link in README.md and docs/*.md resolves: the file exists and, for a ``#anchor``, the
linked document has a heading with that anchor (as GitHub makes it). External URLs are not fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support.markdown import Link, anchors, broken_link, heading_anchor, links

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_resolves(path: Path) -> None:
    broken = [reason for link in links(path) if not link.is_external and (reason := broken_link(link))]
    assert broken == []


def test_the_docs_link_to_each_other() -> None:
    relative = [link for path in DOCUMENTS for link in links(path) if not link.is_external]
    assert len(relative) > 100
    assert any("#" in link.target for link in relative)


def test_every_chapter_is_linked_from_the_readme() -> None:
    linked = {(ROOT / link.target.partition("#")[0]).resolve() for link in links(ROOT / "README.md")
              if not link.is_external}
    assert [path.name for path in DOCUMENTS[1:] if path.resolve() not in linked] == []


@pytest.mark.parametrize(("heading", "anchor"), [
    ("## 9. Testing a plugin", "9-testing-a-plugin"),
    ("## The host's own threads: watchdog", "the-hosts-own-threads-watchdog"),
    ("## Testing with the settings service: `om_settings`", "testing-with-the-settings-service-om_settings"),
    ("### Robustness: fuzz, fault and soak suites", "robustness-fuzz-fault-and-soak-suites"),
])
def test_anchors_are_made_as_github_makes_them(heading: str, anchor: str) -> None:
    assert heading_anchor(heading.lstrip("# ")) == anchor
    assert anchor in anchors(heading + "\n")


def test_a_missing_file_and_a_missing_anchor_are_reported_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\nSee [it](other.md#a-section), [gone](gone.md),\n"
                    "[nowhere](other.md#no-section) and [here](#page).\n")
    reasons = [broken_link(link) for link in links(page)]
    assert reasons == [None, "page.md:3: 'gone.md': no file 'gone.md'",
                       "page.md:4: 'other.md#no-section': other.md has no heading with the anchor #no-section", None]


def test_links_in_code_are_not_links(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n`[x](missing.md)` in code\n\n```text\n[y](missing.md)\n```\n\n"
                    "[site](https://example.org/missing.md)\n")
    assert [link.target for link in links(page)] == ["https://example.org/missing.md"]
    assert all(link.is_external for link in links(page))


def test_a_repeated_heading_gets_a_numbered_anchor() -> None:
    assert anchors("# Doc\n## Usage\n## Usage\n```text\n## not a heading\n```\n") == {"doc", "usage", "usage-1"}


def test_a_link_is_where_it_is() -> None:
    assert Link(ROOT / "README.md", 3, "docs/cli.md").where == "README.md:3"
