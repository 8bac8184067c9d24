"""Value specs: how a flow says what goes into a field, compiled into Python functions.

==============================  ============================================
in the flow                     means
==============================  ============================================
``"customer.email"``            a JMESPath expression on the document
``42``, ``true``, ``null``      that literal
``{const: "PL01"}``             that literal (any YAML value, text included)
``{template: "SO-{{ id }}"}``   a Jinja template rendered to text
``{expr: "x", default: 0}``     a JMESPath expression; ``default`` when it gives null
a mapping of other keys         a nested object whose fields are value specs
a list                          a list whose items are value specs
==============================  ============================================

Objects compile into one generated function per object (``{"a": f0(doc), ...}``), so a
20-field mapping costs one call and one dict literal per message, not 20 closure hops.
The generated source only ever contains repr()-quoted keys and generated local names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from integrator.errors import ExpressionError
from integrator.mapping.context import TemplateContext

if TYPE_CHECKING:
    from integrator.message import Message

__all__ = ["SPECIAL_KEYS", "Value", "ValueCompiler", "compile_value"]

SPECIAL_KEYS = ("const", "template", "expr")

# What a bare expression closure may raise (see Expression.evaluate).
_RAW_ERRORS = (ExpressionError, TypeError, ValueError, LookupError, ArithmeticError,
               AttributeError, RecursionError)

ValueFn = Callable[[Any, "Message"], Any]


class _Expr(Protocol):
    source: str

    def search(self, data: Any) -> Any: ...


class _Tpl(Protocol):
    source: str

    def render(self, context: Mapping[str, Any]) -> str: ...


class ValueCompiler(Protocol):
    """What compiling value specs needs from its caller (the flow compiler)."""

    def expression(self, text: str, path: tuple[str | int, ...]) -> _Expr | None: ...

    def template(self, text: str, path: tuple[str | int, ...]) -> _Tpl | None: ...

    def problem(self, code: str, message: str, path: tuple[str | int, ...],
                hint: str | None = None) -> None: ...


@dataclass(frozen=True)
class Value:
    """A compiled value spec: ``fn(document, message)`` gives the value."""

    fn: ValueFn
    constant: bool = False
    const_value: Any = None

    def __call__(self, doc: Any, msg: Message) -> Any:
        return self.fn(doc, msg)


def _const(value: Any) -> Value:
    def fn(doc: Any, msg: Message) -> Any:
        return value
    return Value(fn, True, value)


class _Codegen:
    """Collects the names a generated function closes over."""

    def __init__(self, *, raw: bool) -> None:
        self.names: dict[str, Any] = {"TemplateContext": TemplateContext}
        self.uses_context = False
        self.raw = raw
        self.raw_used = False

    def bind(self, prefix: str, obj: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = obj
        return name

    def expression(self, expr: _Expr) -> str:
        """The name of the function to call for ``expr``: its bare closure when allowed."""
        evaluate = getattr(expr, "evaluate", None) if self.raw else None
        if evaluate is None:
            return self.bind("E", expr.search)
        self.raw_used = True
        return self.bind("E", evaluate)


def compile_value(spec: Any, path: tuple[str | int, ...], ctx: ValueCompiler) -> Value:
    """Compile one value spec; problems go to ``ctx`` and a null value is returned."""
    gen = _Codegen(raw=True)
    code = _emit(spec, path, ctx, gen)
    if code is None:
        return _const(None)
    if code.startswith("K") and code in gen.names:  # a bare constant
        return _const(gen.names[code])
    label = "/".join(map(str, path))
    if not gen.raw_used:
        return Value(_function(code, gen, label))
    # The fast function calls the expressions' bare closures; their errors lack the
    # expression text. Only when one fails does the careful twin run, to raise the error
    # with the expression named (it evaluates the same things, so it fails the same way).
    careful = _Codegen(raw=False)
    careful_fn = _function(_emit(spec, path, _Silent(ctx), careful) or "None", careful, label)
    gen.names["_careful"] = careful_fn
    gen.names["_RAW_ERRORS"] = _RAW_ERRORS
    return Value(_function(code, gen, label, fallback="_careful"))


def _function(code: str, gen: _Codegen, label: str, fallback: str | None = None) -> ValueFn:
    lines = ["def _value(doc, msg):"]
    indent = "    "
    if fallback:
        lines.append("    try:")
        indent = "        "
    if gen.uses_context:
        lines.append(f"{indent}ctx = TemplateContext(msg, doc)")
    lines.append(f"{indent}return {code}")
    if fallback:
        lines += ["    except _RAW_ERRORS:", f"        return {fallback}(doc, msg)"]
    namespace = dict(gen.names)
    exec(compile("\n".join(lines), f"<value {label}>", "exec"), namespace)  # noqa: S102
    fn: ValueFn = namespace["_value"]
    return fn


class _Silent:
    """Compiles the same spec again without reporting its problems a second time."""

    def __init__(self, ctx: ValueCompiler) -> None:
        self._ctx = ctx

    def expression(self, text: str, path: tuple[str | int, ...]) -> _Expr | None:
        return self._ctx.expression(text, path)

    def template(self, text: str, path: tuple[str | int, ...]) -> _Tpl | None:
        return self._ctx.template(text, path)

    def problem(self, code: str, message: str, path: tuple[str | int, ...],
                hint: str | None = None) -> None:
        return None


def _emit(spec: Any, path: tuple[str | int, ...], ctx: ValueCompiler, gen: _Codegen) -> str | None:
    """Python source for ``spec`` (an expression over ``doc``, ``msg``, ``ctx``)."""
    if isinstance(spec, str):
        expr = ctx.expression(spec, path)
        if expr is None:
            return None
        return f"{gen.expression(expr)}(doc)"
    if spec is None or isinstance(spec, bool | int | float):
        return gen.bind("K", spec)
    if isinstance(spec, list):
        items = [_emit(item, (*path, i), ctx, gen) for i, item in enumerate(spec)]
        return "[" + ", ".join(i if i is not None else "None" for i in items) + "]"
    if isinstance(spec, dict):
        special = [k for k in SPECIAL_KEYS if k in spec]
        if special:
            return _emit_special(spec, special, path, ctx, gen)
        parts = []
        for key, sub in spec.items():
            code = _emit(sub, (*path, key), ctx, gen)
            parts.append(f"{key!r}: {code if code is not None else 'None'}")
        return "{" + ", ".join(parts) + "}"
    ctx.problem("invalid-value", f"unsupported value {spec!r}", path)
    return None


def _emit_special(spec: dict[str, Any], special: list[str], path: tuple[str | int, ...],
                  ctx: ValueCompiler, gen: _Codegen) -> str | None:
    kind = special[0]
    allowed = {"const": {"const"}, "template": {"template"}, "expr": {"expr", "default"}}[kind]
    extra = sorted(set(spec) - allowed)
    if len(special) > 1 or extra:
        ctx.problem(
            "invalid-value",
            f"a value with {kind!r} cannot also have {', '.join(map(repr, extra or special[1:]))}",
            path,
            "to build an object that has a field named const, template or expr, "
            "wrap it: {const: {...}} for a literal object",
        )
        return None
    if kind == "const":
        return gen.bind("K", spec["const"])
    if kind == "template":
        text = spec["template"]
        if not isinstance(text, str):
            ctx.problem("invalid-value", "template must be text", (*path, "template"))
            return None
        tpl = ctx.template(text, (*path, "template"))
        if tpl is None:
            return None
        gen.uses_context = True
        return f"{gen.bind('T', tpl.render)}(ctx)"
    text = spec["expr"]
    if not isinstance(text, str):
        ctx.problem("invalid-value", "expr must be a JMESPath expression (text)",
                    (*path, "expr"))
        return None
    expr = ctx.expression(text, (*path, "expr"))
    if expr is None:
        return None
    search = gen.expression(expr)
    if "default" not in spec:
        return f"{search}(doc)"
    default = gen.bind("K", spec["default"])
    return f"(_v if (_v := {search}(doc)) is not None else {default})"
