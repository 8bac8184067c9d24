"""From a flow file to a typed :class:`FlowModel`, collecting every problem on the way.

Stages: safe YAML (:mod:`yaml_loader`) → references (:mod:`references`) → the top-level
shape against the generated schema (:mod:`validation`) → the model. Each stage reports
into one :class:`Diagnostics`; the compiler adds its own findings to the same list, so
``integrator lint`` prints all of them at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

from integrator.flow.model import (
    ConnectionDef,
    FlowMeta,
    FlowModel,
    Settings,
    SinkDef,
    SourceDef,
    StepDef,
)
from integrator.flow.problems import ERROR, Problem
from integrator.flow.references import Resolver, SecretStore
from integrator.flow.validation import SchemaChecker
from integrator.flow.yaml_loader import Mark, Positions, load_yaml
from integrator.security.secrets import Redactor

__all__ = ["Diagnostics", "LoadOptions", "load_model"]

Path = tuple[str | int, ...]


@dataclass
class LoadOptions:
    """How to load: environment, secrets, whether unset references are problems."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    secrets: SecretStore | None = None
    check_env: bool = True
    mask_secrets: bool = False
    redactor: Redactor = field(default_factory=Redactor)


@dataclass
class Diagnostics:
    """Collects problems for one file and knows where each path is in its text."""

    file: str
    text: str
    positions: Positions
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lines = self.text.splitlines()

    def report(self, code: str, message: str, path: Path, hint: str | None = None, *,
               severity: str = ERROR, at_key: bool = False, offset: int | None = None) -> None:
        mark = self.positions.key(path) if at_key else self.positions.value(path)
        line, col = (mark.line, mark.col) if mark else (0, 0)
        if mark is not None and offset is not None:
            line, col = self._inside(mark, offset)
        self.problems.append(Problem(code, message, self.file, line, col, hint, severity,
                                     tuple(path)))

    def _inside(self, mark: Mark, offset: int) -> tuple[int, int]:
        """The line and column of character ``offset`` inside the scalar at ``mark``."""
        if mark.style in ("|", ">"):
            # Block scalar: content starts on the next line, at the block's indentation.
            index = mark.line  # 0-based index of the first content line
            remaining = offset
            while index < len(self._lines):
                content = self._lines[index]
                indent = len(content) - len(content.lstrip(" "))
                length = len(content) - indent
                if remaining <= length:
                    return index + 1, indent + remaining + 1
                remaining -= length + 1
                index += 1
            return mark.line, mark.col
        if mark.end_line not in (0, mark.line):
            return mark.line, mark.col  # a folded multi-line scalar: point at its start
        quote = 1 if mark.style in ("'", '"') else 0
        return mark.line, mark.col + quote + offset

    @property
    def has_errors(self) -> bool:
        return any(p.is_error for p in self.problems)


def _model(data: dict[str, Any], file: str, diag: Diagnostics) -> FlowModel:
    meta = FlowMeta(
        name=str(data.get("flow", "")),
        description=str(data.get("description", "")),
        version=str(data.get("version", "")),
        tags=tuple(str(t) for t in data.get("tags", []) or []),
        owner=str(data.get("owner", "")),
    )
    raw_settings = data.get("settings") or {}
    settings = Settings(
        on_error=raw_settings.get("on_error", "dead-letter"),
        max_in_flight=int(raw_settings.get("max_in_flight", 10_000)),
        batch_size=int(raw_settings.get("batch_size", 500)),
    )
    connections: dict[str, ConnectionDef] = {}
    for name, conf in (data.get("connections") or {}).items():
        if isinstance(conf, dict) and isinstance(conf.get("type"), str):
            config = {k: v for k, v in conf.items() if k != "type"}
            connections[name] = ConnectionDef(name, conf["type"], config,
                                               ("connections", name))
    source = None
    raw_source = data.get("source")
    if isinstance(raw_source, dict) and isinstance(raw_source.get("connection"), str):
        source = SourceDef(raw_source["connection"], dict(raw_source.get("options") or {}),
                           ("source",))
    steps: list[StepDef] = []
    for index, item in enumerate(data.get("steps") or []):
        step = _step(index, item, diag)
        if step is not None:
            steps.append(step)
    sinks: dict[str, SinkDef] = {}
    for name, conf in (data.get("sinks") or {}).items():
        if not isinstance(conf, dict) or not isinstance(conf.get("connection"), str):
            continue
        sinks[name] = SinkDef(
            name=name,
            connection=conf["connection"],
            action=conf.get("action"),
            body=conf.get("body", "body"),
            options=dict(conf.get("options") or {}),
            path=("sinks", name),
            concurrency=int(conf.get("concurrency", 1)),
            batch_size=int(conf.get("batch_size", 500)),
            on_error=conf.get("on_error"),
            description=str(conf.get("description", "")),
        )
    keys = {k: v for k, v in (data.get("keys") or {}).items() if isinstance(v, str)}
    return FlowModel(file, meta, settings, keys, connections, source, steps, sinks, data)


def _step(index: int, item: Any, diag: Diagnostics) -> StepDef | None:
    from integrator.flow.suggest import did_you_mean
    from integrator.steps import STEP_KINDS

    path: Path = ("steps", index)
    if not isinstance(item, dict):
        diag.report("invalid-step", f"a step must be a mapping, got {type(item).__name__}",
                    path, f"write `- <kind>: ...` with a kind among {', '.join(STEP_KINDS)}")
        return None
    kinds = [k for k in item if k in STEP_KINDS]
    if not kinds:
        unknown = [k for k in item if k not in ("id", "description", "on_error")]
        if unknown:
            hint = did_you_mean(unknown[0], STEP_KINDS) or (
                f"step kinds: {', '.join(STEP_KINDS)}")
            diag.report("unknown-step-kind", f"unknown step kind {unknown[0]!r}",
                        (*path, unknown[0]), hint, at_key=True)
        else:
            diag.report("invalid-step", "the step has no kind", path,
                        f"add one of {', '.join(STEP_KINDS)}")
        return None
    if len(kinds) > 1:
        diag.report("invalid-step", f"one step has several kinds: {', '.join(kinds)}",
                    (*path, kinds[1]), "split it into one step per kind", at_key=True)
        return None
    kind = kinds[0]
    return StepDef(index=index, kind=kind, config=item[kind], path=path,
                   id=item.get("id") if isinstance(item.get("id"), str) else None,
                   on_error=item.get("on_error"),
                   description=str(item.get("description", "")))


def load_model(text: str, file: str, checker: SchemaChecker,
               options: LoadOptions) -> tuple[FlowModel | None, Diagnostics]:
    """Parse, resolve and shape-check a flow; the model is None when YAML itself failed."""
    loaded = load_yaml(text, file)
    diag = Diagnostics(file, text, loaded.positions, list(loaded.problems))
    if loaded.data is None:
        return None, diag
    if not isinstance(loaded.data, dict):
        diag.report("invalid-flow", "a flow file must be a mapping at the top", (),
                    "start with `flow: my-flow-name`")
        return None, diag
    resolver = Resolver(file, loaded.positions, options.env,
                        options.secrets or SecretStore(env=options.env), options.redactor,
                        check=options.check_env, mask_secrets=options.mask_secrets)
    data = resolver.resolve(loaded.data)
    diag.problems.extend(resolver.problems)

    def report(code: str, message: str, path: Path, hint: str | None = None,
               at_key: bool = False) -> None:
        diag.report(code, message, path, hint, at_key=at_key)

    checker.check_top(data, report)
    return _model(data, file, diag), diag


def read_flow_text(path: FilePath) -> str:
    """Read a flow file as UTF-8; OSError and UnicodeDecodeError are the caller's."""
    return path.read_text(encoding="utf-8")
