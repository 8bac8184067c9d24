"""Closures for common schema shapes, cheaper than the general type dispatch.

:func:`dispatch` is the general form: one ``type(instance)`` look-up picks the checks
for that JSON type. :func:`shortcut` recognises shapes that need less
(``{"type": "string", ...}`` is ``isinstance(x, str) and check(x)``; a schema with
only object keywords ``not isinstance(x, dict) or check(x)``; an enum of strings a set
look-up), :func:`conditional` is ``if``/``then``/``else`` with its condition run once,
and :func:`switch` folds the ``allOf`` of ``if: {required: [k], properties: {k: {const:
"text"}}}, then: ...`` blocks that discriminate on one key into a ``dict`` look-up.
"""

from __future__ import annotations

from typing import Any

from integrator.mapping.schemas.primitives import (
    JSON_TYPES,
    Check,
    NoneType,
    accept,
    all_of,
    classify,
    reject,
)
from integrator.mapping.schemas.scalars import string_check

__all__ = ["ANNOTATIONS", "conditional", "dispatch", "shortcut", "string_case", "switch"]


ANNOTATIONS = frozenset({
    "title", "description", "$comment", "default", "examples", "deprecated", "readOnly",
    "writeOnly", "format",
})


def string_case(member: Any) -> tuple[str, str] | None:
    """``(k, text)`` when ``member`` is exactly ``{"if": {"required": [k], "properties":
    {k: {"const": text}}}, "then": ...}`` with a string ``text`` (annotations allowed)."""
    if not isinstance(member, dict) or "then" not in member or "if" not in member:
        return None
    if member.keys() - ANNOTATIONS != {"if", "then"}:
        return None
    condition = member["if"]
    if not isinstance(condition, dict):
        return None
    if condition.keys() - ANNOTATIONS != {"required", "properties"}:
        return None
    required, properties = condition["required"], condition["properties"]
    if len(required) != 1 or not isinstance(properties, dict) or len(properties) != 1:
        return None
    (key,) = required
    value = properties.get(key)
    if not isinstance(value, dict) or value.keys() - ANNOTATIONS != {"const"}:
        return None
    text = value["const"]
    return (key, text) if type(text) is str else None


def switch(key: str, cases: dict[str, Check], every: Check) -> Check:
    """One look-up for ``allOf`` members that are :func:`string_case` on ``key``.

    ``cases`` maps each text to the checks of its ``then`` blocks; a ``dict``
    instance runs the one its value selects (none when the value is not a string or
    not a case), any other instance satisfies every condition and runs ``every``."""
    lookup = cases.get

    def switch(instance: Any) -> object:
        if isinstance(instance, dict):
            value = instance.get(key)
            if not isinstance(value, str):
                return True
            then = lookup(value)
            return then is None or then(instance)
        return every(instance)

    return switch


def conditional(condition: Check, then: Check, otherwise: Check) -> Check:
    """``if``/``then``/``else``: the condition runs once."""
    if condition is accept or condition is reject:
        return then if condition is accept else otherwise
    if otherwise is accept:

        def if_then(instance: Any) -> object:
            return not condition(instance) or then(instance)

        return if_then
    if then is accept:

        def if_else(instance: Any) -> object:
            return condition(instance) or otherwise(instance)

        return if_else

    def if_then_else(instance: Any) -> object:
        return then(instance) if condition(instance) else otherwise(instance)

    return if_then_else


def shortcut(
    schema: dict[str, Any],
    kinds: dict[type, list[Check]],
    allowed: set[type] | None,
    integer_only: bool,
    values: dict[type, Check] | None,
    strings: frozenset[str] | None,
    generic: list[Check],
) -> Check | None:
    """A closure cheaper than the general dispatch for common shapes, or ``None``.

    Each shortcut gives the dispatch's answer for every instance, including subclasses
    of the JSON types and non-JSON values: it only uses ``isinstance`` tests for the
    types jsonschema itself tests with ``isinstance`` (object, array, string, boolean,
    null), never for numbers.
    """
    containers: tuple[type, ...] = (dict, list, str)
    checked = [t for t in containers if kinds[t]]
    numbers_checked = bool(kinds[int])
    if allowed is None and values is None and not numbers_checked:
        rest = all_of(generic)
        if not checked:
            return rest
        if len(checked) == 1:
            kind = checked[0]
            own = all_of([*kinds[kind], *generic])
            if rest is accept:

                def unless_kind(instance: Any) -> object:
                    return not isinstance(instance, kind) or own(instance)

                return unless_kind

            def by_kind(instance: Any) -> object:
                return own(instance) if isinstance(instance, kind) else rest(instance)

            return by_kind
        return None
    if (allowed is not None and values is None and not integer_only
            and allowed <= {dict, list, str, bool, NoneType}):
        accepted = tuple(sorted(allowed, key=JSON_TYPES.index))
        own_checks = {t: all_of([*kinds[t], *generic]) for t in accepted}
        if all(c is accept for c in own_checks.values()):

            def of_type(instance: Any) -> bool:
                return isinstance(instance, accepted)

            return of_type
        plain = tuple(t for t in accepted if own_checks[t] is accept)
        checked = [t for t in accepted if own_checks[t] is not accept]
        if len(checked) != 1:
            return None
        single = checked[0]
        own = own_checks[single]
        if not plain:
            if single is str and kinds[str] and own is kinds[str][0]:
                typed = string_check(schema, typed=True)
                if typed is not None:
                    return typed

            def of_kind_and(instance: Any) -> object:
                return isinstance(instance, single) and own(instance)

            return of_kind_and

        def plain_or_kind_and(instance: Any) -> object:
            return isinstance(instance, plain) or (isinstance(instance, single)
                                                   and own(instance))

        return plain_or_kind_and
    if (allowed is None and strings is not None and not generic and not checked
            and not numbers_checked):
        members = strings

        def in_strings(instance: Any) -> bool:
            try:
                return instance in members
            except TypeError:  # an unhashable list or dict never equals a string
                return False

        return in_strings
    return None


def dispatch(table: dict[type, Check]) -> Check:
    """The general closure: one look-up of ``type(instance)`` picks the checks."""
    lookup = table.get

    def by_type(instance: Any) -> object:
        check = lookup(type(instance))
        if check is None:
            check = table[classify(instance)]
        return check(instance)

    return by_type

