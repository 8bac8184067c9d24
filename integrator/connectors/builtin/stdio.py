"""The ``stdin`` and ``stdout`` connectors: a flow in a shell pipeline.

Datasheet
=========
``stdin`` (source)
    :reads:   ``sys.stdin.buffer`` until end of input, in a background thread, so a
              terminal or a slow pipe never blocks the event loop; each chunk that
              arrives is decoded and handed over at once (``tail -f | integrator run``
              sees every line as it comes).
    :formats: ``jsonl`` (default), ``json``, ``csv``, ``xml``, ``text`` (each line is a
              record ``{"line": "..."}``); the same decoders, options and per-record
              errors as the ``file`` source, with meta ``{"file": "<stdin>", "line": n}``.
    :acks:    counted (``acked``); standard input cannot be replayed.
    :stop:    ``stop()`` ends ``batches`` at once, even while the thread waits for input.

``stdout`` (sink, action ``write``)
    :writes:  ``sys.stdout.buffer``: ``jsonl`` one compact JSON document per line,
              ``json-pretty`` indented documents one after another, ``text`` the payload
              string and a newline. Each batch is one write, done in a thread (a full
              pipe blocks the thread, not the loop). Flushed at ``close``; ``abort``
              flushes too — a stream cannot take back what it showed.
    :errors:  a payload that cannot be encoded is an error for that delivery only; a
              closed stdout (broken pipe) is a FatalError.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

from integrator.codecs import json as json_codec
from integrator.connectors.base import (
    Action,
    Capabilities,
    Connector,
    Delivery,
    Progress,
    Record,
    Sink,
    Source,
)
from integrator.connectors.builtin.files import READ_OPTIONS, FileSettings, read_records
from integrator.connectors.spec import Config, ConfigSpec, Option
from integrator.errors import FatalError, IntegratorError, MessageError, RejectedError

__all__ = ["StdinConnector", "StdinSource", "StdoutConnector", "StdoutSink"]

STDIN_LABEL = "<stdin>"
_END = object()  # the thread read to end of input
_QUEUE_BATCHES = 4  # batches decoded ahead of the consumer


def _stdin_options() -> tuple[Option, ...]:
    return tuple(
        dataclasses.replace(o, default="jsonl",
                            description="Format of standard input; default jsonl.")
        if o.name == "format" else o
        for o in READ_OPTIONS
    )


class _Read1:
    """``read(n)`` that returns what is available instead of waiting for ``n`` bytes."""

    def __init__(self, stream: Any) -> None:
        self._read = getattr(stream, "read1", stream.read)

    def read(self, size: int = -1, /) -> bytes:
        data: bytes = self._read(size)
        return data


class StdinSource(Source):
    """Reads standard input in a daemon thread; see the module datasheet."""

    def __init__(self, settings: FileSettings, where: str) -> None:
        self.settings = settings
        self.where = where
        self.acked = 0
        self._read = 0
        self._stopped = False
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._slots = threading.Semaphore(_QUEUE_BATCHES)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def open(self) -> None:
        stdin = sys.stdin
        stream = getattr(stdin, "buffer", None) if stdin is not None else None
        if stream is None:
            raise FatalError(f"{self.where}: there is no standard input to read",
                             hint="run the flow with input piped in, e.g. cat in.jsonl | ...")
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._pump, args=(stream,),
                                        name="integrator-stdin", daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        """Thread body: decode stdin into batches and hand them to the loop."""
        size = self.settings.batch_size
        try:
            for records in read_records(_Read1(stream), self.settings, STDIN_LABEL, 0):
                for start in range(0, len(records), size):
                    self._slots.acquire()  # back-pressure: a few batches ahead at most
                    if self._stopped:
                        return
                    self._hand_over(records[start:start + size])
            self._hand_over(_END)
        except OSError as exc:
            self._hand_over(FatalError(f"{self.where}: reading standard input failed: "
                                       f"{exc.strerror or exc}"))
        except FatalError as exc:
            self._hand_over(exc)

    def _hand_over(self, item: Any) -> None:
        loop = self._loop
        assert loop is not None
        try:
            loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:
            # the event loop is closed: the run is over and nobody waits for this item
            return

    async def batches(self) -> AsyncIterator[list[Record]]:
        while not self._stopped:
            item = await self._queue.get()
            if item is _END or self._stopped:
                return
            if isinstance(item, IntegratorError):
                raise item
            self._slots.release()
            self._read += len(item)
            yield item

    async def ack(self, tokens: Sequence[Any]) -> None:
        self.acked += len(tokens)

    def stop(self) -> None:
        self._stopped = True
        self._queue.put_nowait(_END)
        self._slots.release()  # wake the thread if it waits for room

    def progress(self) -> Progress:
        return Progress(self._read, None, unit="records")

    async def close(self) -> None:
        self._stopped = True
        self._slots.release()


class StdinConnector(Connector):
    """Standard input as a source."""

    type_name = "stdin"
    summary = "Read records from standard input (jsonl, json, csv, xml, text)."
    spec = ConfigSpec(_stdin_options())
    source_options = ConfigSpec((
        Option("batch_size", "integer", "Records per batch (overrides the connection's).",
               minimum=1, maximum=1_000_000, examples=(5000,)),
    ))
    capabilities = Capabilities(batching=True, ordering=True)
    examples = ("connections:\n  input:\n    type: stdin\n    format: csv\n"
                "    delimiter: ';'\n",)

    def source(self, options: Config) -> StdinSource:
        where = f"connection {self.name!r} (stdin)"
        values = dict(self.config)
        values.update({k: v for k, v in options.items() if v is not None})
        values["path"] = STDIN_LABEL
        return StdinSource(FileSettings.from_values(values, where=where), where)


class StdoutSink(Sink):
    """Writes payloads to standard output; see the module datasheet."""

    def __init__(self, fmt: str, where: str) -> None:
        self.format = fmt
        self.where = where
        self._stream: Any = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        stdout = sys.stdout
        stream = getattr(stdout, "buffer", None) if stdout is not None else None
        if stream is None:
            raise FatalError(f"{self.where}: there is no standard output to write to")
        stdout.flush()  # text already printed through sys.stdout goes first
        self._stream = stream

    def _encode(self, payload: Any) -> bytes:
        if self.format == "jsonl":
            return json_codec.dumps(payload) + b"\n"
        if self.format == "json-pretty":
            return json_codec.dumps_pretty(payload) + b"\n"
        if not isinstance(payload, str):
            raise RejectedError(
                f"the text format writes text, got {type(payload).__name__}",
                hint="render the payload with a template step, or use format jsonl",
            )
        return payload.encode("utf-8", "surrogateescape") + b"\n"

    async def write_batch(
        self, deliveries: Sequence[Delivery]
    ) -> list[IntegratorError | None] | None:
        if self._stream is None:
            await self.open()
        errors: list[IntegratorError | None] = [None] * len(deliveries)
        failed = False
        chunks: list[bytes] = []
        for i, delivery in enumerate(deliveries):
            try:
                chunks.append(self._encode(delivery.payload))
            except MessageError as exc:
                errors[i] = exc
                failed = True
        if chunks:
            async with self._lock:
                await self._io(self._stream.write, b"".join(chunks))
        return errors if failed else None

    async def _io(self, call: Any, *args: Any) -> None:
        try:
            await asyncio.to_thread(call, *args)
        except BrokenPipeError:
            raise FatalError(f"{self.where}: standard output was closed (broken pipe)",
                             hint="the program reading the output stopped early") from None
        except OSError as exc:
            raise FatalError(f"{self.where}: writing standard output failed: "
                             f"{exc.strerror or exc}") from None

    async def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            async with self._lock:
                await self._io(stream.flush)

    async def abort(self) -> None:
        await self.close()


class StdoutConnector(Connector):
    """Standard output as a sink."""

    type_name = "stdout"
    summary = "Write payloads to standard output (jsonl, json-pretty, text)."
    spec = ConfigSpec((
        Option("format", "enum",
               "jsonl: one compact JSON document per line; json-pretty: indented documents; "
               "text: the payload (a string) and a newline.",
               choices=("jsonl", "json-pretty", "text"), default="jsonl",
               examples=("json-pretty",)),
    ))
    actions = {
        "write": Action(
            "Write each payload to standard output.",
            ConfigSpec((Option("format", "enum", "Overrides the connection's format.",
                               choices=("jsonl", "json-pretty", "text"),
                               examples=("text",)),)),
        ),
    }
    default_action = "write"
    capabilities = Capabilities(batching=True, ordering=True, max_concurrency=1)
    examples = ("connections:\n  out:\n    type: stdout\n    format: json-pretty\n",)

    def sink(self, action: str, options: Config) -> StdoutSink:
        where = f"connection {self.name!r} (stdout)"
        if action != "write":
            raise FatalError(f"{where}: unknown action {action!r}",
                             hint="the stdout connector has one action: write")
        fmt = options.get("format") or self.config.get("format") or "jsonl"
        return StdoutSink(fmt, where)
