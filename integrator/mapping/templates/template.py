"""``compile_template`` and ``Template``: compile once when the flow loads, render per message."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import TracebackType
from typing import Any, NoReturn

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import TemplateSyntaxError

from integrator.errors import ExpressionSyntaxError, TemplateError
from integrator.mapping.templates import diagnostics, limits
from integrator.mapping.templates.environment import guard_loops, template_environment
from integrator.mapping.templates.fastpath import FastRender, compile_fast

__all__ = ["MAX_NESTING", "Template", "compile_template"]

#: Deepest expression/statement nesting compiled. Jinja's compiler takes time cubic in
#: the depth of an expression (seconds at 150) and Python refuses 200 nested brackets.
MAX_NESTING = 64

_REFUSED = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)
_REFUSED_TAG = re.compile(r"\{%[-+]?\s*(extends|include|import|from)\b")

# What a template can raise on bad data, translated at the boundary. Jinja's own
# errors (UndefinedError, SecurityError, ...) are jinja2.TemplateError.
_RENDER_ERRORS: tuple[type[BaseException], ...] = (
    jinja2.TemplateError,
    limits.LimitExceeded,
    ArithmeticError,
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
    RecursionError,
)


class Template:
    """A compiled template. Immutable; safe to share between flows and threads.

    Build one with :func:`compile_template`. ``source`` is the template text,
    ``names`` the top-level variables it reads (for lint), ``fast`` whether
    :meth:`render` uses the compiled fast path instead of the Jinja renderer.
    """

    __slots__ = ("_fast", "_jinja", "autoescape", "fast", "max_output", "name", "names", "source")

    source: str
    name: str
    autoescape: bool
    max_output: int
    names: frozenset[str]
    fast: bool
    _fast: FastRender | None
    _jinja: jinja2.Template

    def __init__(
        self,
        *,
        source: str,
        name: str,
        autoescape: bool,
        max_output: int,
        names: frozenset[str],
        jinja: jinja2.Template,
        fast: FastRender | None,
    ) -> None:
        for attr, value in (
            ("source", source),
            ("name", name),
            ("autoescape", autoescape),
            ("max_output", max_output),
            ("names", names),
            ("fast", fast is not None),
            ("_fast", fast),
            ("_jinja", jinja),
        ):
            object.__setattr__(self, attr, value)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"Template is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Template is immutable; cannot delete {name!r}")

    def __repr__(self) -> str:
        path = "fast" if self.fast else "jinja"
        return f"<Template {self.name} ({path}): {self.source[:40]!r}>"

    def render(self, context: Mapping[str, Any]) -> str:
        """Render with ``context`` as the top-level variables.

        Raises :class:`~integrator.errors.TemplateError` (with ``__cause__`` set) when a
        variable or field is missing, a filter gets a value it cannot handle, the
        sandbox refuses an operation, or the output would exceed ``max_output``
        characters. Never raises Jinja's or Python's exceptions for bad data.
        """
        fast = self._fast
        if fast is not None:
            # The fast path only looks names up (``context[name]``), so any mapping works
            # without copying: a lazy context costs nothing for the names not used.
            try:
                text = fast(context)
            except _RENDER_ERRORS:
                # Jinja is the reference: render again with it, so the error reported
                # (or, should the two ever disagree, the text) is Jinja's.
                return self._render_jinja(context)
            if len(text) > self.max_output:
                too_long = limits.LimitExceeded(diagnostics.output_too_long(self.max_output))
                raise self._error(too_long, context) from too_long
            return text
        return self._render_jinja(context)

    def _render_jinja(self, context: Mapping[str, Any]) -> str:
        jt = self._jinja
        limit = self.max_output
        token = limits.render_limits().set(limits.RenderLimits(max_size=limit))
        parts: list[str] = []
        append = parts.append
        size = 0
        try:
            chunks = jt.root_render_func(jt.new_context(dict(context)))
            try:
                for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise limits.LimitExceeded(diagnostics.output_too_long(limit))
                    append(chunk)
            finally:
                chunks.close()  # type: ignore[attr-defined]
        except _RENDER_ERRORS as exc:
            raise self._error(exc, context) from exc
        finally:
            limits.render_limits().reset(token)
        return "".join(parts)

    def _error(self, exc: BaseException, context: Mapping[str, Any]) -> TemplateError:
        detail, hint = diagnostics.describe_render_error(exc, context)
        line = _template_line(exc.__traceback__, self._jinja)
        where = f"template `{self.name}`"
        if line is not None and "\n" in self.source:
            where += f", line {line}"
        facts: dict[str, Any] = {"template": self.name}
        if line is not None:
            facts["line"] = line
        return TemplateError(f"{where}: {detail}", hint=hint, context=facts)


def _template_line(tb: TracebackType | None, jt: jinja2.Template) -> int | None:
    """The template line of the innermost frame of ``jt``'s generated code, if any."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_globals.get("__jinja_template__") is jt:
            line = jt.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


def _syntax_error(
    source: str,
    name: str,
    message: str,
    lineno: int | None,
    *,
    hint: str | None,
    position: int | None = None,
) -> ExpressionSyntaxError:
    where = f"template `{name}`" + (f", line {lineno}" if lineno is not None else "")
    if position is None:
        position = diagnostics.syntax_position(source, lineno, message)
    return ExpressionSyntaxError(
        f"{where}: {message}",
        kind="template-syntax",
        expression=source,
        position=position,
        hint=hint,
    )


def _nesting_error(source: str, name: str, detail: str) -> ExpressionSyntaxError:
    return ExpressionSyntaxError(
        f"template `{name}`: nested too deeply to compile ({detail})",
        kind="template-syntax",
        expression=source,
        hint="split deep nesting or long attribute and filter chains into {% set %} steps",
    )


def _refuse_deep_nesting(tree: nodes.Template, source: str, name: str) -> None:
    stack: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise _nesting_error(source, name, f"more than {MAX_NESTING} levels")
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())


def _refuse_loading(tree: nodes.Template, source: str, name: str) -> None:
    for node in tree.find_all(_REFUSED):
        tag = type(node).__name__.lower().replace("fromimport", "from ... import")
        line_start = diagnostics.line_start(source, node.lineno)
        match = _REFUSED_TAG.search(source, line_start)
        raise _syntax_error(
            source,
            name,
            f"{{% {tag} %}} is not allowed: templates cannot load other templates or files",
            node.lineno,
            hint="put the text into the template itself, or pass it in as data",
            position=match.start() if match else line_start,
        )


def compile_template(
    source: str,
    *,
    name: str = "<template>",
    autoescape: bool = False,
    max_output: int = limits.MAX_OUTPUT,
) -> Template:
    """Compile ``source`` once; render the result per message with :meth:`Template.render`.

    ``name`` appears in every error message (use the flow location, e.g.
    ``steps.map.fields.order_no``). ``autoescape=True`` for XML documents: values are
    escaped with markupsafe, literal text is not. ``max_output`` caps the characters
    one render may produce.

    Raises :class:`~integrator.errors.ExpressionSyntaxError` (``kind="template-syntax"``,
    ``position`` = 0-based offset of the best guess at the error, or None) when the
    template does not parse, names an unknown filter or test, nests deeper than
    ``MAX_NESTING``, or uses ``{% include %}``, ``{% import %}``, ``{% from %}`` or
    ``{% extends %}``.
    """
    if max_output < 0:
        raise ValueError(f"max_output must be >= 0, not {max_output}")
    env = template_environment(autoescape=autoescape)
    try:
        tree = env.parse(source, name=name)
        _refuse_deep_nesting(tree, source, name)
        _refuse_loading(tree, source, name)
        found = meta.find_undeclared_variables(tree)
        fast = compile_fast(tree, env, name)
        guard_loops(tree, env)
        code = env.compile(tree, name=name, filename=name)
    except TemplateSyntaxError as exc:
        message = exc.message or "invalid template"
        hint = diagnostics.syntax_hint(message, env)
        raise _syntax_error(source, name, message, exc.lineno, hint=hint) from exc
    except (RecursionError, SyntaxError) as exc:
        # Jinja's parser recurses per nesting level; Python refuses the generated code
        # past 200 nested brackets or 20 nested loops.
        detail = exc.msg if isinstance(exc, SyntaxError) else "maximum recursion depth exceeded"
        raise _nesting_error(source, name, detail) from exc
    jt = env.template_class.from_code(env, code, env.make_globals(None))
    names = frozenset(found - env.globals.keys() - {"self"})
    return Template(
        source=source,
        name=name,
        autoescape=autoescape,
        max_output=max_output,
        names=names,
        jinja=jt,
        fast=fast,
    )
