"""HTTP sink throughput: integrator's ``http`` sink beside a hand-written httpx loop.

Usage::

    python bench/http_sink.py [--messages 4000] [--batch-messages 40000]
                              [--concurrency 1,16,64] [--max-batch 50] [--rounds 1]

A trivial Starlette app runs under uvicorn in a subprocess on 127.0.0.1 (keep-alive,
one worker): ``POST /orders`` answers ``{"ok": true}``, ``POST /bulk`` answers one result
per item. For every concurrency C, in the same run and against the same server:

* ``integrator request`` — a flow (memory source → ``http`` sink, action ``request``,
  sink ``concurrency: C``, ``batch_size: 1``) run by the engine: one POST per message;
* ``httpx loop request`` — C asyncio tasks sharing one ``httpx.AsyncClient``, each
  POSTing ``orjson.dumps(order)`` and checking the status: what a user would write;
* ``integrator batch`` / ``httpx loop batch`` — the same with arrays of ``--max-batch``
  orders per request (action ``batch``, sink ``batch_size`` = max_batch).

Every variant checks that the server counted every message. The engine variants include
what the engine does per message (intake, acknowledgement, per-sink queues); the loop
does nothing but send. msgs/s are messages divided by wall seconds; ``÷ loop`` is the
figure to quote (this machine is shared and noisy; absolute numbers are context).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


# -- the server (runs in a subprocess) ----------------------------------------------------

def serve(port: int) -> None:
    import orjson
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    count = {"items": 0, "requests": 0}

    async def orders(request: Request) -> Response:
        await request.body()
        count["items"] += 1
        count["requests"] += 1
        return Response(b'{"ok":true}', media_type="application/json")

    async def bulk(request: Request) -> Response:
        items = orjson.loads(await request.body())
        count["items"] += len(items)
        count["requests"] += 1
        return Response(orjson.dumps({"results": [{"status": 201}] * len(items)}),
                        media_type="application/json")

    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            count["items"] = count["requests"] = 0
        return Response(orjson.dumps(count), media_type="application/json")

    app = Starlette(routes=[Route("/orders", orders, methods=["POST"]),
                            Route("/bulk", bulk, methods=["POST"]),
                            Route("/stats", stats, methods=["GET", "DELETE"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                ws="none", lifespan="off", backlog=2048)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server_process() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                stats(url)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the bench server did not start: "
                                       + (proc.stderr.read().decode() if proc.stderr
                                          else "")) from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def stats(url: str, reset: bool = False) -> dict[str, int]:
    request = urllib.request.Request(url + "/stats", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=5) as answer:
        data: dict[str, int] = json.loads(answer.read())
        return data


# -- the variants -------------------------------------------------------------------------

def orders(n: int) -> list[dict[str, Any]]:
    return [{"id": 100_000 + i, "name": f"#{100_000 + i}", "market": "PL",
             "customer": {"email": f"c{i}@example.com", "name": "Zofia Wójcik"},
             "lines": [{"sku": f"SKU-{i % 50}", "qty": 1 + i % 3, "price": "19.99"}],
             "total": 19.99 * (1 + i % 3)} for i in range(n)]


FLOW = """
flow: bench-http-sink
connections:
  gen: {{type: memory, channel: orders, batch_size: 500}}
  api:
    type: http
    base_url: {url}
    max_connections: 100
    max_keepalive_connections: 100
source: {{connection: gen}}
steps:
  - deliver: [out]
sinks:
  out:
    connection: api
    action: {action}
    concurrency: {concurrency}
    batch_size: {batch_size}
    options: {options}
"""


def run_integrator(url: str, payloads: list[dict[str, Any]], concurrency: int,
                   action: str, max_batch: int) -> float:
    from integrator.compiler import check_text
    from integrator.connectors.builtin.memory import MemoryHub
    from integrator.engine.runner import Engine, RunOptions
    from integrator.flow.loader import LoadOptions

    if action == "request":
        options, batch_size = "{path: /orders}", 1
    else:
        options = f"{{path: /bulk, max_batch: {max_batch}, results: results}}"
        batch_size = max_batch
    text = FLOW.format(url=url, action=action, concurrency=concurrency,
                       batch_size=batch_size, options=options)
    with tempfile.TemporaryDirectory() as tmp:
        compiled, diag = check_text(text, "bench.yaml", options=LoadOptions(env={}),
                                    workdir=Path(tmp))
        errors = [p for p in diag.problems if p.is_error]
        if compiled is None or errors:
            raise RuntimeError(f"bench flow has problems: {errors}")
        hub = MemoryHub()
        hub.channel("orders").extend(payloads)
        engine = Engine(compiled, RunOptions(workdir=Path(tmp)), resources={"memory": hub})
        started = time.perf_counter()
        report = asyncio.run(engine.run())
        seconds = time.perf_counter() - started
    if report.status != "completed" or report.sinks["out"].written != len(payloads):
        raise RuntimeError(f"integrator run: {report.status} {report.fatal} "
                           f"{report.sinks['out'].as_dict()}")
    return seconds


def run_loop(url: str, payloads: list[dict[str, Any]], concurrency: int, action: str,
             max_batch: int) -> float:
    import httpx
    import orjson

    if action == "request":
        bodies = [orjson.dumps(p) for p in payloads]
        target = url + "/orders"
    else:
        bodies = [orjson.dumps(payloads[i:i + max_batch])
                  for i in range(0, len(payloads), max_batch)]
        target = url + "/bulk"

    async def main() -> None:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(limits=limits) as client:
            it = iter(bodies)

            async def worker() -> None:
                for body in it:
                    answer = await client.post(
                        target, content=body, headers={"Content-Type": "application/json"})
                    if answer.status_code >= 400:
                        raise RuntimeError(f"status {answer.status_code}")
                    if action == "batch":
                        results = orjson.loads(answer.content)["results"]
                        if any(r["status"] >= 400 for r in results):
                            raise RuntimeError("an item failed")

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - started


def measure(url: str, variant: str, payloads: list[dict[str, Any]], concurrency: int,
            action: str, max_batch: int) -> float:
    stats(url, reset=True)
    run = run_integrator if variant == "integrator" else run_loop
    seconds = run(url, payloads, concurrency, action, max_batch)
    got = stats(url)["items"]
    if got != len(payloads):
        raise RuntimeError(f"{variant} {action} c={concurrency}: the server received "
                           f"{got} of {len(payloads)} messages")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--messages", type=int, default=4000,
                        help="messages per request-action run (default 4000)")
    parser.add_argument("--batch-messages", type=int, default=40_000,
                        help="messages per batch-action run (default 40000)")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--max-batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat each pair, keep the best of each (default 1)")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    levels = [int(c) for c in args.concurrency.split(",")]
    rows = []
    with server_process() as url:
        # warm up both paths (imports, first connections)
        measure(url, "integrator", orders(200), 4, "request", args.max_batch)
        measure(url, "loop", orders(200), 4, "request", args.max_batch)
        for action, n in (("request", args.messages), ("batch", args.batch_messages)):
            payloads = orders(n)
            for c in levels:
                best: dict[str, float] = {}
                for _ in range(args.rounds):
                    for variant in ("loop", "integrator"):
                        s = measure(url, variant, payloads, c, action, args.max_batch)
                        best[variant] = min(best.get(variant, s), s)
                rows.append((action, c, n, best["integrator"], best["loop"]))
                print(f"  {action:<8} c={c:<3} integrator {n / best['integrator']:>9,.0f}"
                      f"  loop {n / best['loop']:>9,.0f} msgs/s", file=sys.stderr)
    print(f"\n== http sink, {os.cpu_count()} CPUs, server: uvicorn (h11) subprocess, "
          f"batch = {args.max_batch} per request ==")
    header = (f"{'action':<8} {'conc':>4} {'msgs':>7} {'integrator msgs/s':>18} "
              f"{'httpx loop msgs/s':>18} {'÷ loop':>7}")
    print(header)
    print("-" * len(header))
    for action, c, n, mine, loop in rows:
        print(f"{action:<8} {c:>4} {n:>7} {n / mine:>18,.0f} {n / loop:>18,.0f} "
              f"{loop / mine:>6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
