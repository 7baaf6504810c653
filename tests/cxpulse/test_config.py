from __future__ import annotations

from pathlib import Path

import pytest

from cxpulse.config import ConfigError, load_settings


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
