"""The one sandboxed Jinja2 environment per configuration that every template shares.

Configuration (see :func:`template_environment`):

- ``ImmutableSandboxedEnvironment``: no private attributes, no methods that modify
  lists or dicts, no callables marked unsafe.
- ``undefined=MissingValue`` (a ``StrictUndefined``): a missing field is an error,
  never an empty string. ``| default(...)`` and ``is defined`` still work.
- No loader: ``{% include %}``, ``{% import %}`` and ``{% extends %}`` have nothing to
  read; :func:`~integrator.mapping.templates.compile_template` refuses them up front.
- ``keep_trailing_newline=True``: a document template's final newline is output.
- Autoescape is off for text and JSON, on for XML (``autoescape=True``).
- The guards of :mod:`.limits` (range, loop budget, amplifying operators and filters)
  and the filters of :mod:`.filters`; ``lipsum`` is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import Any, NoReturn

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import UndefinedError
from jinja2.runtime import Context, LoopContext, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from integrator.mapping.templates import filters, limits

__all__ = [
    "MissingValue",
    "MissingValueError",
    "TemplateEnvironment",
    "guard_loops",
    "template_environment",
]


class MissingValueError(UndefinedError):
    """A template used a value that is not there; carries where it was looked for.

    ``obj`` is the object the name was looked up on (``jinja2.runtime.missing`` for a
    top-level name), ``name`` the field name or item index.
    """

    def __init__(self, message: str, *, obj: Any, name: Any) -> None:
        super().__init__(message)
        self.obj = obj
        self.name = name


class MissingValue(StrictUndefined):
    """``StrictUndefined`` that raises :class:`MissingValueError` (with the lookup) on use."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> NoReturn:
        if self._undefined_exception is not UndefinedError:
            # e.g. SecurityError for an unsafe attribute: keep Jinja's own error
            raise self._undefined_exception(self._undefined_message)
        raise MissingValueError(
            self._undefined_message, obj=self._undefined_obj, name=self._undefined_name
        )

    # Every operation StrictUndefined refuses, routed through the method above (the
    # base classes bind these names to their own function, not to an override).
    __add__ = __radd__ = __sub__ = __rsub__ = _fail_with_undefined_error
    __mul__ = __rmul__ = __div__ = __rdiv__ = _fail_with_undefined_error
    __truediv__ = __rtruediv__ = _fail_with_undefined_error
    __floordiv__ = __rfloordiv__ = _fail_with_undefined_error
    __mod__ = __rmod__ = _fail_with_undefined_error
    __pos__ = __neg__ = __abs__ = __round__ = _fail_with_undefined_error
    __call__ = __getitem__ = __contains__ = _fail_with_undefined_error
    __lt__ = __le__ = __gt__ = __ge__ = _fail_with_undefined_error
    __int__ = __float__ = __complex__ = __index__ = _fail_with_undefined_error
    __pow__ = __rpow__ = _fail_with_undefined_error
    __iter__ = __str__ = __len__ = _fail_with_undefined_error
    __eq__ = __ne__ = __bool__ = __hash__ = _fail_with_undefined_error


_LOOP_GUARD = f"{limits.__name__}.loop_guard"


def guard_loops(tree: nodes.Template, env: TemplateEnvironment) -> None:
    """Make every ``{% for %}`` of ``tree`` spend the render's loop budget.

    The iterable becomes a call of ``limits.loop_guard``, by an import name that
    template syntax cannot write; the code generator turns it into a direct call.
    """
    for loop in tree.find_all(nodes.For):
        guard = nodes.Call(
            nodes.ImportedName(_LOOP_GUARD), [loop.iter], [], None, None, lineno=loop.lineno
        )
        guard.set_environment(env)
        loop.iter = guard


class _GuardedCodeGenerator(CodeGenerator):
    """Jinja's code generator, plus: ``a ~ b`` results are checked against the size
    limit, and loop guards (see :func:`guard_loops`) are called directly."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_size(")
        super().visit_Concat(node, frame)
        self.write(")")

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        callee = node.node
        if isinstance(callee, nodes.ImportedName) and callee.importname == _LOOP_GUARD:
            # ours, not the template's: skip the sandbox's per-call checks
            self.write("environment.loop_guard(")
            self.visit(node.args[0], frame)
            self.write(")")
            return
        super().visit_Call(node, frame, forward_caller=forward_caller)


class TemplateEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus the resource guards of :mod:`.limits`."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    code_generator_class = _GuardedCodeGenerator

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Compute ``+ * ** %`` after checking the result cannot exceed the size limit."""
        return limits.check_binop(operator, left, right, self.binop_table[operator])

    def call(
        __self,  # Jinja's signature: a keyword argument may be called "self"
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Call from a template: sandbox checks, loop budget, size estimate and check."""
        if isinstance(__obj, LoopContext) and args:
            args = (limits.loop_guard(args[0]), *args[1:])
        args = limits.check_call(__obj, args, kwargs)
        return limits.check_size(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Sandboxed ``str.format`` with field widths checked against the size limit."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = str(value.__self__)

        def guarded(*args: Any, **kwargs: Any) -> str:
            limits.check_format_method(fmt, args, kwargs)
            return limits.check_size(wrapped(*args, **kwargs))

        return guarded

    def checked_size(self, value: Any) -> Any:
        """Used by the generated code for ``~``: the value, or LimitExceeded."""
        return limits.check_size(value)

    def loop_guard(self, iterable: Iterable[Any]) -> Iterable[Any]:
        """Used by the generated code for ``{% for %}``: see :func:`limits.loop_guard`."""
        return limits.loop_guard(iterable)


@cache
def template_environment(*, autoescape: bool = False) -> TemplateEnvironment:
    """The shared environment for one configuration; the same object on every call.

    Treat it as read-only: every template compiled with this configuration uses it.
    """
    env = TemplateEnvironment(
        undefined=MissingValue,
        autoescape=autoescape,
        keep_trailing_newline=True,
        auto_reload=False,
        cache_size=0,
    )
    env.filters.update(limits.guarded_filters())
    env.filters.update(filters.FILTERS)
    env.globals["range"] = limits.guarded_range
    del env.globals["lipsum"]
    return env
