"""``schemas/flow.schema.json``, generated from the code: the single source of truth.

The document is assembled from three places that also drive lint and the runtime:
the top-level shape below, each step kind's ``schema`` (``integrator.steps``), and each
connector's config spec (``integrator.connectors``). ``integrator schema`` writes it and
``integrator schema --check`` (and a test) fails when the committed file has drifted.

Lint validates a flow piece by piece against ``$defs`` of this same document, so its
messages can be precise (see :mod:`integrator.flow.validation`).
"""

from __future__ import annotations

import json
from typing import Any

from integrator.connectors.registry import Registry, default_registry
from integrator.flow.model import ERROR_POLICIES
from integrator.mapping.values import SPECIAL_KEYS
from integrator.steps import STEP_KINDS

__all__ = ["SCHEMA_ID", "flow_schema", "render_schema"]

SCHEMA_ID = "https://integrator.dev/schemas/flow.schema.json"

_NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"

_ON_ERROR = {
    "enum": list(ERROR_POLICIES),
    "description": "What happens to a message that fails here: dead-letter (recorded with "
                   "its error, replayable; the default), skip (counted and dropped) or fail "
                   "(stop the run).",
}


def _value_def() -> dict[str, Any]:
    not_special = {"not": {"anyOf": [{"required": [k]} for k in SPECIAL_KEYS]}}
    return {
        "description": "A value spec: JMESPath text, a literal, {const}, {template}, "
                       "{expr, default}, a list, or an object of value specs.",
        "anyOf": [
            {"type": "string", "description": "A JMESPath expression."},
            {"type": ["number", "boolean", "null"], "description": "A literal."},
            {"type": "object", "properties": {"const": {"description": "A literal value."}},
             "required": ["const"], "additionalProperties": False},
            {"type": "object", "properties": {"template": {"type": "string"}},
             "required": ["template"], "additionalProperties": False},
            {"type": "object", "properties": {"expr": {"type": "string"}, "default": {}},
             "required": ["expr"], "additionalProperties": False},
            {"type": "array", "items": {"$ref": "#/$defs/value"}},
            {"type": "object", "additionalProperties": {"$ref": "#/$defs/value"},
             **not_special},
        ],
    }


def _step_def(kind: str, kind_schema: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": summary,
        "properties": {
            kind: kind_schema,
            "id": {"type": "string", "pattern": _NAME,
                   "description": "A name for the step: routes jump to it, logs name it."},
            "description": {"type": "string"},
            "on_error": _ON_ERROR,
        },
        "required": [kind],
        "additionalProperties": False,
    }


def _connection_defs(registry: Registry) -> dict[str, dict[str, Any]]:
    defs: dict[str, dict[str, Any]] = {}
    for cls in registry:
        options = cls.spec.json_schema()
        props = {"type": {"const": cls.type_name, "description": cls.summary}}
        props.update(options.get("properties", {}))
        schema: dict[str, Any] = {
            "type": "object",
            "description": cls.summary,
            "properties": props,
            "required": ["type", *options.get("required", [])],
        }
        if options.get("additionalProperties") is False:
            schema["additionalProperties"] = False
        defs[f"connection.{cls.type_name}"] = schema
    return defs


def flow_schema(registry: Registry | None = None) -> dict[str, Any]:
    """The whole JSON Schema (draft 2020-12) of a flow file."""
    registry = registry or default_registry()
    defs: dict[str, Any] = {"value": _value_def(), "on_error": _ON_ERROR}
    for kind, cls in STEP_KINDS.items():
        defs[f"step.{kind}"] = _step_def(kind, cls.schema, cls.summary)
    conn_defs = _connection_defs(registry)
    defs.update(conn_defs)
    types = sorted(d.removeprefix("connection.") for d in conn_defs)
    defs["connection"] = {
        "type": "object",
        "description": "A named, configured connector: `type` plus that connector's options.",
        "properties": {"type": {"enum": types, "description": "The connector type."}},
        "required": ["type"],
        "allOf": [
            {"if": {"properties": {"type": {"const": t}}, "required": ["type"]},
             "then": {"$ref": f"#/$defs/connection.{t}"}}
            for t in types
        ],
    }
    defs["step"] = {
        "description": "One step: exactly one step kind key, plus optional id, description "
                       "and on_error.",
        "oneOf": [{"$ref": f"#/$defs/step.{k}"} for k in STEP_KINDS],
    }
    defs["source"] = {
        "type": "object",
        "description": "Where messages come from: a connection and its source options.",
        "properties": {
            "connection": {"type": "string", "description": "A name under `connections`."},
            "options": {"type": "object", "description": "The connector's source options."},
        },
        "required": ["connection"],
        "additionalProperties": False,
    }
    defs["sink"] = {
        "type": "object",
        "description": "A named destination: a connection, an action and what to send.",
        "properties": {
            "connection": {"type": "string", "description": "A name under `connections`."},
            "action": {"type": "string", "description": "The connector action (default: the "
                                                        "connector's default action)."},
            "body": {"type": "string", "pattern": _NAME, "default": "body",
                     "description": "What to send: `body`, or a var stored by a step's `as`."},
            "options": {"type": "object", "description": "The action's options."},
            "concurrency": {"type": "integer", "minimum": 1, "maximum": 256, "default": 1,
                            "description": "Batches written at the same time."},
            "batch_size": {"type": "integer", "minimum": 1, "maximum": 100_000,
                           "default": 500, "description": "Deliveries per write."},
            "on_error": _ON_ERROR,
            "description": {"type": "string"},
        },
        "required": ["connection"],
        "additionalProperties": False,
    }
    defs["settings"] = {
        "type": "object",
        "description": "Run settings and flow-wide defaults.",
        "properties": {
            "on_error": _ON_ERROR,
            "max_in_flight": {"type": "integer", "minimum": 1, "maximum": 1_000_000,
                              "default": 10_000,
                              "description": "Messages read but not yet finished; reading "
                                             "waits above this (back-pressure)."},
            "batch_size": {"type": "integer", "minimum": 1, "maximum": 100_000,
                           "default": 500, "description": "Messages processed together."},
        },
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "integrator flow",
        "description": "One integration flow: connections, a source, steps and sinks.",
        "type": "object",
        "properties": {
            "flow": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_.-]*$",
                     "description": "The flow's name (lowercase, digits, - _ .)."},
            "description": {"type": "string"},
            "version": {"type": ["string", "number"], "description": "Your flow's version; "
                                                                     "recorded with errors."},
            "tags": {"type": "array", "items": {"type": "string"}},
            "owner": {"type": "string", "description": "Who to ask about this flow."},
            "keys": {
                "type": "object",
                "description": "Business keys: name → JMESPath on the incoming body. Every "
                               "log line and error record carries them.",
                "propertyNames": {"pattern": _NAME},
                "additionalProperties": {"type": "string"},
            },
            "settings": {"$ref": "#/$defs/settings"},
            "connections": {
                "type": "object",
                "propertyNames": {"pattern": _NAME},
                "additionalProperties": {"$ref": "#/$defs/connection"},
            },
            "source": {"$ref": "#/$defs/source"},
            "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
            "sinks": {
                "type": "object",
                "propertyNames": {"pattern": _NAME},
                "additionalProperties": {"$ref": "#/$defs/sink"},
            },
        },
        "required": ["flow", "connections", "source", "steps"],
        "additionalProperties": False,
        "$defs": defs,
    }


def render_schema(registry: Registry | None = None) -> str:
    """The schema file's exact text; key order follows the code, so diffs stay readable."""
    return json.dumps(flow_schema(registry), indent=2, ensure_ascii=False) + "\n"

