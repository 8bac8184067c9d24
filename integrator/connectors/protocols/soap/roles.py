"""The roles of the ``soap`` connector: the ``call`` sink and the per-key lookup.

Their contracts (ordering, what a failure does to the rest of a batch, how a client
fault for one key is answered) are in the datasheet of :mod:`.connector`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from integrator.connectors.base import Delivery, Lookup, Sink
from integrator.connectors.spec import Config
from integrator.errors import (
    FatalError,
    IntegratorError,
    MessageError,
    RejectedError,
    RetriableError,
)

if TYPE_CHECKING:
    from integrator.connectors.protocols.soap.client import BoundPort
    from integrator.connectors.protocols.soap.connector import SoapConnector

__all__ = ["SoapLookup", "SoapSink"]

log = logging.getLogger("integrator.connectors.soap")


def _compiled(options: Config, where: str) -> dict[str, Any] | None:
    raw = options.get("arguments")
    if raw is None:
        return None
    from integrator.connectors.protocols.soap.arguments import compile_arguments

    return compile_arguments(raw, f"{where}.arguments")


def _peer_level(exc: RetriableError) -> bool:
    """A temporary failure of the service as a whole (network, 5xx, 429), not a server
    fault about one message: faults carry ``faultcode`` in their context."""
    return "faultcode" not in exc.context


class SoapSink(Sink):
    """Action ``call``: one operation call per delivery (see the module datasheet)."""

    def __init__(self, connector: SoapConnector, options: Config) -> None:
        self.connector = connector
        self.operation: str = options.operation
        self.service: str | None = options.get("service")
        self.port_name: str | None = options.get("port")
        self.where = f"{connector.where} call {self.operation}"
        self.arguments = _compiled(options, f"{connector.name}.call")
        self.port: BoundPort | None = None

    async def open(self) -> None:
        """Load the WSDL and check operation and argument names; FatalError if wrong."""
        port = await self.connector.bind(self.service, self.port_name)
        try:
            port.operation(self.operation)
            if self.arguments is not None:
                port.check_arguments(self.operation, list(self.arguments), "arguments")
        except FatalError:
            await port.aclose()
            raise
        self.port = port

    def _arguments_for(self, delivery: Delivery) -> Mapping[str, Any]:
        if self.arguments is not None:
            from integrator.connectors.protocols.soap.arguments import render_arguments
            from integrator.mapping.context import TemplateContext

            return render_arguments(self.arguments,
                                    TemplateContext(delivery.message, delivery.payload))
        payload = delivery.payload
        if not isinstance(payload, Mapping):
            raise RejectedError(
                f"{self.where}: the payload is {type(payload).__name__}, not an object of "
                "arguments", hint="map the message to {argument: value, ...} or set the "
                                  "sink's arguments option")
        return payload

    async def write_batch(self, deliveries: Sequence[Delivery]
                          ) -> list[IntegratorError | None] | None:
        port = self.port
        if port is None:
            raise FatalError(f"{self.where}: write_batch before open")
        results: list[IntegratorError | None] = []
        down: RetriableError | None = None
        for delivery in deliveries:
            if down is not None:
                results.append(down)
                continue
            try:
                await port.call(self.operation, self._arguments_for(delivery))
                results.append(None)
            except RetriableError as exc:
                results.append(exc)
                if _peer_level(exc):
                    down = RetriableError(
                        f"{self.where}: not attempted: the service failed for an earlier "
                        f"delivery of this batch ({exc.message})",
                        retry_after=exc.retry_after, hint=exc.hint, context=exc.context)
            except MessageError as exc:
                results.append(exc)
        return results if any(r is not None for r in results) else None

    async def close(self) -> None:
        if self.port is not None:
            port, self.port = self.port, None
            await port.aclose()


class SoapLookup(Lookup):
    """One operation call per key (see the module datasheet)."""

    def __init__(self, connector: SoapConnector, options: Config) -> None:
        self.connector = connector
        self.operation: str = options.operation
        self.service: str | None = options.get("service")
        self.port_name: str | None = options.get("port")
        self.key_argument: str | None = options.get("key_argument")
        self.on_client_fault: str = options.get("on_client_fault") or "miss"
        self.concurrency: int = options.get("concurrency") or 4
        self.where = f"{connector.where} lookup {self.operation}"
        self.arguments = _compiled(options, f"{connector.name}.lookup")
        if self.key_argument is None and self.arguments is None:
            raise FatalError(f"{self.where}: the lookup does not say where the key goes",
                             hint="set key_argument: <argument>, or arguments with "
                                  "{{ key }} templates")
        self.port: BoundPort | None = None

    async def open(self) -> None:
        """Load the WSDL and check operation and argument names; FatalError if wrong."""
        port = await self.connector.bind(self.service, self.port_name)
        try:
            port.operation(self.operation)
            names = list(self.arguments or ())
            if self.key_argument is not None:
                names.append(self.key_argument)
            port.check_arguments(self.operation, names, "the lookup")
        except FatalError:
            await port.aclose()
            raise
        self.port = port

    def _arguments_for(self, key: Hashable) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.arguments is not None:
            from integrator.connectors.protocols.soap.arguments import render_arguments

            args = render_arguments(self.arguments, {"key": key})
        if self.key_argument is not None:
            args[self.key_argument] = key
        return args

    async def _one(self, port: BoundPort, key: Hashable, gate: asyncio.Semaphore) -> Any:
        async with gate:
            return await port.call(self.operation, self._arguments_for(key))

    async def get_many(self, keys: Sequence[Hashable]) -> Mapping[Hashable, Any]:
        port = self.port
        if port is None:
            raise FatalError(f"{self.where}: get_many before open")
        gate = asyncio.Semaphore(self.concurrency)
        outcomes = await asyncio.gather(*(self._one(port, k, gate) for k in keys),
                                        return_exceptions=True)
        found: dict[Hashable, Any] = {}
        fatal: FatalError | None = None
        retry: RetriableError | None = None
        for key, outcome in zip(keys, outcomes, strict=True):
            if isinstance(outcome, FatalError):
                fatal = fatal or outcome
            elif isinstance(outcome, RetriableError):
                retry = retry or outcome
            elif isinstance(outcome, MessageError):
                self._miss(found, key, outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            elif outcome is not None:
                found[key] = outcome
        if fatal is not None:
            raise fatal
        if retry is not None:
            raise retry
        return found

    def _miss(self, found: dict[Hashable, Any], key: Hashable, exc: MessageError) -> None:
        code = exc.context.get("faultcode")
        if code is not None and self.on_client_fault == "value":
            found[key] = {"fault": {"code": code, "string": exc.context.get("faultstring")}}
            return
        log.warning("%s: no answer for key %r: %s", self.where, key, exc.message,
                    extra={"integrator": {"key": str(key), "error_class": exc.error_class,
                                          "context": exc.context}})

    async def close(self) -> None:
        if self.port is not None:
            port, self.port = self.port, None
            await port.aclose()
