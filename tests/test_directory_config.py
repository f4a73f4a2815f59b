"""Directory settings: validation with messages that name the key, and the bind password."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from node.config import CONFIG_FILE, SECRET_FILE, load_settings, settings_from_mapping
from node.directory import DirectoryConfig
from node.errors import ConfigError

PASSWORD = "bind-secret-5Tq"
BASE = {
    "domain": "hq.example.com",
    "directory_url": "ldaps://dc1.example.com",
    "directory_user_base": "ou=people,dc=example,dc=com",
}


def settings(**values: Any) -> Any:
    return settings_from_mapping(Path("/srv/fedwall"), {**BASE, **values})


def node_dir(tmp_path: Path, toml: str) -> Path:
    (tmp_path / CONFIG_FILE).write_text(toml, encoding="utf-8")
    (tmp_path / SECRET_FILE).write_text("s" * 40 + "\n", encoding="utf-8")
    return tmp_path


DIRECTORY_TOML = (
    'domain = "hq.example.com"\n'
    'directory_url = "ldaps://dc1.example.com, ldaps://dc2.example.com:3269"\n'
    'directory_bind_dn = "cn=fedwall,ou=services,dc=example,dc=com"\n'
    'directory_user_base = "ou=people,dc=example,dc=com"\n'
)


def test_a_node_without_a_directory_needs_no_directory_setting() -> None:
    plain = settings_from_mapping(Path("/srv"), {"domain": "hq.example.com"})

    assert (plain.directory_url, plain.auth_source, plain.directory_sync_interval) == (
        "",
        "local",
        0,
    )


def test_directory_defaults_suit_openldap() -> None:
    config = DirectoryConfig.from_settings(settings())

    assert config.attributes.id == "entryUUID"
    assert config.attributes.username == "uid"
    assert config.user_filter == "(objectClass=inetOrgPerson)"
    assert config.membership == "member"
    assert [(s.host, s.port, s.use_ssl) for s in config.servers] == [("dc1.example.com", 636, True)]


def test_several_urls_are_tried_in_the_given_order() -> None:
    config = DirectoryConfig.from_settings(
        settings(directory_url="ldaps://dc1.example.com, ldaps://dc2.example.com:3269")
    )

    assert [s.url for s in config.servers] == [
        "ldaps://dc1.example.com",
        "ldaps://dc2.example.com:3269",
    ]


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"directory_url": "http://dc1.example.com"}, "directory_url: expected ldap://"),
        ({"directory_url": "ldaps://dc1.example.com:99999"}, "directory_url: expected"),
        ({"directory_user_filter": "objectClass=user"}, "directory_user_filter: expected"),
        ({"directory_group_filter": "(&(cn=a)"}, "directory_group_filter: expected"),
        ({"directory_username_attribute": "s am"}, "directory_username_attribute: expected"),
        ({"directory_membership": "members"}, '"member" (groupOfNames, AD groups)'),
        ({"auth_source": "ldap"}, 'auth_source: expected "local"'),
        ({"directory_sync_interval": -5}, "directory_sync_interval: expected a whole number"),
        ({"directory_user_base": ""}, "directory_user_base is required with directory_url"),
        ({"directory_user_base": "people"}, "directory_user_base: expected a DN"),
        (
            {"directory_starttls": True},
            "directory_starttls: StartTLS is for ldap:// URLs",
        ),
        (
            {"directory_url": "ldap://dc1.example.com"},
            "ldap://dc1.example.com would send passwords in clear text",
        ),
        (
            {"directory_membership": "memberUid", "directory_nested_groups": True},
            "directory_nested_groups: posixGroup memberUid lists people only",
        ),
    ],
)
def test_invalid_directory_setting_names_the_key(values: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**values)

    assert fragment in caught.value.message


def test_plain_ldap_is_accepted_with_starttls_or_in_development() -> None:
    assert settings(directory_url="ldap://dc1.example.com", directory_starttls=True)
    assert settings(directory_url="ldap://127.0.0.1:3389", environment="development", scheme="http")


@pytest.mark.parametrize(
    "values",
    [{"auth_source": "directory"}, {"auth_source": "both"}, {"directory_sync_interval": 60}],
)
def test_directory_features_need_a_directory_url(values: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="directory_url"):
        settings_from_mapping(Path("/srv"), {"domain": "hq.example.com", **values})


def test_password_is_read_from_the_password_file(tmp_path: Path) -> None:
    (tmp_path / "ldap-password").write_text(PASSWORD + "\n", encoding="utf-8")
    data_dir = node_dir(tmp_path, DIRECTORY_TOML + 'directory_password_file = "ldap-password"\n')

    loaded = load_settings(data_dir, environ={})

    assert loaded.directory_password == PASSWORD


def test_password_is_read_from_the_environment(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, DIRECTORY_TOML)

    loaded = load_settings(data_dir, environ={"FEDWALL_DIRECTORY_PASSWORD": PASSWORD})

    assert loaded.directory_password == PASSWORD


def test_password_is_never_accepted_in_the_configuration_file(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, DIRECTORY_TOML + f'directory_password = "{PASSWORD}"\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir, environ={})

    assert "directory_password_file" in caught.value.message
    assert "FEDWALL_DIRECTORY_PASSWORD" in caught.value.message
    assert PASSWORD not in caught.value.message


@pytest.mark.parametrize(
    ("toml", "environ", "fragment"),
    [
        ('directory_password_file = "missing"\n', {}, "directory_password_file: cannot read"),
        (
            'directory_password_file = "pw"\n',
            {"FEDWALL_DIRECTORY_PASSWORD": PASSWORD},
            "not both",
        ),
        ("", {}, "directory_bind_dn needs a password"),
    ],
)
def test_password_problems_are_one_clear_message(
    tmp_path: Path, toml: str, environ: dict[str, str], fragment: str
) -> None:
    (tmp_path / "pw").write_text(PASSWORD, encoding="utf-8")
    data_dir = node_dir(tmp_path, DIRECTORY_TOML + toml)

    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir, environ=environ)

    assert fragment in caught.value.message
    assert PASSWORD not in caught.value.message


def test_password_without_a_bind_dn_is_refused(tmp_path: Path) -> None:
    toml = DIRECTORY_TOML.replace(
        'directory_bind_dn = "cn=fedwall,ou=services,dc=example,dc=com"\n', ""
    )
    data_dir = node_dir(tmp_path, toml)

    with pytest.raises(ConfigError, match="directory_bind_dn is empty"):
        load_settings(data_dir, environ={"FEDWALL_DIRECTORY_PASSWORD": PASSWORD})


def test_password_appears_in_no_repr(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, DIRECTORY_TOML)
    loaded = load_settings(data_dir, environ={"FEDWALL_DIRECTORY_PASSWORD": PASSWORD})

    config = DirectoryConfig.from_settings(loaded)

    assert PASSWORD not in repr(loaded)
    assert PASSWORD not in repr(config)
    assert PASSWORD not in str(config)


def test_ca_file_is_found_relative_to_the_data_directory(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")

    config = DirectoryConfig.from_settings(
        settings_from_mapping(tmp_path, {**BASE, "directory_tls_ca_file": "ca.pem"})
    )

    assert config.ca_file == tmp_path / "ca.pem"


def test_missing_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"directory_tls_ca_file: .*ca\.pem is not a file"):
        DirectoryConfig.from_settings(
            settings_from_mapping(tmp_path, {**BASE, "directory_tls_ca_file": "ca.pem"})
        )


def test_the_readme_active_directory_example_is_a_valid_configuration(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Directory (LDAP / Active Directory)") :]
    example = section[section.index("```toml\n") + len("```toml\n") :]
    example = example[: example.index("```")]
    (tmp_path / "ldap-password").write_text(PASSWORD, encoding="utf-8")
    (tmp_path / "corp-root-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    data_dir = node_dir(tmp_path, 'domain = "hq.example.com"\n' + example)

    config = DirectoryConfig.from_settings(load_settings(data_dir, environ={}))

    assert (config.attributes.id, config.attributes.username) == ("objectGUID", "sAMAccountName")
    assert (config.membership, config.nested_groups, config.password) == (
        "memberOf",
        True,
        PASSWORD,
    )
    assert [s.host for s in config.servers] == ["dc1.corp.example.com", "dc2.corp.example.com"]
