"""The policy commands: ``fedwall peer|policy|review|group|audit`` against a node's database.

Most tests run a command's handler in this process (as ``fedwall`` would, with
its own database connection); the audit-chain and policy-file checks run the
installed ``fedwall`` script in a subprocess, exactly as an operator would.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from tortoise import connections

from node.cli import build_parser
from node.config import write_config
from node.db import Database
from node.errors import FedwallError
from node.keys import generate_key_pair
from node.models import Delivery, PeerRequest, PolicyVersion, ReviewItem
from node.policy import evaluate, parse_policy_file
from node.services import audit, reviews
from node.services.accounts import create_local_account
from node.services.policy import PolicyStore, note_peer_request
from node.services.posts import Draft, create_post
from node.services.preview import sample_crossing
from node.site import Site

README = Path(__file__).resolve().parents[1] / "README.md"
FEDWALL = shutil.which("fedwall", path=str(Path(sys.executable).parent)) or shutil.which("fedwall")
KEY = generate_key_pair()

BROKEN_POLICY = """\
federation_mode = "allowlist"

[[peers]]
domain = "sales.example"
status = "allowed"

[[content_rules]]
id = "cards"
action = "redact"
matchers = [{ type = "card_number" }]

[[content_rules]]
id = "typo"
action = "blok"
"""

CARD_POLICY = """\
federation_mode = "allowlist"

[[peers]]
domain = "sales.example"
status = "allowed"
outbound = { max_label = "internal" }

[[content_rules]]
id = "cards"
description = "Card numbers never leave the node"
action = "redact"
matchers = [{ type = "card_number" }]
scope = { directions = ["outbound"] }

[[group_rules]]
id = "legal-stays-home"
effect = "deny"
kinds = ["posts"]
scope = { directions = ["outbound"], author_groups = ["legal"] }
"""


@dataclass
class Result:
    status: int
    out: str
    err: str


@pytest.fixture
def node_dir(db: Database, tmp_path: Path) -> Path:
    """A node directory whose database is the test's (SQLite or PostgreSQL)."""
    data_dir = tmp_path / "node"
    data_dir.mkdir()
    write_config(
        data_dir,
        {
            "domain": "wall.test",
            "scheme": "http",
            "environment": "development",
            "database_url": db.url,
        },
    )
    return data_dir


async def fedwall(db: Database, *argv: str, stdin: str | None = None) -> Result:
    """Run a command's handler here, as ``fedwall`` does: status, stdout, stderr."""
    args = build_parser().parse_args(list(argv))
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = await args.handler(args)
            except FedwallError as error:
                print(f"fedwall: error: {error.message}", file=sys.stderr)
                status = 2
    finally:
        sys.stdin = old_stdin
        db.activate()  # the command opened and closed its own connection
    out.flush()
    raw = out.buffer.getvalue()
    return Result(status, raw.decode(), err.getvalue())


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    """The installed ``fedwall`` script, without FEDWALL_* overrides from this environment."""
    assert FEDWALL is not None, "the fedwall console script is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDWALL_")}
    return subprocess.run(
        [FEDWALL, *argv], capture_output=True, text=True, timeout=60, env=env, check=False
    )


# ---------------------------------------------------------------- peers


async def test_peer_allow_limit_block_store_versions_the_node_then_uses(
    db: Database, node_dir: Path
) -> None:
    d = str(node_dir)
    allowed = await fedwall(db, "peer", "allow", d, "sales.example", "--note", "group deal")
    assert allowed.status == 0 and "sales.example allowed (policy version 1)" in allowed.out
    limited = await fedwall(
        db, "peer", "limit", d, "lab.example", "--max-label", "public",
        "--kinds", "posts,replies", "--no-media", "--fields", "title,department",
        "--direction", "outbound",
    )  # fmt: skip
    assert limited.status == 0, limited.err
    assert "outbound: posts, replies; labels up to public; no media" in limited.out
    assert (await fedwall(db, "peer", "block", d, "evil.example")).status == 0
    snapshot = await PolicyStore().current()
    assert snapshot.version == 3
    assert snapshot.peers["sales.example"].note == "group deal"
    lab = snapshot.peers["lab.example"]
    assert lab.outbound.kinds == frozenset({"posts", "replies"})
    assert lab.outbound.profile_fields == frozenset({"title", "department"})
    assert lab.inbound.max_label == "internal"
    assert snapshot.peers["evil.example"].status == "blocked"
    assert [v.author.startswith("cli") for v in await PolicyVersion.all()] == [True] * 3


async def test_peer_list_and_show_describe_agreements(db: Database, node_dir: Path) -> None:
    d = str(node_dir)
    await fedwall(db, "peer", "allow", d, "sales.example")
    await note_peer_request("stranger.example", "Follow")
    listing = await fedwall(db, "peer", "list", d)
    lines = {line.split()[0]: line for line in listing.out.splitlines()[2:]}
    assert "allowed" in lines["sales.example"] and "pending" in lines["stranger.example"]
    shown = await fedwall(db, "peer", "show", d, "sales.example")
    assert "effective: allowed" in shown.out
    assert "outbound: every kind; labels up to internal; media; profile fields: none" in shown.out


async def test_peer_errors_are_one_line(db: Database, node_dir: Path) -> None:
    d = str(node_dir)
    unknown = await fedwall(db, "peer", "limit", d, "sales.example", "--max-label", "secret")
    assert unknown.status == 2 and "unknown label 'secret'" in unknown.err
    assert len(unknown.err.strip().splitlines()) == 1
    nothing = await fedwall(db, "peer", "show", d, "nobody.example")
    assert nothing.status == 2 and "nobody.example" in nothing.err


async def test_peering_requests_are_listed_approved_and_denied(
    db: Database, node_dir: Path
) -> None:
    d = str(node_dir)
    await note_peer_request("one.example", "Follow")
    await note_peer_request("two.example", "Create")
    listing = await fedwall(db, "peer", "requests", d)
    assert "one.example" in listing.out and "two.example" in listing.out
    approved = await fedwall(db, "peer", "approve", d, "one.example")
    assert approved.status == 0 and "approved the peering request of one.example" in approved.out
    denied = await fedwall(db, "peer", "deny", d, "two.example", "--block")
    assert denied.status == 0 and "blocked it" in denied.out
    assert (await PeerRequest.get(domain="one.example")).state == "approved"
    assert (await PeerRequest.get(domain="two.example")).state == "denied"
    snapshot = await PolicyStore().current()
    assert snapshot.peers["one.example"].status == "allowed"
    assert snapshot.peers["two.example"].status == "blocked"
    assert "(no pending peering requests)" in (await fedwall(db, "peer", "requests", d)).out


# ---------------------------------------------------------------- policy


async def test_policy_show_prints_a_file_that_check_and_apply_accept(
    db: Database, node_dir: Path, tmp_path: Path
) -> None:
    d = str(node_dir)
    await fedwall(db, "peer", "allow", d, "sales.example")
    shown = await fedwall(db, "policy", "show", d)
    path = tmp_path / "policy.toml"
    path.write_text(shown.out.replace('"allowlist"', '"blocklist"'), encoding="utf-8")
    checked = await fedwall(db, "policy", "check", d, str(path))
    assert checked.status == 0 and "valid (blocklist mode" in checked.out
    applied = await fedwall(db, "policy", "apply", d, str(path), "--comment", "open up")
    assert applied.status == 0 and "stored policy version 2" in applied.out
    row = await PolicyVersion.get(version=2)
    assert row.comment == "open up"
    assert (await PolicyStore().current()).federation_mode == "blocklist"
    first = await fedwall(db, "policy", "show", d, "--version", "1")
    assert '"allowlist"' in first.out
    history = await fedwall(db, "policy", "versions", d)
    assert "open up" in history.out


async def test_policy_apply_of_an_invalid_file_names_the_line_and_changes_nothing(
    db: Database, node_dir: Path
) -> None:
    result = await fedwall(db, "policy", "apply", str(node_dir), "-", stdin=BROKEN_POLICY)
    assert result.status == 2
    assert "line 14" in result.err and "content_rules[1].action" in result.err
    assert "nothing was changed" in result.err
    assert await PolicyVersion.all().count() == 0


async def test_policy_check_warns_about_groups_the_node_lacks(db: Database, node_dir: Path) -> None:
    result = await fedwall(db, "policy", "check", str(node_dir), "-", stdin=CARD_POLICY)
    assert result.status == 0
    assert "line 19: warning: group 'legal'" in result.err


async def test_policy_test_prints_the_decision_and_its_reasons(
    db: Database, node_dir: Path
) -> None:
    d = str(node_dir)
    await PolicyStore().apply(CARD_POLICY, "test")
    redacted = await fedwall(
        db, "policy", "test", d, "--text", "card 4111 1111 1111 1111", "--peer", "sales.example"
    )
    assert redacted.status == 0
    assert redacted.out.splitlines()[0] == "decision: redact (policy version 1)"
    assert "[cards] redacted in the copy for sales.example" in redacted.out
    assert "copy for this peer:\n  content: card [redacted]" in redacted.out
    denied = await fedwall(
        db, "policy", "test", d, "--text", "hi", "--peer", "sales.example",
        "--label", "confidential",
    )  # fmt: skip
    assert denied.out.startswith("decision: deny")
    assert "label confidential is above internal" in denied.out


# ---------------------------------------------------------------- groups and reviews


async def test_group_commands_manage_members(db: Database, node_dir: Path, site: Site) -> None:
    d = str(node_dir)
    for name in ("alice", "bob"):
        await create_local_account(site, name, None, key_pair=KEY)
    assert (await fedwall(db, "group", "create", d, "legal", "--description", "Legal")).status == 0
    added = await fedwall(db, "group", "add", d, "legal", "alice", "bob")
    assert "added to legal: alice, bob" in added.out
    removed = await fedwall(db, "group", "remove", d, "legal", "bob")
    assert "removed from legal: bob" in removed.out
    assert (await fedwall(db, "group", "list", d, "legal")).out.split() == ["alice"]
    listing = await fedwall(db, "group", "list", d)
    assert "legal" in listing.out and " 1 " in listing.out
    missing = await fedwall(db, "group", "add", d, "legal", "nobody")
    assert missing.status == 2 and "nobody" in missing.err


async def test_review_commands_list_approve_and_reject(
    db: Database, node_dir: Path, site: Site
) -> None:
    d = str(node_dir)
    alice = await create_local_account(site, "alice", None, key_pair=KEY)
    post = await create_post(site, alice, Draft(text="the merger", visibility="public"))
    items = []
    for peer in ("sales.example", "lab.example"):
        delivery = await Delivery.create(
            activity_id=f"{post.uri}/activity",
            inbox_url=f"https://{peer}/inbox",
            peer_domain=peer,
            sender=alice,
            body="{}",
            next_attempt_at=dt.datetime.now(dt.UTC),
        )
        items.append(await reviews.hold(delivery, [], post=post))
    listing = await fedwall(db, "review", "list", d)
    assert str(items[0].id) in listing.out and "alice" in listing.out
    approved = await fedwall(db, "review", "approve", d, str(items[0].id))
    assert approved.status == 0 and "released for delivery to sales.example" in approved.out
    rejected = await fedwall(db, "review", "reject", d, str(items[1].id))
    assert rejected.status == 0 and "will never be sent to lab.example" in rejected.out
    states = {r.peer_domain: r.state for r in await Delivery.all()}
    assert states == {"sales.example": "pending", "lab.example": "dead"}
    assert {r.state for r in await ReviewItem.all()} == {"approved", "rejected"}
    again = await fedwall(db, "review", "approve", d, str(items[1].id))
    assert again.status == 2 and "already rejected" in again.err


# ---------------------------------------------------------------- audit


async def record_crossings() -> int:
    """A policy change and two crossing decisions; returns the seq of the denied one."""
    store = PolicyStore()
    await store.apply(CARD_POLICY, "test")
    snapshot = await store.current()
    allowed = evaluate(snapshot, await sample_crossing(text="hi", peer="sales.example"))
    await audit.record_decision(allowed, object_id="https://wall.test/1", actor=None, label=None)
    denied = evaluate(snapshot, await sample_crossing(text="hi", peer="stranger.example"))
    entry = await audit.record_decision(
        denied, object_id="https://wall.test/1", actor=None, label=None
    )
    assert entry.decision == "deny"
    return entry.seq


async def test_audit_export_writes_json_lines_filtered_by_peer(
    db: Database, node_dir: Path
) -> None:
    await record_crossings()
    result = await fedwall(db, "audit", "export", str(node_dir), "--peer", "stranger.example")
    assert result.status == 0
    [entry] = [orjson.loads(line) for line in result.out.splitlines()]
    assert (entry["peer_domain"], entry["decision"]) == ("stranger.example", "deny")
    everything = await fedwall(db, "audit", "export", str(node_dir), "--since", "2000-01-01")
    assert len(everything.out.splitlines()) == 3
    bad = await fedwall(db, "audit", "export", str(node_dir), "--since", "yesterday")
    assert bad.status == 2 and "ISO 8601" in bad.err


async def test_audit_verify_passes_then_names_the_entry_altered_in_the_database(
    db: Database, node_dir: Path
) -> None:
    seq = await record_crossings()
    intact = run("audit", "verify", str(node_dir))
    assert intact.returncode == 0, intact.stderr
    assert "3 entries, chain intact" in intact.stdout
    await connections.get(db.dialect).execute_query(
        f"UPDATE audit_entries SET decision='allow' WHERE seq={seq}"
    )
    broken = run("audit", "verify", str(node_dir))
    assert broken.returncode == 1
    assert f"entry {seq} was altered after it was written" in broken.stderr
    assert "Traceback" not in broken.stderr


async def test_policy_check_of_a_file_with_an_error_names_the_line(
    db: Database, node_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN_POLICY, encoding="utf-8")
    result = run("policy", "check", str(node_dir), str(path))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"{path}: line 14, content_rules[1].action: unknown action 'blok' "
        "(expected one of block, redact, hold, warn, label)"
    )


# ---------------------------------------------------------------- the README


def readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Boundary policy\n")
    return text[start : text.index("\n## ", start + 1)]


def test_the_readme_example_policy_is_valid() -> None:
    found = re.search(r"```toml\n(.*?)```", readme_section(), re.DOTALL)
    assert found is not None, "the README's Boundary policy section has no TOML example"
    snapshot = parse_policy_file(found.group(1), 1)
    assert snapshot.peers and snapshot.content_rules and snapshot.group_rules
    assert {r.mode for r in snapshot.content_rules} == {"enforce", "dry_run"}


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_the_readme_names_only_policy_commands_that_exist() -> None:
    pattern = r"`(?:fedwall )?(peer|policy|review|group|audit) (\w+) DATA_DIR"
    named = set(re.findall(pattern, readme_section()))
    assert len(named) >= 20
    commands = subcommands(build_parser())
    for group, action in sorted(named):
        assert action in subcommands(commands[group]), f"fedwall {group} {action}"
