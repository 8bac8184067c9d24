"""The building blocks every compiled check is made of.

A *check* is a closure ``check(instance) -> truthy``: a truthy result means "valid"
(it may be a ``re.Match`` rather than ``True``; only ``CompiledSchema.is_valid`` turns
it into a ``bool``). Checks never mutate the instance and keep no state between calls,
so a compiled schema is safe to share between threads.

A check raises :class:`ForeignValue` when the answer would depend on how jsonschema
treats a Python type that JSON does not have (a ``Decimal``, a ``tuple`` compared
with an enum array, ...); ``CompiledSchema.is_valid`` then asks jsonschema itself, so
such values are slow but never answered differently.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

__all__ = [
    "JSON_TYPES",
    "OTHER",
    "Check",
    "Compile",
    "ForeignValue",
    "accept",
    "all_of",
    "any_of",
    "classify",
    "one_of",
    "reject",
    "require_foreign",
    "size_checks",
]

Check = Callable[[Any], object]
"""A compiled (sub)schema: truthy result = the instance is valid."""

Compile = Callable[[Any], Check]
"""Turns a subschema into its check (the compiler's memoising ``compile``)."""

NoneType = type(None)
JSON_TYPES: tuple[type, ...] = (dict, list, str, int, float, bool, NoneType)
"""The exact Python types ``json.loads`` produces; dispatch tables are keyed by them."""

OTHER: type = object
"""Dispatch-table key for a value of none of the JSON types (a ``datetime``, a ``tuple``)."""


class ForeignValue(Exception):
    """The instance holds a non-JSON value whose answer only jsonschema can give."""


def accept(instance: Any) -> bool:
    """The check of ``true`` and ``{}``: every instance is valid."""
    return True


def reject(instance: Any) -> bool:
    """The check of ``false``: no instance is valid."""
    return False


def require_foreign(instance: Any) -> NoReturn:
    """Hand the decision to jsonschema (used for non-JSON values under enum/const)."""
    raise ForeignValue


def classify(instance: Any) -> type:
    """The dispatch key for a value whose exact type is not one of :data:`JSON_TYPES`.

    Subclasses of ``dict``, ``list``, ``str``, ``int`` and ``float`` behave like their
    base (jsonschema tests types with ``isinstance``); other numbers (``Decimal``,
    ``Fraction``) raise :class:`ForeignValue`; anything else is :data:`OTHER`, which
    no ``type`` accepts and no type-specific keyword looks at.
    """
    for base in (dict, list, str, int, float):
        if isinstance(instance, base):
            return base
    if isinstance(instance, numbers.Number):
        raise ForeignValue
    return OTHER


def all_of(checks: Sequence[Check]) -> Check:
    """A check that holds when every check holds; stops at the first that fails.

    ``accept`` entries are dropped and any ``reject`` makes the result ``reject``, so
    trivial subschemas cost nothing at run time.
    """
    live = [c for c in checks if c is not accept]
    if any(c is reject for c in live):
        return reject
    if not live:
        return accept
    if len(live) == 1:
        return live[0]
    if len(live) == 2:
        first, second = live

        def both(instance: Any) -> object:
            return first(instance) and second(instance)

        return both
    if len(live) == 3:
        first, second, third = live

        def all_three(instance: Any) -> object:
            return first(instance) and second(instance) and third(instance)

        return all_three
    frozen = tuple(live)

    def every(instance: Any) -> bool:
        for check in frozen:
            if not check(instance):
                return False
        return True

    return every


def any_of(checks: Sequence[Check]) -> Check:
    """A check that holds when at least one check holds; stops at the first that does."""
    if any(c is accept for c in checks):
        return accept
    live = [c for c in checks if c is not reject]
    if not live:
        return reject
    if len(live) == 1:
        return live[0]
    if len(live) == 2:
        first, second = live

        def either(instance: Any) -> object:
            return first(instance) or second(instance)

        return either
    frozen = tuple(live)

    def some(instance: Any) -> bool:
        for check in frozen:
            if check(instance):
                return True
        return False

    return some


def one_of(checks: Sequence[Check]) -> Check:
    """A check that holds when exactly one check holds; stops at the second that does."""
    live = tuple(c for c in checks if c is not reject)
    if not live:
        return reject
    if len(live) == 1:
        return live[0]

    def exactly_one(instance: Any) -> bool:
        found = False
        for check in live:
            if check(instance):
                if found:
                    return False
                found = True
        return found

    return exactly_one


def size_checks(least: int | None, most: int | None) -> list[Check]:
    """``len(instance)`` bounds: ``minLength``/``maxLength`` and their kin (``None``:
    no bound)."""
    if least is not None and most is not None:

        def between(instance: Any) -> bool:
            return least <= len(instance) <= most

        return [between]
    if least is not None:

        def long_enough(instance: Any) -> bool:
            return len(instance) >= least

        return [long_enough]
    if most is not None:

        def short_enough(instance: Any) -> bool:
            return len(instance) <= most

        return [short_enough]
    return []
