"""The LDAP client: TLS against the real slapd, and the Active Directory id conversions.

ldaps:// and StartTLS run against slapd with a certificate from a throw-away CA.
The objectGUID helpers follow Microsoft's documentation (the GUID's first three
fields are stored little-endian); there is no Active Directory in the tests.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from node.directory import DirectoryConfig, DirectoryReadError, DirectoryUnavailable
from node.directory.client import DirectoryClient, external_id_of, id_filter, normalize_dn
from tests.ldap.fixtures import directory_settings, slapd
from tests.ldap.server import Slapd

__all__ = ["slapd"]  # fixture


def client(tmp_path: Path, server: Slapd, **overrides: object) -> DirectoryClient:
    settings = directory_settings(tmp_path, server, **overrides)
    return DirectoryClient(DirectoryConfig.from_settings(settings))


def test_ldaps_with_the_directory_ca_reads_everyone(tmp_path: Path, slapd: Slapd) -> None:
    reader = client(
        tmp_path, slapd, directory_url=slapd.ldaps_url, directory_tls_ca_file=str(slapd.ca_file)
    )

    snapshot = reader.read_snapshot()

    assert len(snapshot.users) == 6


def test_starttls_with_the_directory_ca_reads_everyone(tmp_path: Path, slapd: Slapd) -> None:
    reader = client(
        tmp_path,
        slapd,
        directory_url=slapd.url.replace("127.0.0.1", "localhost"),
        directory_starttls=True,
        directory_tls_ca_file=str(slapd.ca_file),
    )

    assert len(reader.read_snapshot().users) == 6


def test_ldaps_certificate_from_an_unknown_ca_is_refused(tmp_path: Path, slapd: Slapd) -> None:
    reader = client(tmp_path, slapd, directory_url=slapd.ldaps_url)

    with pytest.raises(DirectoryUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        reader.read_snapshot()


def test_certificate_for_another_host_name_is_refused(tmp_path: Path, slapd: Slapd) -> None:
    # The certificate names localhost and 127.0.0.1; 127.0.0.2 reaches the same server.
    url = slapd.ldaps_url.replace("localhost", "127.0.0.2")
    reader = client(tmp_path, slapd, directory_url=url, directory_tls_ca_file=str(slapd.ca_file))

    with pytest.raises(DirectoryUnavailable, match="IP address mismatch"):
        reader.read_snapshot()


def test_starttls_the_server_cannot_do_is_an_error_not_plain_text(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    plain = Slapd(tmp_path_factory.mktemp("plain-slapd"), tls=False)
    plain.reset()
    try:
        reader = client(
            tmp_path,
            plain,
            directory_url=plain.url.replace("127.0.0.1", "localhost"),
            directory_starttls=True,
        )

        with pytest.raises(DirectoryUnavailable, match="StartTLS failed"):
            reader.read_snapshot()
    finally:
        plain.stop()


def test_password_check_binds_as_the_entry(tmp_path: Path, slapd: Slapd) -> None:
    reader = client(tmp_path, slapd)
    ada = next(u for u in reader.read_snapshot().users if u.username == "ada")

    assert reader.check_password(ada.external_id, "ada-pass-1")
    assert not reader.check_password(ada.external_id, "ada-pass-2")
    assert not reader.check_password(ada.external_id, "")
    assert not reader.check_password(str(uuid.uuid4()), "ada-pass-1")


def test_dns_compare_in_one_spelling() -> None:
    assert normalize_dn("CN=Grace Hopper, OU=People,DC=Example,DC=com") == (
        "cn=grace hopper,ou=people,dc=example,dc=com"
    )


# Microsoft's documented example: GUID {B7F21E8F-4A2B-4C1F-9A1E-1234567890AB} is
# stored as the bytes 8F 1E F2 B7 2B 4A 1F 4C 9A 1E 12 34 56 78 90 AB.
GUID = "b7f21e8f-4a2b-4c1f-9a1e-1234567890ab"
GUID_BYTES = bytes.fromhex("8f1ef2b72b4a1f4c9a1e1234567890ab")


def test_object_guid_is_read_as_the_guid_windows_shows() -> None:
    assert external_id_of({"objectguid": [GUID_BYTES]}, "objectGUID", "cn=x") == GUID


def test_object_guid_is_searched_as_escaped_bytes() -> None:
    assert id_filter("objectGUID", GUID) == (
        "(objectGUID=\\8f\\1e\\f2\\b7\\2b\\4a\\1f\\4c\\9a\\1e\\12\\34\\56\\78\\90\\ab)"
    )


def test_entry_uuid_is_searched_as_text_with_filter_characters_escaped() -> None:
    assert id_filter("entryUUID", "a*b(c)") == "(entryUUID=a\\2ab\\28c\\29)"


def test_entry_without_the_id_attribute_is_an_error() -> None:
    with pytest.raises(DirectoryReadError, match="cn=x has no objectGUID"):
        external_id_of({}, "objectGUID", "cn=x")
