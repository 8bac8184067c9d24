"""``route`` sends messages to sinks and branches by content; ``deliver`` sends to sinks.

```yaml
- route:                          # a list: the first matching rule wins
    - when: "market == 'PL'"
      to: [erp_pl, crm]           # sink names and/or step ids (branches)
    - when: "type == 'b2b'"
      to: [erp_b2b]
    - otherwise: [erp_eu, crm]
- route:
    mode: all                     # every matching rule (multicast)
    rules:
      - {when: "type == 'b2b'", to: [accounts]}
      - {when: "customer.accepts_marketing", to: [newsletter]}
- deliver: [audit]                # unconditional
```
Both end the path: what comes after them runs only when a route names it by its ``id``.
A message no rule matches (and no ``otherwise``) is finished as *unrouted*.

When every rule of a first-match route compares the same field with a text literal
(``market == 'PL'``, ``market == 'DE'`` ...), the rules compile into one dict lookup.
"""

from __future__ import annotations

from typing import Any, ClassVar

from integrator.errors import IntegratorError
from integrator.mapping.jmespath import is_truthy
from integrator.message import Message
from integrator.steps.base import (
    BatchContext,
    BuildContext,
    Path,
    Step,
    compile_condition,
    read_doc,
)

__all__ = ["DeliverStep", "RouteStep"]

_TARGETS = {"type": "array", "items": {"type": "string"}, "minItems": 1,
            "description": "Sink names and/or step ids."}
_RULE = {
    "type": "object",
    "properties": {
        "when": {"type": "string", "description": "JMESPath condition."},
        "to": _TARGETS,
        "otherwise": _TARGETS,
    },
    "oneOf": [{"required": ["when", "to"]}, {"required": ["otherwise"]}],
    "additionalProperties": False,
}


def _lookup_path(doc: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if type(doc) is not dict:
            return None
        doc = doc.get(key)
    return doc


class _Targets:
    """Resolved targets of one rule: sink names, and step indexes to continue at."""

    __slots__ = ("names", "places", "sinks", "steps")

    def __init__(self, names: list[str], places: list[Path]) -> None:
        self.names = names
        self.places = places
        self.sinks: tuple[str, ...] = ()
        self.steps: tuple[int, ...] = ()


class RouteStep(Step):
    kind = "route"
    summary = "Content-based router: first match, all matches (multicast), otherwise."
    terminal = True
    schema: ClassVar[dict[str, Any]] = {
        "description": "Send messages to sinks or branches (step ids) by content.",
        "anyOf": [
            {"type": "array", "items": _RULE, "minItems": 1},
            {
                "type": "object",
                "properties": {
                    "on": {"type": "string", "description": "The document conditions "
                                                           "read (default body)."},
                    "mode": {"enum": ["first", "all"], "default": "first",
                             "description": "first: the first matching rule; all: every "
                                            "matching rule."},
                    "rules": {"type": "array", "items": _RULE, "minItems": 1},
                },
                "required": ["rules"],
                "additionalProperties": False,
            },
        ],
    }

    def __init__(self, on: str | None, mode: str, rules: list[tuple[Any, _Targets]],
                 otherwise: _Targets | None) -> None:
        self.on = on
        self.mode = mode
        self.rules = rules
        self.otherwise = otherwise
        self.table: dict[str, _Targets] | None = None
        self.table_path: tuple[str, ...] = ()

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        if isinstance(config, list):
            on, mode, rules_cfg, rules_path = None, "first", config, path
        else:
            on, mode = config.get("on"), config.get("mode", "first")
            rules_cfg, rules_path = config["rules"], (*path, "rules")
        rules: list[tuple[Any, _Targets]] = []
        otherwise: _Targets | None = None
        for i, rule in enumerate(rules_cfg):
            rp = (*rules_path, i)
            if "otherwise" in rule:
                if otherwise is not None:
                    ctx.problem("duplicate-otherwise", "a route has one `otherwise`", rp)
                if i != len(rules_cfg) - 1:
                    ctx.problem("unreachable-rule", "`otherwise` must be the last rule",
                                rp, "rules after it never run")
                otherwise = _Targets(list(rule["otherwise"]),
                                     [(*rp, "otherwise", j) for j in range(len(rule["otherwise"]))])
                continue
            cond = compile_condition(ctx, rule["when"], (*rp, "when"))
            rules.append((cond, _Targets(list(rule["to"]),
                                         [(*rp, "to", j) for j in range(len(rule["to"]))])))
        step = cls(on, mode, rules, otherwise)
        step._build_table()
        return step

    def _build_table(self) -> None:
        if self.mode != "first" or len(self.rules) < 2:
            return
        path: tuple[str, ...] | None = None
        table: dict[str, _Targets] = {}
        for cond, targets in self.rules:
            eq = getattr(cond, "equality", None)
            if eq is None:
                return
            field_path, literal = eq
            if not isinstance(literal, str) or (path is not None and field_path != path):
                return
            path = field_path
            table.setdefault(literal, targets)
        self.table = table
        self.table_path = path or ()

    def all_targets(self) -> list[_Targets]:
        out = [t for _, t in self.rules]
        if self.otherwise is not None:
            out.append(self.otherwise)
        return out

    def targets(self) -> list[tuple[str, Path]]:
        return [(n, p) for t in self.all_targets() for n, p in zip(t.names, t.places,
                                                                   strict=True)]

    def resolve(self, sinks: set[str], steps: dict[str, int]) -> None:
        """Split each rule's names into sinks and step indexes (the compiler calls this)."""
        for t in self.all_targets():
            t.sinks = tuple(n for n in t.names if n in sinks)
            t.steps = tuple(steps[n] for n in t.names if n in steps and n not in sinks)

    def _send(self, msg: Message, targets: _Targets, run: BatchContext) -> None:
        if targets.sinks:
            run.deliver(msg, targets.sinks)
        for i, index in enumerate(targets.steps):
            run.jump(msg if i == 0 else _fork(msg, run), index)

    def process(self, batch: list[Message], run: BatchContext) -> list[Message]:
        name = self.name
        table = self.table
        for msg in batch:
            msg.trace.append(name)
            doc = msg.body if self.on is None else None
            try:
                if doc is None:
                    doc = read_doc(msg, self.on)
                if table is not None:
                    value = _lookup_path(doc, self.table_path)
                    chosen = table.get(value) if type(value) is str else None
                    chosen = chosen or self.otherwise
                    if chosen is None:
                        run.filtered(msg, self, "unrouted")
                    else:
                        self._send(msg, chosen, run)
                    continue
                matched = self._match(doc)
            except IntegratorError as exc:
                run.fail(msg, self, exc)
                continue
            if not matched:
                run.filtered(msg, self, "unrouted")
            elif len(matched) == 1:
                self._send(msg, matched[0], run)
            else:
                self._send_many(msg, matched, run)
        return []

    def _match(self, doc: Any) -> list[_Targets]:
        matched: list[_Targets] = []
        for cond, targets in self.rules:
            if is_truthy(cond.search(doc)):
                matched.append(targets)
                if self.mode == "first":
                    return matched
        if not matched and self.otherwise is not None:
            matched.append(self.otherwise)
        return matched

    def _send_many(self, msg: Message, matched: list[_Targets], run: BatchContext) -> None:
        sinks = tuple(dict.fromkeys(s for t in matched for s in t.sinks))
        steps = tuple(dict.fromkeys(i for t in matched for i in t.steps))
        merged = _Targets([], [])
        merged.sinks, merged.steps = sinks, steps
        self._send(msg, merged, run)

    def describe(self) -> str:
        return f"route ({self.mode}{', table' if self.table is not None else ''})"


def _fork(msg: Message, run: BatchContext) -> Message:
    """A copy of ``msg`` for a second branch; it finishes before the original does."""
    child = msg.child(msg.body)
    run.spawn(child)
    return child


class DeliverStep(Step):
    kind = "deliver"
    summary = "Send every message to the given sinks."
    terminal = True
    schema: ClassVar[dict[str, Any]] = {
        "description": "Sink names (and/or step ids) every message goes to.",
        "anyOf": [
            _TARGETS,
            {"type": "object", "properties": {"to": _TARGETS}, "required": ["to"],
             "additionalProperties": False},
        ],
    }

    def __init__(self, targets: _Targets) -> None:
        self.to = targets
        self._route = RouteStep(None, "first", [], targets)

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        names = config if isinstance(config, list) else config["to"]
        base = path if isinstance(config, list) else (*path, "to")
        return cls(_Targets(list(names), [(*base, j) for j in range(len(names))]))

    def targets(self) -> list[tuple[str, Path]]:
        return list(zip(self.to.names, self.to.places, strict=True))

    def resolve(self, sinks: set[str], steps: dict[str, int]) -> None:
        self._route.resolve(sinks, steps)

    def process(self, batch: list[Message], run: BatchContext) -> list[Message]:
        for msg in batch:
            msg.trace.append(self.name)
            self._route._send(msg, self.to, run)
        return []

