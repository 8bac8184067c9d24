"""Graceful stop: SIGTERM stops reading, drains what was read, and says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FLOW = """\
flow: stdin-copy
connections:
  feed: {type: stdin}
  out: {type: file, path: out/copy.jsonl}
source: {connection: feed}
steps:
  - deliver: [copy]
sinks:
  copy: {connection: out}
"""


def test_sigterm_drains_and_reports_stopped(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(FLOW, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "integrator", "run", "flow.yaml", "--output", "json"],
        cwd=tmp_path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    assert proc.stdin is not None
    lines = b"".join(b'{"n": %d}\n' % i for i in range(1000))
    proc.stdin.write(lines)
    proc.stdin.flush()
    partial = tmp_path / "out" / ".copy.jsonl.partial"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the engine has taken the lines in
        if partial.exists() and partial.stat().st_size >= len(lines) // 2:
            break
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)  # stdin stays open: the source must not hang
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    report = json.loads(out)
    assert report["status"] == "stopped"
    assert report["read"] == report["acked"] == report["sinks"]["copy"]["out"]
    written = (tmp_path / "out" / "copy.jsonl").read_bytes().splitlines()
    assert len(written) == report["read"] > 0
    assert [json.loads(x)["n"] for x in written] == list(range(len(written)))
