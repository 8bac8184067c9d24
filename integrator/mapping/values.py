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

from integrator.mapping.context import TemplateContext

if TYPE_CHECKING:
    from integrator.message import Message

__all__ = ["SPECIAL_KEYS", "Value", "ValueCompiler", "compile_value"]

SPECIAL_KEYS = ("const", "template", "expr")

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

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"TemplateContext": TemplateContext}
        self.uses_context = False

    def bind(self, prefix: str, obj: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = obj
        return name


def compile_value(spec: Any, path: tuple[str | int, ...], ctx: ValueCompiler) -> Value:
    """Compile one value spec; problems go to ``ctx`` and a null value is returned."""
    gen = _Codegen()
    code = _emit(spec, path, ctx, gen)
    if code is None:
        return _const(None)
    if code.startswith("K") and code in gen.names:  # a bare constant
        return _const(gen.names[code])
    lines = ["def _value(doc, msg):"]
    if gen.uses_context:
        lines.append("    ctx = TemplateContext(msg, doc)")
    lines.append(f"    return {code}")
    namespace = dict(gen.names)
    exec(compile("\n".join(lines), f"<value {'/'.join(map(str, path))}>", "exec"),  # noqa: S102
         namespace)
    fn: ValueFn = namespace["_value"]
    return Value(fn)


def _emit(spec: Any, path: tuple[str | int, ...], ctx: ValueCompiler, gen: _Codegen) -> str | None:
    """Python source for ``spec`` (an expression over ``doc``, ``msg``, ``ctx``)."""
    if isinstance(spec, str):
        expr = ctx.expression(spec, path)
        if expr is None:
            return None
        return f"{gen.bind('E', expr.search)}(doc)"
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
    search = gen.bind("E", expr.search)
    if "default" not in spec:
        return f"{search}(doc)"
    default = gen.bind("K", spec["default"])
    return f"(_v if (_v := {search}(doc)) is not None else {default})"
