"""Function signatures: parameter types, their checks, and the errors they raise.

A :class:`FunctionSpec` declares a function once; the compiler uses it to check arity at
compile time (``invalid-arity``), to check each argument's type at evaluation time
(``invalid-type``), and the docs use its ``summary``. Parameter types use the names of
the JMESPath specification: ``any``, ``number``, ``string``, ``boolean``, ``array``,
``object``, ``null``, ``expref``, and the typed arrays ``array-number`` and
``array-string``. A parameter may accept several (``("array", "string")``); when it
accepts both typed arrays, an array's first element decides which one it must be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from integrator.errors import ExpressionError
from integrator.mapping.jmespath.values import ExpressionReference, describe, is_number

__all__ = ["FunctionSpec", "Predicate", "argument_error", "predicate_for"]

Predicate = Callable[[Any], bool]

_ARTICLES: Final[Mapping[str, str]] = {
    "any": "any value",
    "number": "a number",
    "string": "a string",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
    "expref": "an expression reference (&expr)",
    "array-number": "an array of numbers",
    "array-string": "an array of strings",
}


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One JMESPath function.

    ``params`` holds one tuple of accepted type names per parameter. When ``variadic``
    is true the last parameter may repeat, so a call needs at least ``len(params)``
    arguments. ``implementation`` receives arguments that already passed the type
    checks; it may still raise :class:`ExpressionError` for a bad *value* (kind
    ``invalid-value``), never a Python exception for a well-typed input.
    """

    name: str
    params: tuple[tuple[str, ...], ...]
    implementation: Callable[..., Any]
    summary: str
    variadic: bool = False
    checks_types: bool = False
    """When true, ``implementation`` checks its own argument types (raising
    :func:`argument_error`) and the compiler adds no checks: one call instead of three
    for the hot arithmetic functions."""

    def arity_text(self) -> str:
        """``"exactly 2 arguments"`` / ``"at least 1 argument"``, for error messages."""
        count = len(self.params)
        noun = "argument" if count == 1 else "arguments"
        return f"{'at least' if self.variadic else 'exactly'} {count} {noun}"

    def accepts_count(self, count: int) -> bool:
        """Whether a call with ``count`` arguments has the right arity."""
        return count >= len(self.params) if self.variadic else count == len(self.params)

    def param_types(self, index: int) -> tuple[str, ...]:
        """Accepted types of the argument at ``index`` (variadic tails repeat the last)."""
        return self.params[min(index, len(self.params) - 1)]

    def signature_text(self) -> str:
        """``"join(string, array-string)"``, for docs and messages."""
        parts = ["|".join(types) for types in self.params]
        if self.variadic:
            parts[-1] += ", ..."
        return f"{self.name}({', '.join(parts)})"


def argument_error(spec: FunctionSpec, index: int, value: Any) -> ExpressionError:
    """The ``invalid-type`` error for argument ``index`` (0-based) of a call to ``spec``."""
    expected = " or ".join(_ARTICLES.get(t, t) for t in spec.param_types(index))
    hint: str | None = None
    wanted = spec.param_types(index)
    if "number" in wanted and isinstance(value, str):
        hint = "convert the text first, e.g. to_number(...)"
    elif "string" in wanted and is_number(value):
        hint = "convert the number first, e.g. to_string(...)"
    elif "array-number" in wanted or "array-string" in wanted:
        hint = "every element must have the same type: all numbers or all strings"
    return ExpressionError(
        f"{spec.name}() argument {index + 1} must be {expected}, got {describe(value)}",
        kind="invalid-type",
        hint=hint,
    )


def predicate_for(types: tuple[str, ...]) -> Predicate | None:
    """A check for one parameter, or ``None`` when the parameter accepts anything."""
    if "any" in types:
        return None
    simple = [t for t in types if t in _SIMPLE]
    typed: Predicate | None = None
    if "array-number" in types and "array-string" in types:
        typed = _is_homogeneous_array
    elif "array-number" in types:
        typed = _is_number_array
    elif "array-string" in types:
        typed = _is_string_array
    if not simple:
        if typed is None:
            raise ValueError(f"unknown parameter types {types}")
        return typed
    plain = _SIMPLE[simple[0]] if len(simple) == 1 else _union(simple)
    if typed is None:
        return plain
    array_check = typed
    return lambda value: plain(value) or array_check(value)


def _union(types: list[str]) -> Predicate:
    """One ``isinstance`` for several plain types (``bool`` kept apart from numbers)."""
    classes = tuple(cls for t in types for cls in _CLASSES[t])
    if "number" in types and "boolean" not in types:
        return lambda value: isinstance(value, classes) and type(value) is not bool
    return lambda value: isinstance(value, classes)


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_boolean(value: Any) -> bool:
    return value is True or value is False


def _is_array(value: Any) -> bool:
    return isinstance(value, list)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_null(value: Any) -> bool:
    return value is None


def _is_expref(value: Any) -> bool:
    return isinstance(value, ExpressionReference)


def _is_number_array(value: Any) -> bool:
    if not isinstance(value, list):
        return False
    for item in value:
        kind = type(item)
        if kind is not int and kind is not float and not is_number(item):
            return False
    return True


def _is_string_array(value: Any) -> bool:
    if not isinstance(value, list):
        return False
    for item in value:
        if type(item) is not str and not isinstance(item, str):
            return False
    return True


def _is_homogeneous_array(value: Any) -> bool:
    """An array of numbers or an array of strings; the first element decides which."""
    if not isinstance(value, list):
        return False
    if not value:
        return True
    if isinstance(value[0], str):
        return _is_string_array(value)
    return _is_number_array(value)


_CLASSES: Final[Mapping[str, tuple[type, ...]]] = {
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
    "expref": (ExpressionReference,),
}

_SIMPLE: Final[Mapping[str, Predicate]] = {
    "number": is_number,
    "string": _is_string,
    "boolean": _is_boolean,
    "array": _is_array,
    "object": _is_object,
    "null": _is_null,
    "expref": _is_expref,
}
