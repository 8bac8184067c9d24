"""The broker modules load without their drivers, and say which extra to install.

Runs in a subprocess whose import system refuses aio-pika, nats-py, redis, aiomqtt and
paho — a machine with only the core install. No service is needed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent("""
    import asyncio, importlib.abc, json, sys, tempfile
    from pathlib import Path

    BLOCKED = {"aio_pika", "aiormq", "pamqp", "nats", "redis", "aiomqtt", "paho"}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"No module named {name!r} (blocked by the test)")
            return None

    sys.meta_path.insert(0, Block())

    from integrator.connectors.registry import Registry
    from integrator.connectors.base import Runtime
    from integrator.errors import FatalError
    from integrator.security.secrets import Redactor

    CASES = {
        "amqp": ({"queue": "q", "routing_key": "k"}, {}, "publish", {}),
        "nats": ({"stream": "S"}, {"durable": "d"}, "publish", {"subject": "a.b"}),
        "redis-streams": ({"stream": "s"}, {"group": "g"}, "add", {}),
        "mqtt": ({"topics": ["a/b"]}, {}, "publish", {"topic": "a/b"}),
    }

    async def main():
        out = {}
        registry = Registry(load_entry_points=False)
        tmp = Path(tempfile.mkdtemp())
        for name, (config, source_opts, action, sink_opts) in CASES.items():
            cls = registry.get(name)
            schema = cls.spec.json_schema()
            runtime = Runtime(flow="f", workdir=tmp, state_dir=tmp, redactor=Redactor())
            conn = cls("c", cls.spec.parse(config, "c"), runtime)
            source = conn.source(cls.source_options.parse(source_opts, "s"))
            sink = conn.sink(action, cls.actions[action].options.parse(sink_opts, "k"))
            result = {"options": sorted(schema["properties"])}
            for role, obj in (("source", source), ("sink", sink)):
                try:
                    await obj.open()
                    result[role] = "opened?!"
                except FatalError as exc:
                    result[role] = [exc.message, exc.hint]
            check = await conn.check()
            result["check"] = [check.status, check.detail]
            out[name] = result
        print(json.dumps(out))

    asyncio.run(main())
""")


def test_specs_load_and_roles_name_the_extra_without_drivers() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    extras = {"amqp": "amqp", "nats": "nats", "redis-streams": "redis", "mqtt": "mqtt"}
    for name, extra in extras.items():
        result = results[name]
        assert "codec" in result["options"]
        for role in ("source", "sink"):
            message, hint = result[role]
            assert "driver is not installed" in message, (name, role, message)
            assert hint == f"pip install 'integrator[{extra}]'"
        status, detail = result["check"]
        assert status == "misconfigured" and "driver is not installed" in detail, name
