"""The fast path: simple templates compiled to a plain Python closure.

A template takes the fast path when its body is only literal text and ``{{ expr }}``
outputs, where ``expr`` is

- a constant, or anything Jinja's compiler folds to a constant (``{{ 'a' | upper }}``);
- a name followed by attribute/item steps: ``a``, ``a.b``, ``a['b']``, ``a[0]``,
  ``a.0``, ``a[-1]``, with constant string or integer keys;
- such an expression with filters from :data:`FAST_FILTERS`, whose arguments are
  constants or such chains (``{{ market | lower }}``, ``{{ x | default(y.z) }}``).

Refused (the full sandboxed Jinja renderer is used instead): statements
(``{% ... %}``), operators, calls, tests, slices, variable keys, other filters, the
names of Jinja globals (``range``, ``dict``, ``namespace``, ...) and ``self``, and any
attribute or key that names an attribute of ``dict``, ``list``, ``str``, ``int``,
``float``, ``bool`` or ``None`` (``x.items``, ``x['keys']``, ``n.real``): Jinja
resolves those to methods first.

The closure reproduces the sandboxed render exactly for JSON-like data: it looks up
plain ``dict``/``list`` values directly and hands every other type to the sandbox's own
``getattr``/``getitem``; it calls the same filter functions (with inline shortcuts
for exact ``str``), creates the same ``StrictUndefined`` values for missing fields,
converts with ``str()`` or ``markupsafe.escape`` like Jinja's generated code, and
folds constants with Jinja's own ``as_const``. It does not format errors: when it
raises, ``Template.render`` renders with Jinja, whose error is the one reported.

The closure is generated Python source that contains only identifiers made here;
every value taken from the template (text, keys, constants, filter functions) is
passed in as a closure variable, never spliced into the source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import markupsafe
import orjson
from jinja2 import nodes
from jinja2.environment import Environment
from jinja2.runtime import Undefined
from markupsafe import escape

from integrator.mapping.templates import filters

__all__ = ["FAST_FILTERS", "FastRender", "compile_fast", "escaped_text"]

#: A compiled fast template: context dict in, rendered text out.
FastRender = Callable[[Mapping[str, Any]], str]

#: Filters a fast template may use: pure functions of their arguments.
FAST_FILTERS = frozenset(
    {
        "lower",
        "upper",
        "trim",
        "string",
        "default",
        "d",
        "int",
        "round",
        "money",
        "tojson",
        "xml_escape",
    }
)

# Jinja's getattr tries the attribute before the key: ``{{ order.items }}`` on a dict
# is the ``items`` method. Such names always go to Jinja.
_BUILTIN_ATTRIBUTES = frozenset(
    name for kind in (dict, list, str, int, float, bool, type(None)) for name in dir(kind)
)
_CONSTANT_TYPES = (str, int, float, type(None))
_BUILTINS = {
    "type": type,
    "isinstance": isinstance,
    "dict": dict,
    "list": list,
    "str": str,
    "KeyError": KeyError,
    "LookupError": LookupError,
}


def _escape_str_via_markup(text: str) -> str:
    return str(escape(text))


# markupsafe.escape(s) for an exact str is Markup(_escape_inner(s)); building the Markup
# costs ten times the escaping, and the fast path only needs the text.
_escape_str: Callable[[str], str] = getattr(markupsafe, "_escape_inner", _escape_str_via_markup)


def escaped_text(value: Any) -> str:
    """``str(markupsafe.escape(value))``, without building a ``Markup`` for plain values."""
    kind = type(value)
    if kind is str:
        return _escape_str(value)
    if kind is int or kind is float or kind is bool or value is None:
        return str(value)  # their text has nothing to escape
    return str(escape(value))


class _Unsupported(Exception):
    """The template needs the full Jinja renderer."""


class _Builder:
    """Collects the statements and closure variables of one fast template."""

    def __init__(self, env: Environment, eval_ctx: nodes.EvalContext) -> None:
        self.env = env
        self.eval_ctx = eval_ctx
        self.autoescape = bool(eval_ctx.autoescape)
        self.lines: list[str] = []
        self.values: dict[str, Any] = {
            "U": env.undefined,
            "GA": env.getattr,
            "GI": env.getitem,
            "Undefined": Undefined,
            "EX": escaped_text,
            "DUMPS": orjson.dumps,
            "JSON_DEFAULT": filters.json_default,
        }
        self.parts: list[str] = []  # f-string fields: "{k3}" text, "{v2!s}" value
        self.text: list[str] = []
        self.count = 0

    # -- names -----------------------------------------------------------------------
    def _var(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def const(self, value: Any) -> str:
        self.count += 1
        name = f"k{self.count}"
        self.values[name] = value
        return name

    def emit(self, indent: int, *lines: str) -> None:
        self.lines.extend("    " * indent + line for line in lines)

    # -- outputs ---------------------------------------------------------------------
    def output(self, child: nodes.Expr) -> None:
        """One child of an Output node: folded to text at compile time, or a value."""
        try:
            # What Jinja's CodeGenerator._output_child_to_const does.
            const = child.as_const(self.eval_ctx)
            if self.autoescape:
                const = escape(const)
            text = str(const)
        except Exception:  # like Jinja: whatever does not fold renders at runtime
            if self._is_outer_xml_escape(child):
                # str(xml_escape(v)), and escaping that Markup again changes nothing
                assert isinstance(child, nodes.Filter) and child.node is not None
                var, escaped = self.expr(child.node), True
            else:
                var, escaped = self.expr(child), self.autoescape
            self._flush_text()
            self.parts.append(f"{{EX({var})}}" if escaped else f"{{{var}!s}}")
        else:
            self.text.append(text)

    def _is_outer_xml_escape(self, node: nodes.Expr) -> bool:
        return (
            isinstance(node, nodes.Filter)
            and node.name == "xml_escape"
            and self.env.filters.get("xml_escape") is filters.xml_escape
            and node.node is not None
            and not node.args
            and not node.kwargs
            and node.dyn_args is None
            and node.dyn_kwargs is None
        )

    def _flush_text(self) -> None:
        if self.text:
            self.parts.append(f"{{{self.const(''.join(self.text))}}}")
            self.text = []

    # -- expressions -----------------------------------------------------------------
    def _constant(self, node: nodes.Expr) -> Any:
        try:
            return node.as_const(self.eval_ctx)
        except Exception as exc:  # not a constant: not a fast template
            raise _Unsupported from exc

    def expr(self, node: nodes.Expr) -> str:
        """Emit code computing ``node``; return the variable (or constant) holding it."""
        if isinstance(node, nodes.Filter):
            return self.filter(node)
        if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            return self.chain(node)
        value = self._constant(node)
        if not isinstance(value, _CONSTANT_TYPES):  # bool is an int
            raise _Unsupported
        return self.const(value)

    def chain(self, node: nodes.Expr) -> str:
        """``name``, ``name.attr``, ``name['key']``, ``name[0]``: lookups as Jinja does them."""
        steps: list[tuple[str, Any]] = []
        while isinstance(node, nodes.Getattr | nodes.Getitem):
            if isinstance(node, nodes.Getattr):
                key: Any = node.attr
                via = "GA"
            else:
                key = self._constant(node.arg)
                via = "GI"
            if type(key) is str:
                if key in _BUILTIN_ATTRIBUTES:
                    raise _Unsupported
            elif type(key) is not int:
                raise _Unsupported
            steps.append((via, key))
            node = node.node
        if (
            not isinstance(node, nodes.Name)
            or node.ctx != "load"
            or node.name in self.env.globals
            or node.name == "self"
        ):
            raise _Unsupported

        var = self._var()
        name = self.const(node.name)
        self.emit(
            1,
            "try:",
            f"    {var} = ctx[{name}]",
            "except KeyError:",
            f"    {var} = U(name={name})",
        )
        for via, key in reversed(steps):
            k = self.const(key)
            if type(key) is str:
                test, error = f"type({var}) is dict", "KeyError"
            else:
                test, error = f"type({var}) is list or type({var}) is dict", "LookupError"
            self.emit(
                1,
                f"if {test}:",
                "    try:",
                f"        {var} = {var}[{k}]",
                f"    except {error}:",
                f"        {var} = U(obj={var}, name={k})",
                "else:",
                f"    {var} = {via}({var}, {k})",
            )
        return var

    def filter(self, node: nodes.Filter) -> str:
        """A whitelisted filter, called with the same arguments Jinja would pass."""
        func = self.env.filters.get(node.name)
        if (
            node.name not in FAST_FILTERS
            or func is None
            or hasattr(func, "jinja_pass_arg")
            or node.node is None
            or node.dyn_args is not None
            or node.dyn_kwargs is not None
        ):
            raise _Unsupported
        # Jinja evaluates the filtered value first, then the arguments in order.
        value = self.expr(node.node)
        args = [self.expr(arg) for arg in node.args]
        kwargs = [(self.const(kw.key), self.expr(kw.value)) for kw in node.kwargs]
        out = self._var()
        f = self.const(func)
        simple = not kwargs and not args
        if simple and node.name in ("lower", "upper", "trim"):
            method = "strip" if node.name == "trim" else node.name
            self.emit(1, f"{out} = {value}.{method}() if type({value}) is str else {f}({value})")
        elif simple and node.name == "string":
            self.emit(1, f"{out} = {value} if type({value}) is str else {f}({value})")
        elif simple and node.name == "tojson" and func is filters.tojson:
            # the body of filters.tojson(value) without its frame
            self.emit(1, f"{out} = DUMPS({value}, default=JSON_DEFAULT).decode()")
        elif node.name in ("default", "d") and len(args) <= 1 and not kwargs:
            fallback = args[0] if args else self.const("")
            self.emit(1, f"{out} = {fallback} if isinstance({value}, Undefined) else {value}")
        else:
            call = ", ".join([value, *args])
            if kwargs:
                call += ", **{" + ", ".join(f"{k}: {v}" for k, v in kwargs) + "}"
            self.emit(1, f"{out} = {f}({call})")
        return out

    # -- result ----------------------------------------------------------------------
    def build(self) -> FastRender:
        self._flush_text()
        result = 'f"' + "".join(self.parts) + '"' if self.parts else '""'
        params = ", ".join(self.values)
        source = "\n".join(
            [
                f"def make({params}):",
                "  def render(ctx):",
                *("  " + line for line in self.lines),
                f"      return {result}",
                "  return render",
            ]
        )
        namespace: dict[str, Any] = {"__builtins__": _BUILTINS}
        # The source holds only identifiers generated above (see the module docstring).
        exec(compile(source, "<integrator fast template>", "exec"), namespace)  # noqa: S102
        render: FastRender = namespace["make"](**self.values)
        return render


def compile_fast(tree: nodes.Template, env: Environment, name: str) -> FastRender | None:
    """Compile a parsed template to a closure, or None when it needs full Jinja.

    ``render(ctx)`` takes a plain ``dict`` and returns the text the sandboxed Jinja
    render of ``tree`` returns; when it raises, the Jinja render raises too.
    """
    if not all(isinstance(node, nodes.Output) for node in tree.body):
        return None
    builder = _Builder(env, nodes.EvalContext(env, name))
    try:
        for output in tree.body:
            assert isinstance(output, nodes.Output)
            for child in output.nodes:
                builder.output(child)
    except _Unsupported:
        return None
    return builder.build()
