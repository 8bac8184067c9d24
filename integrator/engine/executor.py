"""Pushes batches of messages through the step graph.

One *pass* takes a batch in at a step and walks the steps in topological order: each
step gets, as one list, every message that reached it in this pass. Transform steps run
a tight loop over that list; only steps marked ``is_async`` (enrich) await, once per
batch. Routing steps hand deliveries to the engine, which queues them per sink.

Messages created during a pass (split children, aggregates, forks) are *spawned*: they
hold a pending count on their origin, so the origin finishes only after them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from integrator.errors import IntegratorError
from integrator.message import Message
from integrator.steps.base import Step

if TYPE_CHECKING:
    from integrator.compiler.graph import CompiledFlow
    from integrator.engine.runner import Engine

__all__ = ["Executor"]


class _Pass:
    """The BatchContext of one pass: buckets of messages waiting at each step."""

    __slots__ = ("buckets", "engine", "entered")

    def __init__(self, engine: Engine, entered: list[Message]) -> None:
        self.engine = engine
        self.entered = entered
        self.buckets: dict[int, list[Message]] = {}

    def fail(self, msg: Message, step: Step, error: IntegratorError) -> None:
        self.engine.fail(msg, step.name, step.on_error, error)

    def filtered(self, msg: Message, step: Step, reason: str = "filtered") -> None:
        self.engine.filtered(msg, reason)

    def deliver(self, msg: Message, sinks: tuple[str, ...]) -> None:
        self.engine.deliver(msg, sinks)

    def jump(self, msg: Message, step_index: int) -> None:
        self.buckets.setdefault(step_index, []).append(msg)

    def spawn(self, msg: Message) -> None:
        msg.pending += 1  # its own processing token, released when the pass ends
        if msg.parent is not None:
            msg.parent.pending += 1
        self.entered.append(msg)

    def state(self, step: Step) -> dict[str, Any]:
        return self.engine.step_state(step)

    def lookup(self, ref: Any) -> Any:
        return self.engine.lookup(ref)


class Executor:
    """Runs passes over one compiled flow for one engine run."""

    def __init__(self, flow: CompiledFlow, engine: Engine) -> None:
        self.steps = flow.steps
        self.successor = flow.successor
        self.order = flow.order
        self.position = {index: pos for pos, index in enumerate(flow.order)}
        self.engine = engine

    async def run(self, batch: list[Message], start: int = 0) -> None:
        """Process ``batch`` from step ``start``; release the pass's tokens at the end."""
        entered = list(batch)
        ctx = _Pass(self.engine, entered)
        buckets = ctx.buckets
        if batch:
            buckets[start] = batch
        steps = self.steps
        successor = self.successor
        for index in self.order[self.position.get(start, 0):]:
            todo = buckets.pop(index, None)
            if not todo:
                continue
            step = steps[index]
            if step.is_async:
                out = await step.process_async(todo, ctx)
            else:
                out = step.process(todo, ctx)
            if out:
                nxt = successor[index]
                if nxt is None:
                    for msg in out:
                        self.engine.filtered(msg, "unrouted")
                else:
                    waiting = buckets.get(nxt)
                    if waiting is None:
                        buckets[nxt] = out
                    else:
                        waiting.extend(out)
        release = self.engine.release
        for msg in entered:
            release(msg)

    async def flush(self, now: float, final: bool) -> None:
        """Release what holding steps (aggregate) have due, and process it onwards."""
        for index in self.order:
            step = self.steps[index]
            if type(step).flush is Step.flush:
                continue
            emitted = step.flush(self.engine.step_state(step), now, final)
            if not emitted:
                continue
            for msg in emitted:
                msg.pending += 1
            nxt = self.successor[index]
            if nxt is None:
                for msg in emitted:
                    self.engine.filtered(msg, "unrouted")
                    self.engine.release(msg)
            else:
                await self.run(emitted, nxt)
