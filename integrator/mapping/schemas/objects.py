"""Checks for the object keywords of one schema: ``properties``, ``required``,
``additionalProperties``, ``patternProperties``, ``propertyNames``,
``minProperties``/``maxProperties``, ``dependentRequired``, ``dependentSchemas``.

The keys are walked once where possible: with ``additionalProperties`` or
``patternProperties`` one loop over the instance's items settles all three keywords
(and, for ``additionalProperties: false``, ``required`` too); otherwise one loop over the
declared keys checks the present ones and the required ones' presence together.
Additional properties are the keys that are not declared and do not match the
``patternProperties`` regexes joined with ``|``, as jsonschema finds them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from integrator.mapping.schemas.primitives import (
    Check,
    Compile,
    accept,
    reject,
    size_checks,
)

__all__ = ["InvalidPatternUnion", "object_checks"]


class InvalidPatternUnion(Exception):
    """The ``patternProperties`` regexes do not compile when joined with ``|``."""


def object_checks(schema: dict[str, Any], compile: Compile) -> list[Check]:
    """Checks for ``properties``, ``required``, ``additionalProperties``,
    ``patternProperties``, ``propertyNames``, ``min/maxProperties``,
    ``dependentRequired`` and ``dependentSchemas`` on a ``dict`` instance.

    Raises :class:`InvalidPatternUnion` when jsonschema itself would fail on the joined
    ``patternProperties`` regexes.
    """
    checks: list[Check] = []
    checks.extend(size_checks(schema.get("minProperties"), schema.get("maxProperties")))
    properties = {k: compile(s) for k, s in schema.get("properties", {}).items()}
    patterns: list[tuple[Callable[[str], object], Check]] = [
        (re.compile(p).search, compile(s)) for p, s in schema.get("patternProperties", {}).items()]
    additional = schema.get("additionalProperties")
    extra = None if additional is None else compile(additional)
    if extra is accept:
        extra = None
    required: list[str] = list(dict.fromkeys(schema.get("required", ())))
    if extra is None and not patterns:
        checks.extend(_declared_checks(properties, required))
    elif extra is reject and not patterns:
        checks.append(_closed_check(properties, required))
    else:
        if required:
            checks.append(_has_keys(required))
        union = "|".join(schema.get("patternProperties", {}))
        try:
            matches_any = re.compile(union).search if union else None
        except re.error as exc:
            raise InvalidPatternUnion(str(exc)) from None
        checks.append(_every_key_check(properties, patterns, extra, matches_any))
    names = schema.get("propertyNames")
    if names is not None:
        checks.append(_names_check(compile(names)))
    dependent = schema.get("dependentRequired", {})
    if dependent:
        checks.append(_dependent_required(dependent))
    dependent_schemas = [(k, compile(s)) for k, s in schema.get("dependentSchemas", {}).items()]
    checks.extend(_dependent_schema(k, s) for k, s in dependent_schemas if s is not accept)
    return checks


def _has_keys(keys: list[str]) -> Check:
    if len(keys) == 1:
        (key,) = keys

        def has_key(instance: dict[str, Any]) -> bool:
            return key in instance

        return has_key
    needed = frozenset(keys)

    def has_keys(instance: dict[str, Any]) -> bool:
        return instance.keys() >= needed

    return has_keys


def _declared_checks(properties: dict[str, Check], required: list[str]) -> list[Check]:
    """``properties`` and ``required`` when no other keyword looks at the keys: one
    loop over the declared keys, checking required ones for presence on the way."""
    live = {k: c for k, c in properties.items() if c is not accept}
    checks: list[Check] = []
    bare = [k for k in required if k not in live]
    if bare:
        checks.append(_has_keys(bare))
    present = tuple((k, c) for k, c in live.items() if k in required)
    optional = tuple((k, c) for k, c in live.items() if k not in required)
    if len(present) == 1:
        ((key, check),) = present

        def present_valid(instance: dict[str, Any]) -> object:
            return key in instance and check(instance[key])

        checks.append(present_valid)
    elif present:

        def all_present_valid(instance: dict[str, Any]) -> bool:
            for key, check in present:
                if key not in instance or not check(instance[key]):
                    return False
            return True

        checks.append(all_present_valid)
    if len(optional) == 1:
        ((opt_key, opt_check),) = optional

        def optional_valid(instance: dict[str, Any]) -> object:
            return opt_key not in instance or opt_check(instance[opt_key])

        checks.append(optional_valid)
    elif optional:

        def all_optional_valid(instance: dict[str, Any]) -> bool:
            for key, check in optional:
                if key in instance and not check(instance[key]):
                    return False
            return True

        checks.append(all_optional_valid)
    return checks


def _closed_check(properties: dict[str, Check], required: list[str]) -> Check:
    """``properties`` with ``additionalProperties: false`` and ``required``: one loop
    over the instance's keys. Once every key is known to be declared, the required
    keys are all present exactly when ``len(instance)`` minus the optional keys
    present equals their number (a required key that is not declared can then never
    be present, and the count comes out short)."""
    declared = properties.get
    optional = tuple(k for k in properties if k not in required)
    wanted = len(required)
    needed = frozenset(required)

    def closed(instance: dict[str, Any]) -> bool:
        for key, value in instance.items():
            check = declared(key)
            if check is None or not check(value):
                return False
        if not wanted:
            return True
        if len(optional) > wanted:
            return instance.keys() >= needed
        present = len(instance)
        for key in optional:
            if key in instance:
                present -= 1
        return present == wanted

    return closed


def _every_key_check(
    properties: dict[str, Check],
    patterns: list[tuple[Callable[[str], object], Check]],
    extra: Check | None,
    matches_any: Callable[[str], object] | None,
) -> Check:
    """One loop over the instance's keys for ``properties``, ``patternProperties`` and
    ``additionalProperties`` (``extra``; ``None`` when absent or ``true``)."""
    declared = properties.get
    if not patterns and extra is not None:
        additional = extra

        def declared_or_additional(instance: dict[str, Any]) -> bool:
            for key, value in instance.items():
                check = declared(key)
                if not (additional if check is None else check)(value):
                    return False
            return True

        return declared_or_additional
    frozen = tuple(patterns)

    def with_patterns(instance: dict[str, Any]) -> bool:
        for key, value in instance.items():
            check = declared(key)
            if check is not None and not check(value):
                return False
            for search, pattern_check in frozen:
                if search(key) and not pattern_check(value):
                    return False
            if (check is None and extra is not None
                    and not (matches_any is not None and matches_any(key))
                    and not extra(value)):
                return False
        return True

    return with_patterns


def _names_check(names: Check) -> Check:
    def all_names_valid(instance: dict[str, Any]) -> bool:
        for key in instance:
            if not names(key):
                return False
        return True

    return all_names_valid


def _dependent_required(dependent: dict[str, list[str]]) -> Check:
    rules = tuple((k, frozenset(v)) for k, v in dependent.items() if v)

    def dependencies_present(instance: dict[str, Any]) -> bool:
        for key, needed in rules:
            if key in instance and not instance.keys() >= needed:
                return False
        return True

    return dependencies_present


def _dependent_schema(key: str, check: Check) -> Check:
    def dependent_valid(instance: dict[str, Any]) -> object:
        return key not in instance or check(instance)

    return dependent_valid
