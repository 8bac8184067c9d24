"""JSON equality for ``enum``, ``const`` and ``uniqueItems``.

JSON equality is Python equality with two corrections: a boolean never equals a number
(``true != 1``, ``[false] != [0]``), and arrays and objects compare element by element
under the same rule. ``1 == 1.0`` stays true. :func:`canonical` maps a JSON value to a
hashable key such that two values are JSON-equal exactly when their keys are equal, so
membership and uniqueness become set operations.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from integrator.mapping.schemas.primitives import (
    JSON_TYPES,
    OTHER,
    Check,
    ForeignValue,
    NoneType,
    accept,
    reject,
    require_foreign,
)

__all__ = ["all_unique", "canonical", "value_checks"]

# Tags keep the keys of different JSON types apart: a canonical array never equals a
# canonical boolean or object, and neither equals a string, number or null (kept as is).
_BOOLEAN = "boolean"
_ARRAY = "array"
_OBJECT = "object"


def canonical(value: Any) -> Hashable:
    """The hashable key of a JSON value under JSON equality.

    Raises :class:`ForeignValue` for values that are not JSON (``tuple``, ``Decimal``,
    ``datetime``, ...): jsonschema's own equality decides those.
    """
    kind = type(value)
    if kind is str or kind is int or kind is float or value is None:
        scalar: Hashable = value
        return scalar
    if kind is bool:
        return (_BOOLEAN, value)
    if kind is list:
        return (_ARRAY, tuple(map(canonical, value)))
    if kind is dict:
        return (_OBJECT, frozenset([(k, canonical(v)) for k, v in value.items()]))
    if isinstance(value, (str, int, float)):  # subclasses: equal and hashed as their base
        return value
    if isinstance(value, list):
        return (_ARRAY, tuple(map(canonical, value)))
    if isinstance(value, dict):
        return (_OBJECT, frozenset([(k, canonical(v)) for k, v in value.items()]))
    raise ForeignValue


def all_unique(array: list[Any]) -> bool:
    """Whether no two items of ``array`` are JSON-equal (the ``uniqueItems`` test)."""
    return len(set(map(canonical, array))) == len(array)


def value_checks(members: Iterable[Any]) -> dict[type, Check]:
    """Per JSON type, the check "the instance equals one of ``members``".

    Keys are :data:`JSON_TYPES` plus :data:`OTHER`; the check for a type only ever
    receives instances of that type (or of a subclass). Strings and numbers use a
    ``frozenset`` lookup (``1.0`` finds ``1``; booleans are kept out of it, so ``true``
    never finds ``1``), booleans and null an identity test, arrays and objects a lookup
    of their :func:`canonical` key. A type with no member gets :func:`reject`.
    """
    strings: set[str] = set()
    numbers: set[int | float] = set()
    booleans: set[bool] = set()
    null = False
    composite: set[Hashable] = set()
    for member in members:
        kind = type(member)
        if kind is str:
            strings.add(member)
        elif kind is bool:
            booleans.add(member)
        elif kind is int or kind is float:
            numbers.add(member)
        elif member is None:
            null = True
        elif kind is list or kind is dict:
            composite.add(canonical(member))
        else:  # a schema built in Python with a non-JSON constant
            raise ForeignValue

    checks: dict[type, Check] = dict.fromkeys(JSON_TYPES, reject)
    checks[OTHER] = require_foreign
    if strings:
        checks[str] = frozenset(strings).__contains__
    if numbers:
        checks[int] = checks[float] = frozenset(numbers).__contains__
    if booleans == {True, False}:
        checks[bool] = accept
    elif booleans:
        (only,) = booleans
        checks[bool] = (lambda b: b is True) if only else (lambda b: b is False)
    if null:
        checks[NoneType] = accept
    if composite:
        keys = frozenset(composite)

        def composite_member(instance: Any) -> bool:
            return canonical(instance) in keys

        checks[list] = checks[dict] = composite_member
    return checks
