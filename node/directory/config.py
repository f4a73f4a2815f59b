"""The directory settings of a node, as one value the client and the planner share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

from node.config import Settings
from node.errors import ConfigError

Membership = Literal["member", "memberUid", "memberOf"]
AuthSource = Literal["local", "directory", "both"]


@dataclass(frozen=True)
class ServerAddress:
    """One directory server from ``directory_url``."""

    url: str
    host: str
    port: int
    use_ssl: bool


@dataclass(frozen=True)
class AttributeMap:
    """Which directory attribute feeds which account or group property ("" = not synced)."""

    id: str = "entryUUID"
    username: str = "uid"
    display_name: str = "displayName"
    email: str = "mail"
    title: str = "title"
    department: str = "departmentNumber"
    phone: str = "telephoneNumber"
    manager: str = "manager"
    group_name: str = "cn"


@dataclass(frozen=True)
class DirectoryConfig:
    """Where the directory is, how to read it, and how its entries map to accounts and groups."""

    servers: tuple[ServerAddress, ...]
    user_base: str
    starttls: bool = False
    ca_file: Path | None = None
    bind_dn: str = ""
    # Never shown: excluded from the repr, never put in a message.
    password: str = field(default="", repr=False)
    timeout: float = 10.0
    user_filter: str = "(objectClass=inetOrgPerson)"
    group_base: str = ""
    group_filter: str = "(objectClass=groupOfNames)"
    attributes: AttributeMap = AttributeMap()
    membership: Membership = "member"
    nested_groups: bool = False

    @property
    def syncs_groups(self) -> bool:
        return bool(self.group_base)

    @classmethod
    def from_settings(cls, settings: Settings) -> DirectoryConfig:
        """The node's directory configuration; ConfigError when there is none."""
        if not settings.directory_url:
            raise ConfigError(
                "directory_url is not set: this node has no directory "
                "(see the README's section on directories)"
            )
        ca_file = None
        if settings.directory_tls_ca_file:
            ca_file = Path(settings.directory_tls_ca_file)
            if not ca_file.is_absolute():
                ca_file = settings.data_dir / ca_file
            if not ca_file.is_file():
                raise ConfigError(f"directory_tls_ca_file: {ca_file} is not a file")
        return cls(
            servers=tuple(parse_server(url) for url in settings.directory_url.split(",")),
            starttls=settings.directory_starttls,
            ca_file=ca_file,
            bind_dn=settings.directory_bind_dn,
            password=settings.directory_password,
            timeout=settings.directory_timeout,
            user_base=settings.directory_user_base,
            user_filter=settings.directory_user_filter,
            group_base=settings.directory_group_base,
            group_filter=settings.directory_group_filter,
            attributes=AttributeMap(
                id=settings.directory_id_attribute,
                username=settings.directory_username_attribute,
                display_name=settings.directory_display_name_attribute,
                email=settings.directory_email_attribute,
                title=settings.directory_title_attribute,
                department=settings.directory_department_attribute,
                phone=settings.directory_phone_attribute,
                manager=settings.directory_manager_attribute,
                group_name=settings.directory_group_name_attribute,
            ),
            membership=cast(Membership, settings.directory_membership),
            nested_groups=settings.directory_nested_groups,
        )


def parse_server(url: str) -> ServerAddress:
    """``ldap://host[:port]`` or ``ldaps://host[:port]`` (already checked by node.config)."""
    url = url.strip()
    parts = urlsplit(url)
    use_ssl = parts.scheme.lower() == "ldaps"
    if parts.hostname is None:
        raise ConfigError(f"directory_url: {url!r} has no host")
    return ServerAddress(
        url=url.rstrip("/"),
        host=parts.hostname,
        port=parts.port or (636 if use_ssl else 389),
        use_ssl=use_ssl,
    )
