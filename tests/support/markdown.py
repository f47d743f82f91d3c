"""The fenced code blocks of a markdown file and the ``docs-test`` marker before each.

A marker is an HTML comment on the last non-blank line before a block's opening fence::

    <!-- docs-test: KIND ARGUMENTS -->

See ``tests/test_docs_examples.py`` for the kinds and what is done with each block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*$")
_ANY_MARKER = re.compile(r"docs-test")


@dataclass(frozen=True)
class Marker:
    """``<!-- docs-test: KIND ARGUMENTS -->``: ``kind`` and the words after it."""

    kind: str
    arguments: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block: where it is (``line`` is the opening fence's, 1-based), its language and code."""

    path: Path
    line: int
    language: str
    code: str
    marker: Marker | None

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


class MarkdownError(ValueError):
    """A marker that belongs to no block, or a fence that is never closed."""


def code_blocks(path: Path, text: str | None = None) -> list[CodeBlock]:
    """The fenced blocks of ``path`` (or of ``text``, named ``path``) in document order."""
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks: list[CodeBlock] = []
    pending: Marker | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence is None:
            if found := _MARKER.match(line):
                if pending is not None:
                    raise MarkdownError(f"{path.name}:{pending.line}: a docs-test marker followed by another "
                                        f"marker instead of a code block")
                words = found["body"].split()
                pending = Marker(words[0] if words else "", tuple(words[1:]), index + 1)
            elif _ANY_MARKER.search(line) and line.lstrip().startswith("<!--"):
                raise MarkdownError(f"{path.name}:{index + 1}: malformed docs-test marker {line.strip()!r}; "
                                    f"write <!-- docs-test: KIND ARGUMENTS --> on one line")
            elif line.strip() and pending is not None:
                raise MarkdownError(f"{path.name}:{pending.line}: a docs-test marker that no code block follows "
                                    f"(only blank lines may stand between the marker and the fence)")
            index += 1
            continue
        opening, start = fence["fence"], index
        body: list[str] = []
        index += 1
        while index < len(lines) and not _closes(lines[index], opening):
            body.append(_dedent(lines[index], len(fence["indent"])))
            index += 1
        if index == len(lines):
            raise MarkdownError(f"{path.name}:{start + 1}: a code block that is never closed")
        language = fence["info"].split()[0].lower() if fence["info"].strip() else ""
        blocks.append(CodeBlock(path, start + 1, language, "\n".join(body) + "\n", pending))
        pending = None
        index += 1
    if pending is not None:
        raise MarkdownError(f"{path.name}:{pending.line}: a docs-test marker at the end of the file, with no block")
    return blocks


def _closes(line: str, opening: str) -> bool:
    stripped = line.strip()
    return len(line) - len(line.lstrip(" ")) <= 3 and stripped.startswith(opening) and set(stripped) == {opening[0]}


def _dedent(line: str, indent: int) -> str:
    """Remove up to the opening fence's indentation, as CommonMark does."""
    strip = min(indent, len(line) - len(line.lstrip(" ")))
    return line[strip:]


_HEADING = re.compile(r"^ {0,3}(?P<level>#{1,6})\s+(?P<text>.*?)(?:\s+#+)?\s*$")
_INLINE_CODE = re.compile(r"(`+)(?P<code>.+?)\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True)
class Link:
    """One inline link ``[text](target)`` in the prose of ``path`` (not in a code block or code span)."""

    path: Path
    line: int
    target: str

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    @property
    def is_external(self) -> bool:
        """A URL with a scheme (``https:``, ``mailto:``): not checked here, only relative links are."""
        return bool(_SCHEME.match(self.target))


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1."""
    lines: list[tuple[int, str]] = []
    opening: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if opening is None:
            if fence := _FENCE.match(line):
                opening = fence["fence"]
            else:
                lines.append((number, line))
        elif _closes(line, opening):
            opening = None
    return lines


def heading_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: its text without code marks, lower case, punctuation other than
    ``-`` and ``_`` removed, each space a ``-``."""
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a document; a repeated heading gets ``-1``, ``-2``... as on GitHub."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in _prose_lines(text):
        if heading := _HEADING.match(line):
            anchor = heading_anchor(heading["text"])
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def links(path: Path, text: str | None = None) -> list[Link]:
    """The inline links in the prose of ``path`` (or of ``text``, named ``path``), in document order."""
    found: list[Link] = []
    for number, line in _prose_lines(path.read_text(encoding="utf-8") if text is None else text):
        prose = _INLINE_CODE.sub("", line)
        found.extend(Link(path, number, match["target"].strip("<>")) for match in _LINK.finditer(prose))
    return found


def broken_link(link: Link) -> str | None:
    """Why a relative link does not resolve (its file is missing, or the file has no such heading anchor),
    or None when it does."""
    file_part, _, anchor = link.target.partition("#")
    target = (link.path.parent / file_part).resolve() if file_part else link.path.resolve()
    if not target.exists():
        return f"{link.where}: {link.target!r}: no file {file_part!r}"
    if anchor and target.suffix == ".md" and anchor not in anchors(target.read_text(encoding="utf-8")):
        return f"{link.where}: {link.target!r}: {target.name} has no heading with the anchor #{anchor}"
    return None
