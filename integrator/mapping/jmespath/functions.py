"""The function table: the specification's built-ins plus integrator's extensions.

The compiler resolves every call against :data:`FUNCTIONS` once, at compile time, so an
unknown name or a wrong argument count fails when the flow loads, not per message.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from integrator.mapping.jmespath.builtin_functions import BUILTIN_FUNCTIONS
from integrator.mapping.jmespath.extension_functions import EXTENSION_FUNCTIONS
from integrator.mapping.jmespath.signatures import FunctionSpec

__all__ = ["BUILTIN_FUNCTIONS", "EXTENSION_FUNCTIONS", "FUNCTIONS", "FUNCTION_NAMES"]

_overlap = BUILTIN_FUNCTIONS.keys() & EXTENSION_FUNCTIONS.keys()
if _overlap:  # pragma: no cover - a programming error caught at import
    raise RuntimeError(f"extension functions shadow built-ins: {sorted(_overlap)}")

FUNCTIONS: Final[Mapping[str, FunctionSpec]] = MappingProxyType(
    {**BUILTIN_FUNCTIONS, **EXTENSION_FUNCTIONS}
)
"""Every callable function by name."""

FUNCTION_NAMES: Final[frozenset[str]] = frozenset(FUNCTIONS)
"""Names of every built-in and extension function."""
