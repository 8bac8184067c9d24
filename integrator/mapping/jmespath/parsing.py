"""Parsing with the jmespath library's parser, and readable syntax errors.

The lexer and the Pratt parser of jmespath-python are used as they are; this module only
turns their exceptions into :class:`~integrator.errors.ExpressionSyntaxError` with a
0-based ``position``, a message that says what was expected and what was found, and a
hint where a common mistake is recognisable.

The parser keeps a process-wide cache of ASTs, so the dictionaries returned here are
shared: callers must never modify them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import pairwise
from typing import Any, Final, cast

from jmespath import exceptions as jmespath_errors
from jmespath.lexer import Lexer
from jmespath.parser import Parser

from integrator.errors import ExpressionSyntaxError

__all__ = ["call_position", "parse"]

Node = dict[str, Any]

_TOKEN_NAMES: Final[Mapping[str, str]] = {
    "eof": "the end of the expression",
    "unquoted_identifier": "an identifier",
    "quoted_identifier": "a quoted identifier",
    "literal": "a literal",
    "number": "a number",
    "rbracket": "']'",
    "lbracket": "'['",
    "rparen": "')'",
    "lparen": "'('",
    "rbrace": "'}'",
    "lbrace": "'{'",
    "comma": "','",
    "colon": "':'",
    "dot": "'.'",
    "star": "'*'",
    "current": "'@'",
    "expref": "'&'",
    "pipe": "'|'",
    "or": "'||'",
    "and": "'&&'",
    "not": "'!'",
    "eq": "'=='",
    "ne": "'!='",
    "gt": "'>'",
    "gte": "'>='",
    "lt": "'<'",
    "lte": "'<='",
    "flatten": "'[]'",
    "filter": "'[?'",
}

_EXPECTING = re.compile(r"^Expecting: (?P<expected>.*), got: (?P<found>\w+)$")
_DEPRECATED_LITERAL = "deprecated string literal syntax"


def parse(text: str) -> Node:
    """Parse ``text`` into the library's AST (``{"type", "children", "value"}`` dicts).

    Raises :class:`ExpressionSyntaxError` (kind ``syntax``) for any lexing or parsing
    error. The returned tree is shared with the library's cache and must not be mutated.
    """
    try:
        parsed = cast(Node, Parser().parse(text).parsed)
    except jmespath_errors.EmptyExpressionError:
        raise ExpressionSyntaxError(
            "the JMESPath expression is empty",
            expression=text,
            position=0,
            hint="write an expression such as customer.email, or @ for the whole message",
        ) from None
    except jmespath_errors.LexerError as exc:
        raise _lexer_error(text, exc) from None
    except jmespath_errors.IncompleteExpressionError:
        raise ExpressionSyntaxError(
            f"JMESPath expression {text!r}, offset {len(text)}: expected more, "
            "found the end of the expression",
            expression=text,
            position=len(text),
            hint=_unbalanced_hint(text),
        ) from None
    except jmespath_errors.ParseError as exc:
        raise _parse_error(text, exc) from None
    except jmespath_errors.JMESPathError as exc:  # pragma: no cover - future library errors
        raise ExpressionSyntaxError(
            f"JMESPath expression {text!r} does not parse: {exc}", expression=text
        ) from None
    except PendingDeprecationWarning:
        # The lexer's warning about a legacy literal, raised because warnings are errors.
        raise _legacy_literal_error(text, _legacy_literal(text)) from None
    except RecursionError:
        raise ExpressionSyntaxError(
            "the JMESPath expression is nested too deeply to parse",
            expression=text,
            hint="split it into several steps",
        ) from None
    legacy = _legacy_literal(text)
    if legacy is not None:
        raise _legacy_literal_error(text, legacy)
    return parsed


def _legacy_literal(text: str) -> int | None:
    """Offset of a backtick literal that is not JSON, such as `foo`.

    jmespath-python still reads those as strings (the legacy syntax that JEP-12
    deprecated) and only emits a ``PendingDeprecationWarning``, which is ignored by
    default. A mistyped literal would then silently become text, so they are rejected.
    """
    if "`" not in text:
        return None
    tokens = Lexer().tokenize(text)
    resume = 0
    while True:
        try:
            token = next(tokens)
        except StopIteration:
            return None
        except PendingDeprecationWarning:
            # Raised (warnings as errors) while lexing the literal after ``resume``.
            found = text.find("`", resume)
            return found if found >= 0 else None
        except jmespath_errors.JMESPathError:  # pragma: no cover - text parsed already
            return None
        start: int = token["start"]
        if (
            token["type"] == "literal"
            and text[start] == "`"
            and isinstance(token["value"], str)
            and not text[start + 1 :].lstrip().startswith('"')
        ):
            return start
        # For literals and quoted identifiers the lexer's "end" is a length.
        quoted = token["type"] in {"literal", "quoted_identifier"}
        resume = start + (token["end"] if quoted else 1)


def _legacy_literal_error(text: str, position: int | None) -> ExpressionSyntaxError:
    where = f", offset {position}" if position is not None else ""
    return ExpressionSyntaxError(
        f"JMESPath expression {text!r}{where}: a backtick literal is not valid JSON",
        expression=text,
        position=position,
        hint="write JSON inside backticks (`\"text\"`, `1`, `[1, 2]`) or use a raw string 'text'",
    )


def call_position(text: str, name: str) -> int | None:
    """0-based offset of the first call of function ``name`` in ``text``, if found."""
    try:
        tokens = list(Lexer().tokenize(text))
    except (jmespath_errors.JMESPathError, PendingDeprecationWarning):
        return None
    for token, following in pairwise(tokens):
        if (
            token["type"] == "unquoted_identifier"
            and token["value"] == name
            and following["type"] == "lparen"
        ):
            return int(token["start"])
    return None


def _describe_token(token_type: str | None, value: Any) -> str:
    if token_type is None:
        return _TOKEN_NAMES["eof"]
    name = _TOKEN_NAMES.get(token_type.lower(), token_type.lower())
    if token_type.lower() in {"unquoted_identifier", "quoted_identifier", "number"}:
        return f"{name} {value!r}"
    return name


def _expected_text(raw: str) -> str:
    """``"['quoted_identifier', 'lbracket']"`` or ``"rbracket"`` → readable alternatives."""
    names: list[str] = re.findall(r"[a-z_]+", raw)
    readable = [_TOKEN_NAMES.get(name, name) for name in names]
    if len(readable) <= 1:
        return readable[0] if readable else raw
    return ", ".join(readable[:-1]) + " or " + readable[-1]


def _parse_error(text: str, exc: jmespath_errors.ParseError) -> ExpressionSyntaxError:
    found = _describe_token(exc.token_type, exc.token_value)
    reason: str
    hint: str | None = None
    match = _EXPECTING.match(exc.msg)
    if match:
        reason = f"expected {_expected_text(match['expected'])}, found {found}"
    elif exc.msg.startswith("Unexpected token"):
        reason = f"the expression is complete before {found}"
        hint = "join two expressions with '|', '.', '&&' or '||'"
    elif exc.msg.startswith("Invalid function name"):
        reason = f"{exc.token_value!r} cannot be called as a function"
        hint = "only a plain name can be called, e.g. length(items)"
    elif exc.msg.startswith("Quoted identifier not allowed"):
        reason = "a quoted identifier cannot be a function name"
        hint = 'drop the quotes: length(items), not "length"(items)'
    elif exc.msg == "syntax error" and _in_slice(text, exc.lex_position):
        reason = f"expected a whole number, ':' or ']' in a slice, found {found}"
        hint = "a slice is [start:stop:step], each part an optional whole number"
    elif exc.msg == "syntax error":
        reason = f"expected '.', '[' or an operator after a projection, found {found}"
    else:
        reason = f"{found} is not allowed here"
    return ExpressionSyntaxError(
        f"JMESPath expression {text!r}, offset {exc.lex_position}: {reason}",
        expression=text,
        position=exc.lex_position,
        hint=hint or _unbalanced_hint(text),
    )


def _in_slice(text: str, position: int) -> bool:
    """Whether ``position`` is inside ``[start:stop:step]`` (after at least one colon)."""
    before = text[:position]
    opened = before.rfind("[")
    inside = before[opened + 1 :]
    return opened >= 0 and ":" in inside and re.fullmatch(r"[\s\d:-]*", inside) is not None


def _lexer_error(text: str, exc: jmespath_errors.LexerError) -> ExpressionSyntaxError:
    message = exc.message
    hint: str | None = None
    if message == "Unknown token '='":
        message = "found a single '=', which is not an operator"
        hint = "compare with '==', not '='"
    elif message.startswith("Unclosed"):
        hint = "close the quote or backtick that starts here"
    elif message.startswith("Bad token"):
        message = "a backtick literal is not valid JSON"
        hint = "write JSON inside backticks (`\"text\"`, `1`) or use a raw string 'text'"
    elif message.startswith("Unknown token"):
        message = f"found the character {exc.lexer_value!r}, which JMESPath does not use"
    return ExpressionSyntaxError(
        f"JMESPath expression {text!r}, offset {exc.lexer_position}: {message}",
        expression=text,
        position=exc.lexer_position,
        hint=hint,
    )


def _unbalanced_hint(text: str) -> str | None:
    """Point at an unclosed bracket, brace or parenthesis (ignoring quoted text)."""
    unquoted = re.sub(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"|`(?:\\.|[^`\\])*`", "", text)
    for opening, closing in ("[]", "{}", "()"):
        if unquoted.count(opening) > unquoted.count(closing):
            return f"a {opening!r} is not closed with {closing!r}"
    return None
