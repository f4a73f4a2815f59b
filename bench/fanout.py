"""Benchmark 2: fan-out of one post to followers on M other nodes.

The local ``author`` has 10,000 remote followers spread over M peers (Account
and Follow rows seeded directly; each peer has one shared inbox, so one post is
M deliveries). Each peer is a port of a ``bench.receiver`` process that verifies
the signature and answers ``202`` at once. The author posts through the web
page; the figure is the time from the post's commit (its time-ordered id) to
the last acknowledgement. A warm-up post goes first (connections, caches).
Then, with 10% of the peers accepting connections but never answering, the
completion time of the healthy peers is compared with the all-healthy post.

Baseline (lower bound), measured in the run: M x (time to sign one delivery +
time of one bare HTTP request to a receiver) ÷ cores.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import BenchNode, Figure, Options, free_ports, spawn, stop_process, wait_port
from node.demo import Browser

FOLLOWERS = 10_000
PASSWORD = "bench-password"
PEER_COUNTS = (10, 100)
RECEIVERS_PER_PROCESS = 25
HUNG_SHARE = 0.10


class Peers:
    """M receivers in a few processes, an acknowledgement log and a 'hung' switch."""

    def __init__(self, count: int, directory: Path, public_pem: str) -> None:
        self.ports = free_ports(count)
        self.directory = directory
        self.key_path = directory / "author.pub.pem"
        self.key_path.write_text(public_pem)
        self.hung_path = directory / "hung.txt"
        self.hung_path.write_text("")
        self.acks_path = directory / "acks.jsonl"
        self.processes: list = []

    @property
    def domains(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.ports]

    async def start(self) -> None:
        for start in range(0, len(self.ports), RECEIVERS_PER_PROCESS):
            ports = self.ports[start : start + RECEIVERS_PER_PROCESS]
            process = spawn(
                [sys.executable, "-m", "bench.receiver", "--ports", ",".join(map(str, ports)),
                 "--public-key", str(self.key_path), "--acks", str(self.acks_path),
                 "--hung", str(self.hung_path)],
                "receiver",
            )  # fmt: skip
            self.processes.append(process)
            for port in ports:
                await wait_port(port, process)

    def set_hung(self, ports: list[int]) -> None:
        self.hung_path.write_text(" ".join(map(str, ports)))

    def acks(self, activity_suffix: str) -> dict[int, float]:
        """Port → time of the acknowledgement of the activity whose id ends with the suffix."""
        found: dict[int, float] = {}
        if not self.acks_path.exists():
            return found
        for line in self.acks_path.read_text().splitlines():
            ack = json.loads(line)
            if str(ack.get("id", "")).endswith(activity_suffix):
                found[ack["port"]] = ack["t"]
        return found

    def stop(self) -> None:
        for process in self.processes:
            stop_process(process)


async def seed(node: BenchNode, peers: Peers) -> tuple[int, str, str]:
    """The author and its followers; returns (author id, private PEM, public PEM)."""
    from node.models import Account, Follow, KeyPair
    from node.services.accounts import create_local_account
    from node.site import Site

    node.activate()
    author = await create_local_account(Site(domain=node.domain, scheme="http"), "author", PASSWORD)
    pair = await KeyPair.get(account_id=author.id)
    now = dt.datetime.now(dt.UTC)
    followers = []
    for i in range(FOLLOWERS):
        domain = peers.domains[i % len(peers.domains)]
        uri = f"http://{domain}/users/f{i}"
        followers.append(
            Account(
                username=f"f{i}", domain=domain, uri=uri, inbox_url=f"{uri}/inbox",
                shared_inbox_url=f"http://{domain}/inbox", followers_url=f"{uri}/followers",
                fetched_at=now,
            )
        )  # fmt: skip
    await Account.bulk_create(followers, batch_size=1000)
    ids = (
        await Account.filter(username__startswith="f")
        .exclude(domain="")
        .values_list("id", flat=True)
    )
    await Follow.bulk_create(
        [Follow(follower_id=i, followee_id=author.id, state="accepted") for i in ids],
        batch_size=1000,
    )
    await Account.filter(id=author.id).update(followers_count=len(ids))
    assert pair.private_pem is not None
    return author.id, pair.private_pem, pair.public_pem


def time_signing(private_pem: str, inbox: str, body: bytes, repeats: int = 200) -> float:
    """Median seconds to sign one delivery (the product's signing function and key type)."""
    from federation.signatures import load_private_key_pem, sign_request

    key = load_private_key_pem(private_pem)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        sign_request("POST", inbox, {"Content-Type": "application/activity+json"}, body,
                     "http://localhost/users/author#main-key", key, dt.datetime.now(dt.UTC))  # type: ignore[arg-type]  # fmt: skip
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def time_bare_request(port: int, body: bytes, repeats: int = 200) -> float:
    """Median seconds of one keep-alive HTTP POST of ``body`` to a receiver that does nothing."""
    raw = (
        f"POST /bare HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/activity+json"
        f"\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    samples = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(repeats):
            started = time.perf_counter()
            sock.sendall(raw)
            received = b""
            while b"\r\n\r\n" not in received:
                received += sock.recv(4096)
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def post_and_wait(
    node: BenchNode, browser: Browser, author_id: int, peers: Peers, text: str, healthy: list[int]
) -> tuple[float, float]:
    """Post; returns (seconds from commit to the last healthy ack, to the first Delivery row)."""
    from node.models import Delivery, Post

    await browser.post(text, visibility="public", label="public")
    node.activate()
    post = await Post.filter(author_id=author_id).order_by("-id").first()
    assert post is not None
    committed = (post.id >> 16) / 1000
    suffix = f"/posts/{post.id}/activity"
    deadline = time.monotonic() + 120
    acks: dict[int, float] = {}
    while time.monotonic() < deadline:
        acks = peers.acks(suffix)
        if all(port in acks for port in healthy):
            break
        await asyncio.sleep(0.02)
    missing = [p for p in healthy if p not in acks]
    if missing:
        raise RuntimeError(f"{len(missing)} healthy peers never acknowledged {post.uri}")
    first_row = (
        await Delivery.filter(activity_id__contains=str(post.id)).order_by("created_at").first()
    )
    queued = first_row.created_at.timestamp() - committed if first_row else float("nan")
    return max(acks[p] for p in healthy) - committed, queued


async def one_run(options: Options, count: int) -> dict[str, float]:
    directory = Path(tempfile.mkdtemp(prefix="fedwall-bench-fanout-"))
    node = BenchNode(f"fanout{count}", options.database)
    peers: Peers | None = None
    browser: Browser | None = None
    try:
        await node.create()
        peers = Peers(count, directory, "")
        author_id, private_pem, public_pem = await seed(node, peers)
        peers.key_path.write_text(public_pem)
        await node.allow_peers(peers.domains)
        await peers.start()
        await node.start()
        browser = Browser(node.url)
        await browser.sign_in("author", PASSWORD)
        everyone = list(peers.ports)
        await post_and_wait(node, browser, author_id, peers, "Warm-up post.", everyone)
        total, queued = await post_and_wait(
            node, browser, author_id, peers, "All peers are up.", everyone
        )
        hung = peers.ports[: max(1, round(count * HUNG_SHARE))]
        peers.set_hung(hung)
        healthy = [p for p in peers.ports if p not in hung]
        with_hung, _ = await post_and_wait(
            node, browser, author_id, peers, "Some peers hang.", healthy
        )
        from node.models import Delivery

        sample = await Delivery.filter(state="delivered").first()
        body = sample.body.encode() if sample else b"{}"
        sign = time_signing(private_pem, f"http://{peers.domains[0]}/inbox", body)
        bare = time_bare_request(peers.ports[-1], body)
        cores = os.cpu_count() or 1
        return {
            "completion_s": total,
            "queued_s": queued,
            "with_hung_s": with_hung,
            "sign_ms": sign * 1000,
            "bare_ms": bare * 1000,
            "bound_s": count * (sign + bare) / cores,
        }
    finally:
        if browser is not None:
            await browser.close()
        await node.close()
        if peers is not None:
            peers.stop()


async def run_fanout(options: Options) -> list[Figure]:
    figures: list[Figure] = []
    for count in PEER_COUNTS:
        runs = []
        for run in range(options.runs):
            runs.append(await one_run(options, count))
            print(
                f"  M={count} run {run + 1}: "
                + ", ".join(f"{k}={v:.4g}" for k, v in runs[-1].items())
            )

        def col(key: str, runs: list[dict[str, float]] = runs) -> list[float]:
            return [r[key] for r in runs]

        name = f"fanout M={count}"
        figures += [
            Figure(name, "commit → last ack", "s", col("completion_s"), "lower bound",
                   col("bound_s"), "≤ 2 x bound", target_ratio_max=2.0,
                   note=f"{FOLLOWERS} followers; sign {statistics.median(col('sign_ms')):.2f} ms, "
                   f"bare request {statistics.median(col('bare_ms')):.2f} ms"),
            Figure(name, "commit → deliveries queued", "s", col("queued_s"),
                   note="outbox processor: polls every 0.5 s, builds the recipient list"),
            Figure(name, f"healthy peers' time, {HUNG_SHARE:.0%} hung", "s", col("with_hung_s"),
                   "all peers up", col("completion_s"), "≤ 1.10 x all up", target_ratio_max=1.10),
        ]  # fmt: skip
    return figures
