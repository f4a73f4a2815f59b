"""The boundary-policy commands of ``fedwall``: peers, policy, reviews, groups, audit.

:func:`add_policy_commands` adds them to the parser of :mod:`node.cli`. Every
command opens the node's database like the other commands do; changes made here
reach a running node within a second (the policy store reloads new versions).
User errors print one line and exit with status 2; ``policy check`` exits with 1
for an invalid file and ``audit verify`` with 1 for a broken chain.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from node.cli import CliError, _settings, _with_database
from node.models import PolicyVersion
from node.policy import (
    DIRECTIONS,
    KINDS,
    Direction,
    PolicyFileError,
    PolicySnapshot,
    evaluate,
    explain,
    parse_policy_file,
)
from node.runtime import Runtime

if TYPE_CHECKING:
    from node.services.peers import PeerChange

Command = Callable[..., Any]


def _actor() -> str:
    """Who made a change from the command line, for the policy history and the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in the environment or the password database
        return "cli"


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _run(args: argparse.Namespace, work: Callable[[Runtime], Awaitable[int | None]]) -> Any:
    return _with_database(_settings(args), work)


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _time(value: str, option: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"invalid {option} {value!r}: use ISO 8601, e.g. 2026-03-31T00:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------- peers


def _print_change(change: PeerChange, what: str) -> None:
    if change.changed:
        print(f"{change.domain} {what} (policy version {change.version})")
    else:
        print(
            f"{change.domain} was already {what}; nothing changed (policy version {change.version})"
        )


async def cmd_peer_allow(args: argparse.Namespace) -> int:
    from node.services import peers

    expires = _time(args.expires, "--expires") if args.expires else None

    async def work(runtime: Runtime) -> None:
        change = await peers.allow(
            runtime.site.policy, args.domain, author=_actor(), note=args.note, expires=expires
        )
        _print_change(change, "allowed")
        for direction in DIRECTIONS:
            print(f"  {direction}: {peers.describe_terms(change.agreement.terms(direction))}")

    await _run(args, work)
    return 0


async def cmd_peer_block(args: argparse.Namespace) -> int:
    from node.services import peers

    async def work(runtime: Runtime) -> None:
        change = await peers.block(
            runtime.site.policy, args.domain, author=_actor(), note=args.note
        )
        _print_change(change, "blocked")

    await _run(args, work)
    return 0


async def cmd_peer_limit(args: argparse.Namespace) -> int:
    from node.services import peers

    terms = peers.TermsChange(
        kinds=peers.parse_kinds(_csv(args.kinds)) if args.kinds is not None else None,
        max_label=args.max_label,
        media=args.media,
        profile_fields=frozenset(_csv(args.fields)) if args.fields is not None else None,
    )
    directions: tuple[Direction, ...] = (
        DIRECTIONS if args.direction == "both" else (args.direction,)
    )

    async def work(runtime: Runtime) -> None:
        change = await peers.limit(
            runtime.site.policy,
            args.domain,
            terms,
            author=_actor(),
            directions=directions,
            note=args.note,
        )
        _print_change(change, "allowed with these terms")
        for direction in DIRECTIONS:
            print(f"  {direction}: {peers.describe_terms(change.agreement.terms(direction))}")

    await _run(args, work)
    return 0


async def cmd_peer_list(args: argparse.Namespace) -> int:
    from node.services import peers

    async def work(runtime: Runtime) -> None:
        snapshot = await runtime.site.policy.current()
        rows = await peers.list_peers(runtime.site.policy)
        print(f"federation mode: {snapshot.federation_mode} (policy version {snapshot.version})")
        print(
            f"{'DOMAIN':<32} {'STATUS':<8} {'OUT UP TO':<13} {'IN UP TO':<13} "
            f"{'OUT ok/denied':<14} {'IN ok/denied':<13} {'LAST CONTACT':<20} REQUEST"
        )
        for row in rows:
            agreement, stats, request = row.agreement, row.stats, row.request
            out_label = agreement.outbound.max_label if agreement else "-"
            in_label = agreement.inbound.max_label if agreement else "-"
            out = f"{stats.outbound_allowed}/{stats.outbound_denied}" if stats else "-"
            inn = f"{stats.inbound_allowed}/{stats.inbound_denied}" if stats else "-"
            last = _when(stats.last_contact_at) if stats else "-"
            print(
                f"{row.domain:<32} {row.status:<8} {out_label:<13} {in_label:<13} "
                f"{out:<14} {inn:<13} {last:<20} {request.state if request else '-'}"
            )
        if not rows:
            print("(no peers: none allowed, blocked, seen or asking)")

    await _run(args, work)
    return 0


async def cmd_peer_show(args: argparse.Namespace) -> int:
    from node.services import peers

    async def work(runtime: Runtime) -> None:
        details = await peers.show(runtime.site.policy, args.domain)
        print(f"peer: {details.domain}")
        print(f"effective: {details.effective}")
        print(
            f"federation mode: {details.federation_mode} (policy version {details.policy_version})"
        )
        agreement = details.agreement
        if agreement is not None:
            print(f"agreement: {agreement.domain}, {agreement.status}")
            if agreement.note:
                print(f"  note: {agreement.note}")
            if agreement.expires:
                print(f"  expires: {agreement.expires.isoformat()}")
            for direction in DIRECTIONS:
                print(f"  {direction}: {peers.describe_terms(agreement.terms(direction))}")
        else:
            print("agreement: none")
        stats = details.stats
        if stats is not None:
            print(
                f"traffic: outbound {stats.outbound_allowed} allowed, {stats.outbound_denied} "
                f"denied; inbound {stats.inbound_allowed} allowed, {stats.inbound_denied} denied; "
                f"last contact {_when(stats.last_contact_at)}"
            )
        request = details.request
        if request is not None:
            print(
                f"peering request: {request.state}, {request.attempt_count} attempt(s), "
                f"first {_when(request.first_seen_at)}, last {_when(request.last_seen_at)}"
            )
            for attempt in (request.attempts or [])[-5:]:
                print(f"  {attempt.get('at', '?')}  {attempt.get('tried', '?')}")

    await _run(args, work)
    return 0


async def cmd_peer_requests(args: argparse.Namespace) -> int:
    from node.services import peers

    async def work(runtime: Runtime) -> None:
        rows = await peers.list_requests(None if args.all else "pending")
        print(
            f"{'DOMAIN':<32} {'STATE':<9} {'TRIES':>5} {'FIRST SEEN':<20} "
            f"{'LAST SEEN':<20} LAST TRIED"
        )
        for r in rows:
            last = (r.attempts or [{}])[-1].get("tried", "-")
            print(
                f"{r.domain:<32} {r.state:<9} {r.attempt_count:>5} {_when(r.first_seen_at):<20} "
                f"{_when(r.last_seen_at):<20} {last}"
            )
        if not rows:
            print("(no pending peering requests)" if not args.all else "(no peering requests)")

    await _run(args, work)
    return 0


async def cmd_peer_approve(args: argparse.Namespace) -> int:
    from node.services import peers

    async def work(runtime: Runtime) -> None:
        change = await peers.approve_request(runtime.site.policy, args.domain, author=_actor())
        print(f"approved the peering request of {change.domain} (policy version {change.version})")
        for direction in DIRECTIONS:
            print(f"  {direction}: {peers.describe_terms(change.agreement.terms(direction))}")

    await _run(args, work)
    return 0


async def cmd_peer_deny(args: argparse.Namespace) -> int:
    from node.services import peers

    async def work(runtime: Runtime) -> None:
        change = await peers.deny_request(
            runtime.site.policy, args.domain, author=_actor(), block_peer=args.block
        )
        blocked = f" and blocked it (policy version {change.version})" if change else ""
        print(f"denied the peering request of {args.domain}{blocked}")

    await _run(args, work)
    return 0


# ---------------------------------------------------------------- policy


def _read_file(path: str) -> tuple[str, str]:
    """The text of a policy file (``-``: standard input) and the name to show in messages."""
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        return Path(path).read_text(encoding="utf-8"), path
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read {path}: {error}") from None


def _summary(snapshot: PolicySnapshot) -> str:
    return (
        f"{snapshot.federation_mode} mode, labels {' < '.join(snapshot.labels.names)}, "
        f"{len(snapshot.peers)} peer(s), {len(snapshot.content_rules)} content rule(s), "
        f"{len(snapshot.group_rules)} group rule(s)"
    )


def _line_of(text: str, rule_id: str, needle: str) -> int | None:
    """The line naming ``needle`` (quoted) at or after the line of rule ``rule_id``."""
    lines = text.splitlines()
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if re.match(rf"\s*id\s*=\s*[\"']{re.escape(rule_id)}[\"']", line)
        ),
        0,
    )
    quoted = re.compile(rf"[\"']{re.escape(needle)}[\"']")
    return next((i + 1 for i in range(start, len(lines)) if quoted.search(lines[i])), None)


async def _warnings(snapshot: PolicySnapshot, text: str, name: str) -> list[str]:
    from node.services.groups import missing_groups

    messages = []
    for group, rule_ids in sorted((await missing_groups(snapshot)).items()):
        line = _line_of(text, rule_ids[0], group)
        where = f"{name}: line {line}: " if line else f"{name}: "
        messages.append(
            f"{where}warning: group {group!r} (used by {', '.join(rule_ids)}) does not exist "
            "on this node yet: the rule applies to nobody until it does"
        )
    return messages


def _problem(name: str, error: PolicyFileError) -> str:
    return f"{name}: {error}"


async def cmd_policy_show(args: argparse.Namespace) -> int:
    async def work(runtime: Runtime) -> None:
        if args.version is None:
            sys.stdout.write(await runtime.site.policy.source())
            return
        row = await PolicyVersion.get_or_none(version=args.version)
        if row is None:
            raise CliError(f"no policy version {args.version}")
        sys.stdout.write(row.source)

    await _run(args, work)
    return 0


async def cmd_policy_versions(args: argparse.Namespace) -> int:
    async def work(runtime: Runtime) -> None:
        rows = await PolicyVersion.all().order_by("-version")
        print(f"{'VERSION':>7} {'STORED':<20} {'BY':<24} COMMENT")
        for row in rows:
            print(f"{row.version:>7} {_when(row.created_at):<20} {row.author:<24} {row.comment}")
        if not rows:
            print("(no stored versions: the built-in default policy is in force)")

    await _run(args, work)
    return 0


async def cmd_policy_check(args: argparse.Namespace) -> int:
    text, name = _read_file(args.file)

    async def work(runtime: Runtime) -> int:
        try:
            snapshot = parse_policy_file(text, 0)
        except PolicyFileError as error:
            print(_problem(name, error), file=sys.stderr)
            return 1
        for warning in await _warnings(snapshot, text, name):
            print(warning, file=sys.stderr)
        print(f"{name}: valid ({_summary(snapshot)})")
        return 0

    status: int = await _run(args, work)
    return status


async def cmd_policy_apply(args: argparse.Namespace) -> int:
    text, name = _read_file(args.file)
    try:
        parse_policy_file(text, 0)
    except PolicyFileError as error:
        raise CliError(f"{_problem(name, error)}; nothing was changed") from None

    async def work(runtime: Runtime) -> None:
        comment = args.comment or f"applied {Path(name).name} from the command line"
        snapshot = await runtime.site.policy.apply(text, _actor(), comment)
        for warning in await _warnings(snapshot, text, name):
            print(warning, file=sys.stderr)
        print(f"stored policy version {snapshot.version} ({_summary(snapshot)})")

    await _run(args, work)
    return 0


async def cmd_policy_test(args: argparse.Namespace) -> int:
    from node.services.preview import sample_crossing

    async def work(runtime: Runtime) -> None:
        crossing = await sample_crossing(
            text=args.text,
            peer=args.peer,
            label=args.label,
            author=args.author,
            recipients=args.recipient or (),
            kind=args.kind,
            direction=args.direction,
            summary=args.summary,
            media=args.media,
        )
        decision = evaluate(await runtime.site.policy.current(), crossing)
        print(f"decision: {decision.outcome} (policy version {decision.policy_version})")
        print(explain(decision))
        print(f"effective label: {decision.effective_label}")
        if crossing.author_groups:
            print(f"author groups: {', '.join(sorted(crossing.author_groups))}")
        for reason in decision.reasons:
            flags = " [dry run]" if reason.dry_run else ""
            rule = f"[{reason.rule_id}] " if reason.rule_id else ""
            print(f"  - {rule}{reason.message}{flags}")
        if decision.transformed is not None:
            print("copy for this peer:")
            for field, value in decision.transformed.items():
                print(f"  {field}: {value}")

    await _run(args, work)
    return 0


# ---------------------------------------------------------------- reviews


def _parse_id(value: str) -> int:
    if not value.isdigit():
        raise CliError(f"invalid review id {value!r}")
    return int(value)


async def cmd_review_list(args: argparse.Namespace) -> int:
    from node.services import reviews

    async def work(runtime: Runtime) -> None:
        items = await reviews.list_items(None if args.all else "held", limit=args.limit)
        print(
            f"{'ID':<20} {'STATE':<9} {'DIR':<8} {'PEER':<28} {'AUTHOR':<16} {'HELD AT':<20} REASON"
        )
        for item in items:
            post = item.post
            author = post.author.username if post is not None else "-"
            reason = str(item.reasons[0].get("message", "")) if item.reasons else ""
            print(
                f"{item.id:<20} {item.state:<9} {item.direction:<8} {item.peer_domain:<28} "
                f"{author:<16} {_when(item.created_at):<20} {reason[:100]}"
            )
        if not items:
            print("(nothing waits for review)" if not args.all else "(no review items)")

    await _run(args, work)
    return 0


async def _review_decide(args: argparse.Namespace, approve: bool) -> int:
    from node.services import reviews

    item_id = _parse_id(args.id)

    async def work(runtime: Runtime) -> None:
        decide = reviews.approve if approve else reviews.reject
        result = await decide(item_id, reviewer=_actor(), site=runtime.site)
        item = result.item
        what = "released for delivery to" if approve else "will never be sent to"
        print(f"review item {item.id} {item.state}: {what} {item.peer_domain}")
        if result.notification is not None:
            print("the author was notified")

    await _run(args, work)
    return 0


async def cmd_review_approve(args: argparse.Namespace) -> int:
    return await _review_decide(args, approve=True)


async def cmd_review_reject(args: argparse.Namespace) -> int:
    return await _review_decide(args, approve=False)


# ---------------------------------------------------------------- groups


async def cmd_group_create(args: argparse.Namespace) -> int:
    from node.services import groups

    async def work(runtime: Runtime) -> None:
        group = await groups.create_group(args.name, description=args.description, actor=_actor())
        print(f"created group {group.name}")

    await _run(args, work)
    return 0


async def cmd_group_add(args: argparse.Namespace) -> int:
    from node.services import groups

    async def work(runtime: Runtime) -> None:
        change = await groups.add_members(args.name, args.usernames, actor=_actor())
        if change.changed:
            print(f"added to {change.group}: {', '.join(change.changed)}")
        if change.unchanged:
            print(f"already in {change.group}: {', '.join(change.unchanged)}")

    await _run(args, work)
    return 0


async def cmd_group_remove(args: argparse.Namespace) -> int:
    from node.services import groups

    async def work(runtime: Runtime) -> None:
        change = await groups.remove_members(args.name, args.usernames, actor=_actor())
        if change.changed:
            print(f"removed from {change.group}: {', '.join(change.changed)}")
        if change.unchanged:
            print(f"not in {change.group}: {', '.join(change.unchanged)}")

    await _run(args, work)
    return 0


async def cmd_group_list(args: argparse.Namespace) -> int:
    from node.services import groups

    async def work(runtime: Runtime) -> None:
        if args.name:
            accounts = await groups.members(args.name)
            for account in accounts:
                print(account.username)
            if not accounts:
                print(f"(group {args.name} has no members)")
            return
        rows = await groups.list_groups()
        print(f"{'GROUP':<32} {'SOURCE':<10} {'MEMBERS':>7}  DESCRIPTION")
        for row in rows:
            print(f"{row.name:<32} {row.source:<10} {row.member_count:>7}  {row.description}")
        if not rows:
            print("(no groups)")

    await _run(args, work)
    return 0


# ---------------------------------------------------------------- audit


async def cmd_audit_verify(args: argparse.Namespace) -> int:
    from node.services.audit import verify_chain

    async def work(runtime: Runtime) -> int:
        status = await verify_chain()
        if status.ok:
            print(f"audit log intact: {status.message}")
            return 0
        print(
            f"audit log BROKEN: {status.message} "
            f"({status.entries} entr{'y' if status.entries == 1 else 'ies'} before it verified)",
            file=sys.stderr,
        )
        return 1

    result: int = await _run(args, work)
    return result


async def cmd_audit_export(args: argparse.Namespace) -> int:
    from node.services.audit_export import export

    since = _time(args.since, "--since") if args.since else None

    async def work(runtime: Runtime) -> None:
        out = sys.stdout.buffer
        async for entry in export(since, args.peer):
            out.write(orjson.dumps(entry) + b"\n")
        out.flush()

    await _run(args, work)
    return 0


# ---------------------------------------------------------------- parser


def add_policy_commands(commands: Any, command: Command) -> None:
    """Add ``peer``, ``policy``, ``review``, ``group`` and ``audit`` to the ``fedwall`` parser.

    ``command(name, handler, help, sub)`` is :func:`node.cli.build_parser`'s helper.
    """

    def actions(name: str, help_text: str) -> Any:
        parent = command(name, None, help_text)
        return parent.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)

    def data_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("data_dir", metavar="DATA_DIR")
        return p

    peer = actions("peer", "Peer nodes: allow, block or limit them; answer peering requests.")
    p = data_dir(
        command("allow", cmd_peer_allow, "Allow a peer (default terms if it has none).", peer)
    )
    p.add_argument("domain", metavar="DOMAIN", help="host[:port], or *.domain for every subdomain")
    p.add_argument("--note", help="the agreement it rests on")
    p.add_argument("--expires", metavar="ISO", help="when the agreement ends (ISO 8601)")
    p = data_dir(command("block", cmd_peer_block, "Block a peer in both directions.", peer))
    p.add_argument("domain", metavar="DOMAIN")
    p.add_argument("--note", help="why")
    p = data_dir(
        command(
            "limit",
            cmd_peer_limit,
            "Allow a peer with restricted terms (terms not given are kept).",
            peer,
        )
    )
    p.add_argument("domain", metavar="DOMAIN")
    p.add_argument(
        "--direction", choices=("both", *DIRECTIONS), default="both", help="default: both"
    )
    p.add_argument("--max-label", metavar="LABEL", help="the most sensitive label that may cross")
    p.add_argument("--kinds", metavar="K,K", help=f"kinds that may cross: {', '.join(KINDS)}")
    media = p.add_mutually_exclusive_group()
    media.add_argument("--media", dest="media", action="store_true", default=None)
    media.add_argument("--no-media", dest="media", action="store_false", help="no attachments")
    p.add_argument(
        "--fields", metavar="F,F", help="profile fields that may cross ('*' all, '' none)"
    )
    p.add_argument("--note", help="the agreement it rests on")
    data_dir(command("list", cmd_peer_list, "List agreements, peers seen and requests.", peer))
    p = data_dir(
        command("show", cmd_peer_show, "Show a peer's agreement, traffic and request.", peer)
    )
    p.add_argument("domain", metavar="DOMAIN")
    p = data_dir(command("requests", cmd_peer_requests, "List pending peering requests.", peer))
    p.add_argument("--all", action="store_true", help="also approved and denied ones")
    p = data_dir(
        command("approve", cmd_peer_approve, "Approve a peering request: allow the peer.", peer)
    )
    p.add_argument("domain", metavar="DOMAIN")
    p = data_dir(command("deny", cmd_peer_deny, "Deny a peering request.", peer))
    p.add_argument("domain", metavar="DOMAIN")
    p.add_argument("--block", action="store_true", help="also block the peer")

    policy = actions("policy", "The boundary policy: show, check, apply and test it.")
    p = data_dir(command("show", cmd_policy_show, "Print the policy in force (TOML).", policy))
    p.add_argument("--version", type=int, metavar="N", help="an earlier version instead")
    data_dir(command("versions", cmd_policy_versions, "List the stored policy versions.", policy))
    p = data_dir(
        command("check", cmd_policy_check, "Validate a policy file; exit 1 if invalid.", policy)
    )
    p.add_argument("file", metavar="FILE", help="a TOML policy file, or - for standard input")
    p = data_dir(
        command(
            "apply",
            cmd_policy_apply,
            "Validate a policy file and store it as the new version.",
            policy,
        )
    )
    p.add_argument("file", metavar="FILE", help="a TOML policy file, or - for standard input")
    p.add_argument("--comment", help="why (kept with the version)")
    p = data_dir(
        command("test", cmd_policy_test, "Decide one crossing with the policy in force.", policy)
    )
    p.add_argument("--text", required=True, help="the text that would cross")
    p.add_argument("--peer", required=True, metavar="DOMAIN")
    p.add_argument("--label", help="classification label (default: the policy's default)")
    p.add_argument("--author", metavar="USER", help="a local author (their groups count)")
    p.add_argument("--recipient", action="append", metavar="USER", help="a message recipient")
    p.add_argument("--kind", choices=KINDS, default="posts")
    p.add_argument("--direction", choices=DIRECTIONS, default="outbound")
    p.add_argument("--summary", help="a content warning that would cross too")
    p.add_argument("--media", action="store_true", help="the crossing has attachments")

    review = actions("review", "Crossings held for review: list, approve, reject.")
    p = data_dir(command("list", cmd_review_list, "List crossings waiting for review.", review))
    p.add_argument("--all", action="store_true", help="also decided ones")
    p.add_argument("--limit", type=int, default=100, metavar="N")
    p = data_dir(command("approve", cmd_review_approve, "Release a held crossing.", review))
    p.add_argument("id", metavar="ID")
    p = data_dir(command("reject", cmd_review_reject, "Refuse a held crossing for good.", review))
    p.add_argument("id", metavar="ID")

    group = actions("group", "Local groups that policy rules name.")
    p = data_dir(command("create", cmd_group_create, "Create a local group.", group))
    p.add_argument("name", metavar="NAME")
    p.add_argument("--description", default="")
    p = data_dir(command("add", cmd_group_add, "Add local users to a group.", group))
    p.add_argument("name", metavar="NAME")
    p.add_argument("usernames", nargs="+", metavar="USER")
    p = data_dir(command("remove", cmd_group_remove, "Remove users from a group.", group))
    p.add_argument("name", metavar="NAME")
    p.add_argument("usernames", nargs="+", metavar="USER")
    p = data_dir(command("list", cmd_group_list, "List groups, or one group's members.", group))
    p.add_argument("name", nargs="?", metavar="NAME")

    audit = actions("audit", "The hash-chained audit log of crossings and policy changes.")
    data_dir(command("verify", cmd_audit_verify, "Check the whole chain; exit 1 if broken.", audit))
    p = data_dir(command("export", cmd_audit_export, "Write entries as JSON lines.", audit))
    p.add_argument("--since", metavar="ISO", help="only entries written at or after this time")
    p.add_argument("--peer", metavar="DOMAIN", help="only entries about this peer")
