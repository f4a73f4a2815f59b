"""``fedwall directory sync|status``, run as the installed console script against slapd."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from node.directory import ProgressBar
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.ldap.fixtures import directory, slapd
from tests.ldap.server import READER_DN, READER_PASSWORD, Slapd

__all__ = ["directory", "slapd"]  # fixtures

FEDWALL = shutil.which("fedwall", path=str(Path(sys.executable).parent)) or shutil.which("fedwall")
NO_MATCH = "(uid=nobody-is-called-this)"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``fedwall ARGS`` without the test process's FEDWALL_* variables, plus ``env``."""
    assert FEDWALL is not None, "the fedwall console script is not installed"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FEDWALL_")}
    return subprocess.run(
        [FEDWALL, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fedwall: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def init_node(data_dir: Path, database_url: str | None = None) -> Path:
    extra = ["--database-url", database_url] if database_url else []
    result = run("init", str(data_dir), "--dev", "--domain", "localhost:8199", *extra)
    assert result.returncode == 0, result.stderr
    return data_dir


def configure(data_dir: Path, server: Slapd, *, password_file: bool = True) -> Path:
    """Point the node at ``server``; the bind password goes in a file next to the config."""
    lines = [
        f'directory_url = "{server.url}"',
        f'directory_bind_dn = "{READER_DN}"',
        'directory_user_base = "ou=people,dc=example,dc=com"',
        'directory_group_base = "ou=groups,dc=example,dc=com"',
        "directory_nested_groups = true",
        'auth_source = "both"',
    ]
    if password_file:
        (data_dir / "ldap-password").write_text(READER_PASSWORD + "\n", encoding="utf-8")
        lines.append('directory_password_file = "ldap-password"')
    with (data_dir / "fedwall.toml").open("a", encoding="utf-8") as config:
        config.write("\n".join(lines) + "\n")
    return data_dir


@pytest.fixture(scope="module")
def initialised_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("template") / "node"
    return init_node(data_dir)


@pytest.fixture
def node(initialised_node: Path, tmp_path: Path, directory: Slapd) -> Path:
    """A fresh SQLite development node (a copy of one `init` made) reading the test directory."""
    return configure(Path(shutil.copytree(initialised_node, tmp_path / "node")), directory)


def sync(
    node: Path, *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run("directory", "sync", str(node), *options, env=env)


def test_dry_run_prints_the_changes_and_changes_nothing(node: Path) -> None:
    result = sync(node, "--dry-run")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "create account ada (Ada Lovelace, ada@example.com)" in lines
    assert "create group staff" in lines
    assert "add margaret to legal" in lines
    assert lines[-1].startswith("dry run, nothing was changed: read 6 people, 4 groups; ")
    assert "ada" not in run("user", "list", str(node)).stdout
    assert not (node / "directory-sync.json").exists()


def test_sync_creates_the_accounts_and_status_shows_the_last_run(node: Path) -> None:
    result = sync(node)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith(
        "read 6 people, 4 groups; accounts: 6 created, 0 updated"
    )
    listed = run("user", "list", str(node)).stdout
    assert "ada" in listed and "john_smith" in listed
    status = run("directory", "status", str(node))
    assert status.returncode == 0, status.stderr
    assert "accounts:       6 from the directory (0 disabled: left it), 0 local" in status.stdout
    assert "groups:         4 from the directory, 0 local" in status.stdout
    assert "(cli): read 6 people, 4 groups; accounts: 6 created" in status.stdout


def test_second_sync_reports_only_what_changed(node: Path, directory: Slapd) -> None:
    sync(node)
    directory.modify("dn: uid=ken,ou=people,dc=example,dc=com\nchangetype: delete\n")

    result = sync(node)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "disable account ken: left the directory (its content is kept)",
        "remove ken from engineering",
    ]


def test_unreachable_directory_is_a_one_line_error_and_is_recorded(
    node: Path, directory: Slapd
) -> None:
    directory.stop()

    result = sync(node)

    assert_one_line_error(result, "cannot reach the directory", "nothing was changed")
    status = run("directory", "status", str(node)).stdout
    assert "FAILED, nothing was changed: cannot reach the directory" in status


def test_empty_answer_is_refused_unless_allowed(node: Path) -> None:
    sync(node)
    env = {"FEDWALL_DIRECTORY_USER_FILTER": NO_MATCH}

    refused = sync(node, env=env)
    allowed = sync(node, "--allow-empty", env=env)

    assert_one_line_error(refused, "no people", "--allow-empty")
    assert allowed.returncode == 0, allowed.stderr
    assert "6 disabled" in allowed.stdout.splitlines()[-1]


def test_password_from_the_environment_is_never_shown(
    initialised_node: Path, tmp_path: Path, directory: Slapd
) -> None:
    node = configure(
        Path(shutil.copytree(initialised_node, tmp_path / "node")),
        directory,
        password_file=False,
    )
    env = {"FEDWALL_DIRECTORY_PASSWORD": READER_PASSWORD}

    results = [
        sync(node, env=env),
        run("directory", "status", str(node), env=env),
        sync(node, env={"FEDWALL_DIRECTORY_PASSWORD": "wrong-pass-6Hv"}),
        run("serve", str(node), "--help", env=env),
    ]

    assert results[0].returncode == 0, results[0].stderr
    assert "password from FEDWALL_DIRECTORY_PASSWORD" in results[1].stdout
    assert_one_line_error(results[2], "rejected the bind as cn=reader")
    for result in results:
        assert READER_PASSWORD not in result.stdout + result.stderr
        assert "wrong-pass-6Hv" not in result.stdout + result.stderr
    for path in node.rglob("*"):
        if path.is_file() and path.suffix in (".toml", ".json"):
            assert READER_PASSWORD not in path.read_text(encoding="utf-8")


def test_status_of_a_node_without_a_directory_says_so(
    initialised_node: Path, tmp_path: Path
) -> None:
    node = Path(shutil.copytree(initialised_node, tmp_path / "node"))

    status = run("directory", "status", str(node))
    synced = run("directory", "sync", str(node))

    assert status.stdout.strip() == "directory: not configured (set directory_url; see the README)"
    assert_one_line_error(synced, "directory_url is not set")


def test_directory_sign_in_without_a_directory_is_a_one_line_error(
    initialised_node: Path, tmp_path: Path
) -> None:
    node = Path(shutil.copytree(initialised_node, tmp_path / "node"))

    result = run("directory", "status", str(node), env={"FEDWALL_AUTH_SOURCE": "directory"})

    assert_one_line_error(result, 'auth_source: "directory" needs a directory')


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    url = await create_postgres_database("fedwall_directory_cli")
    try:
        yield url
    finally:
        await drop_postgres_database(url)


def test_sync_on_postgresql(tmp_path: Path, postgres_url: str, directory: Slapd) -> None:
    node = configure(init_node(tmp_path / "node", postgres_url), directory)

    first, second = sync(node), sync(node)

    assert first.returncode == 0, first.stderr
    assert "6 created" in first.stdout.splitlines()[-1]
    assert second.stdout.splitlines()[-1].startswith(
        "read 6 people, 4 groups; accounts: 0 created, 0 updated"
    )


# ---------------------------------------------------------------- progress bar


def test_progress_bar_shows_counts_and_a_bar() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, enabled=True, width=10, interval=0)

    bar("reading people", 500, None)
    bar("applying", 5, 10)
    bar("applying", 10, 10)
    bar.close()

    assert out.getvalue().split("\n") == [
        "\rreading people   500",
        "\rapplying         [#####-----] 5/10\rapplying         [##########] 10/10",
        "",
    ]


def test_progress_bar_is_silent_when_not_on_a_terminal() -> None:
    out = io.StringIO()
    bar = ProgressBar(out)

    bar("applying", 1, 2)
    bar.close()

    assert out.getvalue() == ""
