"""Did-you-mean suggestions for unknown names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """``"did you mean 'sinks'?"`` for the closest candidate, or None when nothing is close."""
    names = sorted(set(candidates))
    matches = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in names}
        if name.lower() in lowered:
            matches = [lowered[name.lower()]]
    return f"did you mean {matches[0]!r}?" if matches else None
