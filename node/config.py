"""Node configuration: ``fedwall.toml`` in the data directory, overridable by environment.

Every key can be overridden by an environment variable ``FEDWALL_<KEY>`` (upper
case), e.g. ``FEDWALL_LOG_LEVEL=debug``. An invalid or missing setting raises
:class:`~node.errors.ConfigError` naming the key and the accepted values; the CLI
prints that one line and stops.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.errors import ConfigError

CONFIG_FILE = "fedwall.toml"
SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
KEYS_DIR = "keys"
SQLITE_FILE = "fedwall.sqlite3"

_HOST_RE = re.compile(
    r"^(?=.{1,253}(:|$))([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    r"(:(6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3}))?$"
)
_BIND_RE = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


@dataclass(frozen=True)
class _Key:
    kind: type
    default: Any
    accepted: str
    check: Callable[[Any], bool] = lambda _value: True
    help: str = ""


def _one_of(*values: str) -> Callable[[Any], bool]:
    return lambda value: value in values


def _positive(value: Any) -> bool:
    return bool(value > 0)


# The reference of every setting. The README's configuration table follows it.
KEYS: dict[str, _Key] = {
    "domain": _Key(
        str,
        None,
        "a host name, or host:port (lower case, e.g. hq.example.com or localhost:8101)",
        lambda v: bool(_HOST_RE.match(v)),
        "the node's public host; part of every user's handle and every id",
    ),
    "scheme": _Key(
        str,
        "https",
        '"https", or "http" when environment = "development"',
        _one_of("https", "http"),
        "the scheme of the node's public URLs",
    ),
    "environment": _Key(
        str,
        "production",
        '"production" or "development"',
        _one_of("production", "development"),
        "development allows plain http and is what `fedwall init --dev` sets",
    ),
    "bind": _Key(
        str,
        "127.0.0.1:8080",
        "HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080",
        lambda v: bool(_BIND_RE.match(v)) and 0 < int(v.rsplit(":", 1)[1]) < 65536,
        "the address `fedwall serve` listens on",
    ),
    "database_url": _Key(
        str,
        "",
        "sqlite:///PATH or postgres://USER@HOST:PORT/DB (empty: SQLite file in the data directory)",
        lambda v: v == "" or v.startswith(("sqlite://", "postgres://", "postgresql://")),
        "where the node keeps its data",
    ),
    "allow_private_networks": _Key(
        bool,
        False,
        "true or false",
        help="allow outbound HTTP to loopback and private addresses (development only)",
    ),
    "secret_key": _Key(
        str,
        "",
        "at least 32 characters (empty: read from the data directory's secret_key file)",
        lambda v: v == "" or len(v) >= 32,
        "signs web sessions and CSRF tokens; never logged",
    ),
    "log_level": _Key(
        str,
        "info",
        '"debug", "info", "warning" or "error"',
        _one_of("debug", "info", "warning", "error"),
    ),
    "log_format": _Key(str, "text", '"text" or "json"', _one_of("text", "json")),
    "migrate_on_start": _Key(
        bool,
        True,
        "true or false",
        help="apply pending migrations when `fedwall serve` starts; if false, refuse to start",
    ),
    "max_post_length": _Key(int, 5000, "a positive integer", _positive),
    "inbox_max_bytes": _Key(int, 1_000_000, "a positive integer (bytes)", _positive),
    "signature_max_skew": _Key(
        int, 3600, "a positive integer (seconds)", _positive, "accepted clock skew of signatures"
    ),
    "require_signed_fetch": _Key(
        bool, True, "true or false", help="refuse unsigned ActivityPub GETs"
    ),
    "delivery_retry_base": _Key(
        float,
        30.0,
        "a positive number (seconds)",
        _positive,
        "first retry delay of a failed delivery; doubles each attempt",
    ),
    "delivery_retry_cap": _Key(
        float, 21600.0, "a positive number (seconds)", _positive, "longest delay between retries"
    ),
    "delivery_max_age": _Key(
        float,
        3 * 86400.0,
        "a positive number (seconds)",
        _positive,
        "how long a delivery is retried before it is dead",
    ),
    "workers": _Key(
        bool,
        True,
        "true or false",
        help="run the background workers (deliveries, inbox) inside `fedwall serve`",
    ),
}


@dataclass(frozen=True)
class Settings:
    """A node's validated settings."""

    data_dir: Path
    domain: str
    scheme: str
    environment: str
    bind: str
    database_url: str
    allow_private_networks: bool
    secret_key: str
    log_level: str
    log_format: str
    migrate_on_start: bool
    max_post_length: int
    inbox_max_bytes: int
    signature_max_skew: int
    require_signed_fetch: bool
    delivery_retry_base: float
    delivery_retry_cap: float
    delivery_max_age: float
    workers: bool

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.domain}"

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        # The secret never reaches a log through a repr.
        return f"Settings(data_dir={self.data_dir!s}, domain={self.domain!r})"


def _coerce_env(key: str, spec: _Key, raw: str) -> Any:
    if spec.kind is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"FEDWALL_{key.upper()}: expected {spec.accepted}, got {raw!r}")
    if spec.kind in (int, float):
        try:
            return int(raw) if spec.kind is int else float(raw)
        except ValueError:
            raise ConfigError(
                f"FEDWALL_{key.upper()}: expected {spec.accepted}, got {raw!r}"
            ) from None
    return raw


def _check(key: str, spec: _Key, value: Any, source: str) -> Any:
    expected_kind: tuple[type, ...] = (int, float) if spec.kind is float else (spec.kind,)
    if isinstance(value, bool) and spec.kind is not bool:
        raise ConfigError(f"{source}: {key}: expected {spec.accepted}, got {value!r}")
    if not isinstance(value, expected_kind):
        raise ConfigError(f"{source}: {key}: expected {spec.accepted}, got {value!r}")
    if spec.kind is float and isinstance(value, int):
        value = float(value)
    if not spec.check(value):
        shown = "(hidden)" if key == "secret_key" else repr(value)
        raise ConfigError(f"{source}: {key}: expected {spec.accepted}, got {shown}")
    return value


def settings_from_mapping(
    data_dir: Path, values: Mapping[str, Any], source: str = CONFIG_FILE
) -> Settings:
    """Validate ``values`` (already merged from file and environment)."""
    unknown = sorted(set(values) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"{source}: unknown setting {unknown[0]!r}; known settings: {', '.join(KEYS)}"
        )
    resolved: dict[str, Any] = {}
    for key, spec in KEYS.items():
        if key not in values:
            if spec.default is None:
                raise ConfigError(f"{source}: {key} is required: {spec.accepted}")
            resolved[key] = spec.default
            continue
        resolved[key] = _check(key, spec, values[key], source)
    if resolved["scheme"] == "http" and resolved["environment"] != "development":
        raise ConfigError(
            f'{source}: scheme: "http" is only accepted with environment = "development"'
        )
    if not resolved["database_url"]:
        resolved["database_url"] = f"sqlite://{(data_dir / SQLITE_FILE).resolve()}"
    return Settings(data_dir=data_dir, **resolved)


def load_settings(data_dir: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``DATA_DIR/fedwall.toml``, apply ``FEDWALL_*`` overrides, validate."""
    environ = os.environ if environ is None else environ
    path = data_dir / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path}: no Fedwall node here (run `fedwall init {data_dir} --domain HOST`)"
        )
    try:
        values: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    source = str(path)
    for key, spec in KEYS.items():
        raw = environ.get(f"FEDWALL_{key.upper()}")
        if raw is not None:
            values[key] = _coerce_env(key, spec, raw)
            source = f"{path} (with FEDWALL_* overrides)"
    if not values.get("secret_key"):
        secret_path = data_dir / SECRET_FILE
        if secret_path.is_file():
            values["secret_key"] = secret_path.read_text(encoding="utf-8").strip()
    settings = settings_from_mapping(data_dir, values, source)
    if not settings.secret_key:
        raise ConfigError(
            f"{source}: secret_key is required: {KEYS['secret_key'].accepted} "
            f"(or a {SECRET_FILE} file in the data directory)"
        )
    return settings


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # TOML basic strings accept JSON's escapes for the characters we can meet.
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def write_config(data_dir: Path, values: Mapping[str, Any]) -> Path:
    """Write ``fedwall.toml`` with ``values`` (validated first) and a secret key file."""
    secret_path = data_dir / SECRET_FILE
    if not secret_path.exists():
        secret_path.write_text(secrets.token_urlsafe(48) + "\n", encoding="utf-8")
        secret_path.chmod(0o600)
    settings_from_mapping(data_dir, {**values, "secret_key": "x" * 32})
    lines = ["# Fedwall node configuration. See the README's configuration reference."]
    for key, value in values.items():
        spec = KEYS[key]
        if spec.help:
            lines.append(f"# {spec.help}")
        lines.append(f"{key} = {_toml_value(value)}")
    path = data_dir / CONFIG_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
