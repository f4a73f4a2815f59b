"""Live message latency: from sending a direct message to the recipient's streaming event.

Two nodes: ``a`` (alice0..3) and ``b`` (bob, erin0..3). Bob keeps the Mastodon streaming
API's ``direct`` stream open on ``b`` (SSE); alice (on ``a``, cross-node) and erin
(on ``b``, same-node) take turns sending him direct messages through the Mastodon
API. A message's latency runs from just before its ``POST /api/v1/statuses`` to the
arrival of bob's ``conversation`` event that carries it. One message at a time, so
queueing never adds to the figure. Target: cross-node p99 ≤ 3 x same-node p99 and
< 250 ms.

``python -m bench.messages [--database sqlite|postgres] [--messages N] [--runs N]``
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Sequence

import httpx
import orjson

from bench.common import BenchNode, Figure, Options, percentile

PASSWORD = "password123"
MARKER = re.compile(r"msg-(\d+)-")
WARM_UP = 20
# Mastodon's rate limit (300 calls per 5 minutes per account) applies: senders take turns.
SENDERS = 4


async def _accounts(node: BenchNode, usernames: Sequence[str]) -> None:
    from node.services.accounts import create_local_account
    from node.site import Site

    node.activate()
    site = Site(domain=node.domain, scheme="http")
    for username in usernames:
        await create_local_account(site, username, PASSWORD)


async def _token(http: httpx.AsyncClient, node: BenchNode, username: str) -> str:
    app = (
        await http.post(
            f"{node.url}/api/v1/apps",
            json={"client_name": "bench", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                  "scopes": "read write"},
        )
    ).json()  # fmt: skip
    grant = await http.post(
        f"{node.url}/oauth/token",
        data={"grant_type": "password", "username": username, "password": PASSWORD,
              "client_id": app["client_id"], "client_secret": app["client_secret"],
              "scope": "read write"},
    )  # fmt: skip
    grant.raise_for_status()
    return str(grant.json()["access_token"])


class Stream:
    """Bob's open ``direct`` stream: when each numbered message arrived."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.waiters: dict[int, asyncio.Future[float]] = {}
        self.ready = asyncio.Event()

    async def read(self, http: httpx.AsyncClient, url: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with http.stream("GET", url, headers=headers, timeout=None) as response:
            event = ""
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    self.ready.set()
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "conversation":
                    at = time.perf_counter()
                    status = orjson.loads(line[5:]).get("last_status") or {}
                    found = MARKER.search(status.get("content", ""))
                    if found:
                        number = int(found.group(1))
                        waiter = self.waiters.pop(number, None)
                        if waiter is not None and not waiter.done():
                            waiter.set_result(at)


async def _send(
    http: httpx.AsyncClient, stream: Stream, node: BenchNode, token: str, to: str, number: int
) -> float:
    """Send message ``number``; its latency in seconds once bob's stream shows it."""
    waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    stream.waiters[number] = waiter
    started = time.perf_counter()
    response = await http.post(
        f"{node.url}/api/v1/statuses",
        headers={"Authorization": f"Bearer {token}"},
        json={"status": f"@{to} msg-{number}- ping", "visibility": "direct"},
    )
    response.raise_for_status()
    arrived = await asyncio.wait_for(waiter, 10)
    return arrived - started


async def measure(database: str, count: int, runs: int) -> list[dict[str, list[float]]]:
    """``runs`` rounds of ``count`` cross-node and ``count`` same-node messages (ms)."""
    a, b = BenchNode("msg-a", database), BenchNode("msg-b", database)
    results: list[dict[str, list[float]]] = []
    reader: asyncio.Task[None] | None = None
    try:
        # Fresh senders for every run, so no account passes the limit however many runs.
        senders = SENDERS * (runs + 1)
        alices = [f"alice{i}" for i in range(senders)]
        erins = [f"erin{i}" for i in range(senders)]
        for node, users in ((a, alices), (b, ["bob", *erins])):
            await node.create()
            await _accounts(node, users)
        await a.allow_peers([b.domain])
        await b.allow_peers([a.domain])
        await a.start()
        await b.start()
        async with httpx.AsyncClient(timeout=10) as http:
            alice = [await _token(http, a, name) for name in alices]
            erin = [await _token(http, b, name) for name in erins]
            bob = await _token(http, b, "bob")
            stream = Stream()
            reader = asyncio.create_task(stream.read(http, f"{b.url}/api/v1/streaming/direct", bob))
            await asyncio.wait_for(stream.ready.wait(), 10)
            number = 0
            for run in range(runs + 1):  # run 0 warms both paths up
                rounds = WARM_UP if run == 0 else count
                row: dict[str, list[float]] = {"cross": [], "same": []}
                for i in range(rounds):
                    # Interleaved, so both paths see the same machine load.
                    sender = run * SENDERS + i % SENDERS
                    number += 1
                    cross = await _send(http, stream, a, alice[sender], f"bob@{b.domain}", number)
                    row["cross"].append(cross * 1000)
                    number += 1
                    same = await _send(http, stream, b, erin[sender], "bob", number)
                    row["same"].append(same * 1000)
                if run:
                    results.append(row)
                    print(
                        f"  run {run}: "
                        + ", ".join(
                            f"{k} p50 {percentile(v, 50):.1f} ms p99 {percentile(v, 99):.1f} ms"
                            for k, v in row.items()
                        )
                    )
    finally:
        if reader is not None:
            reader.cancel()
        await a.close()
        await b.close()
    return results


async def run_messages(options: Options) -> list[Figure]:
    count = 100 if options.quick else 500
    rows = await measure(options.database, count, options.runs)

    def col(key: str, q: float) -> list[float]:
        return [percentile(row[key], q) for row in rows]

    name = "messages"
    note = (
        f"{count} direct messages per path per run, one at a time: POST /api/v1/statuses "
        "to the recipient's SSE `conversation` event"
    )
    return [
        Figure(name, "cross-node p50", "ms", col("cross", 50), "same-node p50", col("same", 50),
               note=note),
        Figure(name, "cross-node p99", "ms", col("cross", 99), "same-node p99", col("same", 99),
               "≤ 3 x same-node p99", target_ratio_max=3.0, note=note),
        Figure(name, "cross-node p99 (absolute)", "ms", col("cross", 99),
               target="< 250 ms", target_value_max=250.0, note=note),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.messages", description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--messages", type=int, default=500, help="per path and run")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    rows = asyncio.run(measure(args.database, args.messages, args.runs))
    for key, label in (("cross", "cross-node"), ("same", "same-node")):
        values = [v for row in rows for v in row[key]]
        print(
            f"{label:>10}: n={len(values)} p50 {percentile(values, 50):.1f} ms "
            f"p99 {percentile(values, 99):.1f} ms max {max(values):.1f} ms"
        )
    cross = percentile([v for row in rows for v in row["cross"]], 99)
    same = percentile([v for row in rows for v in row["same"]], 99)
    print(
        f"cross/same p99 ratio {cross / same:.2f} (target ≤ 3); "
        f"cross p99 {cross:.1f} ms (target < 250 ms)"
    )


if __name__ == "__main__":
    main()
