"""Checks for the array keywords of one schema: ``prefixItems``, ``items`` (2020-12:
the items after the prefix), ``minItems``/``maxItems``, ``uniqueItems`` (JSON equality)
and ``contains`` with ``minContains``/``maxContains``."""

from __future__ import annotations

from itertools import islice
from typing import Any

from integrator.mapping.schemas.equality import all_unique
from integrator.mapping.schemas.primitives import (
    Check,
    Compile,
    accept,
    reject,
    size_checks,
)

__all__ = ["array_checks"]


def array_checks(schema: dict[str, Any], compile: Compile) -> list[Check]:
    """Checks for ``prefixItems``, ``items``, ``min/maxItems``, ``uniqueItems`` and
    ``contains`` with ``minContains``/``maxContains`` on a ``list`` instance."""
    checks: list[Check] = []
    checks.extend(size_checks(schema.get("minItems"), schema.get("maxItems")))
    prefix = [compile(s) for s in schema.get("prefixItems", ())]
    if any(c is not accept for c in prefix):
        checks.append(_prefix_check(prefix))
    if "items" in schema:
        checks.extend(_rest_checks(len(prefix), compile(schema["items"])))
    if schema.get("uniqueItems") is True:
        checks.append(all_unique)
    if "contains" in schema:
        checks.append(_contains_check(compile(schema["contains"]), schema.get("minContains", 1),
                                      schema.get("maxContains")))
    return checks


def _prefix_check(prefix: list[Check]) -> Check:
    positions = tuple((i, c) for i, c in enumerate(prefix) if c is not accept)

    def prefix_valid(instance: list[Any]) -> bool:
        size = len(instance)
        for index, check in positions:
            if index >= size:
                return True
            if not check(instance[index]):
                return False
        return True

    return prefix_valid


def _rest_checks(start: int, check: Check) -> list[Check]:
    """``items``: every element from index ``start`` (after ``prefixItems``) is valid."""
    if check is accept:
        return []
    if check is reject:

        def no_more(instance: list[Any]) -> bool:
            return len(instance) <= start

        return [no_more]
    if start == 0:

        def every_item(instance: list[Any]) -> bool:
            for item in instance:
                if not check(item):
                    return False
            return True

        return [every_item]

    def every_later_item(instance: list[Any]) -> bool:
        for item in islice(instance, start, None):
            if not check(item):
                return False
        return True

    return [every_later_item]


def _contains_check(check: Check, least: int, most: int | None) -> Check:
    if most is None:
        if least <= 0:
            return accept

        def enough(instance: list[Any]) -> bool:
            found = 0
            for item in instance:
                if check(item):
                    found += 1
                    if found >= least:
                        return True
            return False

        return enough

    def within_bounds(instance: list[Any]) -> bool:
        found = 0
        for item in instance:
            if check(item):
                found += 1
                if found > most:
                    return False
        return found >= least

    return within_bounds
