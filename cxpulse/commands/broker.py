"""`cxpulse broker start|stop|status`: the local Kafka broker."""

from __future__ import annotations

import typer

from cxpulse.commands.common import EXIT_BROKER, cli_settings, console, err, kafka_refusals


def broker_start() -> None:
    """Format (once) and start the broker on CXPULSE_KAFKA_BOOTSTRAP, then create the topics.

    With `kafka_security_protocol` SASL_SSL and `kafka_sasl_mechanism` SCRAM-SHA-512 (or -256) the client
    listener requires TLS and a SCRAM login: a throwaway CA is made under $CXPULSE_HOME/kafka/tls and the
    user CXPULSE_KAFKA_SASL_USERNAME gets the password CXPULSE_KAFKA_SASL_PASSWORD.

    Example: `CXPULSE_KAFKA_BOOTSTRAP=localhost:19092 cxpulse broker start`
    """
    from cxpulse.broker import BrokerError, start_broker

    settings = cli_settings()
    try:
        with console.status(f"starting Kafka on {settings.kafka_bootstrap}..."):
            info = start_broker(settings)
    except BrokerError as exc:
        err.print(f"[red]broker did not start:[/red] {exc}")
        raise typer.Exit(EXIT_BROKER) from None
    console.print(f"Kafka is up on [bold]{settings.kafka_bootstrap}[/bold] (pid {info.pid}).")
    if settings.kafka_security_protocol == "SASL_SSL":
        ca = settings.kafka_dir / "tls" / "ca.pem"
        console.print(
            f"It requires SASL_SSL ({settings.kafka_sasl_mechanism}, user {settings.kafka_sasl_username!r}); "
            f"its CA certificate is {ca}"
            + ("" if settings.kafka_ssl_cafile else f": clients need CXPULSE_KAFKA_SSL_CAFILE={ca}")
        )


def broker_stop() -> None:
    """Stop the broker started by `cxpulse broker start` (only that process)."""
    from cxpulse.broker import stop_broker

    settings = cli_settings()
    console.print("broker stopped" if stop_broker(settings) else "no broker was running")


def broker_status() -> None:
    """Say whether the local broker runs, where, and its topics. Exit code 3 when it is down."""
    from cxpulse.broker import broker_status as status

    settings = cli_settings()
    with kafka_refusals():
        info = status(settings)
    if not info["running"]:
        console.print(f"no broker answering on {settings.kafka_bootstrap}: start one with `cxpulse broker start`")
        raise typer.Exit(EXIT_BROKER)
    topics = ", ".join(f"{name} ({n} partitions)" for name, n in sorted((info.get("topics") or {}).items()))
    console.print(f"running on {info['bootstrap']} (pid {info['pid']}); topics: {topics}")
