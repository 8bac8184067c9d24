"""Checks for the string and number keywords of one schema.

Strings: ``minLength``/``maxLength`` count code points (``len``), ``pattern`` is an
unanchored ``re.search``. Numbers: the comparisons are written the way jsonschema writes
them (``minimum`` fails when ``instance < minimum``), and ``multipleOf`` with a float
divisor tests whether the float quotient is integral, so ``0.3`` is not a multiple of
``0.1`` there either; an overflowing quotient is settled with exact fractions.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from integrator.mapping.schemas.primitives import Check, size_checks

__all__ = ["number_checks", "string_check", "string_checks"]


def string_checks(schema: dict[str, Any]) -> list[Check]:
    """Checks for ``minLength``/``maxLength`` (in code points) and ``pattern``
    (``re.search``, unanchored) on a ``str`` instance; at most one closure."""
    return [] if (check := string_check(schema, typed=False)) is None else [check]


def string_check(schema: dict[str, Any], *, typed: bool) -> Check | None:
    """One closure for the string keywords of ``schema`` (``None`` when it has none).

    With ``typed`` the closure also tests ``isinstance(instance, str)`` first and
    fails any other instance: it is then the whole check of ``{"type": "string",
    ...}``, one call instead of two.
    """
    least: int = schema.get("minLength", 0)
    most: int | None = schema.get("maxLength")
    search = re.compile(schema["pattern"]).search if "pattern" in schema else None
    if not least and most is None and search is None:
        return None
    if typed:
        if most is None and search is None:

            def string_long_enough(instance: Any) -> bool:
                return isinstance(instance, str) and len(instance) >= least

            return string_long_enough
        if not least and most is None:
            assert search is not None
            matches = search

            def string_matching(instance: Any) -> object:
                return isinstance(instance, str) and matches(instance)

            return string_matching
        bound = most if most is not None else float("inf")

        def string_valid(instance: Any) -> object:
            return (isinstance(instance, str) and least <= len(instance) <= bound
                    and (search is None or search(instance)))

        return string_valid
    if search is None:
        return size_checks(least or None, most)[0]
    if not least and most is None:
        return search
    upper = most if most is not None else float("inf")

    def length_and_pattern(instance: str) -> object:
        return least <= len(instance) <= upper and search(instance)

    return length_and_pattern


def number_checks(schema: dict[str, Any]) -> list[Check]:
    """Checks for ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``
    and ``multipleOf`` on an ``int`` or ``float`` instance (never a ``bool``)."""
    checks: list[Check] = []
    if "minimum" in schema:
        low = schema["minimum"]

        def at_least(instance: float) -> bool:
            return not instance < low

        checks.append(at_least)
    if "maximum" in schema:
        high = schema["maximum"]

        def at_most(instance: float) -> bool:
            return not instance > high

        checks.append(at_most)
    if "exclusiveMinimum" in schema:
        floor = schema["exclusiveMinimum"]

        def above(instance: float) -> bool:
            return not instance <= floor

        checks.append(above)
    if "exclusiveMaximum" in schema:
        ceiling = schema["exclusiveMaximum"]

        def below(instance: float) -> bool:
            return not instance >= ceiling

        checks.append(below)
    if "multipleOf" in schema:
        checks.append(_multiple_of(schema["multipleOf"]))
    return checks


def _multiple_of(divisor: float) -> Check:
    if isinstance(divisor, float):

        def float_multiple(instance: float) -> bool:
            try:
                quotient = instance / divisor
                return int(quotient) == quotient
            except OverflowError:  # a huge instance: exact arithmetic, as jsonschema does
                return (Fraction(instance) / Fraction(divisor)).denominator == 1

        return float_multiple

    def int_multiple(instance: float) -> bool:
        return not instance % divisor

    return int_multiple
