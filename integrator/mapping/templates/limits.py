"""Resource guards for sandboxed templates: output size, loop iterations, amplifiers.

Jinja's sandbox stops a template from reaching Python internals; it does not stop one
from asking for a gigabyte. These guards refuse the cheap ways to do that:

===========================  =====================================================
``range(n)``                 refused above ``MAX_RANGE`` (100 000) items
``{% for %}`` / ``loop()``   all loops of one render share ``MAX_LOOP_ITERATIONS``
``*`` ``**`` ``%``           checked *before* computing (``'x' * 10**9``,
                             ``10 ** 10 ** 10``, ``'%999999999s' % x``)
``+`` ``~`` calls, filters   results longer than the output limit are refused
str ``ljust`` ``center`` …   width / size estimated before the call
``center`` ``indent`` …      the amplifying built-in filters are wrapped the same way
===========================  =====================================================

The limit for one value is the template's ``max_output`` (what the template could ever
emit), so a value is at most twice that before it is refused. Every guard raises
:class:`LimitExceeded`, which :meth:`Template.render` turns into ``TemplateError``.

This is a guard against accidents and cheap tricks, not a memory limit: a template can
still build large values from large data. Run untrusted flows under a process limit.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from functools import wraps
from typing import Any, TypeVar

from jinja2 import filters as jinja_filters
from jinja2.nodes import EvalContext
from jinja2.utils import pass_environment, pass_eval_context

__all__ = [
    "MAX_LOOP_ITERATIONS",
    "MAX_OUTPUT",
    "MAX_RANGE",
    "LimitExceeded",
    "RenderLimits",
    "check_binop",
    "check_call",
    "check_format_method",
    "check_size",
    "guarded_filters",
    "guarded_range",
    "loop_guard",
    "render_limits",
]

T = TypeVar("T")

#: Default cap on the characters one render may produce.
MAX_OUTPUT = 1_000_000
#: Iterations all ``{% for %}`` loops of one render may run together.
MAX_LOOP_ITERATIONS = 100_000
#: Largest ``range()`` a template may build.
MAX_RANGE = 100_000

_SIZED = (str, list, tuple)


class LimitExceeded(Exception):
    """A template asked for more than a render may use; ``render`` reports it."""


class RenderLimits:
    """The budget of one render. Mutable on purpose: loops spend ``loop_budget``."""

    __slots__ = ("loop_budget", "loop_limit", "max_size")

    def __init__(self, max_size: int = MAX_OUTPUT, loop_limit: int = MAX_LOOP_ITERATIONS) -> None:
        self.max_size = max_size
        self.loop_limit = loop_limit
        self.loop_budget = loop_limit


_CURRENT: ContextVar[RenderLimits | None] = ContextVar("integrator_template_limits", default=None)


def render_limits() -> ContextVar[RenderLimits | None]:
    """The context variable ``Template.render`` sets for the duration of a slow render."""
    return _CURRENT


def _limits() -> RenderLimits:
    # Outside Template.render (someone rendering the Jinja template directly) every
    # guard gets a fresh default budget, so the limits still hold per loop.
    current = _CURRENT.get()
    return current if current is not None else RenderLimits()


def _too_big(what: str, size: int, limit: int) -> LimitExceeded:
    return LimitExceeded(f"{what} would be {size} long, over the limit of {limit}")


def check_size(value: T) -> T:
    """Return ``value`` unchanged, or raise when it is a string/list over the limit."""
    if isinstance(value, _SIZED):
        limit = _limits().max_size
        if len(value) > limit:
            raise _too_big(f"a {type(value).__name__} value", len(value), limit)
    return value


def guarded_range(*args: int) -> range:
    """``range()`` for templates: at most ``MAX_RANGE`` items."""
    rng = range(*args)
    try:
        size = len(rng)
    except OverflowError:
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        raise LimitExceeded(f"range() of {size} items is over the limit of {MAX_RANGE}")
    return rng


def _spend(limits: RenderLimits, iterations: int) -> None:
    limits.loop_budget -= iterations
    if limits.loop_budget < 0:
        raise LimitExceeded(f"loops ran more than {limits.loop_limit} iterations in one render")


def _counted(iterable: Iterable[T], limits: RenderLimits) -> Iterator[T]:
    for item in iterable:
        _spend(limits, 1)
        yield item


def loop_guard(iterable: Iterable[T]) -> Iterable[T]:
    """Spend the render's loop budget on ``iterable``; return what to iterate instead.

    A sized iterable (list, dict, range, str) is paid for up front and returned as is
    (a loop always runs to its end: there is no ``{% break %}``); anything else is
    wrapped so that each item is paid for as it comes. The compiler wraps every
    ``{% for %}`` iterable in this; recursive ``loop(...)`` calls are wrapped by the
    environment's ``call``.
    """
    limits = _limits()
    try:
        size = len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return _counted(iterable, limits)
    _spend(limits, size)
    return iterable


# printf-style conversion: flags, width, precision (``%-10.3f``, ``%*s``, ``%(name)5d``)
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
# str.format replacement field with a spec: ``{0:>10}``, ``{:,.2f}``
_FORMAT_SPEC = re.compile(r"\{[^{}:]*:([^{}]*)\}")
_NESTED_FIELD = re.compile(r"\{[^{}]*\{")
_DIGITS = re.compile(r"\d+")


def _number_over(digits: str, limit: int) -> bool:
    return len(digits) > len(str(limit)) or int(digits) > limit


def _args_over(args: Iterable[Any], limit: int) -> bool:
    return any(isinstance(a, int) and not isinstance(a, bool) and a > limit for a in args)


def _check_printf(fmt: str, values: Any, limit: int) -> None:
    star = False
    for match in _PRINTF.finditer(fmt):
        for group in match.groups():
            if group == "*":
                star = True
            elif group and _number_over(group, limit):
                raise LimitExceeded(f"format width {group} is over the limit of {limit}")
    if star:
        items = values if isinstance(values, tuple) else (values,)
        if _args_over(items, limit):
            raise LimitExceeded(f"a format width is over the limit of {limit}")


def check_format_method(fmt: str, args: Iterable[Any], kwargs: Mapping[str, Any]) -> None:
    """Refuse ``str.format`` calls whose field widths exceed the size limit."""
    limit = _limits().max_size
    for spec in _FORMAT_SPEC.findall(fmt):
        for digits in _DIGITS.findall(spec):
            if _number_over(digits, limit):
                raise LimitExceeded(f"format width {digits} is over the limit of {limit}")
    if _NESTED_FIELD.search(fmt) and _args_over([*args, *kwargs.values()], limit):
        raise LimitExceeded(f"a format width is over the limit of {limit}")


def _check_repeat(left: Any, right: Any, limit: int) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, _SIZED) and isinstance(times, int) and times > 0:
            size = len(seq) * times
            if size > limit:
                raise _too_big("a repeated value", size, limit)


def _check_power(left: Any, right: Any, limit: int) -> None:
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and right > 0
        and abs(left) > 1
        # decimal digits of the result: right * log10(|left|) ~ right * bits * 0.301
        and right * abs(left).bit_length() * 0.302 > limit
    ):
        raise LimitExceeded(f"{left} ** {right} has more digits than the limit of {limit}")


def check_binop(operator: str, left: Any, right: Any, compute: Callable[[Any, Any], Any]) -> Any:
    """Compute an intercepted binary operator (``+ * ** %``) within the size limit."""
    limit = _limits().max_size
    if operator == "*":
        _check_repeat(left, right, limit)
    elif operator == "**":
        _check_power(left, right, limit)
    elif operator == "%" and isinstance(left, str):
        _check_printf(left, right, limit)
    return check_size(compute(left, right))


def _replace_size(s: str, old: str, new: str, count: int | None) -> int:
    hits = len(s) + 1 if old == "" else s.count(old)
    if count is not None and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * (len(new) - len(old))


def _check(size: int, what: str) -> None:
    limit = _limits().max_size
    if size > limit:
        raise _too_big(what, size, limit)


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, key: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(key)


def check_call(func: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """Estimate the result of an amplifying ``str`` method before it runs.

    Returns the (possibly materialised) positional arguments to call with.
    """
    if not isinstance(func, types.BuiltinMethodType) or not isinstance(func.__self__, str):
        return args
    s: str = func.__self__
    name = func.__name__
    if name in ("ljust", "rjust", "center", "zfill"):
        width = _arg(args, kwargs, 0, "width")
        if isinstance(width, int):
            _check(width, f"str.{name}()")
    elif name == "expandtabs":
        tabsize = _arg(args, kwargs, 0, "tabsize")
        size = len(s) + s.count("\t") * (tabsize if isinstance(tabsize, int) else 8)
        _check(size, "str.expandtabs()")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        count = _arg(args, kwargs, 2, "count")
        new = args[1]
        if isinstance(new, str):
            _check(
                _replace_size(s, args[0], new, count if isinstance(count, int) else None),
                "str.replace()",
            )
    elif name == "join" and args:
        items = list(args[0])
        _check(len(s) * max(len(items) - 1, 0), "str.join()")
        return (items, *args[1:])
    return args


def _guard_center(value: Any, width: int = 80) -> str:
    _check(width, "center()")
    return jinja_filters.do_center(value, width)


def _guard_indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    step = len(width) if isinstance(width, str) else width
    _check(len(text) + (text.count("\n") + 2) * step, "indent()")
    return jinja_filters.do_indent(s, width, first, blank)


@pass_eval_context
def _guard_replace(
    eval_ctx: EvalContext, s: str, old: str, new: str, count: int | None = None
) -> str:
    _check(_replace_size(str(s), str(old), str(new), count), "replace()")
    return jinja_filters.do_replace(eval_ctx, s, old, new, count)


def _guard_format(value: str, *args: Any, **kwargs: Any) -> str:
    _check_printf(str(value), kwargs or args, _limits().max_size)
    return check_size(jinja_filters.do_format(value, *args, **kwargs))


@pass_environment
def _guard_wordwrap(
    environment: Any,
    s: str,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    text = str(s)
    sep = environment.newline_sequence if wrapstring is None else wrapstring
    _check(len(text) + (len(text) // max(width, 1) + 2) * len(sep), "wordwrap()")
    return jinja_filters.do_wordwrap(
        environment, s, width, break_long_words, wrapstring, break_on_hyphens
    )


@pass_eval_context
def _guard_join(
    eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: str | int | None = None
) -> str:
    items = list(value)
    _check(len(str(d)) * max(len(items) - 1, 0), "join()")
    return check_size(jinja_filters.sync_do_join(eval_ctx, items, d, attribute))


def _guard_batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Any:
    _check(linecount, "batch()")
    return jinja_filters.do_batch(value, linecount, fill_with)


def _guard_slice(value: Iterable[Any], slices: int, fill_with: Any = None) -> Any:
    _check(slices, "slice()")
    return jinja_filters.sync_do_slice(list(value), slices, fill_with)


def guarded_filters() -> dict[str, Callable[..., Any]]:
    """Replacements for the built-in filters that can multiply the size of their input."""
    guards: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
        "center": (_guard_center, jinja_filters.do_center),
        "indent": (_guard_indent, jinja_filters.do_indent),
        "replace": (_guard_replace, jinja_filters.do_replace),
        "format": (_guard_format, jinja_filters.do_format),
        "wordwrap": (_guard_wordwrap, jinja_filters.do_wordwrap),
        "join": (_guard_join, jinja_filters.sync_do_join),
        "batch": (_guard_batch, jinja_filters.do_batch),
        "slice": (_guard_slice, jinja_filters.sync_do_slice),
    }
    # keep the built-in's name and docstring (and pass_* marker, already set above)
    return {
        name: wraps(original, assigned=("__doc__", "__name__"), updated=())(guard)
        for name, (guard, original) in guards.items()
    }
