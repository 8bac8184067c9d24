"""How JMESPath sees plain JSON-like Python values.

The values are the ones ``json.loads`` produces: ``dict``, ``list``, ``str``, ``int``,
``float``, ``bool`` and ``None``. Three Python habits disagree with JMESPath and are
corrected here, once, for the compiler and the functions:

* ``True`` is not a number (Python's ``bool`` is an ``int``): ``true == 1`` is false and
  ``abs(true)`` is a type error.
* Numbers are equal by value across ``int`` and ``float`` (``1 == 1.0``), as in JSON.
* Truthiness: ``0`` is *true* in JMESPath; only ``null``, ``false``, ``""``, ``[]`` and
  ``{}`` are false.

Everything here is a pure function; nothing keeps state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "ExpressionReference",
    "copy_value",
    "describe",
    "is_number",
    "is_truthy",
    "json_equal",
    "to_json_text",
    "type_name",
]


class ExpressionReference:
    """The value of ``&expression``: a compiled expression a function applies per element.

    It exists only as a function argument (``sort_by(items, &price)``); the compiler
    never lets one become part of a result.
    """

    __slots__ = ("evaluate", "source")

    def __init__(self, evaluate: Callable[[Any], Any], source: str) -> None:
        self.evaluate: Final = evaluate
        self.source: Final = source

    def __repr__(self) -> str:
        return f"ExpressionReference({self.source!r})"


def is_truthy(value: Any) -> bool:
    """JMESPath truthiness: false for ``None``, ``False``, ``""``, ``[]`` and ``{}``.

    Unlike Python, every number (``0`` and ``0.0`` included) is true.
    """
    # Python and JMESPath disagree only on zero: a falsy int or float is still true here.
    # ``type(False) is bool``, so ``False`` does not slip through the int test.
    return bool(value) or type(value) is int or type(value) is float


def is_number(value: Any) -> bool:
    """True for ``int`` and ``float`` values, false for ``bool`` (which is not a number)."""
    kind = type(value)
    if kind is int or kind is float:
        return True
    return kind is not bool and isinstance(value, (int, float))


def json_equal(left: Any, right: Any) -> bool:
    """Equality as JSON defines it: deep, ``1 == 1.0``, and ``true != 1``."""
    if type(left) is bool or type(right) is bool:
        return left is right
    if isinstance(left, list):
        if not isinstance(right, list) or len(left) != len(right):
            return False
        return all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict):
        if not isinstance(right, dict) or len(left) != len(right):
            return False
        for key, value in left.items():
            if key not in right or not json_equal(value, right[key]):
                return False
        return True
    if isinstance(right, (list, dict)):
        return False
    return bool(left == right)


def type_name(value: Any) -> str:
    """The JMESPath type of a value: number, string, boolean, array, object, null, expref."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, ExpressionReference):
        return "expref"
    return f"unknown ({type(value).__name__})"


def describe(value: Any, limit: int = 40) -> str:
    """A short human description for error messages: the type and a clipped JSON rendering."""
    name = type_name(value)
    if isinstance(value, ExpressionReference):
        return f"expref &{value.source}"
    try:
        text = to_json_text(value)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{name} {text}"


def to_json_text(value: Any) -> str:
    """Compact JSON (no spaces, non-ASCII kept as is).

    Raises ``TypeError`` or ``ValueError`` when the value is not plain JSON (for example
    a ``datetime``, or a float that is not finite).
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def copy_value(value: Any) -> Any:
    """A deep copy of the containers of a JSON value (scalars are immutable and shared).

    Literal lists and objects are copied on every evaluation so that a caller who edits
    a result cannot change what the compiled expression returns next time.
    """
    if isinstance(value, list):
        return [copy_value(item) for item in value]
    if isinstance(value, dict):
        return {key: copy_value(item) for key, item in value.items()}
    return value
