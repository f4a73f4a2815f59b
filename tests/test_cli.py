"""The ``fedwall`` command, run as the installed console script in subprocesses."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from node.cli import build_parser
from node.config import load_settings
from node.db import MIGRATIONS_DIR, Database
from tests.conftest import create_postgres_database, drop_postgres_database

FEDWALL = shutil.which("fedwall", path=str(Path(sys.executable).parent)) or shutil.which("fedwall")
SERVE_DEADLINE = 30.0
STOP_DEADLINE = 15.0  # generous for a loaded CI machine; an idle one stops in about 1 s


def run(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert FEDWALL is not None, "the fedwall console script is not installed"
    return subprocess.run(
        [FEDWALL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(env),
        check=False,
    )


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without FEDWALL_* overrides, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDWALL_")}
    return {**env, **(extra or {})}


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fedwall: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Content, modification time and mode of every file below ``directory``."""
    return {
        str(path.relative_to(directory)): (
            path.read_bytes(),
            path.stat().st_mtime_ns,
            path.stat().st_mode,
        )
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def subcommands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Every command path of the parser, e.g. ``("user", "create")``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from subcommands(sub, (*prefix, name))


def init_node(data_dir: Path, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--database-url", database_url] if database_url else []
    return run("init", str(data_dir), "--dev", "--domain", "localhost:8199", *extra)


@pytest.fixture(scope="module")
def initialised_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("template") / "node"
    result = init_node(data_dir)
    assert result.returncode == 0, result.stderr
    return data_dir


@pytest.fixture
def node_dir(initialised_node: Path, tmp_path: Path) -> Path:
    """A fresh development node on SQLite: a copy of one made by `init`, which is much slower."""
    return Path(shutil.copytree(initialised_node, tmp_path / "node"))


@pytest.fixture(scope="module")
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for this module, dropped afterwards."""
    url = await create_postgres_database("fedwall_cli")
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture(scope="module")
def postgres_init(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`fedwall init` run once against the module's PostgreSQL database, and its result."""
    data_dir = tmp_path_factory.mktemp("postgres") / "node"
    return data_dir, init_node(data_dir, postgres_url)


@pytest.fixture(params=["sqlite", "postgres"])
def any_node_dir(request: pytest.FixtureRequest) -> Path:
    """A development node on each database: a fresh SQLite one, or the module's PostgreSQL one."""
    if request.param == "sqlite":
        data_dir: Path = request.getfixturevalue("node_dir")
        return data_dir
    data_dir, result = request.getfixturevalue("postgres_init")
    assert result.returncode == 0, result.stderr
    return data_dir


# ---------------------------------------------------------------- help


def test_help_of_the_command_and_of_each_top_level_command_exits_zero() -> None:
    commands = [(), *(c for c in subcommands(build_parser()) if len(c) == 1)]

    # A few at a time: each process spends nearly all its time importing.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(commands, pool.map(lambda c: run(*c, "--help"), commands), strict=True))

    failures = {
        " ".join(command) or "fedwall": result.stderr or result.stdout[:200]
        for command, result in results.items()
        if result.returncode != 0
        or result.stderr
        or not result.stdout.startswith(" ".join(("usage: fedwall", *command)))
    }
    assert failures == {}
    assert {("init",), ("serve",), ("migrate",), ("user",)} <= set(results)


@pytest.mark.parametrize(
    "command",
    [c for c in subcommands(build_parser()) if len(c) > 1],
    ids=" ".join,
)
def test_help_of_every_subcommand_exits_zero(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: the same parser as the console script, without 40 interpreter starts.
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*command, "--help"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(" ".join(("usage: fedwall", *command)))


def test_unknown_command_is_a_usage_error() -> None:
    result = run("frobnicate")

    assert result.returncode == 2
    assert "invalid choice: 'frobnicate'" in result.stderr


# ---------------------------------------------------------------- init


def test_init_dev_creates_configuration_keys_secret_and_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"

    result = run("init", str(data_dir), "--dev", "--domain", "localhost:8199")

    assert result.returncode == 0, result.stderr
    assert "Created node localhost:8199" in result.stdout
    settings = load_settings(data_dir, environ={})
    assert settings.base_url == "http://localhost:8199"
    assert settings.bind == "127.0.0.1:8199"
    assert settings.is_development
    assert len(settings.secret_key) >= 32
    private_key = data_dir / "keys" / "node.pem"
    assert private_key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert private_key.stat().st_mode & 0o777 == 0o600
    assert (data_dir / "secret_key").stat().st_mode & 0o777 == 0o600
    assert (data_dir / "keys").stat().st_mode & 0o077 == 0
    with sqlite3.connect(data_dir / "fedwall.sqlite3") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"accounts", "posts", "timeline_entries", "aerich"} <= tables


def test_init_with_a_postgres_url_migrates_that_database(
    postgres_init: tuple[Path, subprocess.CompletedProcess[str]], postgres_url: str
) -> None:
    data_dir, result = postgres_init

    assert result.returncode == 0, result.stderr
    migrations = len(list((MIGRATIONS_DIR / "models").glob("[0-9]*_*.py")))
    assert f"database: postgres ({migrations} migration(s) applied)" in result.stdout
    assert load_settings(data_dir, environ={}).database_url == postgres_url
    assert not (data_dir / "fedwall.sqlite3").exists()
    assert run("migrate", str(data_dir)).stdout.strip() == "the database is up to date"


def test_second_init_refuses_and_leaves_the_node_untouched(node_dir: Path) -> None:
    before = snapshot(node_dir)

    result = run("init", str(node_dir), "--domain", "other.example")

    assert_one_line_error(result, "a node already exists here")
    assert snapshot(node_dir) == before


def test_init_with_an_invalid_domain_names_the_key_and_leaves_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"

    result = run("init", str(data_dir), "--domain", "not a host")

    assert_one_line_error(result, "domain: expected a host name")
    assert not data_dir.exists()


def test_init_with_an_unreachable_database_is_a_one_line_error_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "node"
    nowhere = f"postgres://postgres@127.0.0.1:{free_port()}/fedwall"

    result = run("init", str(data_dir), "--domain", "hq.example.com", "--database-url", nowhere)

    assert_one_line_error(result, "database_url: cannot connect")
    assert not data_dir.exists()


# ---------------------------------------------------------------- users


def test_created_user_is_listed(any_node_dir: Path) -> None:
    created = run(
        "user", "create", str(any_node_dir), "alice", "--password-stdin", stdin="s3cret-pass\n"
    )

    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "created user alice@localhost:8199"
    listed = run("user", "list", str(any_node_dir))
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert rows == [["alice", "user", "active", "alice"]]


def test_admin_flag_creates_an_admin(node_dir: Path) -> None:
    created = run(
        "user",
        "create",
        str(node_dir),
        "root",
        "--admin",
        "--password-stdin",
        stdin="s3cret-pass\n",
    )

    assert created.stdout.strip() == "created admin root@localhost:8199"


def test_duplicate_user_is_a_one_line_error(node_dir: Path) -> None:
    run("user", "create", str(node_dir), "alice", "--password-stdin", stdin="s3cret-pass\n")

    result = run("user", "create", str(node_dir), "alice", "--password-stdin", stdin="other-pass\n")

    assert_one_line_error(result, "username 'alice' is already taken")


def test_user_create_without_a_password_source_is_refused(node_dir: Path) -> None:
    result = run("user", "create", str(node_dir), "alice", stdin="")

    assert_one_line_error(result, "no password")
    assert run("user", "list", str(node_dir)).stdout.splitlines()[1:] == []


def test_disabled_user_is_listed_as_disabled(node_dir: Path) -> None:
    run("user", "create", str(node_dir), "alice", "--password-stdin", stdin="s3cret-pass\n")

    result = run("user", "disable", str(node_dir), "alice")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "disabled alice"
    rows = [line.split() for line in run("user", "list", str(node_dir)).stdout.splitlines()[1:]]
    assert rows == [["alice", "user", "disabled", "alice"]]


def test_disabling_an_unknown_user_is_a_one_line_error(node_dir: Path) -> None:
    result = run("user", "disable", str(node_dir), "nobody")

    assert_one_line_error(result, "no local user 'nobody'")


# ---------------------------------------------------------------- migrate and configuration


def test_migrate_is_idempotent(node_dir: Path) -> None:
    first = run("migrate", str(node_dir))
    second = run("migrate", str(node_dir))

    assert (first.returncode, second.returncode) == (0, 0)
    assert first.stdout.strip() == second.stdout.strip() == "the database is up to date"


def test_malformed_configuration_is_a_one_line_error_naming_the_file(node_dir: Path) -> None:
    config = node_dir / "fedwall.toml"
    config.write_text(config.read_text() + "log_level = \n")

    result = run("user", "list", str(node_dir))

    assert_one_line_error(result, str(config), "not valid TOML")


def test_invalid_setting_is_a_one_line_error_naming_the_key(node_dir: Path) -> None:
    config = node_dir / "fedwall.toml"
    config.write_text(config.read_text() + 'log_level = "loud"\n')

    result = run("user", "list", str(node_dir))

    assert_one_line_error(result, "log_level: expected", '"debug", "info"')


def test_invalid_environment_override_is_a_one_line_error_naming_the_key(node_dir: Path) -> None:
    result = run("migrate", str(node_dir), env={"FEDWALL_MAX_POST_LENGTH": "lots"})

    assert_one_line_error(result, "FEDWALL_MAX_POST_LENGTH")


def test_commands_on_a_directory_without_a_node_say_how_to_create_one(tmp_path: Path) -> None:
    result = run("user", "list", str(tmp_path))

    assert_one_line_error(result, "no Fedwall node here", "fedwall init")


# ---------------------------------------------------------------- serve


def test_serve_answers_health_checks_and_stops_cleanly_on_sigterm(
    any_node_dir: Path, tmp_path: Path
) -> None:
    assert FEDWALL is not None
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [FEDWALL, "serve", str(any_node_dir), "--bind", f"127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=clean_env({"PYTHONFAULTHANDLER": "1"}),
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVE_DEADLINE
        health = None
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    health = client.get(f"{base}/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            assert health is not None, (
                f"no answer within {SERVE_DEADLINE} s:\n{log_path.read_text()}"
            )
            assert health.status_code == 200
            assert health.json() == {"status": "ok"}
            ready = client.get(f"{base}/readyz")
        assert ready.status_code == 200
        dialect = Database(load_settings(any_node_dir, environ={}).database_url).dialect
        assert (ready.json()["status"], ready.json()["database"]) == ("ready", dialect)

        server.send_signal(signal.SIGTERM)
        try:
            returncode = server.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            # Ask faulthandler for every thread's stack, so the log shows where it hangs.
            server.send_signal(signal.SIGABRT)
            server.wait(timeout=STOP_DEADLINE)
            pytest.fail(f"still running {STOP_DEADLINE} s after SIGTERM:\n{log_path.read_text()}")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    assert returncode == 0, log_path.read_text()
    assert "Traceback" not in log_path.read_text()
