"""Benchmark 1 (inbox ingest) and 4 (memory).

Ingest: 1,000 remote actors whose keys the node has (Account + KeyPair rows
seeded), each followed by the local user ``reader``; plus one request in a
hundred from a first-contact actor whose key the node must fetch from a local
key server. Phase 1 (``wrk``, closed loop, 32 connections) sends distinct
pre-signed ``Create(Note)`` requests as fast as the node takes them: the rate of
``202`` answers whose ``InboxItem`` row is committed, and p50/p99 latency.
Phase 2 (``bench.loadgen``, open loop) sends at half that rate once the node has
caught up, and measures how long each post takes to appear in ``reader``'s
home timeline (the ``TimelineEntry`` id carries its creation time).
Baseline: the same requests, same ``wrk`` settings, against ``bench.noop_app``.

Memory: RSS of ``fedwall serve`` after it has idled, then after the same load
once the node is idle again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import workload as wl
from bench.common import (
    BenchNode,
    Figure,
    NoopServer,
    Options,
    free_ports,
    median,
    percentile,
    rss_mb,
    spawn,
    stop_process,
    wait_port,
)

WRK_CONNECTIONS = 32
LUA = Path(__file__).resolve().parent / "inbox.lua"
PACED_SECONDS = 8.0
DRAIN_TIMEOUT = 180.0


@dataclass
class Sizes:
    burst: int  # requests in phase 1
    paced_max: int  # requests available to phase 2
    baseline_seconds: float

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        return cls(3000, 2500, 3.0) if quick else cls(8000, 6000, 5.0)


def run_wrk(
    port: int, workload: wl.InboxWorkload, first: int, count: int, cycle_seconds: float | None
) -> dict[str, Any]:
    """Run wrk; returns its result line (duration, requests, latency percentiles in µs).

    With ``cycle_seconds`` it cycles through the records for that long (the baseline);
    otherwise it sends each record once and is interrupted when all were answered.
    """
    threads = 1
    env = {
        **os.environ,
        "FEDWALL_BENCH_REQUESTS": str(workload.requests_path),
        "FEDWALL_BENCH_FIRST": str(first),
        "FEDWALL_BENCH_COUNT": str(count),
        "FEDWALL_BENCH_THREADS": str(threads),
        "FEDWALL_BENCH_CYCLE": "1" if cycle_seconds else "0",
    }
    duration = f"{cycle_seconds:.0f}s" if cycle_seconds else "600s"
    process = subprocess.Popen(
        ["wrk", f"-t{threads}", f"-c{WRK_CONNECTIONS}", f"-d{duration}", "--timeout", "30s",
         "-s", str(LUA), f"http://127.0.0.1:{port}/inbox"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stderr is not None
    if not cycle_seconds:
        finished = 0
        for line in process.stderr:
            finished += line.startswith("@@THREAD_DONE")
            if finished == threads:
                process.send_signal(signal.SIGINT)
                break
    stdout, stderr = process.communicate()
    match = re.search(r"@@RESULT (\{.*\})", stdout)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{stdout}\n{stderr}")
    parsed: dict[str, Any] = json.loads(match.group(1))
    return parsed


async def seed(node: BenchNode, workload: wl.InboxWorkload) -> int:
    """The reader, the known actors with their keys, and the reader's follows. Returns reader id."""
    from node.models import Account, Follow, KeyPair
    from node.services.accounts import create_local_account
    from node.site import Site

    node.activate()
    reader = await create_local_account(Site(domain=node.domain, scheme="http"), "reader", None)
    now = dt.datetime.now(dt.UTC)
    accounts = []
    for i, uri in enumerate(workload.known_actors()):
        accounts.append(
            Account(
                username=f"a{i}",
                domain=workload.actor_domain,
                display_name=f"Actor {i}",
                uri=uri,
                inbox_url=f"{uri}/inbox",
                shared_inbox_url=f"http://{workload.actor_domain}/inbox",
                followers_url=f"{uri}/followers",
                fetched_at=now,
            )
        )
    await Account.bulk_create(accounts, batch_size=500)
    stored = {a.uri: a.id for a in await Account.filter(domain=workload.actor_domain)}
    await KeyPair.bulk_create(
        [
            KeyPair(
                account_id=stored[uri], key_id=f"{uri}#main-key", public_pem=workload.key_of(i)[1]
            )
            for i, uri in enumerate(workload.known_actors())
        ],
        batch_size=500,
    )
    await Follow.bulk_create(
        [Follow(follower_id=reader.id, followee_id=i, state="accepted") for i in stored.values()],
        batch_size=500,
    )
    return reader.id


async def pending_items() -> int:
    from node.models import InboxItem

    return await InboxItem.filter(state__in=("pending", "awaiting_key")).count()


async def wait_drained(timeout: float = DRAIN_TIMEOUT) -> float:
    """Seconds until no inbox item is waiting (NaN on timeout)."""
    started = time.monotonic()
    while await pending_items():
        if time.monotonic() - started > timeout:
            return math.nan
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def timeline_times(reader_id: int, note_uris: list[str]) -> dict[str, float]:
    """Note uri → when its entry in the reader's timeline was written (epoch seconds)."""
    from node.models import TimelineEntry

    found: dict[str, float] = {}
    for start in range(0, len(note_uris), 500):
        rows = await TimelineEntry.filter(
            owner_id=reader_id, post__uri__in=note_uris[start : start + 500]
        ).values_list("id", "post__uri")
        for entry_id, uri in rows:
            found[str(uri)] = (int(entry_id) >> 16) / 1000
    return found


async def node_run(
    options: Options, workload: wl.InboxWorkload, sizes: Sizes, settle: float | None
) -> dict[str, float]:
    """One run against a fresh node; returns its figures."""
    from node.models import InboxItem

    node = BenchNode("ingest", options.database, port=workload.node_port)
    figures: dict[str, float] = {}
    try:
        await node.create()
        reader_id = await seed(node, workload)
        await node.allow_peers([workload.actor_domain])
        await node.start()
        if settle is not None:
            await asyncio.sleep(settle)
            figures["rss_idle_mb"] = rss_mb(node.pid)
        # Phase 1: as fast as it goes.
        burst = await asyncio.to_thread(run_wrk, workload.node_port, workload, 1, sizes.burst, None)
        node.activate()
        stored = await InboxItem.all().count()
        seconds = burst["duration_us"] / 1e6
        figures.update(
            rate=stored / seconds,
            p50_ms=burst["p50_us"] / 1000,
            p99_ms=burst["p99_us"] / 1000,
            not_accepted=burst["not202"] + burst["errors"],
            stored=stored,
        )
        drain = await wait_drained()
        figures["processed_rate"] = sizes.burst / (seconds + drain)
        # Phase 2: half the maximum rate, open loop; lag until visible in the timeline.
        rate = figures["rate"] / 2
        count = min(sizes.paced_max, int(rate * PACED_SECONDS))
        out = Path(tempfile.mkstemp(suffix=".json")[1])
        loadgen = spawn(
            [sys.executable, "-m", "bench.loadgen", "--port", str(workload.node_port),
             "--requests", str(workload.requests_path), "--first", str(sizes.burst + 1),
             "--count", str(count), "--rate", f"{rate:.2f}", "--out", str(out)],
            "loadgen",
        )  # fmt: skip
        await asyncio.to_thread(loadgen.wait)
        timings = json.loads(out.read_text())
        out.unlink()
        records = workload.records[sizes.burst : sizes.burst + count]
        followed = [
            (r.note_uri, t["sent"])
            for r, t in zip(records, timings, strict=True)
            if not r.first_contact and t.get("status") == 202
        ]
        uris = [uri for uri, _ in followed]
        deadline = time.monotonic() + 60
        seen: dict[str, float] = {}
        while time.monotonic() < deadline:
            seen = await timeline_times(reader_id, uris)
            if len(seen) == len(uris):
                break
            await asyncio.sleep(0.25)
        lags = [seen[uri] - sent if uri in seen else math.inf for uri, sent in followed]
        figures.update(
            paced_rate=rate,
            paced_p99_ms=percentile([t["latency"] for t in timings], 99) * 1000,
            lag_p50_s=percentile(lags, 50),
            lag_p99_s=percentile(lags, 99),
            lag_missing=sum(1 for lag in lags if math.isinf(lag)),
        )
        if settle is not None:
            await wait_drained()
            await asyncio.sleep(10)
            figures["rss_after_mb"] = rss_mb(node.pid)
    finally:
        await node.close()
    return figures


def noop_run(workload: wl.InboxWorkload, sizes: Sizes, port: int) -> dict[str, float]:
    result = run_wrk(port, workload, 1, sizes.burst, sizes.baseline_seconds)
    return {
        "rate": result["requests"] / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
    }


class KeyServer:
    def __init__(self, workload: wl.InboxWorkload) -> None:
        self.workload = workload
        self.process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> KeyServer:
        self.process = spawn(
            [sys.executable, "-m", "bench.keyserver", "--port", str(self.workload.key_port),
             "--documents", str(self.workload.documents_path)],
            "keyserver",
        )  # fmt: skip
        await wait_port(self.workload.key_port, self.process)
        return self

    async def __aexit__(self, *exc: object) -> None:
        stop_process(self.process)


def prepare(options: Options, directory: Path) -> tuple[wl.InboxWorkload, Sizes]:
    sizes = Sizes.of(options.quick)
    started = time.monotonic()
    node_port, key_port = free_ports(2)
    workload = wl.build(node_port, key_port, sizes.burst + sizes.paced_max, directory, "b")
    print(f"  signed {len(workload.records)} requests in {time.monotonic() - started:.1f} s")
    return workload, sizes


async def run_ingest(options: Options) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="fedwall-bench-ingest-") as tmp:
        workload, sizes = prepare(options, Path(tmp))
        noop = NoopServer()
        await noop.start()
        runs: list[dict[str, float]] = []
        baselines: list[dict[str, float]] = []
        try:
            async with KeyServer(workload):
                for run in range(options.runs):
                    baselines.append(await asyncio.to_thread(noop_run, workload, sizes, noop.port))
                    runs.append(await node_run(options, workload, sizes, None))
                    print(
                        f"  run {run + 1}: node {_short(runs[-1])}; no-op {_short(baselines[-1])}"
                    )
        finally:
            noop.stop()
    return ingest_figures(runs, baselines)


def _short(figures: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in figures.items())


def ingest_figures(runs: list[dict[str, float]], baselines: list[dict[str, float]]) -> list[Figure]:
    def col(rows: list[dict[str, float]], key: str) -> list[float]:
        return [row[key] for row in rows]

    name = "ingest"
    return [
        Figure(name, "accepted+stored rate", "act/s", col(runs, "rate"), "no-op 202 rate",
               col(baselines, "rate"), "≥ 0.7 x baseline", target_ratio_min=0.7,
               note=f"wrk -c{WRK_CONNECTIONS}; 1% first-contact actors"),
        Figure(name, "latency p50", "ms", col(runs, "p50_ms"),
               "no-op p50", col(baselines, "p50_ms")),
        Figure(name, "latency p99", "ms", col(runs, "p99_ms"),
               "no-op p99", col(baselines, "p99_ms")),
        Figure(name, "processed into timelines", "act/s", col(runs, "processed_rate"),
               "accepted rate", col(runs, "rate"),
               note="phase-1 requests / (send time + time to drain the inbox queue)"),
        Figure(name, "timeline lag p50 at ½ max rate", "s", col(runs, "lag_p50_s")),
        Figure(name, "timeline lag p99 at ½ max rate", "s", col(runs, "lag_p99_s"),
               target="< 1 s", target_value_max=1.0,
               note=f"paced at {median(col(runs, 'paced_rate')):.0f}/s for {PACED_SECONDS:.0f} s; "
               f"missing after 60 s: {max(col(runs, 'lag_missing')):.0f}"),
    ]  # fmt: skip


async def run_memory(options: Options) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="fedwall-bench-memory-") as tmp:
        workload, sizes = prepare(options, Path(tmp))
        runs: list[dict[str, float]] = []
        async with KeyServer(workload):
            for run in range(options.runs):
                runs.append(await node_run(options, workload, sizes, options.memory_settle))
                print(f"  run {run + 1}: {_short(runs[-1])}")
    idle = [r["rss_idle_mb"] for r in runs]
    after = [r["rss_after_mb"] for r in runs]
    settle = f"{options.memory_settle:.0f} s after start"
    return [
        Figure("memory", f"RSS idle ({settle})", "MiB", idle, target="≤ 80 MB",
               target_value_max=80 * 1e6 / 2**20),
        Figure("memory", "RSS after ingest, idle again", "MiB", after, "RSS idle", idle,
               "≤ 1.10 x idle", target_ratio_max=1.10,
               note=f"{sizes.burst} + ½-rate requests, then queue drained + 10 s"),
    ]  # fmt: skip
