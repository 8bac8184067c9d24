"""The functions of the JMESPath specification, implemented natively.

Each implementation receives arguments that already passed its signature's type check
(see :mod:`.signatures`), so it only computes. Behaviour follows the reference
implementation (jmespath-python) wherever that one is well defined, and the
specification where jmespath-python leaks a Python quirk:

* ``contains`` compares with JSON equality (``contains([1], true)`` is false) and a
  non-string needle in a string haystack is simply not found.
* ``min_by`` / ``max_by`` need every key to be of the same type (all numbers or all
  strings); mixing them is ``invalid-type`` rather than a Python ``TypeError``.
* ``to_number`` parses strings as Python's ``int()`` then ``float()`` do, like
  jmespath-python, but a result that is not finite (``"nan"``, ``"inf"``, ``"1e999"``)
  is ``null``: it would not be JSON.
* ``to_string`` writes compact JSON and keeps non-ASCII characters as they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from integrator.errors import ExpressionError
from integrator.mapping.jmespath.signatures import FunctionSpec
from integrator.mapping.jmespath.values import (
    ExpressionReference,
    describe,
    is_number,
    json_equal,
    to_json_text,
    type_name,
)

__all__ = ["BUILTIN_FUNCTIONS", "parse_number"]


def _abs(number: float) -> float:
    return abs(number)


def _avg(numbers: list[float]) -> float | None:
    return sum(numbers) / len(numbers) if numbers else None


def _ceil(number: float) -> int:
    return math.ceil(number)


def _contains(subject: list[Any] | str, search: Any) -> bool:
    if isinstance(subject, str):
        return isinstance(search, str) and search in subject
    return any(json_equal(item, search) for item in subject)


def _ends_with(subject: str, suffix: str) -> bool:
    return subject.endswith(suffix)


def _floor(number: float) -> int:
    return math.floor(number)


def _join(glue: str, parts: list[str]) -> str:
    return glue.join(parts)


def _keys(obj: dict[str, Any]) -> list[str]:
    return list(obj)


def _length(value: str | list[Any] | dict[str, Any]) -> int:
    return len(value)


def _map(ref: ExpressionReference, items: list[Any]) -> list[Any]:
    return list(map(ref.evaluate, items))


def _max(items: list[Any]) -> Any:
    return max(items) if items else None


def _min(items: list[Any]) -> Any:
    return min(items) if items else None


def _keyed(name: str, ref: ExpressionReference, items: list[Any]) -> list[Any]:
    """Evaluate ``ref`` on every item; all keys must be numbers, or all strings."""
    keys = list(map(ref.evaluate, items))
    if keys:
        first = keys[0]
        same: Callable[[Any], bool]
        if isinstance(first, str):
            same = _is_str
        elif is_number(first):
            same = is_number
        else:
            raise _key_error(name, ref, first)
        for key in keys:
            if not same(key):
                raise _key_error(name, ref, key)
    return keys


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _key_error(name: str, ref: ExpressionReference, key: Any) -> ExpressionError:
    return ExpressionError(
        f"{name}(): &{ref.source} must give a number or a string for every element, "
        f"all of the same type; got {describe(key)}",
        kind="invalid-type",
    )


def _max_by(items: list[Any], ref: ExpressionReference) -> Any:
    keys = _keyed("max_by", ref, items)
    if not items:
        return None
    return items[max(range(len(items)), key=keys.__getitem__)]


def _min_by(items: list[Any], ref: ExpressionReference) -> Any:
    keys = _keyed("min_by", ref, items)
    if not items:
        return None
    return items[min(range(len(items)), key=keys.__getitem__)]


def _sort_by(items: list[Any], ref: ExpressionReference) -> list[Any]:
    keys = _keyed("sort_by", ref, items)
    # Sorting positions by key keeps equal keys in their original order (stable) and
    # never compares the elements themselves.
    return [items[i] for i in sorted(range(len(items)), key=keys.__getitem__)]


def _merge(*objects: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for obj in objects:
        merged.update(obj)
    return merged


def _not_null(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def _reverse(value: str | list[Any]) -> str | list[Any]:
    return value[::-1]


def _sort(items: list[Any]) -> list[Any]:
    return sorted(items)


def _starts_with(subject: str, prefix: str) -> bool:
    return subject.startswith(prefix)


def _sum(numbers: list[float]) -> float:
    return sum(numbers)


def _to_array(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def parse_number(value: Any) -> int | float | None:
    """``to_number``: numbers pass, numeric strings parse (``"1"`` → 1, ``"1.0"`` → 1.0).

    Anything else, and any result that is not finite, is ``None``.
    """
    if isinstance(value, str):
        # int() rejects any text with ".", "e" or "E"; skipping the doomed attempt saves
        # raising an exception for every decimal such as "19.90".
        if "." not in value and "e" not in value and "E" not in value:
            try:
                return int(value)
            except ValueError:
                pass
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    if is_number(value):
        return value  # type: ignore[no-any-return]
    return None


def _to_string(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return str(value)  # an int's JSON text is its decimal form
    if isinstance(value, str):
        return value
    try:
        return to_json_text(value)
    except (TypeError, ValueError) as exc:
        raise ExpressionError(
            f"to_string(): {describe(value)} is not a JSON value ({exc})",
            kind="invalid-type",
        ) from exc


def _type(value: Any) -> str:
    return type_name(value)


def _values(obj: dict[str, Any]) -> list[Any]:
    return list(obj.values())


_NUMBER = ("number",)
_STRING = ("string",)
_ARRAY = ("array",)
_OBJECT = ("object",)
_ANY = ("any",)
_EXPREF = ("expref",)
_SORTABLE = ("array-number", "array-string")


def _spec(
    name: str,
    params: tuple[tuple[str, ...], ...],
    implementation: Callable[..., Any],
    summary: str,
    *,
    variadic: bool = False,
) -> tuple[str, FunctionSpec]:
    return name, FunctionSpec(name, params, implementation, summary, variadic)


BUILTIN_FUNCTIONS: Final[Mapping[str, FunctionSpec]] = dict(
    [
        _spec("abs", (_NUMBER,), _abs, "absolute value"),
        _spec("avg", (("array-number",),), _avg, "average of the numbers; null when empty"),
        _spec("ceil", (_NUMBER,), _ceil, "smallest integer not below the number"),
        _spec(
            "contains",
            (("array", "string"), _ANY),
            _contains,
            "whether the array holds the value, or the string holds the substring",
        ),
        _spec("ends_with", (_STRING, _STRING), _ends_with, "whether the string ends so"),
        _spec("floor", (_NUMBER,), _floor, "largest integer not above the number"),
        _spec("join", (_STRING, ("array-string",)), _join, "strings joined by the glue"),
        _spec("keys", (_OBJECT,), _keys, "the object's keys, in order"),
        _spec(
            "length",
            (("string", "array", "object"),),
            _length,
            "characters of a string, elements of an array, keys of an object",
        ),
        _spec("map", (_EXPREF, _ARRAY), _map, "the expression applied to every element"),
        _spec("max", (_SORTABLE,), _max, "largest number or string; null when empty"),
        _spec("max_by", (_ARRAY, _EXPREF), _max_by, "element with the largest key"),
        _spec("merge", (_OBJECT,), _merge, "objects merged, later keys win", variadic=True),
        _spec("min", (_SORTABLE,), _min, "smallest number or string; null when empty"),
        _spec("min_by", (_ARRAY, _EXPREF), _min_by, "element with the smallest key"),
        _spec("not_null", (_ANY,), _not_null, "first argument that is not null", variadic=True),
        _spec("reverse", (("array", "string"),), _reverse, "the array or string reversed"),
        _spec("sort", (_SORTABLE,), _sort, "numbers or strings in ascending order"),
        _spec("sort_by", (_ARRAY, _EXPREF), _sort_by, "elements sorted by key (stable)"),
        _spec("starts_with", (_STRING, _STRING), _starts_with, "whether the string starts so"),
        _spec("sum", (("array-number",),), _sum, "sum of the numbers; 0 when empty"),
        _spec("to_array", (_ANY,), _to_array, "the value wrapped in an array unless it is one"),
        _spec("to_number", (_ANY,), parse_number, "number from a number or numeric string"),
        _spec("to_string", (_ANY,), _to_string, "the string, or the value as compact JSON"),
        _spec("type", (_ANY,), _type, "JMESPath type name of the value"),
        _spec("values", (_OBJECT,), _values, "the object's values, in order"),
    ]
)
