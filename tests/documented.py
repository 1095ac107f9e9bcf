"""The commands the documents show, read from them, so that a test runs each exactly as written.

A command is a line (with its ``\\`` continuations) of a code block in README.md, docs/*.md or a bundle's
docs/README.md: an indented block, or a fenced one marked ``sh`` (a ``python`` block is the Python API's
snippet, run as a whole by its own test; an unmarked fenced block is a diagram). ``[OPTION]`` in a line
(after a space, not a quoted list) is an optional part written as documentation, not typed: a test runs
the line without it, or with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from monai_ext.constants import REPO_ROOT

#: the documents whose commands are tested, relative to the checkout
DOCUMENTS = ("README.md", "docs/*.md", "bundles/*/docs/README.md")
_FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass(frozen=True)
class Command:
    """A documented command: its text as a shell runs it (continuations joined, the comment left on), the
    document and line it stands on."""

    text: str
    document: str
    line: int

    @property
    def command(self) -> str:
        """The text without its trailing ``# comment``."""
        return re.sub(r"\s+#\s.*$", "", self.text).strip()


def documents() -> list[Path]:
    return sorted({p for pattern in DOCUMENTS for p in REPO_ROOT.glob(pattern)})


def blocks(path: Path) -> list[tuple[int, str, list[str]]]:
    """The code blocks of a Markdown file: (first line number, kind: 'indented' or the fence's language,
    its lines)."""
    lines = path.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence:
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            found.append((start + 1, fence.group(1) or "plain", body))
        elif lines[i].startswith("    ") and lines[i].strip() and (i == 0 or not lines[i - 1].strip()):
            # an indented block starts after a blank line (a list item's continuation is not one)
            start, body = i, []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                body.append(lines[i][4:])
                i += 1
            found.append((start + 1, "indented", [b for b in body]))
            continue
        i += 1
    return found


def documented_commands() -> list[Command]:
    """Every command of every document (see the module's docs), in document order."""
    commands = []
    for path in documents():
        name = str(path.relative_to(REPO_ROOT))
        for start, kind, body in blocks(path):
            if kind not in ("indented", "sh"):
                continue
            pending, first = "", 0
            for offset, line in enumerate(body):
                if not line.strip() and not pending:
                    continue
                if not pending:
                    first = start + offset
                pending += line.strip() if not pending else " " + line.strip()
                if pending.endswith("\\"):
                    pending = pending[:-1].rstrip()
                    continue
                commands.append(Command(pending, name, first))
                pending = ""
    return commands


def command(prefix: str) -> Command:
    """The one documented command whose text starts with ``prefix`` (an error naming them when none or
    several do): how a test takes the text it runs."""
    found = [c for c in documented_commands() if c.command == prefix or c.text.startswith(prefix)]
    exact = [c for c in found if c.command == prefix]
    found = exact or found
    if len({c.text for c in found}) != 1:
        where = ", ".join(f"{c.document}:{c.line}" for c in found) or "none"
        raise LookupError(f"documented commands starting with {prefix!r}: {where} (need exactly one)")
    return found[0]


def without_options(text: str) -> str:
    """``text`` with its ``[OPTIONAL]`` parts left out, as a reader types the short form."""
    return re.sub(r"\s+\[(?![\"'])[^\]]*\]", "", text).strip()  # not a quoted list such as "['a.json','b.json']"


def python_block(document: str) -> str:
    """The one ``python`` block of ``document`` (relative to the checkout), as it stands."""
    found = [body for _, kind, body in blocks(REPO_ROOT / document) if kind == "python"]
    if len(found) != 1:
        raise LookupError(f"{document}: {len(found)} python blocks (need exactly one)")
    return "\n".join(found[0]) + "\n"
