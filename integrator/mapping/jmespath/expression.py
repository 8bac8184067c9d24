"""``compile_expression`` and the immutable :class:`Expression` it returns."""

from __future__ import annotations

from typing import Any, NoReturn

from integrator.errors import ExpressionError, ExpressionSyntaxError
from integrator.mapping.jmespath.closures import Evaluate
from integrator.mapping.jmespath.compiler import compile_tree
from integrator.mapping.jmespath.parsing import parse
from integrator.mapping.jmespath.values import copy_value

__all__ = ["Expression", "compile_expression"]


def compile_expression(text: str) -> Expression:
    """Compile a JMESPath expression once, for evaluation on any number of messages.

    Raises :class:`~integrator.errors.ExpressionSyntaxError` when the expression cannot
    be compiled. ``kind`` says why: ``syntax`` (with ``position``, the 0-based offset the
    parser stopped at), ``unknown-function`` (with a did-you-mean ``hint``),
    ``invalid-arity`` (a call with the wrong number of arguments), or ``invalid-value``
    (a slice step of 0). Type errors depend on the data and surface from
    :meth:`Expression.search` instead.
    """
    if not isinstance(text, str):
        raise ExpressionSyntaxError(
            f"a JMESPath expression must be a string, got {type(text).__name__} {text!r}",
            expression=str(text),
            hint="quote the expression in YAML, e.g. expr: '5' or expr: '`5`'",
        )
    tree = parse(text)
    try:
        compiled = compile_tree(tree, text)
    except RecursionError:
        raise ExpressionSyntaxError(
            "the JMESPath expression is nested too deeply to compile",
            expression=text,
            hint="split it into several steps",
        ) from None
    return Expression(
        text, compiled.evaluate, compiled.field_path, compiled.literal, compiled.equality
    )


class Expression:
    """A compiled JMESPath expression: immutable, thread-safe, reusable.

    Attributes:
        source: the expression text as written.
        field_path: the keys when the expression is a plain field chain
            (``customer.email`` → ``("customer", "email")``), else ``None``. Evaluating
            it is the same as walking those keys through objects, ``None`` at the first
            step that is not an object.
        literal: ``(True, value)`` when the expression is a constant literal
            (`` `{"a": 1}` `` or ``'text'``), else ``(False, None)``. The value is a
            fresh copy on every access.
        equality: ``(path, literal)`` when the whole expression is
            ``<field chain> == <literal>`` or ``<literal> == <field chain>``, else
            ``None``. The expression is true exactly when the value at ``path`` equals
            ``literal`` under JSON equality: ``1 == 1.0`` but ``true != 1``. A caller
            that indexes literals in a Python dict must therefore keep booleans apart
            from the numbers 0 and 1, and lists/objects are not hashable.
    """

    __slots__ = ("_equality", "_evaluate", "_literal", "field_path", "source")

    source: str
    field_path: tuple[str, ...] | None
    _evaluate: Evaluate
    _literal: tuple[bool, Any]
    _equality: tuple[tuple[str, ...], Any] | None

    def __init__(
        self,
        source: str,
        evaluate: Evaluate,
        field_path: tuple[str, ...] | None,
        literal: tuple[bool, Any],
        equality: tuple[tuple[str, ...], Any] | None,
    ) -> None:
        """Internal: use :func:`compile_expression`."""
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "_evaluate", evaluate)
        object.__setattr__(self, "field_path", field_path)
        object.__setattr__(self, "_literal", literal)
        object.__setattr__(self, "_equality", equality)

    @property
    def evaluate(self) -> Evaluate:
        """The bare compiled closure, for callers that batch many evaluations.

        It computes what :meth:`search` computes, one call cheaper, but its errors do not
        name the expression and data that is not plain JSON may raise Python's own
        exceptions. A caller catches those and calls :meth:`search` for the reportable
        error (see :mod:`integrator.mapping.values`).
        """
        return self._evaluate

    def search(self, data: Any) -> Any:
        """Evaluate on one JSON-like value (dict, list, str, int, float, bool, None).

        Returns a JSON-like value; it may share sub-objects with ``data`` but never with
        the expression. Raises :class:`~integrator.errors.ExpressionError` with ``kind``
        ``invalid-type`` (a function got the wrong type) or ``invalid-value`` (a function
        got a value it cannot use, such as ``divide(x, `0`)``); the step's error policy
        then decides what happens to the message. No other exception escapes.
        """
        try:
            return self._evaluate(data)
        except ExpressionError as exc:
            raise ExpressionError(
                f"JMESPath expression {self.source!r}: {exc.message}",
                kind=exc.kind,
                expression=self.source,
                hint=exc.hint,
            ) from None
        except RecursionError:
            raise ExpressionError(
                f"JMESPath expression {self.source!r}: the data is nested too deeply",
                kind="invalid-value",
                expression=self.source,
            ) from None
        except (TypeError, ValueError, LookupError, ArithmeticError, AttributeError) as exc:
            # Only reachable with data that is not plain JSON (a datetime, a set, ...).
            raise ExpressionError(
                f"JMESPath expression {self.source!r} failed on a value that is not plain "
                f"JSON: {type(exc).__name__}: {exc}",
                kind="invalid-type",
                expression=self.source,
                hint="convert the message to JSON types (dict, list, str, int, float, "
                "bool, None) before mapping it",
            ) from exc

    @property
    def literal(self) -> tuple[bool, Any]:
        """``(True, value)`` for a constant expression, else ``(False, None)``."""
        is_literal, value = self._literal
        return (True, copy_value(value)) if is_literal else (False, None)

    @property
    def equality(self) -> tuple[tuple[str, ...], Any] | None:
        """``(path, literal)`` for ``path == literal`` expressions, else ``None``."""
        if self._equality is None:
            return None
        path, value = self._equality
        return path, copy_value(value)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"Expression is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Expression is immutable; cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Expression):
            return self.source == other.source
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Expression, self.source))

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Closures do not pickle; the source recompiles to the same expression.
        return compile_expression, (self.source,)
