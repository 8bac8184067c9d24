"""The broker connectors' declarations: every example parses, every spec is complete.

No service is needed: these check what lint, ``integrator connectors show`` and the
generated reference pages are built from.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from integrator.connectors.base import Connector
from integrator.connectors.registry import Registry
from integrator.connectors.spec import ConfigSpec

TYPES = ("amqp", "nats", "redis-streams", "mqtt")


def _specs(cls: type[Connector]) -> list[tuple[str, ConfigSpec]]:
    out = [("connection", cls.spec), ("source", cls.source_options)]
    out += [(f"action {name}", action.options) for name, action in cls.actions.items()]
    return out


@pytest.fixture(params=TYPES)
def cls(request: Any) -> type[Connector]:
    return Registry(load_entry_points=False).get(request.param)


def test_declared_roles_and_common_options(cls: type[Connector]) -> None:
    assert cls.roles() == ["source", "sink"]
    assert cls.default_action in cls.actions
    assert cls.summary and cls.__doc__ and cls.examples
    assert {"codec", "max_message_size"} <= set(cls.spec.names)
    assert {"follow", "idle_timeout", "batch_size"} <= set(cls.source_options.names)
    module = __import__(cls.__module__, fromlist=["_"])
    assert "Datasheet" in (module.__doc__ or "")


def test_every_option_example_and_default_parses(cls: type[Connector]) -> None:
    for where, spec in _specs(cls):
        for opt in spec:
            assert opt.description.endswith("."), (where, opt.name)
            for example in opt.examples:
                opt.parse(example)  # raises ValueError when an example is wrong
            if opt.has_default and opt.default is not None:
                opt.parse(opt.default)
            if opt.secret:
                assert opt.type == "string", (where, opt.name)


def test_connector_examples_are_valid_connection_blocks(cls: type[Connector]) -> None:
    for text in cls.examples:
        connections = yaml.safe_load(text)["connections"]
        for block in connections.values():
            raw = {k: v for k, v in block.items() if k != "type"}
            assert block["type"] == cls.type_name
            problems = [*cls.spec.check(raw), *cls.check_config(raw)]
            assert not problems, (text, problems)


def test_unknown_options_get_a_did_you_mean() -> None:
    cls = Registry(load_entry_points=False).get("amqp")
    (problem,) = cls.spec.check({"quueue": "orders"})
    assert problem.hint is not None and "queue" in problem.hint
