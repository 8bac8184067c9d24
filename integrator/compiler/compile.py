"""Model → step graph. Every expression, template and schema is compiled here, once.

The compiler is also the linter's second half: it reports every problem it finds
(unknown connector types and actions, undefined references, expression errors at their
position, cycles, unreachable steps) into the file's :class:`Diagnostics`, and produces a
:class:`CompiledFlow` only when there are no errors.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from pathlib import Path as FilePath
from typing import Any

from integrator.compiler.graph import CompiledFlow, ConnectionPlan, LookupRef, SinkPlan
from integrator.connectors.base import Connector
from integrator.connectors.registry import Registry
from integrator.connectors.spec import Config, ConfigSpec
from integrator.errors import ExpressionSyntaxError, FatalError
from integrator.flow.loader import Diagnostics
from integrator.flow.model import FlowModel, StepDef
from integrator.flow.problems import ERROR, WARNING
from integrator.flow.suggest import did_you_mean
from integrator.flow.validation import SchemaChecker
from integrator.mapping.jmespath import Expression, compile_expression
from integrator.mapping.templates import Template, compile_template
from integrator.mapping.values import Value, compile_value
from integrator.steps import STEP_KINDS
from integrator.steps.base import Step

__all__ = ["Compiler"]

Path = tuple[str | int, ...]

_EXPRESSION_CODES = {
    "syntax": "expression-syntax",
    "unknown-function": "unknown-function",
    "invalid-arity": "invalid-arity",
    "invalid-type": "invalid-expression",
    "invalid-value": "invalid-expression",
    "template-syntax": "template-syntax",
}


class Compiler:
    """Compiles one flow model; implements the BuildContext steps compile against."""

    def __init__(self, model: FlowModel, diag: Diagnostics, registry: Registry,
                 checker: SchemaChecker, workdir: FilePath) -> None:
        self.model = model
        self.diag = diag
        self.registry = registry
        self.checker = checker
        self.workdir = workdir
        self.connectors: dict[str, type[Connector]] = {}
        self.lookups: dict[str, LookupRef] = {}
        self.used_connections: set[str] = set()

    # -- BuildContext -------------------------------------------------------------------

    def problem(self, code: str, message: str, path: Path, hint: str | None = None, *,
                severity: str = ERROR, at_key: bool = False) -> None:
        self.diag.report(code, message, path, hint, severity=severity, at_key=at_key)

    def expression(self, text: Any, path: Path) -> Expression | None:
        if not isinstance(text, str):
            self.problem("wrong-type", f"expected a JMESPath expression (text), got "
                         f"{type(text).__name__}", path)
            return None
        try:
            return compile_expression(text)
        except ExpressionSyntaxError as exc:
            self._expression_problem(exc, path)
            return None

    def template(self, text: Any, path: Path, *, autoescape: bool = False) -> Template | None:
        if not isinstance(text, str):
            self.problem("wrong-type", "expected template text", path)
            return None
        try:
            return compile_template(text, name="/".join(map(str, path)),
                                    autoescape=autoescape)
        except ExpressionSyntaxError as exc:
            self._expression_problem(exc, path)
            return None

    def value(self, spec: Any, path: Path) -> Value:
        return compile_value(spec, path, self)

    def lookup(self, connection: str, options: Mapping[str, Any], path: Path) -> LookupRef:
        cls = self._connection(connection, path, "lookup")
        parsed = self._options(
            cls.lookup_options if cls else None, options, (*path[:-1], "options"),
            f"lookup in {connection!r}",
            (lambda: cls.check_role_options("lookup", options)) if cls else None)
        ref_id = f"{connection}:{sorted(options.items())!r}"
        ref = self.lookups.get(ref_id)
        if ref is None:
            ref = LookupRef(connection, parsed, ref_id)
            self.lookups[ref_id] = ref
        return ref

    def _expression_problem(self, exc: ExpressionSyntaxError, path: Path) -> None:
        self.diag.report(_EXPRESSION_CODES.get(exc.kind, "expression-syntax"), exc.message,
                         path, exc.hint, offset=exc.position)

    # -- connections, source, sinks -------------------------------------------------------

    def _connection(self, name: str, path: Path, role: str) -> type[Connector] | None:
        self.used_connections.add(name)
        if name not in self.model.connections:
            self.problem("undefined-connection", f"no connection named {name!r}", path,
                         did_you_mean(name, self.model.connections)
                         or "define it under `connections:`")
            return None
        cls = self.connectors.get(name)
        if cls is None:
            return None
        if role not in cls.roles():
            self.problem("unsupported-role",
                         f"connection {name!r} ({cls.type_name}) cannot be a {role}", path,
                         f"{cls.type_name} can be: {', '.join(cls.roles()) or 'nothing'}")
            return None
        return cls

    def _options(self, spec: ConfigSpec | None, raw: Mapping[str, Any], path: Path,
                 what: str, cross: Any = None) -> Config:
        """Check and parse options; ``cross()`` adds the connector's cross-option
        problems once every option is valid on its own."""
        if spec is None:
            return Config({})
        problems = spec.check(raw)
        if not problems and cross is not None:
            problems = list(cross())
        for p in problems:
            where = (*path, p.key) if p.key is not None else path
            self.problem("invalid-option", f"{what}: {p.message}", where, p.hint,
                         at_key=p.message.startswith("unknown option"))
        if problems:
            return Config({})
        return spec.parse(raw, what)

    def _compile_connections(self) -> dict[str, ConnectionPlan]:
        plans: dict[str, ConnectionPlan] = {}
        for name, conn in self.model.connections.items():
            path = conn.path
            if conn.type not in self.registry:
                self.problem("unknown-connector", f"unknown connector type {conn.type!r}",
                             (*path, "type"), self.registry.suggest(conn.type))
                continue
            try:
                cls = self.registry.get(conn.type)
            except FatalError as exc:
                self.problem("unknown-connector", exc.message, (*path, "type"), exc.hint)
                continue
            self.connectors[name] = cls
            what = f"connection {name!r} ({conn.type})"
            config = self._options(cls.spec, conn.config, path, what)
            if config or not conn.config:
                for p in cls.check_config(conn.config):
                    where = (*path, p.key) if p.key is not None else path
                    self.problem("invalid-option", f"{what}: {p.message}", where, p.hint)
            plans[name] = ConnectionPlan(name, cls, config)
        return plans

    def _compile_sinks(self, produced: set[str]) -> dict[str, SinkPlan]:
        plans: dict[str, SinkPlan] = {}
        settings = self.model.settings
        for name, sink in self.model.sinks.items():
            cls = self._connection(sink.connection, (*sink.path, "connection"), "sink")
            if cls is None:
                continue
            if sink.body != "body" and sink.body not in produced:
                self.problem("undefined-document",
                             f"no step stores a document named {sink.body!r}",
                             (*sink.path, "body"),
                             did_you_mean(sink.body, produced)
                             or "a step stores one with `as: <name>`; or send `body`")
            action = sink.action or cls.default_action
            if action is None and len(cls.actions) == 1:
                action = next(iter(cls.actions))
            if action is None or action not in cls.actions:
                known = f"actions: {', '.join(cls.actions)}"
                if sink.action:
                    self.problem("unknown-action",
                                 f"{cls.type_name} has no action {sink.action!r}",
                                 (*sink.path, "action"),
                                 did_you_mean(sink.action, cls.actions) or known)
                else:
                    self.problem("unknown-action", f"sink {name!r} needs an `action`",
                                 sink.path, known)
                continue
            options = self._options(
                cls.actions[action].options, sink.options, (*sink.path, "options"),
                f"sink {name!r}",
                lambda c=cls, a=action, o=sink.options: c.check_role_options("sink", o, a))
            cap = cls.actions[action].max_batch
            batch_size = min(sink.batch_size, cap) if cap else sink.batch_size
            plans[name] = SinkPlan(name, sink.connection, action, sink.body, options,
                                   sink.concurrency, batch_size,
                                   sink.on_error or settings.on_error)
        return plans

    # -- steps and the graph --------------------------------------------------------------

    def _compile_step(self, step: StepDef) -> Step | None:
        raw = self.model.raw["steps"][step.index]
        before = len(self.diag.problems)
        self.checker.check(f"step.{step.kind}", raw, step.path, self._report)
        if any(p.is_error for p in self.diag.problems[before:]):
            return None
        compiled = STEP_KINDS[step.kind].build(step.config, (*step.path, step.kind), self)
        compiled.bind(step.name, step.index, step.on_error or self.model.settings.on_error)
        return compiled

    def _report(self, code: str, message: str, path: Path, hint: str | None = None,
                at_key: bool = False) -> None:
        self.problem(code, message, path, hint, at_key=at_key)

    def _graph(self, steps: list[Step | None], defs: list[StepDef],
               sinks: set[str]) -> tuple[tuple[int | None, ...], tuple[int, ...]]:
        n = len(steps)
        ids: dict[str, int] = {}
        for d in defs:
            if d.id is None:
                continue
            if d.id in ids:
                self.problem("duplicate-step-id", f"step id {d.id!r} is used twice",
                             (*d.path, "id"), f"first used by step {ids[d.id] + 1}")
            elif d.id in sinks:
                self.problem("ambiguous-name", f"{d.id!r} names both a step and a sink",
                             (*d.path, "id"), "rename one of them")
            else:
                ids[d.id] = d.index
        successor: list[int | None] = []
        edges: list[list[tuple[int, Path]]] = [[] for _ in range(n)]
        for i, step in enumerate(steps):
            terminal = step.terminal if step is not None else False
            nxt = i + 1 if (not terminal and i + 1 < n) else None
            successor.append(nxt)
            if nxt is not None:
                edges[i].append((nxt, defs[i].path))
            if step is None:
                continue
            for target, place in step.targets():
                if target in sinks:
                    continue
                if target in ids:
                    edges[i].append((ids[target], place))
                    continue
                self.problem("undefined-target", f"no sink or step named {target!r}", place,
                             did_you_mean(target, [*sinks, *ids])
                             or "define it under `sinks:`, or give a step that `id`")
            resolve = getattr(step, "resolve", None)
            if resolve is not None:
                resolve(sinks, ids)
            if not terminal and nxt is None:
                self.problem("no-delivery",
                             "messages that reach this last step are not delivered anywhere",
                             defs[i].path, "end the flow with `route` or `deliver`")
        reachable = self._reachable(edges, n)
        for i in range(n):
            if i not in reachable:
                self.problem("unreachable-step", f"step {defs[i].name!r} can never run",
                             defs[i].path,
                             "a step after a route or deliver runs only when a route names "
                             "its `id`")
        order = self._topological(edges, reachable, defs)
        return tuple(successor), order

    @staticmethod
    def _reachable(edges: list[list[tuple[int, Path]]], n: int) -> set[int]:
        seen: set[int] = set()
        stack = [0] if n else []
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            stack.extend(j for j, _ in edges[i])
        return seen

    def _topological(self, edges: list[list[tuple[int, Path]]], nodes: set[int],
                     defs: list[StepDef]) -> tuple[int, ...]:
        indegree = dict.fromkeys(nodes, 0)
        for i in nodes:
            for j, _ in edges[i]:
                if j in nodes:
                    indegree[j] += 1
        ready = [i for i, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for j, _ in edges[i]:
                if j in indegree:
                    indegree[j] -= 1
                    if indegree[j] == 0:
                        heapq.heappush(ready, j)
        if len(order) < len(nodes):
            stuck = set(nodes) - set(order)
            for i in sorted(stuck):
                for j, place in edges[i]:
                    if j in stuck and j <= i:
                        self.problem("cycle", f"this sends messages back to step "
                                     f"{defs[j].name!r}, which leads here again: a cycle",
                                     place, "routes may only jump forward")
        return tuple(order)

    # -- the whole flow ------------------------------------------------------------------

    def compile(self) -> CompiledFlow | None:
        model = self.model
        connections = self._compile_connections()
        source_options = Config({})
        if model.source is not None:
            cls = self._connection(model.source.connection, ("source", "connection"),
                                   "source")
            if cls is not None:
                raw = model.source.options
                source_options = self._options(
                    cls.source_options, raw, ("source", "options"), "source",
                    lambda: cls.check_role_options("source", raw))
        keys = []
        for name, text in model.keys.items():
            expr = self.expression(text, ("keys", name))
            if expr is not None:
                keys.append((name, expr))
        steps = [self._compile_step(d) for d in model.steps]
        produced = {
            str(d.config["as"]) for d in model.steps
            if isinstance(d.config, dict) and isinstance(d.config.get("as"), str)
        }
        sinks = self._compile_sinks(produced)
        successor, order = self._graph(steps, model.steps, set(model.sinks))
        self._unused(steps)
        if self.diag.has_errors or model.source is None:
            return None
        warnings = tuple(p for p in self.diag.problems if p.severity == WARNING)
        return CompiledFlow(
            model=model,
            keys=tuple(keys),
            connections=connections,
            source_connection=model.source.connection,
            source_options=source_options,
            steps=tuple(s for s in steps if s is not None),
            successor=successor,
            order=order,
            sinks=sinks,
            lookups=tuple(self.lookups.values()),
            warnings=warnings,
        )

    def _unused(self, steps: list[Step | None]) -> None:
        targeted = {t for s in steps if s is not None for t, _ in s.targets()}
        for name, sink in self.model.sinks.items():
            if name not in targeted:
                self.problem("unused-sink", f"sink {name!r} receives nothing", sink.path,
                             "route or deliver to it, or remove it", severity=WARNING,
                             at_key=True)
        for name, conn in self.model.connections.items():
            if name not in self.used_connections:
                self.problem("unused-connection", f"connection {name!r} is not used",
                             conn.path, "remove it, or use it in source, sinks or enrich",
                             severity=WARNING, at_key=True)
