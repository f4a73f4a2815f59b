"""The benchmark runner: ``python -m bench [--only NAME] [--database sqlite|postgres] [--runs N]``.

Each benchmark reports the median of its runs and, where it has one, the ratio
to a baseline measured in the same run (the machines are shared and noisy).
Results go to ``bench/results/<time>-<database>.json``; the runner never fails
on a missed target: these are figures, not tests.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import json
import math
import os
import platform
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.common import Figure, Options

RESULTS = Path(__file__).resolve().parent / "results"
Benchmark = Callable[[Options], Coroutine[Any, Any, list[Figure]]]


BENCHMARKS = {
    "ingest": "bench.ingest:run_ingest",
    "fanout": "bench.fanout:run_fanout",
    "timelines": "bench.timelines:run_timelines",
    "memory": "bench.ingest:run_memory",
    "policy": "bench.policy:run_policy",
    "messages": "bench.messages:run_messages",
}


def load(name: str) -> Benchmark:
    module, function = BENCHMARKS[name].split(":")
    benchmark: Benchmark = getattr(importlib.import_module(module), function)
    return benchmark


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "∞"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(figures: list[Figure]) -> str:
    header = ("benchmark", "figure", "value", "unit", "baseline", "ratio", "target", "met")
    rows = [header]
    for f in figures:
        met = {True: "yes", False: "NO", None: ""}[f.met]
        rows.append(
            (
                f.benchmark,
                f.name,
                _fmt(f.value),
                f.unit,
                f"{_fmt(f.baseline)} ({f.baseline_name})" if f.baseline_runs else "",
                _fmt(f.ratio) if f.baseline_runs else "",
                f.target,
                met,
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    available = list(BENCHMARKS)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(available),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(available)}",
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=3, help="runs per benchmark (median)")
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a smoke test)")
    parser.add_argument(
        "--memory-settle",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long the node idles before its RSS is read (default 60)",
    )
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/…)")
    args = parser.parse_args(argv)  # fmt: skip
    options = Options.from_args(args)
    chosen = args.only or list(available)
    started = dt.datetime.now(dt.UTC)
    print(f"Fedwall benchmarks on {options.database}, {options.runs} run(s) each; "
          f"CPU {cpu_model()} x {os.cpu_count()}")  # fmt: skip
    figures: list[Figure] = []
    durations: dict[str, float] = {}
    for name in chosen:
        print(f"\n[{name}]", flush=True)
        clock = time.monotonic()
        try:
            figures += asyncio.run(load(name)(options))
        except Exception as exc:  # one broken benchmark must not lose the others' figures
            print(f"  {name} failed: {type(exc).__name__}: {exc}", flush=True)
        durations[name] = round(time.monotonic() - clock, 1)
        print(f"  ({durations[name]:.0f} s)", flush=True)
    print()
    print(table(figures))
    out = args.out or RESULTS / f"{started:%Y%m%dT%H%M%SZ}-{options.database}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "date": started.isoformat(),
                "cpu": cpu_model(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "database": options.database,
                "runs": options.runs,
                "quick": options.quick,
                "memory_settle_seconds": options.memory_settle,
                "durations_seconds": durations,
                "figures": [f.as_dict() for f in figures],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    print(f"\nresults written to {out}")
