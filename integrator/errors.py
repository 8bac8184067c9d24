"""One exception tree for the whole project, branched by how to recover.

::

    IntegratorError
    ├── FatalError                  stop: the run cannot go on (bad config, auth refused)
    │   ├── FlowError               the flow file is wrong; carries every Problem found
    │   └── ExpressionSyntaxError   a JMESPath / Jinja expression does not compile
    ├── RetriableError              try again later; ``retry_after`` seconds when known
    └── MessageError                this one message cannot be processed; the step's
        │                           error policy decides (dead letter / skip / fail)
        ├── ExpressionError         an expression failed on this message's data
        ├── TemplateError           a template failed on this message's data
        ├── ValidationError         the message does not match a JSON Schema
        ├── ConversionError         JSON / XML / CSV conversion of this message failed
        ├── DecodeError             a source record could not be parsed (file:line)
        └── RejectedError           a sink refused this message permanently (4xx)

Connectors translate their drivers' exceptions into this tree at their boundary; the
engine never sees an ``httpx`` or ``sqlite3`` exception. Every error message says what
happened, what it means, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ConversionError",
    "DecodeError",
    "ExpressionError",
    "ExpressionSyntaxError",
    "FatalError",
    "FlowError",
    "IntegratorError",
    "MessageError",
    "RejectedError",
    "RetriableError",
    "TemplateError",
    "ValidationError",
]


class IntegratorError(Exception):
    """Root of every error integrator raises on purpose.

    ``hint`` tells the reader how to fix the problem; ``context`` carries structured
    facts (file, line, status, step, ...) that logs and dead letters record as fields.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context: dict[str, Any] = dict(context or {})

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message

    @property
    def error_class(self) -> str:
        """Stable name recorded in error records and dead letters."""
        return type(self).__name__


class FatalError(IntegratorError):
    """The run cannot continue: configuration, authentication, or a broken flow."""


class FlowError(FatalError):
    """A flow file has problems; ``problems`` lists every one found, not only the first."""

    def __init__(self, message: str, problems: list[Any] | None = None) -> None:
        super().__init__(message)
        self.problems: list[Any] = list(problems or [])


class ExpressionSyntaxError(FatalError):
    """An expression or template does not compile.

    ``kind`` is one of the JMESPath error kinds (``syntax``, ``unknown-function``,
    ``invalid-arity``, ``invalid-type``, ``invalid-value``) or ``template-syntax``;
    ``position`` is the 0-based offset inside the expression text, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "syntax",
        expression: str = "",
        position: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind
        self.expression = expression
        self.position = position


class RetriableError(IntegratorError):
    """A temporary failure: the same call may succeed later.

    ``retry_after`` is the delay the peer asked for, in seconds (from ``Retry-After``),
    or ``None`` when the retry policy alone decides.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        hint: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, hint=hint, context=context)
        self.retry_after = retry_after


class MessageError(IntegratorError):
    """This message cannot be processed; other messages are unaffected."""


class ExpressionError(MessageError):
    """A JMESPath expression failed on this message (``kind`` as in the specification)."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = "invalid-type",
        expression: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind
        self.expression = expression


class TemplateError(MessageError):
    """A template failed while rendering this message (undefined name, bad filter input)."""


class ValidationError(MessageError):
    """The message does not match a JSON Schema; ``errors`` lists each violation."""

    def __init__(self, message: str, errors: list[str] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.errors: list[str] = list(errors or [])


class ConversionError(MessageError):
    """Converting this message between JSON, XML and CSV failed."""


class DecodeError(MessageError):
    """A source record could not be decoded; ``context`` names the file and line."""


class RejectedError(MessageError):
    """A sink refused this message permanently; retrying would give the same answer."""
