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
_LDAP_URL_RE = re.compile(
    r"^ldaps?://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)"
    r"(:(6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3}))?/?$"
)
# An LDAP attribute description: a name (uid, sAMAccountName) or a numeric OID.
_ATTRIBUTE_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)+)$")


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


def _not_negative(value: Any) -> bool:
    return bool(value >= 0)


def _ldap_urls(value: str) -> bool:
    return value == "" or all(_LDAP_URL_RE.match(url.strip()) for url in value.split(","))


def _attribute(value: str) -> bool:
    return bool(_ATTRIBUTE_RE.match(value))


def _optional_attribute(value: str) -> bool:
    return value == "" or _attribute(value)


def _dn(value: str) -> bool:
    return value == "" or "=" in value


def _ldap_filter(value: str) -> bool:
    # Balanced parentheses around the whole filter; the server checks the rest.
    if not (value.startswith("(") and value.endswith(")")):
        return False
    depth = 0
    escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


_ATTRIBUTE_ACCEPTED = "an LDAP attribute name (e.g. {example})"
_OPTIONAL_ATTRIBUTE_ACCEPTED = 'an LDAP attribute name (e.g. {example}), or "" not to sync it'


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
    "oauth_password_grant": _Key(
        bool,
        False,
        'true or false (default: true when environment = "development", else false)',
        help="let API clients exchange a username/e-mail and password for a token (OAuth "
        "password grant); the authorization-code flow is always available",
    ),
    # Directory (LDAP / Active Directory): see node/directory and the README's section.
    "directory_url": _Key(
        str,
        "",
        "ldap://HOST[:PORT] or ldaps://HOST[:PORT], several separated by commas, tried in order "
        "(empty: no directory)",
        _ldap_urls,
        "the directory servers people and groups are read from",
    ),
    "directory_starttls": _Key(
        bool, False, "true or false", help="upgrade ldap:// connections with StartTLS"
    ),
    "directory_tls_ca_file": _Key(
        str,
        "",
        "a PEM file of CA certificates (empty: the system's CAs); relative to the data directory",
        help="CAs that sign the directory servers' certificates",
    ),
    "directory_bind_dn": _Key(
        str,
        "",
        "a DN, e.g. cn=fedwall,ou=services,dc=example,dc=com (empty: anonymous bind)",
        _dn,
        "the account the node reads the directory as",
    ),
    "directory_password_file": _Key(
        str,
        "",
        "a file holding the bind password, relative to the data directory "
        "(or set FEDWALL_DIRECTORY_PASSWORD instead); never logged",
        help="the bind password's file",
    ),
    "directory_timeout": _Key(
        float,
        10.0,
        "a positive number (seconds)",
        _positive,
        "how long to wait to connect to, or for an answer from, the directory",
    ),
    "directory_user_base": _Key(
        str, "", "a DN, e.g. ou=people,dc=example,dc=com", _dn, "where people are searched"
    ),
    "directory_user_filter": _Key(
        str,
        "(objectClass=inetOrgPerson)",
        "an LDAP filter in parentheses, e.g. (&(objectClass=user)(objectCategory=person))",
        _ldap_filter,
        "which entries below directory_user_base are people with an account",
    ),
    "directory_id_attribute": _Key(
        str,
        "entryUUID",
        _ATTRIBUTE_ACCEPTED.format(example="entryUUID, or objectGUID on Active Directory"),
        _attribute,
        "the directory's stable id of an entry; survives renames and moves",
    ),
    "directory_username_attribute": _Key(
        str,
        "uid",
        _ATTRIBUTE_ACCEPTED.format(example="uid, or sAMAccountName on Active Directory"),
        _attribute,
    ),
    "directory_display_name_attribute": _Key(
        str,
        "displayName",
        _OPTIONAL_ATTRIBUTE_ACCEPTED.format(example="displayName"),
        _optional_attribute,
    ),
    "directory_email_attribute": _Key(
        str, "mail", _OPTIONAL_ATTRIBUTE_ACCEPTED.format(example="mail"), _optional_attribute
    ),
    "directory_title_attribute": _Key(
        str, "title", _OPTIONAL_ATTRIBUTE_ACCEPTED.format(example="title"), _optional_attribute
    ),
    "directory_department_attribute": _Key(
        str,
        "departmentNumber",
        _OPTIONAL_ATTRIBUTE_ACCEPTED.format(example="departmentNumber, or department on AD"),
        _optional_attribute,
    ),
    "directory_phone_attribute": _Key(
        str,
        "telephoneNumber",
        _OPTIONAL_ATTRIBUTE_ACCEPTED.format(example="telephoneNumber"),
        _optional_attribute,
    ),
    "directory_manager_attribute": _Key(
        str,
        "manager",
        _OPTIONAL_ATTRIBUTE_ACCEPTED.format(example="manager"),
        _optional_attribute,
    ),
    "directory_group_base": _Key(
        str,
        "",
        "a DN, e.g. ou=groups,dc=example,dc=com (empty: groups are not synced)",
        _dn,
        "where groups are searched",
    ),
    "directory_group_filter": _Key(
        str,
        "(objectClass=groupOfNames)",
        "an LDAP filter in parentheses, e.g. (objectClass=group) or (objectClass=posixGroup)",
        _ldap_filter,
    ),
    "directory_group_name_attribute": _Key(
        str, "cn", _ATTRIBUTE_ACCEPTED.format(example="cn"), _attribute
    ),
    "directory_membership": _Key(
        str,
        "member",
        '"member" (groupOfNames, AD groups), "memberUid" (posixGroup) '
        'or "memberOf" (read from the people, as Active Directory keeps it)',
        _one_of("member", "memberUid", "memberOf"),
        "the attribute that says who is in a group",
    ),
    "directory_nested_groups": _Key(
        bool,
        False,
        "true or false",
        help="members of a group that is a member of a group belong to both",
    ),
    "directory_sync_interval": _Key(
        int,
        0,
        "a whole number of seconds, 0 to sync only with `fedwall directory sync`",
        _not_negative,
        "how often `fedwall serve` syncs people and groups from the directory",
    ),
    "auth_source": _Key(
        str,
        "local",
        '"local" (passwords kept by the node), "directory" (directory accounts only, '
        'checked by an LDAP bind) or "both"',
        _one_of("local", "directory", "both"),
        "how people sign in",
    ),
}
DIRECTORY_PASSWORD_ENV = "FEDWALL_DIRECTORY_PASSWORD"  # noqa: S105 - a variable name
# Keys whose default depends on other settings: key -> function of the resolved values.
_DERIVED_DEFAULTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "oauth_password_grant": lambda resolved: resolved["environment"] == "development",
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
    oauth_password_grant: bool
    directory_url: str
    directory_starttls: bool
    directory_tls_ca_file: str
    directory_bind_dn: str
    directory_password_file: str
    directory_timeout: float
    directory_user_base: str
    directory_user_filter: str
    directory_id_attribute: str
    directory_username_attribute: str
    directory_display_name_attribute: str
    directory_email_attribute: str
    directory_title_attribute: str
    directory_department_attribute: str
    directory_phone_attribute: str
    directory_manager_attribute: str
    directory_group_base: str
    directory_group_filter: str
    directory_group_name_attribute: str
    directory_membership: str
    directory_nested_groups: bool
    directory_sync_interval: int
    auth_source: str
    # Read from directory_password_file or FEDWALL_DIRECTORY_PASSWORD, never from the file.
    directory_password: str = dataclasses.field(repr=False)

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
    if "directory_password" in values:
        raise ConfigError(
            f"{source}: directory_password: a password is not accepted in {CONFIG_FILE}; "
            f"put it in a file named by directory_password_file, or in {DIRECTORY_PASSWORD_ENV}"
        )
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
    for key, derive in _DERIVED_DEFAULTS.items():
        if key not in values:
            resolved[key] = derive(resolved)
    if resolved["scheme"] == "http" and resolved["environment"] != "development":
        raise ConfigError(
            f'{source}: scheme: "http" is only accepted with environment = "development"'
        )
    if not resolved["database_url"]:
        resolved["database_url"] = f"sqlite://{(data_dir / SQLITE_FILE).resolve()}"
    _check_directory(resolved, source)
    return Settings(data_dir=data_dir, directory_password="", **resolved)


def _check_directory(resolved: Mapping[str, Any], source: str) -> None:
    """The directory settings that only make sense together."""
    urls = [url.strip().lower() for url in resolved["directory_url"].split(",") if url.strip()]
    if not urls:
        if resolved["auth_source"] != "local":
            raise ConfigError(
                f'{source}: auth_source: "{resolved["auth_source"]}" needs a directory: '
                "set directory_url"
            )
        if resolved["directory_sync_interval"]:
            raise ConfigError(f"{source}: directory_sync_interval: needs directory_url")
        return
    if not resolved["directory_user_base"]:
        raise ConfigError(
            f"{source}: directory_user_base is required with directory_url: "
            f"{KEYS['directory_user_base'].accepted}"
        )
    if resolved["directory_starttls"] and any(url.startswith("ldaps://") for url in urls):
        raise ConfigError(
            f"{source}: directory_starttls: StartTLS is for ldap:// URLs; "
            "ldaps:// connections are already encrypted"
        )
    plain = [url for url in urls if url.startswith("ldap://")]
    if plain and not resolved["directory_starttls"] and resolved["environment"] != "development":
        raise ConfigError(
            f"{source}: directory_url: {plain[0]} would send passwords in clear text; "
            'use ldaps://, set directory_starttls = true, or environment = "development"'
        )
    if resolved["directory_membership"] == "memberUid" and resolved["directory_nested_groups"]:
        raise ConfigError(
            f"{source}: directory_nested_groups: posixGroup memberUid lists people only, "
            'groups cannot nest; use directory_membership = "member" or "memberOf"'
        )


def _directory_password(
    data_dir: Path, values: Mapping[str, Any], environ: Mapping[str, str], source: str
) -> str:
    """The bind password, from its file or the environment (checked, never shown)."""
    from_env = environ.get(DIRECTORY_PASSWORD_ENV)
    file_name = values.get("directory_password_file") or ""
    if from_env is not None and file_name:
        raise ConfigError(
            f"{source}: set directory_password_file or {DIRECTORY_PASSWORD_ENV}, not both"
        )
    password = from_env or ""
    if file_name:
        path = Path(file_name) if Path(file_name).is_absolute() else data_dir / file_name
        try:
            password = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"{source}: directory_password_file: cannot read {path}: {exc.strerror}"
            ) from None
        if not password:
            raise ConfigError(f"{source}: directory_password_file: {path} is empty")
    if values.get("directory_url"):
        if password and not values.get("directory_bind_dn"):
            raise ConfigError(
                f"{source}: a directory password is set but directory_bind_dn is empty"
            )
        if values.get("directory_bind_dn") and not password:
            raise ConfigError(
                f"{source}: directory_bind_dn needs a password: "
                f"set directory_password_file or {DIRECTORY_PASSWORD_ENV}"
            )
    return password


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
    settings = settings.replace(
        directory_password=_directory_password(data_dir, values, environ, source)
    )
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
    # Validate before writing anything, so a rejected setting leaves no files behind.
    settings_from_mapping(data_dir, {**values, "secret_key": "x" * 32})
    secret_path = data_dir / SECRET_FILE
    if not secret_path.exists():
        # Created with mode 0600 from the start: never readable by others, not even briefly.
        fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
    lines = ["# Fedwall node configuration. See the README's configuration reference."]
    for key, value in values.items():
        spec = KEYS[key]
        if spec.help:
            lines.append(f"# {spec.help}")
        lines.append(f"{key} = {_toml_value(value)}")
    path = data_dir / CONFIG_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
