"""The filters integrator adds to Jinja's built-in ones. Three, on purpose.

==============  ==========================================================================
``tojson``      Compact JSON via orjson: ``{{ customer | tojson }}`` → ``{"name":"Zoë"}``.
                Non-ASCII stays UTF-8 text; keys keep their order (Jinja's own ``tojson``
                sorts them and escapes ``<>&'``). ``Decimal`` is written as a JSON number,
                NaN/infinity as ``null`` (orjson's rule). The output is a JSON literal
                to embed in a JSON document; in an XML template (autoescape on) it is
                XML-escaped like any other value. ``tojson(indent=2)`` pretty-prints.
``xml_escape``  ``& < > " '`` → ``&amp; &lt; &gt; &#34; &#39;`` (``markupsafe.escape``);
                in a text or JSON template, this is how to embed XML text safely.
``money``       A number with exactly 2 decimals: ``12.5`` → ``12.50``. Halves round away
                from zero on the decimal value you see (``2.675`` → ``2.68``), ``-0.001``
                → ``0.00``. Accepts int, float, ``Decimal`` and numeric strings
                (``"12.5"``, as XML and CSV deliver them); anything else is an error.
==============  ==========================================================================

``default`` (``d``) is Jinja's: ``{{ customer.vat | default('') }}`` for optional fields.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

import orjson
from jinja2.runtime import Undefined
from markupsafe import Markup, escape

__all__ = ["FILTERS", "json_default", "money", "tojson", "xml_escape"]

_CENTS = Decimal("0.01")
# enough digits for any float (1.8e308) and then some; larger values are refused
_MONEY_CONTEXT = Context(prec=400, rounding=ROUND_HALF_UP)


def _fail_if_undefined(value: Any) -> None:
    if isinstance(value, Undefined):
        str(value)  # raises the undefined error (StrictUndefined refuses str())


def json_default(value: Any) -> Any:
    """orjson's ``default``: Decimal as a number; undefined values raise their error."""
    if isinstance(value, Undefined):
        _fail_if_undefined(value)
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(str(value))
    raise TypeError(f"a {type(value).__name__} value cannot be written as JSON")


def tojson(value: Any, indent: int | None = None) -> str:
    """Serialize ``value`` as compact JSON text (``indent=2`` for pretty output).

    Raises ``TypeError`` for values JSON cannot hold (sets, integers beyond 64 bits,
    non-string keys) and ``ValueError`` for an ``indent`` other than None or 2.
    """
    # an undefined value (also nested) reaches json_default, which raises its error
    if indent is None:
        return orjson.dumps(value, default=json_default).decode()
    if indent == 2:
        return orjson.dumps(value, default=json_default, option=orjson.OPT_INDENT_2).decode()
    raise ValueError(f"tojson supports indent=2 or no indent, not indent={indent!r}")


def xml_escape(value: Any) -> Markup:
    """Escape ``& < > " '`` for XML text and attribute values (markupsafe rules).

    The result is marked safe, so an autoescaping template does not escape it twice.
    """
    return escape(value)


def _money_text(number: Decimal) -> str:
    if not number.is_finite():
        raise ValueError(f"money needs a finite number, not {number}")
    try:
        cents = number.quantize(_CENTS, context=_MONEY_CONTEXT)
    except InvalidOperation:
        raise ValueError(f"money cannot format {number}: too large") from None
    if cents.is_zero():
        cents = abs(cents)  # -0.001 rounds to 0.00, not -0.00
    return f"{cents:f}"


def money(value: Any) -> str:
    """Format a number with exactly two decimals, rounding halves away from zero.

    Raises ``TypeError`` for booleans, None and non-numbers, ``ValueError`` for strings
    that are not numbers and for NaN/infinity.
    """
    kind = type(value)
    if kind is int:
        return f"{value}.00"
    if kind is float:
        if -1e13 < value < 1e13:
            # Below 2**46 doubles are closer than 0.01 apart, so when the 2-decimal text
            # reads back as the same float it is the shortest repr, rounded: same answer
            # as the Decimal path, four times faster.
            text = f"{value:.2f}"
            if float(text) == value:
                return "0.00" if value == 0 else text
        return _money_text(Decimal(repr(value)))
    _fail_if_undefined(value)
    if isinstance(value, bool) or value is None:
        raise TypeError(f"money needs a number, not {value!r}")
    if isinstance(value, Decimal):
        return _money_text(value)
    if isinstance(value, int):
        return money(int(value))
    if isinstance(value, float):
        return money(float(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"money needs a number, not the text {value!r}") from None
        return _money_text(number)
    raise TypeError(f"money needs a number, not a {type(value).__name__} value")


#: Filter name → function, added to every template environment.
FILTERS: dict[str, Callable[..., Any]] = {
    "tojson": tojson,
    "xml_escape": xml_escape,
    "money": money,
}
