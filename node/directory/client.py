"""The one place that talks LDAP (through ldap3): read the directory, check a password.

Blocking, like ldap3 itself: callers run it in a thread. Every failure becomes a
:class:`~node.directory.errors.DirectoryError` whose message names the server and
the cause but never a password. A read either returns *everything* the filters
select or raises: a size or time limit, a lost connection or any result code other
than success is an error, never a shorter list.
"""

from __future__ import annotations

import contextlib
import math
import re
import ssl
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

with warnings.catch_warnings():
    # ldap3 2.9 imports names that pyasn1 0.6 deprecated (tagMap, typeMap); harmless,
    # and the only warnings it raises.
    warnings.simplefilter("ignore", DeprecationWarning)
    from ldap3 import (  # type: ignore[import-untyped]
        ANONYMOUS,
        NONE,
        SIMPLE,
        SUBTREE,
        Connection,
        Server,
        Tls,
    )
    from ldap3.core import exceptions as ldap_errors  # type: ignore[import-untyped]
    from ldap3.utils.conv import escape_filter_chars  # type: ignore[import-untyped]
    from ldap3.utils.dn import parse_dn  # type: ignore[import-untyped]

from node.directory.config import DirectoryConfig, ServerAddress
from node.directory.errors import (
    DirectoryBindRejected,
    DirectoryReadError,
    DirectoryUnavailable,
)
from node.directory.snapshot import DirectoryGroup, DirectorySnapshot, DirectoryUser

# Entries per page of a paged search; Active Directory answers at most 1000.
PAGE_SIZE = 500
_PAGED_RESULTS = "1.2.840.113556.1.4.319"
_WRAPPING = re.compile(r"^[(\"',\s]+|[)\"',\s]+$")

# Called after each page: ("people" | "groups", entries read so far).
ReadProgress = Callable[[str, int], None]


class _Rejected(Exception):
    """The server refused the bind (wrong DN or password, locked account, ...)."""

    def __init__(self, reason: str = "invalid credentials") -> None:
        super().__init__(reason)
        self.reason = reason


class _VerifiedTls(Tls):
    """TLS with Python's own certificate and host name checks.

    ldap3 turns ``check_hostname`` off and matches names itself with the
    deprecated ``ssl.match_hostname``; the standard context does it properly
    (including IP address names) during the handshake.
    """

    def __init__(self, ca_file: str | None) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file)

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        context = ssl.create_default_context(cafile=self.ca_certs_file)
        connection.socket = context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host,
        )


def normalize_dn(dn: str) -> str:
    """A DN in one spelling: lower case, no spaces around ``=`` and ``,``."""
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except ldap_errors.LDAPInvalidDnError:
        return dn.strip().lower()
    return ",".join(f"{attr.strip().lower()}={value.strip().lower()}" for attr, value, _ in parts)


def external_id_of(values: dict[str, list[bytes]], attribute: str, dn: str) -> str:
    """The stable id of an entry as text; Active Directory's binary objectGUID as a GUID."""
    found = values.get(attribute.lower())
    if not found:
        raise DirectoryReadError(
            f"{dn} has no {attribute}: check directory_id_attribute (entryUUID on "
            "OpenLDAP, objectGUID on Active Directory); nothing was changed"
        )
    raw = found[0]
    if attribute.lower() == "objectguid" and len(raw) == 16:
        # AD stores the first three GUID fields little-endian, as Windows shows them.
        return str(uuid.UUID(bytes_le=raw))
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.hex()


def id_filter(attribute: str, external_id: str) -> str:
    """A filter matching the entry with this stable id (the inverse of :func:`external_id_of`)."""
    if attribute.lower() == "objectguid":
        try:
            raw = uuid.UUID(external_id).bytes_le
        except ValueError:
            raw = bytes.fromhex(external_id)
        return f"({attribute}=" + "".join(f"\\{b:02x}" for b in raw) + ")"
    return f"({attribute}={escape_filter_chars(external_id)})"


def _attributes(entry: dict[str, Any]) -> dict[str, list[bytes]]:
    """Raw values by lower-case attribute name (``member;range=0-1499`` counts as ``member``)."""
    values: dict[str, list[bytes]] = {}
    for name, raw in (entry.get("raw_attributes") or {}).items():
        values.setdefault(name.split(";", 1)[0].lower(), []).extend(raw)
    return values


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").strip()


def _first(values: dict[str, list[bytes]], attribute: str) -> str:
    if not attribute:
        return ""
    found = values.get(attribute.lower())
    return _text(found[0]) if found else ""


def _all(values: dict[str, list[bytes]], attribute: str) -> tuple[str, ...]:
    return tuple(_text(v) for v in values.get(attribute.lower(), ()))


class DirectoryClient:
    """Reads people and groups, and checks passwords, as ``config`` says."""

    def __init__(self, config: DirectoryConfig) -> None:
        self.config = config

    # ------------------------------------------------------------ connections

    def _server(self, address: ServerAddress) -> Server:
        tls = None
        if address.use_ssl or self.config.starttls:
            tls = _VerifiedTls(str(self.config.ca_file) if self.config.ca_file else None)
        return Server(
            address.host,
            port=address.port,
            use_ssl=address.use_ssl,
            tls=tls,
            get_info=NONE,
            connect_timeout=self.config.timeout,
        )

    def _bind(self, address: ServerAddress, user: str, password: str) -> Connection:
        connection = Connection(
            self._server(address),
            user=user or None,
            password=password or None,
            authentication=SIMPLE if user else ANONYMOUS,
            raise_exceptions=True,
            # ldap3 packs it into SO_RCVTIMEO as whole seconds.
            receive_timeout=max(1, math.ceil(self.config.timeout)),
            auto_referrals=False,
            read_only=True,
            check_names=False,
            return_empty_attributes=False,
        )
        try:
            connection.open()
            if self.config.starttls and not address.use_ssl:
                # Never carry on in plain text: a refused StartTLS ends this server's turn.
                try:
                    started = connection.start_tls()
                except ldap_errors.LDAPOperationResult as exc:
                    raise ldap_errors.LDAPStartTLSError(exc.description) from None
                if not started:
                    raise ldap_errors.LDAPStartTLSError("the server did not start TLS")
        except BaseException:
            _close(connection)
            raise
        try:
            if not connection.bind():
                raise _Rejected
        except ldap_errors.LDAPBindError as exc:
            _close(connection)
            raise _Rejected(_reason(exc)) from None
        except ldap_errors.LDAPOperationResult as exc:
            # A bind answered with an error (invalidCredentials, unwillingToPerform, ...).
            _close(connection)
            raise _Rejected(exc.description or "refused") from None
        except BaseException:
            _close(connection)
            raise
        return connection

    def _connect(self, user: str, password: str) -> Connection:
        """A bound connection to the first server that answers (``directory_url`` order)."""
        problems = []
        for address in self.config.servers:
            try:
                return self._bind(address, user, password)
            except _Rejected:
                raise
            except ldap_errors.LDAPStartTLSError as exc:
                problems.append(f"{address.url}: StartTLS failed ({_reason(exc)})")
            except (ldap_errors.LDAPExceptionError, OSError) as exc:
                problems.append(f"{address.url}: {_reason(exc)}")
        raise DirectoryUnavailable(
            "cannot reach the directory (" + "; ".join(problems) + "); nothing was changed"
        )

    @contextmanager
    def _service_connection(self) -> Iterator[Connection]:
        try:
            connection = self._connect(self.config.bind_dn, self.config.password)
        except _Rejected as exc:
            who = self.config.bind_dn or "an anonymous bind"
            raise DirectoryBindRejected(
                f"the directory rejected the bind as {who}: {exc.reason} (check "
                "directory_bind_dn and its password); nothing was changed"
            ) from None
        try:
            yield connection
        finally:
            _close(connection)

    # ------------------------------------------------------------ searching

    def _search(
        self,
        connection: Connection,
        base: str,
        search_filter: str,
        attributes: list[str],
        what: str,
        progress: ReadProgress | None,
    ) -> list[dict[str, Any]]:
        """Every entry of a paged subtree search, or an error: never a partial list."""
        entries: list[dict[str, Any]] = []
        cookie: bytes | None = None
        while True:
            try:
                connection.search(
                    base,
                    search_filter,
                    search_scope=SUBTREE,
                    attributes=attributes,
                    paged_size=PAGE_SIZE,
                    paged_cookie=cookie,
                )
            except ldap_errors.LDAPNoSuchObjectResult:
                raise DirectoryReadError(
                    f"reading {what}: the base {base!r} does not exist in the directory; "
                    "nothing was changed"
                ) from None
            except ldap_errors.LDAPOperationResult as exc:
                raise DirectoryReadError(
                    f"reading {what}: the directory answered {exc.description!r} "
                    f"({exc.message or 'no message'}); nothing was changed"
                ) from None
            except (ldap_errors.LDAPExceptionError, OSError) as exc:
                raise DirectoryUnavailable(
                    f"reading {what}: the connection to the directory was lost after "
                    f"{len(entries)} entries ({_reason(exc)}); nothing was changed"
                ) from None
            result = connection.result
            # Continuation references (other naming contexts) are not entries: skipped.
            entries.extend(
                r for r in connection.response or () if r.get("type") == "searchResEntry"
            )
            # ldap3 does not raise for these two: they come with a partial answer.
            if result["result"] != 0:
                limit = {
                    4: "the size limit was exceeded",
                    3: "the time limit was exceeded",
                }.get(result["result"], f"it answered {result['description']!r}")
                raise DirectoryReadError(
                    f"reading {what}: the directory stopped after {len(entries)} entries: "
                    f"{limit}; nothing was changed (allow the bind DN more entries, or narrow "
                    "the base or filter)"
                )
            if progress is not None:
                progress(what, len(entries))
            control = (result.get("controls") or {}).get(_PAGED_RESULTS) or {}
            cookie = (control.get("value") or {}).get("cookie")
            if not cookie:
                return entries

    # ------------------------------------------------------------ public

    def read_snapshot(self, progress: ReadProgress | None = None) -> DirectorySnapshot:
        """Every person and group the filters select; raises DirectoryError otherwise."""
        config = self.config
        names = config.attributes
        user_attributes = [
            a
            for a in (
                names.id,
                names.username,
                names.display_name,
                names.email,
                names.title,
                names.department,
                names.phone,
                names.manager,
            )
            if a
        ]
        if config.membership == "memberOf":
            user_attributes.append("memberOf")
        with self._service_connection() as connection:
            user_entries = self._search(
                connection,
                config.user_base,
                config.user_filter,
                user_attributes,
                "people",
                progress,
            )
            users = tuple(self._user(entry) for entry in user_entries)
            groups = None
            if config.syncs_groups:
                group_attributes = [names.id, names.group_name, "description"]
                group_attributes += {
                    "member": ["member"],
                    "memberUid": ["memberUid"],
                    "memberOf": ["memberOf"],
                }[config.membership]
                group_entries = self._search(
                    connection,
                    config.group_base,
                    config.group_filter,
                    group_attributes,
                    "groups",
                    progress,
                )
                groups = tuple(self._group(entry) for entry in group_entries)
        return DirectorySnapshot(
            users=users,
            groups=groups,
            membership=config.membership,
            nested_groups=config.nested_groups,
        )

    def _user(self, entry: dict[str, Any]) -> DirectoryUser:
        values = _attributes(entry)
        names = self.config.attributes
        dn = normalize_dn(entry["dn"])
        manager = _first(values, names.manager)
        return DirectoryUser(
            dn=dn,
            external_id=external_id_of(values, names.id, entry["dn"]),
            username=_first(values, names.username),
            display_name=_first(values, names.display_name),
            email=_first(values, names.email),
            title=_first(values, names.title),
            department=_first(values, names.department),
            phone=_first(values, names.phone),
            manager_dn=normalize_dn(manager) if manager else "",
            member_of=tuple(normalize_dn(v) for v in _all(values, "memberOf")),
        )

    def _group(self, entry: dict[str, Any]) -> DirectoryGroup:
        values = _attributes(entry)
        return DirectoryGroup(
            dn=normalize_dn(entry["dn"]),
            external_id=external_id_of(values, self.config.attributes.id, entry["dn"]),
            name=_first(values, self.config.attributes.group_name),
            description=_first(values, "description"),
            members=tuple(normalize_dn(v) for v in _all(values, "member")),
            member_uids=_all(values, "memberUid"),
            member_of=tuple(normalize_dn(v) for v in _all(values, "memberOf")),
        )

    def check_password(self, external_id: str, password: str) -> bool:
        """True when the entry with this stable id (still matching the user filter) binds
        with ``password``; DirectoryError when the directory cannot tell."""
        if not password:
            # An empty password is an *unauthenticated* bind, which servers accept.
            return False
        search_filter = (
            f"(&{self.config.user_filter}{id_filter(self.config.attributes.id, external_id)})"
        )
        with self._service_connection() as connection:
            entries = self._search(
                connection, self.config.user_base, search_filter, ["1.1"], "the person", None
            )
        if len(entries) != 1:
            return False
        try:
            _close(self._connect(entries[0]["dn"], password))
        except _Rejected:
            return False
        return True


def _reason(exc: BaseException) -> str:
    """The first line of an ldap3 error, without the tuple reprs it wraps messages in."""
    text = _WRAPPING.sub("", str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    return (text or type(exc).__name__)[:200]


def _close(connection: Connection) -> None:
    """Unbind, and close the socket ldap3 leaves open when opening failed half-way."""
    with contextlib.suppress(Exception):
        connection.unbind()
    sock = getattr(connection, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
