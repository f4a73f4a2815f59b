"""The ``fedwall`` command.

User errors print one line (``fedwall: error: …``) and exit with status 2;
they never print a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from tortoise.exceptions import DBConnectionError

from node.config import KEYS_DIR, Settings, load_settings, write_config
from node.errors import ConfigError, FedwallError, NodeExistsError
from node.keys import generate_key_pair
from node.runtime import Runtime, node_key_paths

Handler = Callable[[argparse.Namespace], Awaitable[int]]


class CliError(FedwallError):
    """A command-line mistake."""


# ---------------------------------------------------------------- helpers


async def _with_database(settings: Settings, work: Callable[[Runtime], Awaitable[Any]]) -> Any:
    """Run ``work`` with the node's database open (migrations must be applied)."""
    runtime = Runtime(settings)
    pending = await runtime.db.pending_migrations()
    if pending:
        raise CliError(
            f"the database needs {len(pending)} migration(s): "
            f"run `fedwall migrate {settings.data_dir}`"
        )
    await runtime.db.open()
    try:
        return await work(runtime)
    finally:
        await runtime.db.close()


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(Path(args.data_dir))


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise CliError("the two passwords differ")
    else:
        raise CliError("no password: pass --password-stdin and write it on standard input")
    if not password:
        raise CliError("empty password")
    return password


# ---------------------------------------------------------------- commands


async def cmd_init(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    if (data_dir / "fedwall.toml").exists():
        raise NodeExistsError(f"{data_dir}: a node already exists here; refusing to overwrite it")
    values: dict[str, Any] = {"domain": args.domain.lower()}
    if args.dev:
        values.update(scheme="http", environment="development", allow_private_networks=True)
    port = args.domain.rsplit(":", 1)[1] if ":" in args.domain else None
    values["bind"] = args.bind or (f"127.0.0.1:{port}" if port else "127.0.0.1:8080")
    if args.database_url:
        values["database_url"] = args.database_url
    created = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        write_config(data_dir, values)
        keys = data_dir / KEYS_DIR
        keys.mkdir(mode=0o700, exist_ok=True)
        private_pem, public_pem = generate_key_pair()
        private_path, public_path = node_key_paths(data_dir)
        private_path.write_text(private_pem, encoding="utf-8")
        private_path.chmod(0o600)
        public_path.write_text(public_pem, encoding="utf-8")
        settings = load_settings(data_dir)
        runtime = Runtime(settings)
        applied = await runtime.db.migrate()
    except BaseException:
        # Leave nothing half-made behind: a second `init` must be possible.
        for name in ("fedwall.toml", "secret_key"):
            (data_dir / name).unlink(missing_ok=True)
        if created:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)
        raise
    print(f"Created node {settings.domain} in {data_dir}")
    print(f"  database: {runtime.db.dialect} ({len(applied)} migration(s) applied)")
    print(f"  next: fedwall user create {data_dir} USERNAME --password-stdin")
    print(f"        fedwall serve {data_dir}")
    return 0


async def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    applied = await Runtime(settings).db.migrate()
    if applied:
        for name in applied:
            print(f"applied {name}")
    else:
        print("the database is up to date")
    return 0


async def cmd_serve(args: argparse.Namespace) -> int:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from node import logs
    from node.app import create_app

    settings = _settings(args)
    if args.bind:
        settings = settings.replace(bind=args.bind)
    logs.configure(settings.log_level, settings.log_format)
    runtime = Runtime(settings)
    pending = await runtime.db.pending_migrations()
    if pending:
        if not settings.migrate_on_start:
            raise CliError(
                f"{len(pending)} migration(s) pending and migrate_on_start is false: "
                f"run `fedwall migrate {settings.data_dir}` first"
            )
        await runtime.db.migrate()
    app = create_app(settings, runtime)
    config = Config()
    config.bind = [settings.bind]
    # Hypercorn logs through the node's own handlers (text or JSON), once.
    config.accesslog = (
        logging.getLogger("hypercorn.access") if settings.log_level == "debug" else None
    )
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 5
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"Fedwall node {settings.base_url} listening on {settings.bind}", flush=True)
    await serve(app, config, shutdown_trigger=stop.wait)
    return 0


async def cmd_user_create(args: argparse.Namespace) -> int:
    from node.services.accounts import create_local_account

    settings = _settings(args)
    password = _read_password(args)

    async def work(runtime: Runtime) -> None:
        account = await create_local_account(
            runtime.site,
            args.username,
            password,
            display_name=args.display_name or "",
            email=args.email,
            admin=args.admin,
        )
        role = "admin" if account.is_admin else "user"
        print(f"created {role} {account.username}@{settings.domain}")

    await _with_database(settings, work)
    return 0


async def cmd_user_list(args: argparse.Namespace) -> int:
    from node.services.accounts import list_local

    async def work(runtime: Runtime) -> None:
        accounts = await list_local()
        print(f"{'USERNAME':<24} {'ROLE':<6} {'STATE':<9} DISPLAY NAME")
        for account in accounts:
            role = "admin" if account.is_admin else "user"
            state = "disabled" if account.disabled else "active"
            print(f"{account.username:<24} {role:<6} {state:<9} {account.display_name}")

    await _with_database(_settings(args), work)
    return 0


async def cmd_user_disable(args: argparse.Namespace) -> int:
    from node.services.accounts import set_disabled

    async def work(runtime: Runtime) -> None:
        await set_disabled(args.username, True)
        print(f"disabled {args.username}")

    await _with_database(_settings(args), work)
    return 0


async def cmd_user_enable(args: argparse.Namespace) -> int:
    from node.services.accounts import set_disabled

    async def work(runtime: Runtime) -> None:
        await set_disabled(args.username, False)
        print(f"enabled {args.username}")

    await _with_database(_settings(args), work)
    return 0


DELIVERY_STATES = ("pending", "in_flight", "retrying", "delivered", "dead")


async def cmd_deliveries(args: argparse.Namespace) -> int:
    import datetime as dt

    from node.models import Delivery

    words = list(args.words)
    retry = words[:1] == ["retry"]
    if retry:
        words = words[1:]
    if not words:
        raise CliError("missing DATA_DIR (see `fedwall deliveries --help`)")
    data_dir, rest = words[0], words[1:]
    settings = load_settings(Path(data_dir))
    if args.state is not None and args.state not in DELIVERY_STATES:
        raise CliError(f"invalid --state {args.state!r}: use one of {', '.join(DELIVERY_STATES)}")

    async def work(runtime: Runtime) -> None:
        if retry:
            if bool(rest) == bool(args.peer):
                raise CliError("retry needs exactly one of: a delivery ID, or --peer DOMAIN")
            query = Delivery.filter(state__in=("retrying", "dead"))
            if rest:
                if not rest[0].isdigit():
                    raise CliError(f"invalid delivery id {rest[0]!r}")
                query = query.filter(id=int(rest[0]))
            else:
                query = query.filter(peer_domain=args.peer)
            count = await query.update(state="retrying", next_attempt_at=dt.datetime.now(dt.UTC))
            if rest and count == 0:
                raise CliError(f"no retrying or dead delivery with id {rest[0]}")
            print(f"{count} deliver{'y' if count == 1 else 'ies'} scheduled for an immediate retry")
            return
        if rest:
            raise CliError(f"unexpected argument {rest[0]!r}")
        query = Delivery.all().order_by("-id").limit(args.limit)
        if args.state:
            query = query.filter(state=args.state)
        if args.peer:
            query = query.filter(peer_domain=args.peer)
        rows = await query
        print(f"{'ID':<20} {'STATE':<10} {'TRIES':>5} {'PEER':<28} {'NEXT ATTEMPT':<20} LAST ERROR")
        for d in rows:
            when = d.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S")
            error = (d.last_error or "")[:60]
            print(
                f"{d.id:<20} {d.state:<10} {d.attempts:>5} {d.peer_domain:<28} {when:<20} {error}"
            )
        if not rows:
            print("(no deliveries)")

    await _with_database(settings, work)
    return 0


async def cmd_directory_sync(args: argparse.Namespace) -> int:
    from node.directory import ProgressBar, run_recorded_sync, sync_directory

    settings = _settings(args)
    bar = ProgressBar(sys.stderr)

    async def work(runtime: Runtime) -> None:
        try:
            if args.dry_run:
                result = await sync_directory(
                    settings,
                    runtime.site,
                    dry_run=True,
                    allow_empty=args.allow_empty,
                    adopt_local=args.adopt_local,
                    progress=bar,
                )
            else:
                result = await run_recorded_sync(
                    settings,
                    runtime.site,
                    trigger="cli",
                    allow_empty=args.allow_empty,
                    adopt_local=args.adopt_local,
                    progress=bar,
                )
        finally:
            bar.close()
        for line in result.plan.lines():
            print(line)
        prefix = "dry run, nothing was changed: " if args.dry_run else ""
        print(prefix + result.plan.summary())

    await _with_database(settings, work)
    return 0


async def cmd_directory_status(args: argparse.Namespace) -> int:
    from node.directory.status import describe_status

    settings = _settings(args)

    async def work(runtime: Runtime) -> None:
        for line in await describe_status(settings):
            print(line)

    await _with_database(settings, work)
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    from node.demo import run_demo

    return await run_demo(Path(args.data), args.base_port)


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedwall",
        description="Fedwall: a federated enterprise social network node.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Handler | None, help_text: str, sub: Any = commands) -> Any:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    p = command("init", cmd_init, "Create a node: data directory, configuration, keys, database.")
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--domain", required=True, metavar="HOST[:PORT]", help="the node's public host")
    p.add_argument("--database-url", metavar="URL", help="postgres://… (default: SQLite file)")
    p.add_argument("--bind", metavar="HOST:PORT", help="listen address (default from --domain)")
    p.add_argument(
        "--dev",
        action="store_true",
        help="development node: http scheme, outbound HTTP to loopback/private addresses allowed",
    )

    p = command("serve", cmd_serve, "Run the node (web, API, federation and background workers).")
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--bind", metavar="HOST:PORT", help="override the configured listen address")

    p = command("migrate", cmd_migrate, "Apply pending database migrations (idempotent).")
    p.add_argument("data_dir", metavar="DATA_DIR")

    user = command("user", None, "Manage local accounts.")
    user_commands = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    p = command("create", cmd_user_create, "Create a local account.", user_commands)
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("username", metavar="USERNAME")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--admin", action="store_true", help="give the account the admin role")
    p.add_argument("--display-name", metavar="NAME")
    p.add_argument("--email", metavar="EMAIL")
    p = command("list", cmd_user_list, "List local accounts.", user_commands)
    p.add_argument("data_dir", metavar="DATA_DIR")
    p = command(
        "disable", cmd_user_disable, "Disable an account (its content stays).", user_commands
    )
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("username", metavar="USERNAME")
    p = command("enable", cmd_user_enable, "Re-enable a disabled account.", user_commands)
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("username", metavar="USERNAME")

    p = command(
        "deliveries",
        cmd_deliveries,
        "List outbound deliveries, or retry failed ones.",
    )
    p.usage = (
        "fedwall deliveries DATA_DIR [--state STATE] [--peer DOMAIN] [--limit N]\n"
        "       fedwall deliveries retry DATA_DIR (ID | --peer DOMAIN)"
    )
    p.add_argument("words", nargs="+", metavar="ARG", help="DATA_DIR, or: retry DATA_DIR [ID]")
    p.add_argument(
        "--state", metavar="STATE", help=f"only this state: {', '.join(DELIVERY_STATES)}"
    )
    p.add_argument("--peer", metavar="DOMAIN", help="only deliveries to this peer")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="rows to list (default 50)")

    directory = command("directory", None, "People and groups from LDAP / Active Directory.")
    directory_commands = directory.add_subparsers(
        dest="directory_command", metavar="ACTION", required=True
    )
    p = command(
        "sync",
        cmd_directory_sync,
        "Create, update and disable accounts, and sync groups and memberships, from the directory.",
        directory_commands,
    )
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--dry-run", action="store_true", help="print the changes, make none")
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help="accept a directory answer without people (or groups) and disable (delete) them all",
    )
    p.add_argument(
        "--adopt-local",
        action="store_true",
        help="link existing local accounts whose name a directory entry has "
        "(they then sign in with the directory's password)",
    )
    p = command(
        "status",
        cmd_directory_status,
        "Show the directory settings, the synced accounts and groups, and the last sync.",
        directory_commands,
    )
    p.add_argument("data_dir", metavar="DATA_DIR")

    from node.cli_policy import add_policy_commands

    add_policy_commands(commands, command)

    p = command("demo", cmd_demo, "Start a local demo federation of three nodes on SQLite.")
    p.add_argument("--data", default="demo-data", metavar="DIR", help="where the nodes live")
    p.add_argument("--base-port", type=int, default=8101, metavar="N", help="first port (N..N+2)")

    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = asyncio.run(args.handler(args))
    except (FedwallError, ConfigError) as exc:
        print(f"fedwall: error: {exc.message}", file=sys.stderr)
        sys.exit(2)
    except (DBConnectionError, ConnectionError) as exc:
        # A database that is down, missing or misnamed is the operator's to fix, not a crash.
        print(f"fedwall: error: database_url: cannot connect: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(status)
