"""Run the order fan-out benchmark: baselines and integrator side by side, then compare outputs.

Usage::

    python bench/run.py [--orders 100000] [--orders 1000000] [--slow-limit 100000]
                        [--variants plain,per-field,integrator] [--keep]

For every ``--orders N`` the input is generated once into ``bench/data/orders-<N>.jsonl``
(reused when present with N lines). Each variant runs as its own subprocess so that its wall
time and peak RSS are its own; it writes into ``bench/out/<variant>-<N>/``. ``plain`` always runs:
it is the reference every other output is compared with, byte for byte. ``per-field`` only maps
the first ``--slow-limit`` orders of larger inputs (a truncated copy of the input), and is then
compared with a plain run on the same truncated file.

Exit status: 0 when every output that was produced is identical to plain's, 1 when an output
differs or a variant failed. A variant that cannot run yet (the integrator flow file is missing)
is reported as unavailable and does not fail the run. See bench/README.md.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.util
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
DATA = BENCH / "data"
OUT = BENCH / "out"
FLOW = BENCH / "order-fanout.yaml"
GENERATOR = REPO / "examples" / "generate_orders.py"
BASELINES = BENCH / "order_fanout"
SEED = 7
VARIANTS = ("plain", "per-field", "integrator")


@dataclass
class Result:
    """One variant run on one input."""

    variant: str
    label: str
    expected: int  # orders in the input file
    input: Path
    out_dir: Path
    status: str = "ok"  # "ok", "unavailable: ...", "failed: ..."
    wall: float | None = None
    seconds: float | None = None  # processing time the variant reported
    orders: int | None = None  # orders the variant reported
    rss_mib: float | None = None
    output: str = "-"  # "reference", "identical", "differs: ..."

    @property
    def ran(self) -> bool:
        return self.status == "ok"

    def rate(self) -> float | None:
        """Orders per processing second, as the variant measured them (None if it did not)."""
        return self.expected / self.seconds if self.ran and self.seconds else None

    def wall_rate(self) -> float | None:
        """Orders per wall-clock second of the whole subprocess."""
        return self.expected / self.wall if self.ran and self.wall else None


# --- input ----------------------------------------------------------------------------------


def count_lines(path: Path) -> int:
    """Number of newline-terminated lines, read in 1 MiB chunks."""
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def ensure_input(count: int) -> Path:
    """``bench/data/orders-<count>.jsonl``, generated unless present with ``count`` lines.

    The generator runs as a subprocess so that this process stays small: a child's peak RSS
    starts from its parent's (see ``rss_floor_mib``).
    """
    path = DATA / f"orders-{count}.jsonl"
    if path.exists() and count_lines(path) == count:
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".jsonl.partial")
    print(f"generating {count} orders into {path.relative_to(REPO)} ...", file=sys.stderr)
    started = time.perf_counter()
    command = [
        sys.executable,
        str(GENERATOR),
        "--count",
        str(count),
        "--seed",
        str(SEED),
        "--out",
        str(partial),
    ]
    subprocess.run(command, check=True, cwd=REPO)
    os.replace(partial, path)  # a killed run never leaves a short file behind the real name
    print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return path


def ensure_prefix(source: Path, total: int, lines: int) -> Path:
    """The first ``lines`` lines of ``source`` (an input of ``total`` orders), as a file."""
    path = DATA / f"orders-{total}-first-{lines}.jsonl"
    if path.exists() and count_lines(path) == lines:
        return path
    partial = path.with_suffix(".jsonl.partial")
    with source.open("rb") as src, partial.open("wb") as dst:
        dst.writelines(itertools.islice(src, lines))
    os.replace(partial, path)
    return path


# --- running --------------------------------------------------------------------------------


def parse_result(stdout: str) -> dict[str, Any]:
    """The last JSON object on stdout, on one line or pretty-printed; {} when there is none.

    Variants may log other lines before it, so this looks for the last line starting an
    object that parses through to the end of the output (or on its own).
    """
    lines = stdout.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i].lstrip().startswith("{"):
            continue
        for text in ("\n".join(lines[i:]), lines[i]):
            try:
                value = json.loads(text)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def measure(result: Result, command: list[str], env: dict[str, str] | None = None) -> None:
    """Run ``command`` as a child, recording wall time, peak RSS and what it reported."""
    if result.out_dir.exists():
        shutil.rmtree(result.out_dir)
    result.out_dir.mkdir(parents=True)
    log = OUT / f"{result.out_dir.name}.log"
    with (
        (OUT / f"{result.out_dir.name}.stdout").open("w+b") as stdout,
        log.open("w+b") as stderr,
    ):
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=REPO)
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix all children)
        _, status, usage = os.wait4(proc.pid, 0)
        result.wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        out = stdout.read().decode("utf-8", "replace")
        stderr.seek(0)
        err = stderr.read().decode("utf-8", "replace")
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    result.rss_mib = usage.ru_maxrss / divisor
    if proc.returncode != 0:
        last = err.strip().splitlines()[-1] if err.strip() else "no output on stderr"
        result.status = f"failed: exit {proc.returncode}: {last} (see {log.relative_to(REPO)})"
        return
    reported = parse_result(out)
    result.seconds = _number(reported.get("seconds"))
    count = _number(reported.get("orders", reported.get("read")))
    result.orders = int(count) if count is not None else None


def rss_floor_mib() -> float:
    """This runner's own peak RSS in MiB.

    Linux keeps a process's peak RSS across ``exec``, and a child created with fork or vfork
    starts from its parent's peak, so no child can report less than this.
    """
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / divisor


def integrator_unavailable() -> str | None:
    """Why the integrator variant cannot run, or None when it can."""
    if not FLOW.exists():
        return f"{FLOW.relative_to(REPO)} does not exist yet"
    # find_spec on a top-level name locates the package without importing it, which would
    # grow this runner (and so every child's reported peak RSS)
    spec = importlib.util.find_spec("integrator")
    if spec is None or spec.origin is None:
        return f"the integrator package is not installed for {sys.executable}"
    if not (Path(spec.origin).parent / "__main__.py").exists():
        return "integrator has no __main__ module yet (python -m integrator)"
    return None


def run_variant(variant: str, label: str, source: Path, expected: int, tag: str) -> Result:
    """Run one variant on ``source`` into ``bench/out/<variant>-<tag>/``."""
    result = Result(variant, label, expected, source, OUT / f"{variant}-{tag}")
    print(f"running {label} on {source.relative_to(REPO)} ...", file=sys.stderr)
    if variant == "integrator":
        reason = integrator_unavailable()
        if reason:
            result.status = f"unavailable: {reason}"
            return result
        command = [
            sys.executable,
            "-m",
            "integrator",
            "run",
            str(FLOW.relative_to(REPO)),
            "--output",
            "json",
        ]
        env = dict(os.environ, BENCH_INPUT=str(source), BENCH_OUT=str(result.out_dir))
        measure(result, command, env)
    else:
        script = BASELINES / f"baseline_{variant.replace('-', '_')}.py"
        measure(result, [sys.executable, str(script), str(source), str(result.out_dir)])
    if result.ran and result.orders is not None and result.orders != expected:
        result.output = f"reported {result.orders} orders, expected {expected}"
    return result


# --- comparing ------------------------------------------------------------------------------


def first_difference(reference: Path, other: Path) -> str:
    """Where two files first differ: "line N" (1-based), or which one is shorter."""
    with reference.open("rb") as a, other.open("rb") as b:
        for number, (line_a, line_b) in enumerate(itertools.zip_longest(a, b), start=1):
            if line_a != line_b:
                if line_b is None:
                    return f"line {number} (output ends early)"
                if line_a is None:
                    return f"line {number} (extra lines)"
                return f"line {number}"
    return "identical"


def compare(reference: Path, other: Path) -> str:
    """Compare two output dirs: "identical", or the first differing file and line of ``other``."""
    expected = sorted(p.name for p in reference.iterdir())
    produced = sorted(p.name for p in other.iterdir())
    missing = [name for name in expected if name not in produced]
    if missing:
        return f"differs: {missing[0]} missing ({len(produced)} of {len(expected)} files)"
    extra = [name for name in produced if name not in expected]
    if extra:
        return f"differs: unexpected file {extra[0]}"
    for name in expected:
        if not filecmp.cmp(reference / name, other / name, shallow=False):
            return f"differs: {name} {first_difference(reference / name, other / name)}"
    return "identical"


# --- reporting ------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(results: list[Result]) -> str:
    """The results as a plain-text table."""
    header = (
        "variant",
        "orders",
        "proc s",
        "wall s",
        "msgs/s proc",
        "msgs/s wall",
        "peak RSS MB",
        "output",
    )
    rows = [header]
    for r in results:
        if not r.ran:
            rows.append((r.label, str(r.expected), "-", "-", "-", "-", "-", r.status))
            continue
        rows.append(
            (
                r.label,
                str(r.expected),
                _fmt(r.seconds, ".2f"),
                _fmt(r.wall, ".2f"),
                _fmt(r.rate(), ",.0f"),
                _fmt(r.wall_rate(), ",.0f"),
                _fmt(r.rss_mib, ".0f"),
                r.output,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i])
            for i in range(len(widths))
        ]
        lines.append("  ".join([*cells, row[-1]]))
        if n == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def ratio(numerator: Result | None, denominator: Result | None) -> str | None:
    """``numerator``'s msgs/s divided by ``denominator``'s, e.g. "0.45x (proc), 0.44x (wall)".

    None when either variant did not run (or was not selected).
    """
    if numerator is None or denominator is None:
        return None
    parts = []
    for kind, a, b in (
        ("proc", numerator.rate(), denominator.rate()),
        ("wall", numerator.wall_rate(), denominator.wall_rate()),
    ):
        if a is not None and b is not None:
            parts.append(f"{a / b:.2f}x ({kind})")
    return ", ".join(parts) or None


# --- main -----------------------------------------------------------------------------------


def bench_size(count: int, variants: list[str], slow_limit: int, keep: bool) -> bool:
    """Run every variant on ``count`` orders and print the table; True when all is well."""
    source = ensure_input(count)
    results: list[Result] = []
    plain = run_variant("plain", "plain", source, count, str(count))
    if plain.ran and plain.output == "-":
        plain.output = "reference"
    results.append(plain)

    per_field = plain_prefix = None
    if "per-field" in variants:
        if count > slow_limit:
            prefix = ensure_prefix(source, count, slow_limit)
            tag = f"{slow_limit}-of-{count}"
            plain_prefix = run_variant(
                "plain", f"plain (first {slow_limit})", prefix, slow_limit, tag
            )
            if plain_prefix.ran and plain_prefix.output == "-":
                plain_prefix.output = "reference"
            results.append(plain_prefix)
            per_field = run_variant(
                "per-field", f"per-field (first {slow_limit})", prefix, slow_limit, tag
            )
            reference = plain_prefix
        else:
            per_field = run_variant("per-field", "per-field", source, count, str(count))
            reference = plain
        if per_field.ran and reference.ran and per_field.output == "-":
            per_field.output = compare(reference.out_dir, per_field.out_dir)
        results.append(per_field)

    integrator = None
    if "integrator" in variants:
        integrator = run_variant("integrator", "integrator", source, count, str(count))
        if integrator.ran and plain.ran and integrator.output == "-":
            integrator.output = compare(plain.out_dir, integrator.out_dir)
        results.append(integrator)

    print(f"\n== order fan-out, {count} orders ==")
    print(table(results))
    for name, a, b in (
        ("integrator ÷ plain", integrator, plain),
        ("integrator ÷ per-field", integrator, per_field),
        ("per-field ÷ plain", per_field, plain_prefix or plain),
    ):
        text = ratio(a, b)
        if text:
            print(f"{name}: {text}  (ratio of msgs/s)")
    print(f"peak RSS includes this runner's own {rss_floor_mib():.0f} MB (inherited at spawn).")
    if per_field is not None and plain_prefix is not None:
        print(
            f"per-field ran on the first {slow_limit} of {count} orders only; "
            "its msgs/s are still comparable."
        )

    ok = all(r.output in ("reference", "identical", "-") for r in results)
    ok = ok and not any(r.status.startswith("failed") for r in results)
    if ok and not keep:
        for r in results:
            if r.out_dir.exists():
                shutil.rmtree(r.out_dir)
    elif not ok:
        print(f"outputs and logs kept under {OUT.relative_to(REPO)}/ for inspection")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run every size, return the exit status."""
    parser = argparse.ArgumentParser(
        description="Order fan-out benchmark: plain / per-field baselines vs integrator."
    )
    parser.add_argument(
        "--orders",
        type=int,
        action="append",
        help="orders per run; repeat for several sizes (default 100000)",
    )
    parser.add_argument(
        "--slow-limit",
        type=int,
        default=100_000,
        help="per-field maps at most this many orders (default 100000)",
    )
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="comma-separated subset of plain,per-field,integrator "
        "(plain always runs: it is the reference)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep output files under bench/out even when identical"
    )
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    sizes = args.orders or [100_000]
    if any(n < 1 for n in sizes) or args.slow_limit < 1:
        parser.error("--orders and --slow-limit must be positive")

    OUT.mkdir(parents=True, exist_ok=True)
    print(
        f"python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs; seed {SEED}",
        flush=True,
    )
    ok = True
    for count in sizes:
        ok = bench_size(count, variants, args.slow_limit, args.keep) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
