"""Extension functions for integration work, beyond the JMESPath specification.

They are type checked exactly like the built-ins (a wrong type is ``invalid-type``, a
bad value ``invalid-value``) and none of them shadows a specification function, so every
result of the official compliance suite is unchanged. The table is the source of the
list in the package docstring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from integrator.errors import ExpressionError
from integrator.mapping.jmespath.builtin_functions import parse_number
from integrator.mapping.jmespath.signatures import FunctionSpec, argument_error
from integrator.mapping.jmespath.values import describe, is_number

__all__ = ["EXTENSION_FUNCTIONS"]


def _lower(text: str) -> str:
    return text.lower()


def _upper(text: str) -> str:
    return text.upper()


def _trim(text: str) -> str:
    return text.strip()


def _replace(text: str, old: str, new: str) -> str:
    if not old:
        raise ExpressionError(
            "replace(): the text to replace (argument 2) is empty",
            kind="invalid-value",
            hint="pass the substring to look for, e.g. replace(phone, ' ', '')",
        )
    return text.replace(old, new)


def _split(text: str, separator: str) -> list[str]:
    if not separator:
        raise ExpressionError(
            "split(): the separator (argument 2) is empty",
            kind="invalid-value",
            hint="pass the separator to split on, e.g. split(tags, ',')",
        )
    return text.split(separator)


def _checked(name: str, result: Any) -> Any:
    """``result`` unless it is a float JSON cannot carry (infinity after overflow)."""
    if type(result) is float and not math.isfinite(result):
        raise _overflow(name, str(result))
    return result


def _overflow(name: str, detail: str) -> ExpressionError:
    return ExpressionError(
        f"{name}(): the result does not fit a JSON number ({detail})", kind="invalid-value"
    )


def _numbers(name: str, left: Any, right: Any) -> None:
    """Raise the invalid-type error for whichever argument is not a number."""
    spec = EXTENSION_FUNCTIONS[name]
    if not is_number(left):
        raise argument_error(spec, 0, left)
    raise argument_error(spec, 1, right)


def _add(left: Any, right: Any) -> Any:
    tl, tr = type(left), type(right)
    if (tl is int or tl is float) and (tr is int or tr is float):
        try:
            result = left + right
        except OverflowError as exc:  # int too large to convert to float
            raise _overflow("add", str(exc)) from exc
        if type(result) is float and not math.isfinite(result):
            raise _overflow("add", str(result))
        return result
    if is_number(left) and is_number(right):  # int/float subclasses
        return _add(float(left), float(right))
    _numbers("add", left, right)


def _subtract(left: Any, right: Any) -> Any:
    tl, tr = type(left), type(right)
    if (tl is int or tl is float) and (tr is int or tr is float):
        try:
            result = left - right
        except OverflowError as exc:
            raise _overflow("subtract", str(exc)) from exc
        if type(result) is float and not math.isfinite(result):
            raise _overflow("subtract", str(result))
        return result
    if is_number(left) and is_number(right):
        return _subtract(float(left), float(right))
    _numbers("subtract", left, right)


def _multiply(left: Any, right: Any) -> Any:
    tl, tr = type(left), type(right)
    if (tl is int or tl is float) and (tr is int or tr is float):
        try:
            result = left * right
        except OverflowError as exc:
            raise _overflow("multiply", str(exc)) from exc
        if type(result) is float and not math.isfinite(result):
            raise _overflow("multiply", str(result))
        return result
    if is_number(left) and is_number(right):
        return _multiply(float(left), float(right))
    _numbers("multiply", left, right)


def _divide(dividend: Any, divisor: Any) -> Any:
    if not (is_number(dividend) and is_number(divisor)):
        _numbers("divide", dividend, divisor)
    if divisor == 0:
        raise ExpressionError(
            f"divide(): division of {dividend} by zero",
            kind="invalid-value",
            hint="guard the divisor, e.g. divisor != `0` && divide(total, divisor)",
        )
    try:
        result = dividend / divisor
    except OverflowError as exc:
        raise _overflow("divide", str(exc)) from exc
    return _checked("divide", result)


def _round(number: Any, digits: Any) -> Any:
    if not (is_number(number) and is_number(digits)):
        _numbers("round", number, digits)
    if type(digits) is not int:
        if not float(digits).is_integer():
            raise ExpressionError(
                f"round(): digits (argument 2) must be a whole number, got "
                f"{describe(digits)}",
                kind="invalid-value",
            )
        digits = int(digits)
    try:
        result = round(float(number), digits)
    except OverflowError as exc:
        raise _overflow("round", str(exc)) from exc
    if not math.isfinite(result):
        raise _overflow("round", str(result))
    return result


def _coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def _to_integer(value: Any) -> int | None:
    number = parse_number(value)
    if number is None:
        return None
    return int(number)


_NUMBER = ("number",)
_STRING = ("string",)

EXTENSION_FUNCTIONS: Final[Mapping[str, FunctionSpec]] = {
    spec.name: spec
    for spec in (
        FunctionSpec("lower", (_STRING,), _lower, "the string in lower case"),
        FunctionSpec("upper", (_STRING,), _upper, "the string in upper case"),
        FunctionSpec("trim", (_STRING,), _trim, "the string without leading/trailing whitespace"),
        FunctionSpec(
            "replace",
            (_STRING, _STRING, _STRING),
            _replace,
            "every occurrence of old replaced by new (old must not be empty)",
        ),
        FunctionSpec(
            "split",
            (_STRING, _STRING),
            _split,
            "the string cut at every separator (separator must not be empty)",
        ),
        FunctionSpec("add", (_NUMBER, _NUMBER), _add, "a + b",
                     checks_types=True),
        FunctionSpec("subtract", (_NUMBER, _NUMBER), _subtract, "a - b",
                     checks_types=True),
        FunctionSpec("multiply", (_NUMBER, _NUMBER), _multiply, "a * b",
                     checks_types=True),
        FunctionSpec(
            "divide", (_NUMBER, _NUMBER), _divide, "a / b as a float; b == 0 is invalid-value",
            checks_types=True,
        ),
        FunctionSpec(
            "round",
            (_NUMBER, _NUMBER),
            _round,
            "n rounded to digits places (Python round on the float; digits whole)",
            checks_types=True,
        ),
        FunctionSpec(
            "coalesce",
            (("any",),),
            _coalesce,
            "first argument that is not null",
            variadic=True,
        ),
        FunctionSpec(
            "to_integer",
            (("any",),),
            _to_integer,
            "int from a number (truncated) or numeric string; null otherwise",
        ),
    )
}
