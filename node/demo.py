"""``fedwall demo``: a local federation of three nodes on SQLite, with sample people and posts.

Each node is a real ``fedwall serve`` process with its own data directory and
database; the sample follows and posts are made through the nodes' own web
pages, the way a person would, so they federate like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

DEMO_PASSWORD = "fedwall-demo"  # noqa: S105 - printed to the person running the demo


@dataclass(frozen=True)
class DemoNode:
    name: str
    port: int
    people: tuple[tuple[str, str], ...]

    @property
    def domain(self) -> str:
        return f"localhost:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.domain}"


def demo_nodes(base_port: int) -> list[DemoNode]:
    return [
        DemoNode(
            "hq",
            base_port,
            (("alice", "Alice Martin (HQ)"), ("lea", "Léa Bernard (Legal)"), ("admin", "HQ admin")),
        ),
        DemoNode("sales", base_port + 1, (("bob", "Bob Durand (Sales)"),)),
        DemoNode("lab", base_port + 2, (("carol", "Carol Petit (Lab)"),)),
    ]


def _fedwall(*args: str, stdin: str | None = None) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "node", *args], input=stdin, text=True, capture_output=True
    )
    if result.returncode != 0:
        raise SystemExit(f"fedwall {' '.join(args)} failed: {result.stderr.strip()}")


class Browser:
    """Signs in to a node's web pages and submits their forms (with the CSRF token)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30, follow_redirects=True)
        self.csrf = ""

    async def sign_in(self, username: str, password: str) -> None:
        response = await self.http.post("/login", data={"username": username, "password": password})
        if response.status_code != 200:
            raise RuntimeError(f"cannot sign in as {username} on {self.base_url}")
        match = re.search(r'name="csrf" value="([^"]+)"', response.text)
        if match is None:
            raise RuntimeError("no CSRF token on the page after signing in")
        self.csrf = match.group(1)

    async def submit(self, path: str, **fields: str) -> httpx.Response:
        response = await self.http.post(path, data={"csrf": self.csrf, **fields})
        if response.status_code >= 400:
            raise RuntimeError(f"{path} on {self.base_url} answered {response.status_code}")
        return response

    async def post(self, text: str, visibility: str = "public", label: str = "") -> None:
        await self.submit("/posts", text=text, visibility=visibility, label=label)

    async def follow(self, handle: str) -> None:
        await self.submit("/follow", handle=handle)

    async def close(self) -> None:
        await self.http.aclose()


def demo_policy(node: DemoNode, nodes: list[DemoNode]) -> str:
    """A realistic boundary: allowlists between the three nodes, the lab cleared for
    ``internal`` only by the head office, card numbers redacted, Legal kept at home."""
    hq, sales, lab = nodes
    clearance = {
        hq.name: {sales.name: "confidential", lab.name: "internal"},
        sales.name: {hq.name: "confidential", lab.name: "internal"},
        lab.name: {hq.name: "internal", sales.name: "internal"},
    }[node.name]
    text = (
        "# Demo boundary policy of the " + node.name + " node.\n"
        'federation_mode = "allowlist"\n'
        'labels = ["public", "internal", "confidential", "restricted"]\n'
        'default_label = "internal"\n'
    )
    for peer in nodes:
        if peer is node:
            continue
        text += (
            f'\n[[peers]]\ndomain = "{peer.domain}"\nstatus = "allowed"\n'
            f'note = "Group agreement: {node.name} <-> {peer.name}"\n'
            f'outbound = {{ max_label = "{clearance[peer.name]}", profile_fields = ["title"] }}\n'
            'inbound = { max_label = "confidential" }\n'
        )
    text += """
[[content_rules]]
id = "redact-card-numbers"
description = "Payment card numbers never leave the node"
matchers = [{ type = "card_number" }]
action = "redact"
scope = { directions = ["outbound"], peers = "all" }
"""
    if node.name == hq.name:
        text += """
[[group_rules]]
id = "legal-stays-home"
description = "Posts by members of Legal never leave the head office"
effect = "deny"
kinds = ["posts", "replies", "direct_messages"]
scope = { directions = ["outbound"], author_groups = ["legal"] }
"""
    return text


async def _configure_boundary(directory: Path, node: DemoNode, nodes: list[DemoNode]) -> None:
    from node.config import load_settings
    from node.db import Database
    from node.models import Account, Group, GroupMembership
    from node.services.policy import PolicyStore

    database = Database(load_settings(directory).database_url)
    await database.open()
    try:
        await PolicyStore().apply(demo_policy(node, nodes), "fedwall demo", "demo boundary")
        if node.name == nodes[0].name:
            legal = await Group.create(name="legal", description="Legal department")
            lea = await Account.get(username="lea", domain="")
            await GroupMembership.create(group=legal, account=lea)
    finally:
        await database.close()


async def _wait_ready(url: str, process: subprocess.Popen[bytes], deadline: float) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the node at {url} stopped while starting (see its log)")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise SystemExit(f"the node at {url} did not become ready")


async def _seed(nodes: list[DemoNode]) -> None:
    hq, sales, lab = nodes
    alice, bob, carol = Browser(hq.url), Browser(sales.url), Browser(lab.url)
    try:
        await alice.sign_in("alice", DEMO_PASSWORD)
        await bob.sign_in("bob", DEMO_PASSWORD)
        await carol.sign_in("carol", DEMO_PASSWORD)
        await alice.follow(f"bob@{sales.domain}")
        await alice.follow(f"carol@{lab.domain}")
        await bob.follow(f"alice@{hq.domain}")
        await carol.follow(f"bob@{sales.domain}")
        await carol.follow(f"alice@{hq.domain}")
        await asyncio.sleep(1.0)  # let the Accepts travel before the first posts
        await alice.post("Welcome to the group's federated wall! #kickoff", label="public")
        await bob.post("Q4 pipeline review on Thursday: bring your numbers. #sales")
        await carol.post(f"Prototype v2 is ready for testing, @bob@{sales.domain} #lab")
        await bob.post("Followers only: the new price list is in the shared drive.", "followers")
        await alice.post("Board pack for Q4 is ready (confidential)", label="confidential")
        await alice.post("Refund issued to card 4111 1111 1111 1111, ticket closed")
        lea = Browser(hq.url)
        try:
            await lea.sign_in("lea", DEMO_PASSWORD)
            await lea.post("Legal note: contract templates were updated (stays at HQ)")
        finally:
            await lea.close()
    finally:
        for browser in (alice, bob, carol):
            await browser.close()


async def run_demo(data: Path, base_port: int) -> int:
    nodes = demo_nodes(base_port)
    data.mkdir(parents=True, exist_ok=True)
    fresh = False
    for node in nodes:
        directory = data / node.name
        if not (directory / "fedwall.toml").exists():
            fresh = True
            _fedwall("init", str(directory), "--domain", node.domain, "--dev")
            for username, display_name in node.people:
                options = ["--display-name", display_name]
                if username == "admin":
                    options.append("--admin")
                _fedwall("user", "create", str(directory), username, "--password-stdin", *options,
                         stdin=DEMO_PASSWORD + "\n")  # fmt: skip
            await _configure_boundary(directory, node, nodes)
    processes: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, "FEDWALL_DELIVERY_RETRY_BASE": "2", "FEDWALL_DELIVERY_RETRY_CAP": "60"}
    try:
        for node in nodes:
            log = (data / f"{node.name}.log").open("ab")
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "node", "serve", str(data / node.name)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        deadline = time.monotonic() + 60
        for node, process in zip(nodes, processes, strict=True):
            await _wait_ready(node.url, process, deadline)
        if fresh:
            await _seed(nodes)
        print("\nFedwall demo federation is running:\n")
        for node in nodes:
            people = ", ".join(username for username, _ in node.people)
            print(f"  {node.name:<6} {node.url:<24} sign in as: {people}")
        print(f"\n  password for every demo account: {DEMO_PASSWORD}")
        print(
            "\n  The boundary at work: hq clears lab for 'internal' only (hq's confidential"
            "\n  post reaches sales, not lab), card numbers are redacted for every peer, and"
            "\n  posts by members of Legal (lea) never leave hq. Each node's policy:"
            f"\n  fedwall policy show {data}/hq   ·   audit: fedwall audit verify {data}/hq"
        )
        print(f"  logs and data: {data}/\n\nPress Ctrl-C to stop all nodes.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            if any(p.poll() is not None for p in processes):
                print("a node stopped unexpectedly; see its log", file=sys.stderr)
                return 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        return 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        print("all demo nodes stopped")
