from __future__ import annotations

from pathlib import Path

import pytest

from cxpulse.config import ConfigError, kafka_client_options, load_settings, redact, require_erasure_salt, to_env


def test_defaults_follow_design(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings({})
    assert s.kafka_bootstrap == "localhost:9092"
    assert s.home == tmp_path / ".cxpulse"
    assert s.published_path == tmp_path / ".cxpulse" / "published" / "cx.duckdb"
    assert (s.service_level_target_s, s.fcr_window_h, s.hourly_cost_eur) == (20, 168, 40.0)


def test_file_then_environment_precedence(tmp_path: Path) -> None:
    config = tmp_path / "cxpulse.toml"
    config.write_text('kafka_bootstrap = "broker:9093"\nservice_level_target_s = 30\n')
    s = load_settings(
        {
            "CXPULSE_CONFIG": str(config),
            "CXPULSE_SERVICE_LEVEL_TARGET_S": "15",
            "CXPULSE_HOME": str(tmp_path / "data"),
        }
    )
    assert s.kafka_bootstrap == "broker:9093"
    assert s.service_level_target_s == 15
    assert s.home == tmp_path / "data"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"CXPULSE_KAFKA_BOOTSTRAP": "nohost"}, "'kafka_bootstrap' must be host:port"),
        ({"CXPULSE_SERVICE_LEVEL_TARGET_S": "twenty"}, "'service_level_target_s' must be an integer"),
        ({"CXPULSE_FCR_WINDOW_H": "0"}, "'fcr_window_h' must be > 0"),
        ({"CXPULSE_LOG_LEVEL": "LOUD"}, "'log_level' must be one of DEBUG, INFO, WARNING, ERROR"),
        (
            {"CXPULSE_PUBLISH_STORAGE_VERSION": "latest"},
            "'publish_storage_version' must be one of v1.0.0, v1.1.0, v1.2.0, v1.3.0, v1.4.0, v1.5.0, v2.0.0",
        ),
        ({"CXPULSE_AGGREGATES_READABLE_BY": "world"}, "'aggregates_readable_by' must be one of owner, group, all"),
        ({"CXPULSE_VERBATIM_EXAMPLES": "yes"}, "'verbatim_examples' must be one of none, dashboard, alerts, all"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_secrets_are_refused_in_the_file_and_unknown_keys_listed(tmp_path: Path) -> None:
    config = tmp_path / "cxpulse.toml"
    config.write_text('alert_webhook = "https://hooks.example/secret"\n')
    with pytest.raises(ConfigError, match="secret: set CXPULSE_ALERT_WEBHOOK"):
        load_settings({"CXPULSE_CONFIG": str(config)})
    config.write_text("kafka_bootstrapp = 'x:1'\n")
    with pytest.raises(ConfigError, match="unknown config key 'kafka_bootstrapp'.*allowed keys: .*kafka_bootstrap"):
        load_settings({"CXPULSE_CONFIG": str(config)})
    assert load_settings({"CXPULSE_ALERT_WEBHOOK": "https://hooks.example/x"}).alert_webhook


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"CXPULSE_CONFIG": str(tmp_path / "nope.toml")})


def test_kafka_security_options_come_from_the_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'kafka_security_protocol' must be one of PLAINTEXT, SSL, SASL_PLAINTEXT"):
        load_settings({"CXPULSE_KAFKA_SECURITY_PROTOCOL": "TLS"})
    with pytest.raises(ConfigError, match="set CXPULSE_KAFKA_SASL_USERNAME and CXPULSE_KAFKA_SASL_PASSWORD"):
        load_settings({"CXPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    config = tmp_path / "cxpulse.toml"
    config.write_text('kafka_sasl_password = "hunter2"\n')
    with pytest.raises(ConfigError, match="secret: set CXPULSE_KAFKA_SASL_PASSWORD"):
        load_settings({"CXPULSE_CONFIG": str(config)})

    settings = load_settings(
        {
            "CXPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "CXPULSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "CXPULSE_KAFKA_SSL_CAFILE": "/etc/ssl/kafka-ca.pem",
            "CXPULSE_KAFKA_SASL_USERNAME": "cx",
            "CXPULSE_KAFKA_SASL_PASSWORD": "hunter2",
        }
    )
    assert kafka_client_options(settings, "t") == {
        "bootstrap_servers": "localhost:9092",
        "client_id": "t",
        "security_protocol": "SASL_SSL",
        "ssl_cafile": "/etc/ssl/kafka-ca.pem",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "cx",
        "sasl_plain_password": "hunter2",
    }
    assert "hunter2" not in repr(settings)
    assert "CXPULSE_KAFKA_SASL_PASSWORD" not in to_env(settings)
    assert kafka_client_options(load_settings({}), "t")["security_protocol"] == "PLAINTEXT"


def test_sasl_plain_over_a_plaintext_listener_is_refused() -> None:
    env = {
        "CXPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CXPULSE_KAFKA_SASL_MECHANISM": "PLAIN",
        "CXPULSE_KAFKA_SASL_USERNAME": "cx",
        "CXPULSE_KAFKA_SASL_PASSWORD": "hunter2",
    }
    with pytest.raises(ConfigError) as refused:
        load_settings(env)
    message = str(refused.value)
    assert "'kafka_security_protocol' = SASL_PLAINTEXT and 'kafka_sasl_mechanism' = PLAIN" in message
    assert "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL" in message and "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512" in message
    assert "hunter2" not in message
    # SCRAM never sends the password itself, and PLAIN inside TLS is encrypted: both are allowed.
    assert load_settings({**env, "CXPULSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"}).kafka_sasl_mechanism
    assert load_settings({**env, "CXPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}).kafka_sasl_mechanism == "PLAIN"


def test_the_password_in_client_options_shows_as_stars() -> None:
    settings = load_settings(
        {
            "CXPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "CXPULSE_KAFKA_SASL_USERNAME": "cx",
            "CXPULSE_KAFKA_SASL_PASSWORD": "hunter2",
        }
    )
    options = kafka_client_options(settings, "t")
    assert "hunter2" not in repr(options) and "'sasl_plain_password': '***'" in repr(options)
    assert "hunter2" not in f"{options}"  # how kafka-python's admin client logs its configuration
    assert options["sasl_plain_password"] == "hunter2" and options["sasl_plain_password"].encode() == b"hunter2"


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example/services/T000/B000/s3cr3t",  # plaintext: the token would travel in clear
        "ftp://hooks.example/services/T000/B000/s3cr3t",
        "hooks.example/services/T000/B000/s3cr3t",  # no scheme, no host
    ],
)
def test_webhook_must_be_https_and_is_never_shown(url: str) -> None:
    with pytest.raises(ConfigError, match="alert_webhook") as caught:
        load_settings({"CXPULSE_ALERT_WEBHOOK": url})
    assert "s3cr3t" not in str(caught.value) and "hooks.example" not in str(caught.value)
    assert "https" in str(caught.value)


def test_insecure_webhook_only_when_allowed_and_secrets_stay_out_of_repr() -> None:
    url = "http://localhost:8080/hook/s3cr3t"
    settings = load_settings({"CXPULSE_ALERT_WEBHOOK": url, "CXPULSE_ALLOW_INSECURE_WEBHOOK": "true"})
    assert settings.alert_webhook == url and "s3cr3t" not in repr(settings)
    assert redact(f"<urlopen error [Errno 111] {url} refused by localhost:8080>", url) == (
        "<urlopen error [Errno 111] <redacted> refused by <redacted>>"
    )


def test_publish_defaults_and_the_erasure_salt_comes_from_the_environment_only(tmp_path: Path) -> None:
    s = load_settings({"CXPULSE_HOME": str(tmp_path)})
    assert (s.publish_storage_version, s.aggregates_readable_by) == ("v1.0.0", "owner")
    with pytest.raises(ConfigError, match="CXPULSE_ERASURE_SALT is not set: .*openssl rand -hex 32"):
        require_erasure_salt(s)
    short = load_settings({"CXPULSE_HOME": str(tmp_path), "CXPULSE_ERASURE_SALT": "salt"})
    with pytest.raises(ConfigError, match="CXPULSE_ERASURE_SALT is shorter than 16 characters"):
        require_erasure_salt(short)
    good = load_settings({"CXPULSE_HOME": str(tmp_path), "CXPULSE_ERASURE_SALT": "0123456789abcdef"})
    assert require_erasure_salt(good) == "0123456789abcdef"
    assert "CXPULSE_ERASURE_SALT" not in to_env(good) and "0123456789abcdef" not in repr(good)
    config = tmp_path / "cxpulse.toml"
    config.write_text('erasure_salt = "0123456789abcdef"\n')
    with pytest.raises(ConfigError, match="secret: set CXPULSE_ERASURE_SALT"):
        load_settings({"CXPULSE_CONFIG": str(config)})
