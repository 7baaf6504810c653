"""Which metadata DB `cxpulse airflow start` gives Airflow, and how it is shown: the password never.
(The real PostgreSQL run is tests/e2e/test_real_scheduler.py.)"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cxpulse.airflow_service import SQL_ALCHEMY_CONN, _hide_password, airflow_env, metadata_database, redact_url
from cxpulse.config import Settings

SECRET = "s3cr3t@/:?%"  # URL-special characters: percent-encoded in the URL
URL = "postgresql+psycopg2://airflow:s3cr3t%40%2F%3A%3F%25@db.internal:5432/airflow"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("AIRFLOW_HOME", SQL_ALCHEMY_CONN, f"{SQL_ALCHEMY_CONN}_CMD", f"{SQL_ALCHEMY_CONN}_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (URL, "postgresql+psycopg2://airflow:***@db.internal:5432/airflow"),
        ("postgresql://airflow@db/airflow?password=s3cr3t&sslmode=require", "postgresql://airflow@db/airflow?password=***&sslmode=require"),
        ("sqlite:////srv/airflow/airflow.db", "sqlite:////srv/airflow/airflow.db"),
        ("not a url s3cr3t", "*** (not a valid SQLAlchemy URL)"),
    ],
)  # fmt: skip
def test_the_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_sqlite_in_airflow_home_unless_a_database_is_configured(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path)
    env = airflow_env(settings)
    assert env[SQL_ALCHEMY_CONN] == f"sqlite:///{tmp_path.resolve()}/airflow/airflow.db"
    assert metadata_database(env) == f"sqlite:///{tmp_path.resolve()}/airflow/airflow.db"

    clean_env.setenv(SQL_ALCHEMY_CONN, URL)
    env = airflow_env(settings)
    assert env[SQL_ALCHEMY_CONN] == URL  # the components get the real URL...
    assert metadata_database(env) == "postgresql+psycopg2://airflow:***@db.internal:5432/airflow"  # ...people not


def test_a_url_read_by_command_is_left_to_airflow(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # AIRFLOW__DATABASE__SQL_ALCHEMY_CONN would win over _CMD: cxpulse must not set its SQLite default
    clean_env.setenv(f"{SQL_ALCHEMY_CONN}_CMD", "cat /run/secrets/airflow_db_url")
    env = airflow_env(dataclasses.replace(Settings(), home=tmp_path))
    assert SQL_ALCHEMY_CONN not in env
    assert metadata_database(env) == f"from {SQL_ALCHEMY_CONN}_CMD"


def test_error_output_of_the_airflow_cli_loses_the_password(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(SQL_ALCHEMY_CONN, URL)
    text = f"sqlalchemy.exc.OperationalError: could not connect with password {SECRET} to db.internal"
    assert _hide_password(text) == "sqlalchemy.exc.OperationalError: could not connect with password *** to db.internal"
