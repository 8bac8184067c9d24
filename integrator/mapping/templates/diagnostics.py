"""Error messages for templates: what went wrong, where, and how to fix it.

Render errors name the missing field by its path in the data (``'customer' has no
field 'vat'``, ``'order.lines[2]' has no field 'sku'``) and suggest close names; syntax
errors get a character position and a hint.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2.environment import Environment
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.utils import missing

from integrator.flow.suggest import did_you_mean
from integrator.mapping.templates.environment import MissingValueError
from integrator.mapping.templates.limits import LimitExceeded

__all__ = [
    "describe_render_error",
    "line_start",
    "output_too_long",
    "syntax_hint",
    "syntax_position",
]

_SEARCH_BUDGET = 100_000  # items looked at while searching the data for a path
_SHOWN_FIELDS = 12
_QUOTED = re.compile(r"'([^']+)'")
_UNKNOWN_NAME = re.compile(r"No (filter|test) named '([^']+)'")
_TAG_START = re.compile(r"\{[{%#]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def output_too_long(limit: int) -> str:
    """The message for a render that would exceed ``max_output``."""
    return f"output exceeds the limit of {limit} characters (max_output)"


# -- render errors ---------------------------------------------------------------------


def _step(path: str, key: Any) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def _children(container: Any) -> Iterable[tuple[Any, Any]]:
    if isinstance(container, Mapping):
        return container.items()
    return enumerate(container)


def find_path(target: Any, data: Mapping[str, Any]) -> str | None:
    """The shortest path from ``data`` to the object ``target`` is (identity), if any.

    Only dicts and lists are searched for: a string or number found by identity could
    be any field that happens to hold the same object.
    """
    if not isinstance(target, dict | list):
        return None
    queue: deque[tuple[str, Any]] = deque([("", data)])
    budget = _SEARCH_BUDGET
    while queue:
        path, container = queue.popleft()
        for key, value in _children(container):
            budget -= 1
            if budget < 0:
                return None
            child = _step(path, key)
            if value is target:
                return child
            if isinstance(value, dict | list | tuple) and value:
                queue.append((child, value))
    return None


def _listing(names: Iterable[Any]) -> str:
    shown = [str(n) for n in names]
    more = len(shown) - _SHOWN_FIELDS
    text = ", ".join(shown[:_SHOWN_FIELDS])
    return f"{text}, ... ({more} more)" if more > 0 else text or "none"


def _describe_missing(exc: MissingValueError, context: Mapping[str, Any]) -> tuple[str, str]:
    name, obj = exc.name, exc.obj
    optional = "if the value is optional, write `| default(...)` after it"
    if obj is missing:
        hint = f"the data has the fields: {_listing(context)}"
        suggestion = did_you_mean(str(name), (k for k in context if isinstance(k, str)))
        hint = f"{suggestion} {hint}" if suggestion else hint
        return f"{name!r} is undefined", f"{hint}; {optional}"
    path = find_path(obj, context)
    owner = repr(path) if path else f"a {type(obj).__name__} value"
    if isinstance(name, str):
        detail = f"{owner} has no field {name!r}"
    else:
        detail = f"{owner} has no item {name!r}"
    if isinstance(obj, Mapping):
        keys = [k for k in obj if isinstance(k, str)]
        hint = f"its fields are: {_listing(keys)}"
        suggestion = did_you_mean(str(name), keys) if isinstance(name, str) else None
        hint = f"{suggestion} {hint}" if suggestion else hint
    elif isinstance(obj, list):
        hint = f"it is a list of {len(obj)} items"
    else:
        hint = f"it is a {type(obj).__name__}, not an object with fields"
    return detail, f"{hint}; {optional}"


def describe_render_error(exc: BaseException, context: Mapping[str, Any]) -> tuple[str, str]:
    """``(message, hint)`` for an exception raised while rendering with ``context``."""
    cause: BaseException | None = exc
    while cause is not None:  # orjson wraps errors raised by ``default``
        if isinstance(cause, MissingValueError):
            return _describe_missing(cause, context)
        cause = cause.__cause__
    if isinstance(exc, LimitExceeded):
        return str(exc), "templates are limited so one message cannot exhaust the worker"
    if isinstance(exc, SecurityError):
        return (
            f"refused by the sandbox: {exc}",
            "templates cannot use private attributes or methods that change data",
        )
    if isinstance(exc, UndefinedError):
        return str(exc), "check the field names against the data"
    if isinstance(exc, RecursionError):
        return "recursion too deep", "a macro or recursive loop calls itself without end"
    return str(exc) or type(exc).__name__, "check the types of the values the template uses"


# -- syntax errors ---------------------------------------------------------------------


def line_start(source: str, lineno: int) -> int:
    """0-based offset where line ``lineno`` (1-based, as Jinja counts) starts."""
    offset = 0
    for _ in range(max(lineno - 1, 0)):
        match = _LINE_BREAK.search(source, offset)
        if match is None:
            break
        offset = match.end()
    return offset


def syntax_position(source: str, lineno: int | None, message: str) -> int | None:
    """Best guess at the offset of a syntax error Jinja reported on ``lineno``.

    Jinja reports lines only. Guess: the first token the message quotes that is found
    on the line after its first tag (``unexpected '}'``, ``No filter named 'uper'``);
    else that tag; else the line start.
    An "end of template" error points at the end of the source.
    """
    if lineno is None:
        return None
    if "end of template" in message:
        return len(source)
    start = line_start(source, lineno)
    match = _LINE_BREAK.search(source, start)
    end = match.start() if match else len(source)
    tag = _TAG_START.search(source, start, end)
    column_from = tag.start() if tag else start
    for token in _QUOTED.findall(message):
        found = source.find(token, column_from + 2 if tag else start, end)
        if found >= 0:
            return found
    return column_from


def syntax_hint(message: str, env: Environment) -> str:
    """A fix for a Jinja syntax or assertion error message."""
    unknown = _UNKNOWN_NAME.search(message)
    if unknown:
        kind, name = unknown.groups()
        known = env.filters if kind == "filter" else env.tests
        suggestion = did_you_mean(name, known)
        return suggestion or f"the {kind}s are: {_listing(sorted(known))}"
    if "end of template" in message:
        return "a block is not closed: every {% if %} / {% for %} needs its {% end... %}"
    return (
        "check that every {{ is closed by }} and every {% by %}; "
        "write literal braces inside {% raw %}...{% endraw %}"
    )
