"""``integrator lint``, callable from Python: find flow files, check each, collect problems.

Paths may be files, folders (searched recursively) and glob patterns. In folders, a
YAML file counts as a flow when it has a top-level ``flow:`` key; files named
explicitly are always checked.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from integrator.flow.loader import LoadOptions
from integrator.flow.problems import Problem, sort_problems

__all__ = ["LintResult", "find_flow_files", "lint_paths"]

_FLOW_KEY = re.compile(r"^flow\s*:", re.MULTILINE)
_YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class LintResult:
    files: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]


def _looks_like_flow(path: Path) -> bool:
    if path.name.endswith((".test.yaml", ".test.yml")):
        return False
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return True  # let the check report it
    return bool(_FLOW_KEY.search(head))


def find_flow_files(paths: Iterable[str]) -> tuple[list[Path], list[str]]:
    """(flow files, paths that match nothing) for files, folders and globs."""
    found: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if any(ch in raw for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(raw, recursive=True))
            files = [m for m in matches if m.is_file() and m.suffix in _YAML_SUFFIXES]
            if not files:
                missing.append(raw)
            found.extend(files)
        elif path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*"))
                if p.suffix in _YAML_SUFFIXES and p.is_file() and _looks_like_flow(p)
            )
        elif path.exists():
            found.append(path)
        else:
            missing.append(raw)
    return list(dict.fromkeys(found)), missing


def lint_paths(paths: Iterable[str], *, check_env: bool = True,
               workdir: Path | None = None) -> LintResult:
    from integrator.compiler import check_text

    result = LintResult()
    files, missing = find_flow_files(paths)
    result.unreadable.extend(f"{m}: no such file or folder" for m in missing)
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            result.unreadable.append(f"{file}: {exc.strerror}")
            continue
        except UnicodeDecodeError as exc:
            result.unreadable.append(f"{file}: not UTF-8 ({exc.reason} at byte {exc.start})")
            continue
        result.files.append(file)
        result.sources[str(file)] = text
        _, diag = check_text(text, str(file), options=LoadOptions(check_env=check_env),
                             workdir=workdir)
        result.problems.extend(diag.problems)
    result.problems = sort_problems(result.problems)
    return result
