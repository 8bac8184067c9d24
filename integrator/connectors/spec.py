"""Config specs: a connector declares its options once, and everything else follows.

The same ``ConfigSpec`` validates a flow's connection block (lint), parses it into a typed
``Config`` (run), renders ``integrator connectors show`` and contributes the connection
part of ``schemas/flow.schema.json`` (editor autocompletion).

Option types and what they accept:

==========  ======================================  =======================
type        accepts                                  parsed into
==========  ======================================  =======================
string      text                                     ``str``
template    text with ``{{ ... }}`` (per message)    ``str`` (compiled by the user)
path        a file path, relative to the work dir    ``str``
integer     a whole number                           ``int``
number      a number                                 ``float``
boolean     true / false                             ``bool``
duration    ``250ms``, ``5s``, ``2m``, ``1h`` or sec  ``float`` seconds
size        ``512``, ``64KB``, ``10MB``, ``1GB``      ``int`` bytes
enum        one of ``choices``                       ``str``
list        a list of strings                        ``tuple[str, ...]``
mapping     an object                                ``dict``
any         any YAML value                           as given
==========  ======================================  =======================
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from integrator.security.secrets import Secret

__all__ = [
    "Config",
    "ConfigSpec",
    "Option",
    "OptionProblem",
    "parse_duration",
    "parse_size",
    "yaml_kind",
]

_MISSING: Any = object()

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]i?[bB]|[bB])?\s*$")
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_duration(value: Any) -> float:
    """``"250ms"`` → 0.25, ``"2m"`` → 120.0, ``5`` → 5.0; ValueError when unreadable."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 5s or 250ms, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    raise ValueError(f"expected a duration such as 5s, 250ms or 2m, got {value!r}")


def parse_size(value: Any) -> int:
    """``"10MB"`` → 10_000_000, ``"64KiB"`` → 65536, ``512`` → 512."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 10MB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {value!r}")
        return value
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            unit = (m.group(2) or "b").lower()
            return int(float(m.group(1)) * _SIZE_UNITS[unit])
    raise ValueError(f"expected a size such as 512, 64KB or 10MB, got {value!r}")


_PATTERN_DURATION = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"
_PATTERN_SIZE = r"^\s*\d+(\.\d+)?\s*([kKmMgG]i?[bB]|[bB])?\s*$"


@dataclass(frozen=True)
class Option:
    """One configuration option of a connector, a source, a sink action or a step."""

    name: str
    type: str
    description: str
    default: Any = _MISSING
    required: bool = False
    secret: bool = False
    choices: tuple[str, ...] = ()
    examples: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"description": self.description}
        t = self.type
        if t in ("string", "template", "path"):
            schema["type"] = "string"
        elif t == "integer":
            schema["type"] = "integer"
        elif t == "number":
            schema["type"] = "number"
        elif t == "boolean":
            schema["type"] = "boolean"
        elif t == "duration":
            schema["anyOf"] = [{"type": "number", "minimum": 0},
                               {"type": "string", "pattern": _PATTERN_DURATION}]
        elif t == "size":
            schema["anyOf"] = [{"type": "integer", "minimum": 0},
                               {"type": "string", "pattern": _PATTERN_SIZE}]
        elif t == "enum":
            schema["enum"] = list(self.choices)
        elif t == "list":
            schema["type"] = "array"
            schema["items"] = {"type": "string"}
        elif t == "mapping":
            schema["type"] = "object"
        elif t != "any":
            raise ValueError(f"option {self.name}: unknown option type {t!r}")
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.has_default and self.default is not None:
            schema["default"] = self.default
        if self.examples:
            schema["examples"] = list(self.examples)
        if self.secret:
            schema["description"] += " Secret: give it as ${secret:NAME}."
        return schema

    def parse(self, value: Any) -> Any:
        """Convert a YAML value into the option's Python type; ValueError explains why not."""
        t = self.type
        if isinstance(value, Secret):
            if not self.secret and t not in ("string", "template", "any"):
                raise ValueError("a secret reference can only be used for a text option")
            return value
        if t in ("string", "template", "path"):
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ValueError(f"expected text, got {yaml_kind(value)}")
            return str(value)
        if t == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"expected a whole number, got {yaml_kind(value)}")
            self._check_range(value)
            return value
        if t == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"expected a number, got {yaml_kind(value)}")
            self._check_range(value)
            return float(value)
        if t == "boolean":
            if not isinstance(value, bool):
                raise ValueError(f"expected true or false, got {yaml_kind(value)}")
            return value
        if t == "duration":
            return parse_duration(value)
        if t == "size":
            return parse_size(value)
        if t == "enum":
            if value not in self.choices:
                raise ValueError(
                    f"expected one of {', '.join(map(str, self.choices))}; got {value!r}"
                )
            return value
        if t == "list":
            if isinstance(value, str):
                return (value,)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"expected a list of text values, got {yaml_kind(value)}")
            return tuple(value)
        if t == "mapping":
            if not isinstance(value, Mapping):
                raise ValueError(f"expected a mapping, got {yaml_kind(value)}")
            return dict(value)
        return value

    def _check_range(self, value: float) -> None:
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"must be at least {self.minimum:g}, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"must be at most {self.maximum:g}, got {value}")


def yaml_kind(value: Any) -> str:
    """How a flow author would name a YAML value's kind, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


@dataclass(frozen=True)
class OptionProblem:
    """A problem with one option: ``key`` is the option name (or ``None`` for the block)."""

    key: str | None
    message: str
    hint: str | None = None


class Config(Mapping[str, Any]):
    """Parsed option values with attribute access: ``config.path``, ``config["path"]``."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Config is read-only")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Config({self._values!r})"  # Secret values hide themselves in repr


@dataclass(frozen=True)
class ConfigSpec:
    """An ordered set of options; the single source of truth for a config block."""

    options: tuple[Option, ...] = ()
    allow_extra: bool = False
    _by_name: dict[str, Option] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {o.name: o for o in self.options})

    def __iter__(self) -> Iterator[Option]:
        return iter(self.options)

    def get(self, name: str) -> Option | None:
        return self._by_name.get(name)

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.options]

    def extend(self, *options: Option) -> ConfigSpec:
        """A new spec with more options (later ones replace same-named earlier ones)."""
        merged = {o.name: o for o in self.options}
        for o in options:
            merged[o.name] = o
        return ConfigSpec(tuple(merged.values()), self.allow_extra)

    def json_schema(self) -> dict[str, Any]:
        props = {o.name: o.json_schema() for o in self.options}
        schema: dict[str, Any] = {"type": "object", "properties": props}
        required = [o.name for o in self.options if o.required]
        if required:
            schema["required"] = required
        if not self.allow_extra:
            schema["additionalProperties"] = False
        return schema

    def check(self, raw: Mapping[str, Any]) -> list[OptionProblem]:
        """Every problem in ``raw``, without stopping at the first."""
        from integrator.flow.suggest import did_you_mean

        problems: list[OptionProblem] = []
        for key, value in raw.items():
            opt = self._by_name.get(key)
            if value is None and opt is not None and not opt.required:
                continue  # an explicit null means "not set": the default applies
            if opt is None:
                if not self.allow_extra:
                    problems.append(OptionProblem(
                        key, f"unknown option {key!r}",
                        did_you_mean(key, self.names) or f"options: {', '.join(self.names)}",
                    ))
                continue
            try:
                opt.parse(value)
            except ValueError as exc:
                problems.append(OptionProblem(key, f"option {key!r}: {exc}"))
        for opt in self.options:
            if opt.required and opt.name not in raw:
                example = f" e.g. {opt.name}: {opt.examples[0]!r}" if opt.examples else ""
                problems.append(OptionProblem(
                    None, f"missing required option {opt.name!r}",
                    f"{opt.description}{example}",
                ))
        return problems

    def parse(self, raw: Mapping[str, Any], where: str) -> Config:
        """Parse ``raw`` into a Config, applying defaults; raises FatalError on problems."""
        from integrator.errors import FatalError

        problems = self.check(raw)
        if problems:
            first = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise FatalError(f"{where}: {first.message}{more}", hint=first.hint)
        values: dict[str, Any] = {}
        for opt in self.options:
            if raw.get(opt.name) is not None:
                values[opt.name] = opt.parse(raw[opt.name])
            elif opt.has_default:
                values[opt.name] = opt.parse(opt.default) if opt.default is not None else None
            else:
                values[opt.name] = None
        if self.allow_extra:
            for key, value in raw.items():
                values.setdefault(key, value)
        return Config(values)
