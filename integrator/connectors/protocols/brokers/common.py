"""What the four broker connectors share: body codecs, per-message text fields, the
common options, and the read loop that ends a non-following source once the broker has
nothing more for it.

The read loop (:class:`BrokerSource`)
    A broker source implements ``_receive(limit, wait)``: up to ``limit`` records,
    waiting at most ``wait`` seconds for the first. ``batches`` calls it until ``stop()``;
    with ``follow: false`` it also ends when, for ``idle_timeout``, no new message
    arrived *and* the engine acknowledged nothing. Counting acknowledgements as activity
    matters: a broker stops sending while its window of unacknowledged messages
    (prefetch, max ack pending, MQTT inflight) is full, so "nothing arrived" alone would
    end the read while the engine is still working through the window.

Bodies
    ``json`` (default) decodes UTF-8 JSON and encodes payloads as compact JSON; ``text``
    is UTF-8 text both ways; ``bytes`` carries the raw body as base64 text (the source's
    body is the base64 string; the sink decodes the payload's base64 before sending).
    A body that cannot be decoded becomes a Record with a DecodeError whose ``meta``
    keeps the raw bytes as ``raw_base64`` (bounded by ``max_message_size``), so the dead
    letter holds everything needed to replay it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import importlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from integrator.codecs import json as json_codec
from integrator.connectors.base import Delivery, Progress, Record, Source
from integrator.connectors.spec import Option
from integrator.errors import (
    ConversionError,
    DecodeError,
    FatalError,
    IntegratorError,
    MessageError,
    RejectedError,
    TemplateError,
)
from integrator.security.secrets import Secret

if TYPE_CHECKING:
    from integrator.mapping.templates import Template

__all__ = [
    "CODECS",
    "BodyCodec",
    "BrokerSource",
    "HeaderFields",
    "TextField",
    "codec_options",
    "excerpt",
    "load_driver",
    "render_error",
    "reveal",
    "source_options",
    "tokens_of",
]

log = logging.getLogger("integrator.connectors.brokers")

CODECS = ("json", "text", "bytes")
CONTENT_TYPES = {"json": "application/json", "text": "text/plain; charset=utf-8",
                 "bytes": "application/octet-stream"}
DEFAULT_MAX_MESSAGE = 8 * 1024 * 1024
MAX_EXCERPT = 500
#: Longest wait inside one ``_receive`` call: how soon ``stop()`` is noticed.
POLL_SECONDS = 0.5


# --------------------------------------------------------------------------- options

def codec_options() -> tuple[Option, ...]:
    """Connection options every broker takes: the body codec and the size bound."""
    return (
        Option(
            "codec", "enum",
            "How message bodies are read and written: `json` (UTF-8 JSON), `text` "
            "(UTF-8 text) or `bytes` (the raw body as base64 text).",
            choices=CODECS, default="json", examples=("text",),
        ),
        Option(
            "max_message_size", "size",
            "The largest body read or written. A larger incoming message becomes a "
            "decode error (dead-lettered, then acknowledged); a larger payload is "
            "rejected.",
            default="8MiB", examples=("1MB",),
        ),
    )


def source_options(*, batch_size: int = 100) -> tuple[Option, ...]:
    """Source options every broker takes: follow, idle_timeout, batch_size."""
    return (
        Option(
            "follow", "boolean",
            "false: read what is there now, then end (`integrator run`); true: keep "
            "consuming until the run is stopped (`integrator serve`).",
            default=False, examples=(True,),
        ),
        Option(
            "idle_timeout", "duration",
            "With follow false: end the read once no message arrived and nothing was "
            "acknowledged for this long.",
            default="1s", examples=("5s",),
        ),
        Option("batch_size", "integer", "The most records handed to the engine at once.",
               default=batch_size, minimum=1, maximum=10_000, examples=(500,)),
    )


# --------------------------------------------------------------------------- helpers

def load_driver(module: str, extra: str, where: str) -> ModuleType:
    """Import a driver module, or a FatalError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise FatalError(
            f"{where}: the {module} driver is not installed ({exc})",
            hint=f"pip install 'integrator[{extra}]'",
            context={"status": "misconfigured"},
        ) from None


def reveal(value: Any) -> str | None:
    """The plain text of an option that may be a Secret (for the wire only)."""
    if value is None:
        return None
    if isinstance(value, Secret):
        return value.reveal()
    return str(value)


def excerpt(value: Any, limit: int = MAX_EXCERPT) -> str:
    """At most ``limit`` characters of a peer's answer, for error messages."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        return text[:limit] + "…"
    return text


# --------------------------------------------------------------------------- bodies

class BodyCodec:
    """Encodes payloads for the wire and decodes received bodies (see the module doc)."""

    __slots__ = ("codec", "max_size")

    def __init__(self, codec: str, max_size: int) -> None:
        self.codec = codec
        self.max_size = max_size

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.codec]

    def encode(self, payload: Any) -> bytes:
        """The wire bytes of ``payload``; ConversionError or RejectedError when it cannot
        be sent (not JSON-able, not text, not base64, larger than max_message_size)."""
        codec = self.codec
        if codec == "json":
            data = json_codec.dumps(payload)
        elif codec == "text":
            if not isinstance(payload, str):
                raise ConversionError(
                    f"codec text sends text, but the payload is "
                    f"{json_codec.kind_of(payload)}",
                    hint="render the payload to text with a template step, or use codec json")
            data = payload.encode("utf-8")
        else:
            if not isinstance(payload, str):
                raise ConversionError(
                    f"codec bytes sends base64 text, but the payload is "
                    f"{json_codec.kind_of(payload)}",
                    hint="put the body's base64 text in the payload")
            try:
                data = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ConversionError(f"codec bytes: the payload is not base64: {exc}",
                                      hint="encode binary bodies as standard base64") from None
        if len(data) > self.max_size:
            raise RejectedError(
                f"the encoded payload has {len(data)} bytes, more than max_message_size "
                f"({self.max_size})",
                hint="raise max_message_size (and the broker's own limit) or send less")
        return data

    def decode(self, data: bytes, where: str, context: Mapping[str, Any]) -> Any:
        """The body of a received message; DecodeError (with ``context``) when it is
        larger than max_message_size or not valid for the codec."""
        if len(data) > self.max_size:
            raise DecodeError(
                f"{where}: the message has {len(data)} bytes, more than max_message_size "
                f"({self.max_size})",
                hint="raise max_message_size, or have the producer send smaller messages",
                context=dict(context))
        codec = self.codec
        if codec == "json":
            try:
                return json_codec.loads(data, where=where)
            except DecodeError as exc:
                exc.context.update(context)
                raise
        if codec == "text":
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DecodeError(
                    f"{where}: the body is not valid UTF-8 text (byte {exc.start})",
                    hint="use codec bytes for binary bodies", context=dict(context),
                ) from None
        return base64.b64encode(data).decode("ascii")

    def bad_record(self, error: DecodeError, data: bytes, meta: dict[str, Any],
                   token: Any) -> Record:
        """The Record for an undecodable body: the raw bytes kept (bounded) in meta."""
        meta["raw_base64"] = base64.b64encode(data[: self.max_size]).decode("ascii")
        return Record(None, meta, token, error)


# --------------------------------------------------------------------------- templates

class TextField:
    """A text option rendered per message: a constant, or a template compiled once.

    Templates see the message body's fields at the top level and the reserved names
    ``body``, ``vars``, ``keys``, ``meta`` and ``message`` (as the file sink's path does).
    """

    __slots__ = ("constant", "name", "template")

    def __init__(self, text: str, name: str) -> None:
        self.name = name
        self.template: Template | None = None
        self.constant: str | None = text
        if "{{" in text or "{%" in text:
            from integrator.mapping.templates import compile_template

            self.template = compile_template(text, name=name)
            self.constant = None

    @classmethod
    def of(cls, text: str | None, name: str) -> TextField | None:
        return None if text is None else cls(text, name)

    @property
    def templated(self) -> bool:
        return self.template is not None

    def render(self, delivery: Delivery) -> str:
        """The text for ``delivery``; TemplateError when the template fails on its data.

        Like every sink template, it sees the payload's fields, plus ``body``, ``vars``,
        ``keys``, ``meta`` and ``message``.
        """
        if self.constant is not None:
            return self.constant
        from integrator.mapping.context import TemplateContext

        assert self.template is not None
        return self.template.render(TemplateContext(delivery.message, delivery.payload))


class HeaderFields:
    """A mapping of header names to constants or templates, rendered per message."""

    __slots__ = ("fields",)

    def __init__(self, raw: Mapping[str, Any] | None, name: str) -> None:
        self.fields: list[tuple[str, TextField | Any]] = []
        for key, value in (raw or {}).items():
            if isinstance(value, str):
                self.fields.append((str(key), TextField(value, f"{name}.{key}")))
            elif value is None or isinstance(value, bool | int | float):
                self.fields.append((str(key), value))
            else:
                raise FatalError(f"{name}.{key}: a header value must be text, a number or "
                                 f"a boolean, not {json_codec.kind_of(value)}")

    def __bool__(self) -> bool:
        return bool(self.fields)

    def render(self, delivery: Delivery) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.fields:
            out[key] = value.render(delivery) if isinstance(value, TextField) else value
        return out


def render_error(exc: MessageError, what: str) -> MessageError:
    """Prefix a per-message error with the sink option that failed."""
    if isinstance(exc, TemplateError):
        exc.message = f"{what}: {exc.message}"
    return exc


# --------------------------------------------------------------------------- source

class BrokerSource(Source):
    """The shared read loop of broker sources (see the module docstring).

    Subclasses implement ``_receive``, ``open``, ``ack`` and ``close``, and call
    :meth:`_touch` whenever the engine acknowledged something.
    """

    def __init__(self, where: str, *, follow: bool, idle_timeout: float,
                 batch_size: int) -> None:
        self.where = where
        self.follow = follow
        self.idle_timeout = idle_timeout
        self.batch_size = batch_size
        self._stopping = False
        self._last_activity = time.monotonic()
        self._read = 0
        self._keepalive_task: asyncio.Task[None] | None = None

    async def _receive(self, limit: int, wait: float) -> list[Record]:
        """Up to ``limit`` records; waits at most ``wait`` seconds for the first one.

        Returns [] when nothing came. Raises RetriableError when the connection broke
        (what was received and not acknowledged comes back from the broker)."""
        raise NotImplementedError

    def _touch(self) -> None:
        self._last_activity = time.monotonic()

    # -- keepalive: tell the broker that handed-out messages are still being worked on

    async def _keepalive(self) -> None:
        """Called every ``interval`` seconds while the source is open (see
        :meth:`_start_keepalive`); brokers that redeliver messages unacknowledged for too
        long (NATS ack_wait, Redis claims by other consumers) extend the deadline here."""
        return None

    def _start_keepalive(self, interval: float) -> None:
        self._stop_keepalive()
        self._keepalive_task = asyncio.create_task(self._keepalive_loop(interval),
                                                   name=f"keepalive {self.where}")

    def _stop_keepalive(self) -> None:
        task = self._keepalive_task
        if task is not None:
            task.cancel()
            self._keepalive_task = None

    async def _keepalive_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self._keepalive()
            except IntegratorError as exc:  # the next ack or receive reports it
                log.warning("%s: keepalive failed: %s", self.where, exc.message)

    async def batches(self) -> AsyncIterator[list[Record]]:
        self._touch()
        while not self._stopping:
            if self.follow:
                wait = POLL_SECONDS
            else:
                left = self.idle_timeout - (time.monotonic() - self._last_activity)
                wait = min(POLL_SECONDS, max(left, 0.0))
            records = await self._receive(self.batch_size, wait)
            if records:
                self._read += len(records)
                self._touch()
                yield records
                continue
            if (not self.follow
                    and time.monotonic() - self._last_activity >= self.idle_timeout):
                return
            await asyncio.sleep(0)

    def stop(self) -> None:
        self._stopping = True

    def progress(self) -> Progress:
        return Progress(self._read, None)


def tokens_of(tokens: Sequence[Any], generation: int) -> list[Any]:
    """The parts of ``(generation, key)`` tokens that belong to ``generation``.

    A token from an earlier connection cannot be acknowledged on the new one (its
    message was already handed back to the broker when that connection closed)."""
    return [key for gen, key in tokens if gen == generation]
