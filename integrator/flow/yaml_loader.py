"""Safe YAML for flow files: plain data only, with the place of every node.

PyYAML composes the node tree; we build Python values from it ourselves so that:

* only the YAML core types are accepted (``!!python/object``, ``!custom`` ... are refused),
* plain scalars follow the YAML 1.2 core schema, not PyYAML's YAML 1.1: ``on``, ``no``,
  ``yes`` stay text (``country: NO`` is Norway, ``on:`` is a key), ``010`` is ten,
  ``12:30`` is text, and timestamps stay text (a flow is JSON-shaped data),
* duplicate keys are errors, pointing at the second key and naming the first,
* alias expansion is bounded (``max_nodes``), so a "billion laughs" document fails fast,
* documents are size-capped (``max_bytes``) before parsing starts,
* every value and key gets a :class:`Mark` in a :class:`Positions` table keyed by its
  path (``("steps", 2, "map", "fields", "sold_to")``).

Problems are collected, not raised: one pass reports every duplicate key and bad tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from integrator.flow.problems import Problem

__all__ = ["LoadedYaml", "Mark", "Positions", "load_yaml"]

MAX_BYTES = 1_000_000
MAX_NODES = 100_000

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {
    _CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp",
                        "merge", "binary", "omap")
}

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    """Where a node starts (1-based line and column) and how its scalar was written."""

    line: int
    col: int
    style: str | None = None  # None plain, "'" or '"' quoted, "|" or ">" block
    end_line: int = 0


@dataclass
class Positions:
    """Marks of values and keys by path; lookups fall back to the nearest ancestor."""

    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)

    def value(self, path: Path) -> Mark | None:
        p = tuple(path)
        while True:
            if p in self.values:
                return self.values[p]
            if not p:
                return None
            p = p[:-1]

    def key(self, path: Path) -> Mark | None:
        p = tuple(path)
        if p in self.keys:
            return self.keys[p]
        return self.value(p)


@dataclass
class LoadedYaml:
    data: Any
    positions: Positions
    problems: list[Problem]
    text: str


# YAML 1.2 core schema: the only implicit types besides text.
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


class _Composer(yaml.SafeLoader):
    """SafeLoader used only to compose nodes; scalars are typed by ``_plain_scalar``."""

    # Resolve every plain scalar to str here; _plain_scalar applies the 1.2 core schema.
    yaml_implicit_resolvers: dict[Any, Any] = {}

    def compose_scalar_node(self, anchor: Any) -> yaml.ScalarNode:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        explicit = getattr(event, "tag", None) not in (None, "!")
        node: yaml.ScalarNode = super().compose_scalar_node(anchor)
        node.explicit_tag = explicit  # type: ignore[attr-defined]
        return node


def _plain_scalar(text: str) -> Any:
    if _NULL.match(text):
        return None
    if _BOOL.match(text):
        return text.lower() == "true"
    if _INT.match(text):
        if text.startswith("0x"):
            return int(text[2:], 16)
        if text.startswith("0o"):
            return int(text[2:], 8)
        return int(text, 10)
    if _FLOAT.match(text):
        lowered = text.lower()
        if lowered.endswith(".inf"):
            return float("-inf") if lowered.startswith("-") else float("inf")
        if lowered == ".nan":
            return float("nan")
        return float(text)
    return text


class _TooLarge(Exception):
    """Stops building once the node budget is spent."""


class _Builder:
    def __init__(self, file: str, max_nodes: int) -> None:
        self.file = file
        self.max_nodes = max_nodes
        self.count = 0
        self.positions = Positions()
        self.problems: list[Problem] = []

    def problem(self, code: str, message: str, node: yaml.Node, hint: str | None = None,
                path: Path = ()) -> None:
        m = node.start_mark
        self.problems.append(Problem(code, message, self.file, m.line + 1, m.column + 1,
                                     hint, path=path))

    def mark(self, node: yaml.Node) -> Mark:
        style = getattr(node, "style", None)
        return Mark(node.start_mark.line + 1, node.start_mark.column + 1, style,
                    node.end_mark.line + 1)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > self.max_nodes:
            self.problem(
                "document-too-large",
                f"the document expands to more than {self.max_nodes:,} nodes",
                node,
                "aliases (*name) multiply content; a flow never needs this many nodes",
            )
            raise _TooLarge
        self.positions.values.setdefault(path, self.mark(node))
        if node.tag not in _ALLOWED_TAGS:
            self.problem(
                "forbidden-tag",
                f"YAML tag {node.tag!r} is not allowed in a flow",
                node,
                "flows are plain data: remove the tag (object-constructing tags are refused)",
                path,
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self.build_mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        return self.build_scalar(node)

    def build_key(self, node: yaml.Node, path: Path) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in _ALLOWED_TAGS:
            self.problem("invalid-key", "mapping keys must be plain text or numbers", node,
                         "quote the key", path)
            return None
        return str(node.value)  # keys are names: `on:`, `yes:`, `1:` are all text

    def build_scalar(self, node: yaml.Node) -> Any:
        tag = node.tag
        value = str(node.value)
        plain = isinstance(node, yaml.ScalarNode) and node.style is None
        if tag == _CORE + "str":
            # Untagged plain scalars arrive as str (no implicit resolvers); type them.
            return _plain_scalar(value) if plain and not self.explicit(node) else value
        if tag in (_CORE + "timestamp", _CORE + "binary"):
            return value
        typed = _plain_scalar(value)
        expected = {_CORE + "null": type(None), _CORE + "bool": bool, _CORE + "int": int,
                    _CORE + "float": float}.get(tag)
        if expected is None or not isinstance(typed, expected) or (
                expected is int and isinstance(typed, bool)):
            self.problem("yaml-syntax", f"{value!r} is not a valid {tag.rsplit(':', 1)[-1]}",
                         node)
            return None
        return typed

    def explicit(self, node: yaml.Node) -> bool:
        """True when the text carried an explicit ``!!str`` tag."""
        return bool(getattr(node, "explicit_tag", False))

    def build_mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        seen: dict[Any, yaml.Node] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _CORE + "merge" or (
                    isinstance(key_node, yaml.ScalarNode) and key_node.value == "<<"
                    and key_node.style is None and not self.explicit(key_node)):
                merged.update(self.merge_source(value_node, path))
                continue
            key = self.build_key(key_node, path)
            if key is None:
                continue
            child = (*path, key)
            if key in seen:
                first = seen[key].start_mark
                self.problem(
                    "duplicate-key",
                    f"duplicate key {key!r}",
                    key_node,
                    f"first defined at line {first.line + 1}; keep one of them",
                    child,
                )
                continue
            seen[key] = key_node
            self.positions.keys[child] = self.mark(key_node)
            out[key] = self.build(value_node, child)
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def merge_source(self, node: yaml.Node, path: Path) -> dict[Any, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for src in sources:
            value = self.build(src, path)
            if isinstance(value, dict):
                for k, v in value.items():
                    merged.setdefault(k, v)
            else:
                self.problem("yaml-syntax", "a merge key (<<) needs a mapping", src, path=path)
        return merged


def load_yaml(text: str, file: str = "<flow>", *, max_bytes: int = MAX_BYTES,
              max_nodes: int = MAX_NODES) -> LoadedYaml:
    """Parse ``text`` into plain data and positions; problems are returned, not raised."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return LoadedYaml(None, Positions(), [Problem(
            "document-too-large",
            f"the file is {size:,} bytes; flow files are limited to {max_bytes:,}",
            file, 1, 1, "split the flow, or move large data into files it references",
        )], text)
    loader = _Composer(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = exc.problem or str(exc)
        if exc.context:
            message = f"{message} ({exc.context})"
        return LoadedYaml(None, Positions(), [Problem(
            "yaml-syntax", f"invalid YAML: {message}", file, line, col,
            "check indentation and quoting near this place",
        )], text)
    except yaml.YAMLError as exc:
        return LoadedYaml(None, Positions(), [Problem(
            "yaml-syntax", f"invalid YAML: {exc}", file, 1, 1)], text)
    finally:
        loader.dispose()
    if root is None:
        return LoadedYaml(None, Positions(), [Problem(
            "empty-document", "the file is empty", file, 1, 1,
            "a flow needs at least `flow:`, `connections:`, `source:` and `steps:`")], text)
    builder = _Builder(file, max_nodes)
    try:
        data = builder.build(root, ())
    except _TooLarge:
        return LoadedYaml(None, Positions(), builder.problems, text)
    return LoadedYaml(data, builder.positions, builder.problems, text)
