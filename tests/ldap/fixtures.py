"""Fixtures of the directory tests: one seeded slapd per test module, and node settings for it.

Import them into a test module (``from tests.ldap.fixtures import directory, slapd``).
Without slapd the tests are skipped with a notice, except under ``CI=true`` where
they fail: CI installs it (``.ci/run``).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.config import Settings, settings_from_mapping
from node.keys import generate_key_pair
from tests.ldap.server import READER_DN, READER_PASSWORD, Slapd, slapd_available

IN_CI = os.environ.get("CI", "").lower() == "true"
PEOPLE = "ou=people,dc=example,dc=com"
GROUPS = "ou=groups,dc=example,dc=com"
POSIX = "ou=posix,dc=example,dc=com"
SECRET_KEY = "k" * 40


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A running, seeded OpenLDAP server shared by the tests of one module."""
    if not slapd_available():
        message = "slapd and ldap-utils are not installed (apt-get install slapd ldap-utils)"
        if IN_CI:
            pytest.fail(message + " — CI requires them")
        pytest.skip(message)
    server = Slapd(tmp_path_factory.mktemp("slapd"))
    server.reset()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def directory(slapd: Slapd) -> Iterator[Slapd]:
    """The seeded directory; a test may change or stop it, it is restored afterwards."""
    yield slapd
    if slapd.changed or not slapd.running:
        slapd.reset()


_KEY_POOL: list[tuple[str, str]] = []
_key_turn = itertools.count()


def reused_key_pair() -> tuple[str, str]:
    """One of a few keys made once: syncs in tests skip RSA generation (the slow part)."""
    if not _KEY_POOL:
        _KEY_POOL.extend(generate_key_pair() for _ in range(3))
    return _KEY_POOL[next(_key_turn) % len(_KEY_POOL)]


def directory_values(server: Slapd, **overrides: Any) -> dict[str, Any]:
    """fedwall.toml values of a development node reading ``server`` (nested groupOfNames)."""
    values: dict[str, Any] = {
        "domain": "wall.test",
        "scheme": "http",
        "environment": "development",
        "directory_url": server.url,
        "directory_bind_dn": READER_DN,
        "directory_user_base": PEOPLE,
        "directory_group_base": GROUPS,
        "directory_nested_groups": True,
    }
    values.update(overrides)
    return values


def directory_settings(
    data_dir: Path, server: Slapd, *, password: str = READER_PASSWORD, **overrides: Any
) -> Settings:
    """Validated settings of a node reading ``server``, with the bind password set."""
    values = {"secret_key": SECRET_KEY, **directory_values(server, **overrides)}
    return settings_from_mapping(data_dir, values).replace(directory_password=password)
