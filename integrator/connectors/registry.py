"""Where connector types are found: the built-ins, then the ``integrator.connectors``
entry-point group, so a pip-installed package adds connectors without touching integrator.

A plugin package declares, in its pyproject.toml::

    [project.entry-points."integrator.connectors"]
    acme-erp = "acme_integrator.erp:AcmeErpConnector"

Built-ins are named by dotted path and imported on first use, so ``integrator lint`` does
not import every driver.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from importlib.metadata import entry_points

from integrator.connectors.base import Connector
from integrator.errors import FatalError
from integrator.flow.suggest import did_you_mean

__all__ = ["BUILTIN", "Registry", "default_registry"]

ENTRY_POINT_GROUP = "integrator.connectors"

BUILTIN: dict[str, str] = {
    "file": "integrator.connectors.builtin.files:FileConnector",
    "stdin": "integrator.connectors.builtin.stdio:StdinConnector",
    "stdout": "integrator.connectors.builtin.stdio:StdoutConnector",
    "memory": "integrator.connectors.builtin.memory:MemoryConnector",
    "sql": "integrator.connectors.protocols.sql:SqlConnector",
    "http": "integrator.connectors.protocols.http:HttpConnector",
    "amqp": "integrator.connectors.protocols.brokers.amqp:AmqpConnector",
    "nats": "integrator.connectors.protocols.brokers.nats:NatsConnector",
    "redis-streams": "integrator.connectors.protocols.brokers.redis_streams:RedisStreamsConnector",
    "mqtt": "integrator.connectors.protocols.brokers.mqtt:MqttConnector",
    "dropfolder": "integrator.connectors.builtin.dropfolder:DropFolderConnector",
    "soap": "integrator.connectors.protocols.soap:SoapConnector",
}


def _import(target: str) -> type[Connector]:
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise FatalError(f"{target} is not a Connector subclass")
    return cls


class Registry:
    """Maps connector type names to classes; unknown names get a did-you-mean."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self._targets: dict[str, str] = dict(BUILTIN)
        self._classes: dict[str, type[Connector]] = {}
        if load_entry_points:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                self._targets.setdefault(ep.name, ep.value)

    def register(self, cls: type[Connector], name: str | None = None) -> None:
        """Add a connector class directly (tests, embedding applications)."""
        type_name = name or cls.type_name
        self._classes[type_name] = cls
        self._targets[type_name] = f"{cls.__module__}:{cls.__qualname__}"

    def names(self) -> list[str]:
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[type[Connector]]:
        for name in self.names():
            yield self.get(name)

    def suggest(self, name: str) -> str:
        return did_you_mean(name, self._targets) or f"known types: {', '.join(self.names())}"

    def get(self, name: str) -> type[Connector]:
        cls = self._classes.get(name)
        if cls is not None:
            return cls
        target = self._targets.get(name)
        if target is None:
            raise FatalError(f"unknown connector type {name!r}", hint=self.suggest(name))
        try:
            cls = _import(target)
        except ImportError as exc:
            raise FatalError(
                f"connector type {name!r} could not be imported from {target}: {exc}",
                hint="install the package that provides it",
            ) from exc
        self._classes[name] = cls
        return cls


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry of built-ins and installed plugins (created on first use)."""
    global _default  # noqa: PLW0603 - one lazily built registry per process
    if _default is None:
        _default = Registry()
    return _default
