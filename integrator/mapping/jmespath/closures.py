"""The closures a compiled expression is made of, and the builders that specialise them.

Each builder takes what is known at compile time (keys, constants, child closures) and
returns one ``evaluate(value) -> result`` closure. The closures hold only immutable
state, so a compiled expression is safe to share between threads. The compiler
(:mod:`.compiler`) decides which builder a node gets; this module only builds.

Conventions every closure keeps: a lookup on anything that is not an object is
``None``; ``type(x) is dict`` / ``is list`` is tested before the general
``isinstance`` (the fast path for plain JSON); no closure raises anything but
:class:`~integrator.errors.ExpressionError`, for data that is plain JSON.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from jmespath import exceptions as jmespath_errors
from jmespath.visitor import TreeInterpreter

from integrator.errors import ExpressionError
from integrator.mapping.jmespath.parsing import Node
from integrator.mapping.jmespath.signatures import FunctionSpec, Predicate, argument_error
from integrator.mapping.jmespath.values import copy_value, is_number, json_equal

__all__ = [
    "ORDERING",
    "Evaluate",
    "call_function",
    "chain",
    "compare_field",
    "compare_to_literal",
    "compose",
    "constant_of",
    "element_at",
    "identity",
    "interpreted",
    "project_field",
    "select_fields",
    "walk",
]

Evaluate = Callable[[Any], Any]
"""A compiled (sub)expression: the current value in, the result out."""

ORDERING: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def identity(value: Any) -> Any:
    """``@``: the current value itself."""
    return value


def walk(value: Any, keys: tuple[str, ...]) -> Any:
    """Field lookups in order; ``None`` as soon as a step is not an object."""
    for key in keys:
        if type(value) is dict or isinstance(value, dict):
            value = value.get(key)
        else:
            return None
    return value


def chain(keys: tuple[str, ...]) -> Evaluate:
    """One closure for ``a.b.c``: dict lookups guarded by ``type(x) is dict``."""
    if len(keys) == 1:
        (key,) = keys

        def field(value: Any) -> Any:
            if type(value) is dict:
                return value.get(key)
            return walk(value, keys)

        return field
    if len(keys) == 2:
        first, second = keys
        rest = keys[1:]

        def field2(value: Any) -> Any:
            if type(value) is dict:
                value = value.get(first)
                if type(value) is dict:
                    return value.get(second)
                return walk(value, rest)
            return walk(value, keys)

        return field2
    if len(keys) == 3:
        first, second, third = keys
        after_first, after_second = keys[1:], keys[2:]

        def field3(value: Any) -> Any:
            if type(value) is not dict:
                return walk(value, keys)
            value = value.get(first)
            if type(value) is not dict:
                return walk(value, after_first)
            value = value.get(second)
            if type(value) is not dict:
                return walk(value, after_second)
            return value.get(third)

        return field3

    def fields(value: Any) -> Any:
        for key in keys:
            if type(value) is dict or isinstance(value, dict):
                value = value.get(key)
            else:
                return None
        return value

    return fields


def compose(stages: list[Evaluate]) -> Evaluate:
    """Apply ``stages`` left to right (the sequential nodes: ``.``, ``[n]``, ``|``)."""
    if not stages:
        return identity
    if len(stages) == 1:
        return stages[0]
    if len(stages) == 2:
        first, second = stages
        return lambda value: second(first(value))
    if len(stages) == 3:
        first, second, third = stages
        return lambda value: third(second(first(value)))
    frozen = tuple(stages)

    def sequence(value: Any) -> Any:
        for stage in frozen:
            value = stage(value)
        return value

    return sequence


def constant_of(value: Any) -> Evaluate:
    """A constant; lists and objects are copied per evaluation so results never alias."""
    if isinstance(value, (list, dict)):
        return lambda _value: copy_value(value)
    return lambda _value: value


def element_at(position: int) -> Evaluate:
    """``[n]``: the element of a list (negative counts from the end), else ``None``."""
    if position >= 0:

        def index_at(value: Any) -> Any:
            if isinstance(value, list) and position < len(value):
                return value[position]
            return None

        return index_at
    reach = -position

    def index_from_end(value: Any) -> Any:
        if isinstance(value, list) and reach <= len(value):
            return value[position]
        return None

    return index_from_end


def project_field(base: Evaluate, keys: tuple[str, ...]) -> Evaluate:
    """``base[*].key``: the lookup inlined in the loop (no closure call per element)."""
    (key,) = keys

    def project_field(value: Any) -> Any:
        items = base(value)
        if not (type(items) is list or isinstance(items, list)):
            return None
        collected = []
        for item in items:
            result = item.get(key) if type(item) is dict else walk(item, keys)
            if result is not None:
                collected.append(result)
        return collected

    return project_field


def select_fields(pairs: tuple[tuple[str, str], ...]) -> Evaluate:
    """``{out: field, ...}`` where every value is one field: lookups without closures."""

    def select_from_other(value: Any) -> Any:
        # Not a plain dict: null stays null; a dict subclass is read, anything else
        # gives null fields.
        if value is None:
            return None
        return {name: walk(value, (key,)) for name, key in pairs}

    if len(pairs) == 1:
        ((name, key),) = pairs
        return lambda value: (
            {name: value.get(key)} if type(value) is dict else select_from_other(value)
        )
    if len(pairs) == 2:
        (name1, key1), (name2, key2) = pairs

        def select_two(value: Any) -> Any:
            if type(value) is dict:
                return {name1: value.get(key1), name2: value.get(key2)}
            return select_from_other(value)

        return select_two
    if len(pairs) == 3:
        (name1, key1), (name2, key2), (name3, key3) = pairs

        def select_three(value: Any) -> Any:
            if type(value) is dict:
                return {name1: value.get(key1), name2: value.get(key2), name3: value.get(key3)}
            return select_from_other(value)

        return select_three

    def select_fields(value: Any) -> Any:
        if type(value) is not dict:
            return select_from_other(value)
        selected = {}
        get = value.get
        for name, key in pairs:
            selected[name] = get(key)
        return selected

    return select_fields


def interpreted(node: Node) -> Evaluate:
    """Evaluate ``node`` with the library's TreeInterpreter, translating its errors.

    Only used for node types the compiler does not recognise (future syntax).
    """

    def interpret(value: Any) -> Any:
        try:
            return TreeInterpreter().visit(cast(Any, node), value)
        except jmespath_errors.JMESPathTypeError as exc:
            raise ExpressionError(str(exc), kind="invalid-type") from exc
        except jmespath_errors.UnknownFunctionError as exc:
            raise ExpressionError(str(exc), kind="unknown-function") from exc
        except jmespath_errors.ArityError as exc:
            raise ExpressionError(str(exc), kind="invalid-arity") from exc
        except jmespath_errors.JMESPathError as exc:
            raise ExpressionError(str(exc), kind="invalid-value") from exc

    return interpret


def compare_to_literal(op: str, get: Evaluate, constant: Any) -> Evaluate:
    """``get(value) <op> constant`` with the test chosen by the constant's type.

    None of these allocate: equality against a scalar is one ``is`` or ``==``, ordering
    checks the operand's type first (only numbers with numbers and strings with strings
    are ordered; anything else is ``null``).
    """
    if op in {"eq", "ne"}:
        equal = _equal_to(get, constant)
        if op == "eq":
            return equal
        return lambda value: not equal(value)
    order = ORDERING[op]
    if is_number(constant):

        def compare_number(value: Any) -> bool | None:
            found = get(value)
            if type(found) is int or type(found) is float or is_number(found):
                return order(found, constant)
            return None

        return compare_number
    if isinstance(constant, str):

        def compare_string(value: Any) -> bool | None:
            found = get(value)
            return order(found, constant) if isinstance(found, str) else None

        return compare_string

    def incomparable(value: Any) -> None:
        get(value)  # still evaluated: it may raise, and must, like everywhere else

    return incomparable


def compare_field(op: str, keys: tuple[str, ...], constant: Any) -> Evaluate | None:
    """``key <op> scalar`` with the dict lookup inlined: the usual route condition.

    Same results as :func:`compare_to_literal` on a field closure, one call fewer.
    ``None`` when the constant is a list or object (the generic path handles those).
    """
    (key,) = keys
    if op in {"eq", "ne"}:
        negate = op == "ne"
        if constant is None or isinstance(constant, bool):

            def is_same(value: Any) -> bool:
                found = value.get(key) if type(value) is dict else walk(value, keys)
                return (found is constant) is not negate

            return is_same
        if isinstance(constant, str):

            def equal_text(value: Any) -> bool:
                found = value.get(key) if type(value) is dict else walk(value, keys)
                return (found == constant) is not negate

            return equal_text
        if is_number(constant):

            def equal_number(value: Any) -> bool:
                found = value.get(key) if type(value) is dict else walk(value, keys)
                return (found == constant and type(found) is not bool) is not negate

            return equal_number
        return None
    order = ORDERING[op]
    if is_number(constant):

        def compare_number(value: Any) -> bool | None:
            found = value.get(key) if type(value) is dict else walk(value, keys)
            if type(found) is int or type(found) is float or is_number(found):
                return order(found, constant)
            return None

        return compare_number
    if isinstance(constant, str):

        def compare_text(value: Any) -> bool | None:
            found = value.get(key) if type(value) is dict else walk(value, keys)
            return order(found, constant) if isinstance(found, str) else None

        return compare_text
    return None


def _equal_to(get: Evaluate, constant: Any) -> Callable[[Any], bool]:
    if constant is None or isinstance(constant, bool):
        return lambda value: get(value) is constant
    if isinstance(constant, str):
        return lambda value: get(value) == constant
    if is_number(constant):

        def equal_number(value: Any) -> bool:
            found = get(value)
            # ``True == 1`` in Python; a boolean is never equal to a number here.
            return found == constant and type(found) is not bool

        return equal_number
    return lambda value: json_equal(get(value), constant)


def _accept(_value: Any) -> bool:
    return True


def call_function(
    spec: FunctionSpec, evaluators: list[Evaluate], checks: list[Predicate | None]
) -> Evaluate:
    """The closure for a call: evaluate every argument, check their types, apply."""
    implementation = spec.implementation
    if len(evaluators) == 1:
        (argument,) = evaluators
        (check,) = checks
        if check is None:
            return lambda value: implementation(argument(value))

        def call1(value: Any) -> Any:
            x = argument(value)
            if check(x):
                return implementation(x)
            raise argument_error(spec, 0, x)

        return call1
    if len(evaluators) == 2:
        first, second = evaluators
        if checks[0] is None and checks[1] is None:
            return lambda value: implementation(first(value), second(value))
        check_first = checks[0] or _accept
        check_second = checks[1] or _accept

        def call2(value: Any) -> Any:
            x = first(value)
            y = second(value)
            if check_first(x):
                if check_second(y):
                    return implementation(x, y)
                raise argument_error(spec, 1, y)
            raise argument_error(spec, 0, x)

        return call2
    arguments = tuple(evaluators)
    argument_checks = tuple(enumerate(checks))

    def call(value: Any) -> Any:
        values = [argument(value) for argument in arguments]
        for index, check in argument_checks:
            if check is not None and not check(values[index]):
                raise argument_error(spec, index, values[index])
        return implementation(*values)

    return call
