"""The step contract, shared by every step kind.

A step kind is a class with a ``kind`` name, a JSON ``schema`` for its block in the flow
(the same dict goes into ``schemas/flow.schema.json``), and ``build`` — which compiles
that block once, at load time, reporting problems through the compile context. At run
time the engine hands each step a batch of messages:

``process(batch, run)`` returns the messages that continue to the next step. Messages
that fail go to ``run.fail`` (the step's error policy decides what then), messages that
are dropped on purpose go to ``run.filtered``; routing steps call ``run.deliver`` and
``run.jump`` and return nothing.

Most kinds only implement ``apply(msg)``: transform the message in place or raise; the
base ``process`` loop adds tracing and per-message error isolation.

Steps never mutate a document they did not create: they copy the containers along the
paths they change (copy-on-write), so a message's original body stays intact for dead
letters and siblings split from the same parent never share mutable state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from integrator.errors import IntegratorError, MessageError

if TYPE_CHECKING:
    from integrator.mapping.jmespath import Expression
    from integrator.mapping.templates import Template
    from integrator.message import Message

__all__ = [
    "DROP",
    "BatchContext",
    "BuildContext",
    "Step",
    "StepFailure",
    "compile_condition",
    "doc_options_schema",
    "read_doc",
    "write_doc",
]

Path = tuple[str | int, ...]

DROP: Any = object()
"""Returned by ``apply`` to drop the message on purpose (a filter said no)."""


class StepFailure(MessageError):
    """An unexpected exception inside a step, recorded for that one message."""


class BatchContext(Protocol):
    """What the engine offers a step while it processes a batch."""

    def fail(self, msg: Message, step: Step, error: IntegratorError) -> None: ...

    def filtered(self, msg: Message, step: Step, reason: str = "filtered") -> None: ...

    def deliver(self, msg: Message, sinks: tuple[str, ...]) -> None: ...

    def jump(self, msg: Message, step_index: int) -> None: ...

    def spawn(self, msg: Message) -> None: ...

    def state(self, step: Step) -> dict[str, Any]: ...

    def lookup(self, ref: Any) -> Any: ...


class BuildContext(Protocol):
    """What compiling a step block needs (implemented by the flow compiler)."""

    workdir: Any

    def expression(self, text: Any, path: Path) -> Expression | None: ...

    def template(self, text: Any, path: Path, *, autoescape: bool = False) -> Template | None:
        ...

    def problem(self, code: str, message: str, path: Path, hint: str | None = None,
                *, severity: str = "error", at_key: bool = False) -> None: ...

    def value(self, spec: Any, path: Path) -> Any: ...

    def lookup(self, connection: str, options: Mapping[str, Any], path: Path) -> Any: ...


_LITERAL_LOOKALIKES = {("true",): "`true`", ("false",): "`false`", ("null",): "`null`"}


def compile_condition(ctx: BuildContext, text: Any, path: Path) -> Expression | None:
    """Compile a JMESPath condition, warning about the classic slip: in JMESPath a bare
    ``true`` is a field named "true" (always null here), not the boolean."""
    expr = ctx.expression(text, path)
    if expr is not None and expr.field_path in _LITERAL_LOOKALIKES:
        literal = _LITERAL_LOOKALIKES[expr.field_path]
        ctx.problem("field-not-literal",
                    f"{text!r} reads a field named {text!r}; it is not the literal",
                    path, f"write {literal} (with backticks) for the literal",
                    severity="warning")
    return expr


MESSAGE_VIEW = "message"
"""``on: message`` reads a view of the whole message: ``{body, vars, keys, meta, id}``."""


def doc_options_schema(*, produces: bool, in_place: bool = False) -> dict[str, Any]:
    """Schema for the ``on`` (and ``as``) keys that choose a step's document.

    ``in_place`` steps change the document they read, so ``on: message`` (a view that
    is rebuilt for every read) is not allowed for them.
    """
    props: dict[str, Any] = {
        "on": {
            "type": "string",
            **({"pattern": r"^(?!message$)"} if in_place else {}),
            "description": "The document to read: `body` (default), a name stored by an "
                           "earlier step's `as`, or `message` for {body, vars, keys, meta, "
                           "id} — to combine several documents in one step.",
        }
    }
    if produces:
        props["as"] = {
            "type": "string",
            "pattern": r"^(?!message$)[A-Za-z_][A-Za-z0-9_]*$",
            "description": "Store the result under this name (a var) instead of replacing "
                           "the document read. Sinks pick a var with `body: <name>`.",
        }
    return props


def read_doc(msg: Message, name: str | None) -> Any:
    if name is None or name == "body":
        return msg.body
    if name == MESSAGE_VIEW:
        return {"body": msg.body, "vars": msg.vars, "keys": msg.keys, "meta": msg.meta,
                "id": msg.id}
    try:
        return msg.vars[name]
    except KeyError:
        raise MessageError(
            f"no document named {name!r} on this message",
            hint="an earlier step must store it with `as:`; check the route this message took",
        ) from None


def write_doc(msg: Message, name: str | None, value: Any) -> None:
    if name is None or name in ("body", MESSAGE_VIEW):
        msg.body = value
    else:
        msg.vars[name] = value


class Step:
    """Base class of the step kinds; see the module docstring for the contract."""

    kind: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    schema: ClassVar[dict[str, Any]] = {}
    terminal: ClassVar[bool] = False
    is_async: ClassVar[bool] = False

    name: str
    index: int
    on_error: str

    def bind(self, name: str, index: int, on_error: str) -> None:
        """Called by the compiler once the step's place in the flow is known."""
        self.name = name
        self.index = index
        self.on_error = on_error

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        raise NotImplementedError

    def targets(self) -> list[tuple[str, Path]]:
        """Sink names and step ids this step sends messages to, with their places."""
        return []

    def apply(self, msg: Message) -> Any:
        """Transform ``msg`` in place; return DROP to filter it; raise to fail it."""
        raise NotImplementedError

    def process(self, batch: list[Message], run: BatchContext) -> list[Message]:
        out: list[Message] = []
        append = out.append
        apply = self.apply
        name = self.name
        for msg in batch:
            msg.trace.append(name)
            try:
                result = apply(msg)
            except IntegratorError as exc:
                run.fail(msg, self, exc)
                continue
            except Exception as exc:
                run.fail(msg, self, StepFailure(
                    f"{type(exc).__name__} in step {name!r}: {exc}",
                    hint="this is a bug in integrator or in a plugin; please report it",
                ))
                continue
            if result is DROP:
                run.filtered(msg, self)
            else:
                append(msg)
        return out

    async def process_async(self, batch: list[Message], run: BatchContext) -> list[Message]:
        """For steps with ``is_async``: like ``process``, awaiting I/O once per batch."""
        raise NotImplementedError

    def flush(self, state: dict[str, Any], now: float, final: bool) -> list[Message]:
        """Steps that hold messages (aggregate) release them here; others hold none.

        ``state`` is this step's per-run state (``run.state(step)``): compiled steps are
        immutable and can run many times, so whatever a run accumulates lives there.
        """
        return []

    def describe(self) -> str:
        return self.kind
