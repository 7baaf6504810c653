"""The one place where cxpulse settings are defined.

Precedence: defaults below < `cxpulse.toml` (path from `CXPULSE_CONFIG`, else `./cxpulse.toml` when
present) < `CXPULSE_<KEY>` environment variables. Secrets (webhook URL, SASL password) are read only
from the environment and are never accepted from the file.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import urllib.parse
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key and what is allowed."""


@dataclass(frozen=True)
class Settings:
    home: Path = Path(".cxpulse")
    kafka_bootstrap: str = "localhost:9092"
    # PLAINTEXT, or SASL_SSL with SCRAM, for the local broker (`cxpulse broker start` follows these
    # keys); any of them for a real cluster. The SASL password (and the user name, kept beside it)
    # come from CXPULSE_KAFKA_SASL_USERNAME / _PASSWORD only.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "PLAIN"
    kafka_ssl_cafile: str | None = None
    topic_touchpoints: str = "cx.touchpoints"
    topic_surveys: str = "cx.surveys"
    topic_deadletter: str = "cx.deadletter"
    topic_alerts: str = "cx.alerts"
    consumer_group: str = "cxpulse"
    # A batch is flushed to one Parquet file per partition when either bound is reached.
    batch_max_messages: int = 50_000
    batch_max_seconds: float = 2.0
    # `consume --until-idle` exits once the group is caught up (every partition consumed to its end
    # offset, group stable, assignment done) and stays so for this long.
    idle_exit_seconds: float = 1.0
    # `consume` serves Prometheus metrics on this port (0: no endpoint); one port per process.
    metrics_port: int = 0
    # Memory of one consumer, in bytes: a batch is also flushed when its message bytes reach
    # batch_max_bytes; one fetch brings at most fetch_max_bytes (a quarter of it per partition), plus
    # one whole record batch when a single batch is larger (Kafka always returns it, KIP-74).
    batch_max_bytes: int = 64 * 1024 * 1024
    fetch_max_bytes: int = 16 * 1024 * 1024
    service_level_target_s: int = 20
    fcr_window_h: int = 168
    hourly_cost_eur: float = 40.0
    # DuckDB's memory limit while the marts are built, in MB: beyond it DuckDB spills its aggregates
    # and sorts to disk, so a build over 10M events stays within 4 GiB of process memory (bench.marts).
    build_memory_mb: int = 2560
    # The zone whose calendar days, ISO weeks and months the marts report (an IANA name); instants
    # stay stored in UTC. Changing it rebuilds the marts.
    reporting_timezone: str = "UTC"
    alert_current_days: int = 7
    alert_baseline_days: int = 28
    # Quality gate: the newest event may be this old at the as-of instant.
    freshness_max_age_h: float = 48.0
    # Hot path (in the consumer): a survey answer with NPS <= hot_detractor_nps_max, or with NPS <=
    # hot_complaint_nps_max and a case_id the consumer saw opened as a complaint, raises a
    # detractor_complaint alert on cx.alerts at once. Verbatims stay out of alerts unless enabled.
    hot_detractor_nps_max: int = 2
    hot_complaint_nps_max: int = 6
    alert_include_verbatim: bool = False
    # The webhook must be https (its URL is a secret, and so is what it carries) unless this is set,
    # e.g. for a local test receiver. One run spends at most alert_delivery_budget_s on deliveries:
    # what is left stays pending for the next run, the pipeline never waits on a slow receiver.
    allow_insecure_webhook: bool = False
    alert_delivery_budget_s: float = 30.0
    # DuckDB storage format of published/cx.duckdb: the oldest line BI tools still embed (the DuckDB
    # JDBC driver of the 1.4 LTS line reads v1.0.0 .. v1.4.0). Allowed: PUBLISH_STORAGE_VERSIONS.
    publish_storage_version: str = "v1.0.0"
    # Who may read the files that hold only aggregates (exports/, reports/): owner (0600), group
    # (0640) or all (0644). Landing, quarantine, warehouse and snapshot files are always owner-only.
    aggregates_readable_by: str = "owner"
    # Example verbatims (what customers wrote: personal data) beside the verbatim topics: none (default),
    # on the dashboard, in the emerging-topic alerts (marts.alerts, cx.alerts, the webhook), or both (all).
    verbatim_examples: str = "none"
    log_level: str = "INFO"
    # Secrets: environment only.
    alert_webhook: str | None = field(default=None, repr=False)
    kafka_sasl_username: str | None = field(default=None, repr=False)
    kafka_sasl_password: str | None = field(default=None, repr=False)
    # Key of the salted hash that ops.erasures keeps instead of an erased customer id. Without a
    # secret salt, the hash of a predictable id (cust-7-00042) can be found by trying them all.
    erasure_salt: str | None = field(default=None, repr=False)

    # -- derived paths -------------------------------------------------------------------------
    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse" / "cx.duckdb"

    @property
    def published_path(self) -> Path:
        return self.home / "published" / "cx.duckdb"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def kafka_dir(self) -> Path:
        return self.home / "kafka"

    @property
    def source_topics(self) -> tuple[str, str]:
        return (self.topic_touchpoints, self.topic_surveys)


SECRET_KEYS = frozenset({"alert_webhook", "kafka_sasl_username", "kafka_sasl_password", "erasure_salt"})
# Storage versions DuckDB 2.0 can write, one per release line (a newer DuckDB adds lines here).
PUBLISH_STORAGE_VERSIONS = ("v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0", "v1.5.0", "v2.0.0")
READABLE_BY = ("owner", "group", "all")
VERBATIM_EXAMPLES = ("none", "dashboard", "alerts", "all")
ERASURE_SALT_MIN_LENGTH = 16
_ALLOWED_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_ALLOWED_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_ALLOWED_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _coerce(key: str, raw: Any, target: Any) -> Any:
    """Convert a file or environment value to the field's type, or fail naming the key."""
    expected = {Path: "a path", int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    try:
        if target is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "1", "yes"):
                return True
            if str(raw).lower() in ("false", "0", "no"):
                return False
            raise ValueError
        if target is Path:
            return Path(str(raw))
        if target is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(raw)
        if target is float:
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"config key '{key}' must be {expected.get(target, target)}, got {raw!r}") from None


def is_time_zone(name: str) -> bool:
    """An IANA zone name of the zoneinfo database (the characters such names use, nothing else: the
    name becomes a SQL literal of the calendar macros, transforms/calendar.py)."""
    if not isinstance(name, str) or not name[:1].isalpha():
        return False
    if not all(c.isascii() and (c.isalnum() or c in "_+-/") for c in name):
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _validate(s: Settings) -> None:
    host, _, port = s.kafka_bootstrap.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"config key 'kafka_bootstrap' must be host:port (e.g. localhost:9092), got {s.kafka_bootstrap!r}"
        )
    positives = (
        "batch_max_messages",
        "batch_max_seconds",
        "batch_max_bytes",
        "fetch_max_bytes",
        "idle_exit_seconds",
        "service_level_target_s",
        "fcr_window_h",
        "alert_current_days",
        "alert_baseline_days",
        "freshness_max_age_h",
        "alert_delivery_budget_s",
        "build_memory_mb",
    )
    for key in positives:
        if getattr(s, key) <= 0:
            raise ConfigError(f"config key '{key}' must be > 0, got {getattr(s, key)!r}")
    if not 0 <= s.metrics_port < 65536:
        raise ConfigError(f"config key 'metrics_port' must be a TCP port or 0 (no endpoint), got {s.metrics_port!r}")
    if s.hourly_cost_eur < 0:
        raise ConfigError(f"config key 'hourly_cost_eur' must be >= 0, got {s.hourly_cost_eur!r}")
    for key, allowed in (
        ("kafka_security_protocol", _ALLOWED_SECURITY_PROTOCOLS),
        ("kafka_sasl_mechanism", _ALLOWED_SASL_MECHANISMS),
        ("publish_storage_version", PUBLISH_STORAGE_VERSIONS),
        ("aggregates_readable_by", READABLE_BY),
        ("verbatim_examples", VERBATIM_EXAMPLES),
    ):
        if getattr(s, key) not in allowed:
            raise ConfigError(f"config key '{key}' must be one of {', '.join(allowed)}, got {getattr(s, key)!r}")
    if s.kafka_security_protocol == "SASL_PLAINTEXT" and s.kafka_sasl_mechanism == "PLAIN":
        # PLAIN sends the password itself; over a plaintext listener anyone on the path reads it.
        raise ConfigError(
            "config keys 'kafka_security_protocol' = SASL_PLAINTEXT and 'kafka_sasl_mechanism' = PLAIN would send "
            "the password in clear text: use kafka_security_protocol SASL_SSL (allowed: "
            f"{', '.join(_ALLOWED_SECURITY_PROTOCOLS)}) or kafka_sasl_mechanism SCRAM-SHA-256 or SCRAM-SHA-512 "
            f"(allowed: {', '.join(_ALLOWED_SASL_MECHANISMS)})"
        )
    if s.kafka_security_protocol.startswith("SASL_") and not (s.kafka_sasl_username and s.kafka_sasl_password):
        raise ConfigError(
            f"config key 'kafka_security_protocol' is {s.kafka_security_protocol}: set CXPULSE_KAFKA_SASL_USERNAME "
            "and CXPULSE_KAFKA_SASL_PASSWORD in the environment"
        )
    if not is_time_zone(s.reporting_timezone):
        raise ConfigError(
            "config key 'reporting_timezone' must be an IANA time zone name such as UTC, Europe/Paris or "
            f"America/New_York, got {s.reporting_timezone!r}"
        )
    if s.alert_webhook is not None:
        _validate_webhook(s.alert_webhook, s.allow_insecure_webhook)
    if s.log_level not in _ALLOWED_LOG_LEVELS:
        raise ConfigError(
            f"config key 'log_level' must be one of {', '.join(_ALLOWED_LOG_LEVELS)}, got {s.log_level!r}"
        )


def _validate_webhook(url: str, allow_insecure: bool) -> None:
    """The URL itself never appears in the error: it is a secret (Slack webhook URLs carry their token)."""
    parsed = urllib.parse.urlsplit(url)
    allowed = ("https", "http") if allow_insecure else ("https",)
    if parsed.scheme not in allowed or not parsed.hostname:
        raise ConfigError(
            "config key 'alert_webhook' (CXPULSE_ALERT_WEBHOOK, value not shown) must be an "
            + ("http(s)" if allow_insecure else "https")
            + " URL with a host"
            + ("" if allow_insecure else "; set allow_insecure_webhook = true only for a local test receiver")
        )


def redact(text: str, secret: str | None) -> str:
    """`text` without the secret, nor the host and path of a secret URL (errors from urllib quote them)."""
    if not secret:
        return text
    parsed = urllib.parse.urlsplit(secret)
    for part in (secret, parsed.path if len(parsed.path) > 1 else "", parsed.netloc, parsed.hostname or ""):
        if part:
            text = text.replace(part, "<redacted>")
    return text


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    types = {"Path": Path, "int": int, "float": float, "str": str, "str | None": str, "bool": bool}
    values: dict[str, Any] = {}

    config_path = env.get("CXPULSE_CONFIG")
    path = Path(config_path) if config_path else Path("cxpulse.toml")
    if config_path and not path.is_file():
        raise ConfigError(f"CXPULSE_CONFIG points to {path}, which does not exist")
    if path.is_file():
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        for key, raw in data.items():
            if key not in fields:
                raise ConfigError(f"unknown config key '{key}' in {path}; allowed keys: {', '.join(sorted(fields))}")
            if key in SECRET_KEYS:
                raise ConfigError(f"config key '{key}' is a secret: set CXPULSE_{key.upper()} in the environment")
            values[key] = _coerce(key, raw, types[str(fields[key].type)])

    for key, f in fields.items():
        raw = env.get(f"CXPULSE_{key.upper()}")
        if raw is not None and raw != "":
            values[key] = _coerce(key, raw, types[str(f.type)])

    settings = Settings(**values)
    _validate(settings)
    # Airflow tasks and the CLI may run from different folders: pin the data home once.
    settings = dataclasses.replace(settings, home=settings.home.expanduser().resolve())
    return settings


def require_erasure_salt(settings: Settings) -> str:
    """The erasure ledger's salt, or a ConfigError saying how to set one."""
    salt = settings.erasure_salt or ""
    if len(salt) < ERASURE_SALT_MIN_LENGTH:
        state = "is not set" if not salt else f"is shorter than {ERASURE_SALT_MIN_LENGTH} characters"
        raise ConfigError(
            f"CXPULSE_ERASURE_SALT {state}: the erasure ledger keeps a salted hash instead of the erased id, "
            "and a missing or short salt lets anyone recover the id by hashing guesses. Set it in the "
            "environment to a secret random value kept with the other secrets, e.g. "
            "`export CXPULSE_ERASURE_SALT=$(openssl rand -hex 32)`"
        )
    return salt


def to_env(settings: Settings) -> dict[str, str]:
    """The CXPULSE_* variables that reproduce `settings` in a child process (secrets left out)."""
    return {
        f"CXPULSE_{f.name.upper()}": str(getattr(settings, f.name))
        for f in dataclasses.fields(Settings)
        if f.name not in SECRET_KEYS and getattr(settings, f.name) is not None
    }


class Redacted(str):
    """A secret string that shows as '***' in repr(), so a client that logs its configuration dict (as
    kafka-python's admin client does at DEBUG) or an error that shows it never prints the secret.
    Everything else (comparison, encode, str()) sees the real value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


def kafka_client_options(settings: Settings, client_id: str) -> dict[str, Any]:
    """Connection options shared by every Kafka client cxpulse creates (consumer, producers, admin).

    The password is wrapped in `Redacted`: kafka-python logs its configuration at DEBUG.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "client_id": client_id,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL") and settings.kafka_ssl_cafile:
        options["ssl_cafile"] = settings.kafka_ssl_cafile
    if settings.kafka_security_protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = (
            Redacted(settings.kafka_sasl_password) if settings.kafka_sasl_password is not None else None
        )
    return options
