"""Node configuration: fedwall.toml, FEDWALL_* overrides, and errors that name the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from node.config import (
    CONFIG_FILE,
    KEYS,
    SECRET_FILE,
    load_settings,
    settings_from_mapping,
    write_config,
)
from node.errors import ConfigError

SECRET = "s" * 40


def node_dir(tmp_path: Path, toml: str, secret: str | None = SECRET) -> Path:
    (tmp_path / CONFIG_FILE).write_text(toml, encoding="utf-8")
    if secret is not None:
        (tmp_path / SECRET_FILE).write_text(secret + "\n", encoding="utf-8")
    return tmp_path


def test_minimal_file_gets_the_documented_defaults(tmp_path: Path) -> None:
    settings = load_settings(node_dir(tmp_path, 'domain = "hq.example.com"\n'), environ={})

    assert settings.domain == "hq.example.com"
    assert settings.base_url == "https://hq.example.com"
    assert settings.environment == "production"
    assert settings.log_level == "info"
    assert settings.max_post_length == KEYS["max_post_length"].default
    assert settings.secret_key == SECRET
    assert settings.database_url == f"sqlite://{(tmp_path / 'fedwall.sqlite3').resolve()}"


def test_environment_variable_overrides_the_file(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, 'domain = "hq.example.com"\nlog_level = "warning"\n')

    settings = load_settings(data_dir, environ={"FEDWALL_LOG_LEVEL": "debug"})

    assert settings.log_level == "debug"


def test_environment_overrides_are_converted_to_the_keys_type(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, 'domain = "hq.example.com"\n')

    settings = load_settings(
        data_dir,
        environ={"FEDWALL_MAX_POST_LENGTH": "800", "FEDWALL_WORKERS": "off"},
    )

    assert (settings.max_post_length, settings.workers) == (800, False)


def test_invalid_value_names_the_key_and_the_accepted_values(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, 'domain = "hq.example.com"\nlog_level = "loud"\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir, environ={})

    message = caught.value.message
    assert str(data_dir / CONFIG_FILE) in message
    assert "log_level" in message
    assert '"debug", "info", "warning" or "error"' in message
    assert "'loud'" in message


def test_invalid_environment_value_names_the_key(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, 'domain = "hq.example.com"\n')

    with pytest.raises(ConfigError, match=r"log_level: expected .*debug") as caught:
        load_settings(data_dir, environ={"FEDWALL_LOG_LEVEL": "loud"})

    assert "FEDWALL_* overrides" in caught.value.message


def test_environment_value_of_the_wrong_type_names_the_variable(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, 'domain = "hq.example.com"\n')

    with pytest.raises(ConfigError, match="FEDWALL_MAX_POST_LENGTH: expected a positive integer"):
        load_settings(data_dir, environ={"FEDWALL_MAX_POST_LENGTH": "lots"})


@pytest.mark.parametrize(
    ("toml", "key", "accepted"),
    [
        ('max_post_length = "long"', "max_post_length", "a positive integer"),
        ("max_post_length = 0", "max_post_length", "a positive integer"),
        ("max_post_length = true", "max_post_length", "a positive integer"),
        ('workers = "yes"', "workers", "true or false"),
        ('bind = "localhost"', "bind", "HOST:PORT"),
        ('database_url = "mysql://db/x"', "database_url", "postgres://"),
        ('environment = "staging"', "environment", '"production" or "development"'),
    ],
)
def test_each_invalid_setting_names_its_key(
    tmp_path: Path, toml: str, key: str, accepted: str
) -> None:
    data_dir = node_dir(tmp_path, f'domain = "hq.example.com"\n{toml}\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir, environ={})

    assert f": {key}: expected" in caught.value.message
    assert accepted in caught.value.message


def test_unknown_key_is_rejected_by_name(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, 'domain = "hq.example.com"\ncolour = "blue"\n')

    with pytest.raises(ConfigError, match="unknown setting 'colour'; known settings: domain"):
        load_settings(data_dir, environ={})


def test_missing_domain_is_required(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, 'log_level = "info"\n')

    with pytest.raises(ConfigError, match="domain is required: a host name"):
        load_settings(data_dir, environ={})


@pytest.mark.parametrize("domain", ["HQ.example.com", "hq_example.com", "hq.example.com:99999"])
def test_invalid_domain_is_rejected(tmp_path: Path, domain: str) -> None:
    with pytest.raises(ConfigError, match="domain: expected a host name"):
        settings_from_mapping(tmp_path, {"domain": domain})


def test_http_scheme_is_rejected_outside_development(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, 'domain = "hq.example.com"\nscheme = "http"\n')

    with pytest.raises(ConfigError, match='scheme: "http" is only accepted with environment'):
        load_settings(data_dir, environ={})


def test_http_scheme_is_accepted_in_development(tmp_path: Path) -> None:
    data_dir = node_dir(
        tmp_path, 'domain = "localhost:8101"\nscheme = "http"\nenvironment = "development"\n'
    )

    assert load_settings(data_dir, environ={}).base_url == "http://localhost:8101"


def test_malformed_toml_is_reported_with_the_file_name(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, 'domain = "hq.example.com\nlog_level =\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir, environ={})

    assert caught.value.message.startswith(f"{data_dir / CONFIG_FILE}: not valid TOML:")
    assert "\n" not in caught.value.message


def test_missing_configuration_file_says_how_to_create_a_node(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no Fedwall node here .*fedwall init"):
        load_settings(tmp_path, environ={})


def test_missing_secret_key_is_an_error(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, 'domain = "hq.example.com"\n', secret=None)

    with pytest.raises(ConfigError, match="secret_key is required"):
        load_settings(data_dir, environ={})


def test_short_secret_key_is_rejected_without_echoing_it(tmp_path: Path) -> None:
    data_dir = node_dir(tmp_path, 'domain = "hq.example.com"\nsecret_key = "hunter2"\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir, environ={})

    assert "secret_key: expected at least 32 characters" in caught.value.message
    assert "hunter2" not in caught.value.message


def test_settings_repr_does_not_reveal_the_secret(tmp_path: Path) -> None:
    settings = load_settings(node_dir(tmp_path, 'domain = "hq.example.com"\n'), environ={})

    assert SECRET not in repr(settings)


def test_written_configuration_loads_back_with_a_private_secret_file(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {"domain": "localhost:8101", "scheme": "http", "environment": "development"},
    )

    assert tomllib.loads(path.read_text(encoding="utf-8"))["domain"] == "localhost:8101"
    assert (tmp_path / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    settings = load_settings(tmp_path, environ={})
    assert settings.base_url == "http://localhost:8101"
    assert len(settings.secret_key) >= 32


def test_writing_an_invalid_configuration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="log_level"):
        write_config(tmp_path, {"domain": "hq.example.com", "log_level": "loud"})

    assert not (tmp_path / CONFIG_FILE).exists()
    assert not (tmp_path / SECRET_FILE).exists()
