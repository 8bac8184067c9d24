"""Problems found in a flow file, with their place, and how they are printed.

A ``Problem`` is one finding: a code (``undefined-sink``), a severity, a message, the
place (``file:line:col``, 1-based) and a hint. Lint collects every problem of a file
before reporting, so one run shows all of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Problem", "format_github", "format_json", "format_text", "sort_problems"]

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding in a flow file. ``line`` and ``col`` are 1-based; 0 when unknown."""

    code: str
    message: str
    file: str = ""
    line: int = 0
    col: int = 0
    hint: str | None = None
    severity: str = ERROR
    path: tuple[str | int, ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    @property
    def where(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col}"
        return self.file

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}[{self.code}]: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = "/".join(str(p) for p in self.path)
        return out


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file, p.line, p.col, p.code, p.message))


def _source_excerpt(problem: Problem, lines: Sequence[str]) -> list[str]:
    if not problem.line or problem.line > len(lines):
        return []
    text = lines[problem.line - 1].rstrip("\n")
    gutter = f"{problem.line:>4} | "
    caret = " " * (len(gutter) - 2) + "| " + " " * max(problem.col - 1, 0) + "^"
    return [gutter + text, caret]


def format_text(problems: Sequence[Problem], sources: dict[str, str]) -> str:
    """``path:line:col: error[CODE]: message``, the source line with a caret, the hint."""
    out: list[str] = []
    split_cache: dict[str, list[str]] = {}
    for p in problems:
        out.append(str(p))
        if p.file in sources:
            lines = split_cache.setdefault(p.file, sources[p.file].splitlines())
            out.extend(_source_excerpt(p, lines))
        if p.hint:
            out.append(f"     = hint: {p.hint}")
    return "\n".join(out)


def format_json(problems: Sequence[Problem]) -> str:
    return json.dumps([p.as_dict() for p in problems], indent=2, ensure_ascii=False)


def _gh_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def format_github(problems: Sequence[Problem]) -> str:
    """GitHub Actions workflow commands: ``::error file=..,line=..,col=..,title=..::msg``."""
    out = []
    for p in problems:
        level = "error" if p.is_error else "warning"
        props = [f"file={_gh_escape(p.file, prop=True)}"]
        if p.line:
            props += [f"line={p.line}", f"col={p.col or 1}"]
        props.append(f"title={_gh_escape(p.code, prop=True)}")
        message = p.message + (f" (hint: {p.hint})" if p.hint else "")
        out.append(f"::{level} {','.join(props)}::{_gh_escape(message)}")
    return "\n".join(out)
