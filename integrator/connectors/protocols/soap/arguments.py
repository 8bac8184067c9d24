"""Call arguments from an ``arguments`` mapping whose text values may be templates.

``{countryCode: "{{ key[:2] }}", vatNumber: "{{ key[2:] }}", lang: en}``: a text value
with ``{{`` or ``{%`` is compiled once (sandboxed Jinja, :mod:`integrator.mapping.templates`)
and rendered per call into text; every other value — numbers, booleans, null, nested
mappings and lists (rendered item by item) — is passed as it is. A sink renders against
the delivered document (with ``body``, ``vars``, ``keys``, ``meta``, ``message``); a lookup
against ``{key: <the looked-up key>}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrator.mapping.templates import Template, compile_template

__all__ = ["compile_arguments", "render_arguments"]


def _compile(value: Any, name: str) -> Any:
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return compile_template(value, name=name)
    if isinstance(value, Mapping):
        return {str(k): _compile(v, f"{name}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_compile(v, f"{name}[{i}]") for i, v in enumerate(value)]
    return value


def compile_arguments(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Compile every template in ``raw`` (ExpressionSyntaxError names the place)."""
    return {str(k): _compile(v, f"{name}.{k}") for k, v in raw.items()}


def _render(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, Template):
        return value.render(context)
    if isinstance(value, dict):
        return {k: _render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, context) for v in value]
    return value


def render_arguments(tree: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments for one call; TemplateError when a template fails on this data."""
    return {k: _render(v, context) for k, v in tree.items()}
