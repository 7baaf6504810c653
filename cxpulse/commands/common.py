"""What every command shares: the consoles, the exit codes, the settings, Kafka refusals as exit 2."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.markup import escape

from cxpulse.config import ConfigError, Settings, load_settings
from cxpulse.files import owner_only_umask, secure_home

# Piped output (make, CI logs) gets a wide console so tables are not squeezed to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)  # an error message stays one line, greppable

EXIT_CONFIG = 2
EXIT_BROKER = 3
EXIT_CHECK = 4


def cli_settings() -> Settings:
    """The settings from the environment (a bad value exits 2 naming the key), logging set up, the data
    home private."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    # Everything a command writes under the data home (and the broker or Airflow it starts) is
    # owner-only unless cxpulse opens it on purpose (cxpulse/files.py).
    owner_only_umask()
    secure_home(settings)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # kafka-python logs every reconnect and socket close at ERROR; our own log lines say what matters
    # (broker down, retrying) and what to do. DEBUG shows kafka-python's own logs again.
    kafka_level = logging.WARNING if settings.log_level == "DEBUG" else logging.CRITICAL
    logging.getLogger("kafka").setLevel(kafka_level)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return settings


@contextlib.contextmanager
def kafka_refusals() -> Iterator[None]:
    """A broker that answers but refuses the settings (password, certificate, protocol) is a configuration
    error: say which setting, exit 2, no traceback."""
    from streams.kafka_clients import KafkaAccessError

    try:
        yield
    except KafkaAccessError as exc:
        err.print(f"[red]Kafka refused the connection:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_CONFIG) from None


def parse_as_of(value: str | None, option: str = "--as-of") -> datetime | None:
    """An ISO date or timestamp given to OPTION (UTC when it names no zone); anything else exits 2."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        err.print(f"[red]{option} must be an ISO date or timestamp (e.g. 2026-03-15T00:00:00Z), got {value!r}[/red]")
        raise typer.Exit(EXIT_CONFIG) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
