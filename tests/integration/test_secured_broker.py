"""A broker that requires SASL_SSL (SCRAM-SHA-512, a throwaway CA): produce, consume, status and the alert
sink go through it with credentials from the environment only; a wrong password or a missing CA fails
with an error naming what to fix; no password reaches a log line.

The broker is this module's own (`cxpulse broker start` with secured settings), so the plaintext session
broker of the other tests stays as it is.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from typer.testing import CliRunner

from cxpulse.broker import broker_status, ensure_topics, free_port, kafka_classpath, stop_broker
from cxpulse.broker_setup import _java_executable
from cxpulse.cli import EXIT_CONFIG, app
from cxpulse.config import Settings, load_settings
from cxpulse.reconcile import reconcile
from quality.sinks import deliver_pending
from streams.kafka_clients import KafkaAccessError, kafka_client
from streams.producer import produce_file
from tests.quality.test_sinks import candidate, notify
from warehouse.db import connect

pytestmark = pytest.mark.integration

runner = CliRunner()
USER = "cx-pipeline"


@pytest.fixture(scope="module")
def secured_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """CXPULSE_* variables of a secured broker started by `cxpulse broker start` (password: random)."""
    home = tmp_path_factory.mktemp("secured")
    env = {
        "CXPULSE_HOME": str(home),
        "CXPULSE_KAFKA_BOOTSTRAP": f"localhost:{free_port()}",
        "CXPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "CXPULSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        # The CA is made by the first start; clients may point at it before it exists (as the docs say).
        "CXPULSE_KAFKA_SSL_CAFILE": str(home / "kafka" / "tls" / "ca.pem"),
        "CXPULSE_KAFKA_SASL_USERNAME": USER,
        "CXPULSE_KAFKA_SASL_PASSWORD": "pw-" + secrets.token_urlsafe(18),
        "CXPULSE_IDLE_EXIT_SECONDS": "4",
    }
    started = runner.invoke(app, ["broker", "start"], env=env)
    try:
        assert started.exit_code == 0, started.output
        assert "requires SASL_SSL" in started.output
        yield env
    finally:
        stop_broker(load_settings(env))


def _settings(env: dict[str, str], **changes: str) -> Settings:
    return load_settings({**env, **changes})


def contact(i: int) -> dict:
    return {
        "event_type": "contact",
        "event_id": f"sec-c{i}",
        "occurred_at": "2026-03-02T10:00:00+01:00",
        "customer_id": f"cust-{i}",
        "channel": "phone",
        "touchpoint": "hotline",
        "contact_id": f"k{i}",
        "outcome": "answered",
        "wait_s": 12,
        "talk_s": 200,
        "hold_s": 0,
        "acw_s": 30,
        "reason": "billing",
    }


def survey(response_id: str, nps: int) -> dict:
    return {
        "response_id": response_id,
        "occurred_at": "2026-03-02T11:00:00+01:00",
        "customer_id": "cust-1",
        "channel": "phone",
        "touchpoint": "hotline",
        "survey": "post_contact",
        "nps": nps,
    }


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_the_broker_refuses_plaintext_clients_and_unknown_cas(secured_env: dict[str, str]) -> None:
    settings = _settings(secured_env)
    listeners = (settings.kafka_dir / "server.properties").read_text()
    assert f"SASL_SSL://{settings.kafka_bootstrap}" in listeners and "PLAINTEXT://localhost" not in listeners
    plaintext = _settings(secured_env, CXPULSE_KAFKA_SECURITY_PROTOCOL="PLAINTEXT")
    with pytest.raises(KafkaAccessError, match="expects TLS.*'kafka_security_protocol' is PLAINTEXT"):
        kafka_client(KafkaAdminClient, plaintext, "t", bootstrap_timeout_ms=2_000)
    no_ca = {k: v for k, v in secured_env.items() if k != "CXPULSE_KAFKA_SSL_CAFILE"}
    with pytest.raises(KafkaAccessError, match="certificate .* is not trusted.*CXPULSE_KAFKA_SSL_CAFILE"):
        kafka_client(KafkaAdminClient, load_settings(no_ca), "t", bootstrap_timeout_ms=2_000)


def test_produce_consume_status_and_alerts_through_sasl_ssl(secured_env: dict[str, str], tmp_path: Path) -> None:
    settings = _settings(secured_env)
    touchpoints = _jsonl(tmp_path / "tp.jsonl", [json.dumps(contact(i)) for i in range(5)] + ['{"not": "an event"}'])
    surveys = _jsonl(tmp_path / "sv.jsonl", [json.dumps(survey("sec-low", 1)), json.dumps(survey("sec-ok", 9))])

    for path, topic, sent in ((touchpoints, settings.topic_touchpoints, 6), (surveys, settings.topic_surveys, 2)):
        result = runner.invoke(app, ["produce", str(path), "--topic", topic], env=secured_env)
        assert result.exit_code == 0, result.output
        assert f"sent {sent} messages" in result.output

    consumed = runner.invoke(app, ["consume", "--until-idle"], env=secured_env)
    assert consumed.exit_code == 0, consumed.output
    assert "consumed 8 messages: 7 valid, 1 dead letters" in consumed.output
    loaded = runner.invoke(app, ["load"], env=secured_env)
    assert loaded.exit_code == 0, loaded.output

    status = runner.invoke(app, ["status", "--check"], env=secured_env)
    assert status.exit_code == 0, status.output
    assert "counts reconcile" in status.output and "broker not reachable" not in status.output
    con = connect(settings.warehouse_path, read_only=True)
    try:
        rows = reconcile(con, settings)
    finally:
        con.close()
    produced = {t: sum(r.produced or 0 for r in rows if r.topic == t) for t in settings.source_topics}
    assert produced == {settings.topic_touchpoints: 6, settings.topic_surveys: 2}  # read over SASL_SSL

    # The alert sink (quality/sinks.py) sends an incident notification to cx.alerts over SASL_SSL.
    sink_db = connect(tmp_path / "alerts.duckdb")
    try:
        incident_id = notify(sink_db, candidate("nps_shift|nps|channel:phone"))
        assert deliver_pending(sink_db, settings) == {"delivered": 1, "failed": 0}
    finally:
        sink_db.close()

    # On cx.alerts: the consumer's hot alert for the NPS 1 answer and the sink's incident notification.
    reader = kafka_client(KafkaConsumer, settings, "test-alerts", group_id=None, auto_offset_reset="earliest")
    try:
        reader.assign([TopicPartition(settings.topic_alerts, 0)])
        got: list[dict] = []
        deadline = time.monotonic() + 30
        while len(got) < 2 and time.monotonic() < deadline:
            for batch in reader.poll(timeout_ms=500).values():
                got.extend(json.loads(m.value) for m in batch)
    finally:
        reader.close()
    assert sorted(a.get("response_id") or a["incident"]["incident_id"] for a in got) == [incident_id, "sec-low"]


def test_a_wrong_password_fails_naming_the_credentials(secured_env: dict[str, str], tmp_path: Path) -> None:
    wrong = {**secured_env, "CXPULSE_KAFKA_SASL_PASSWORD": "not-the-password"}
    lines = _jsonl(tmp_path / "one.jsonl", [json.dumps(contact(99))])
    for command in (["produce", str(lines), "--topic", "cx.touchpoints"], ["consume", "--until-idle"]):
        result = runner.invoke(app, command, env=wrong)
        assert result.exit_code == EXIT_CONFIG, (command, result.output)
        assert f"refused the login of user '{USER}'" in result.output
        assert "CXPULSE_KAFKA_SASL_PASSWORD" in result.output and "not-the-password" not in result.output
    result = runner.invoke(app, ["broker", "status"], env=wrong)
    assert result.exit_code == EXIT_CONFIG and "invalid credentials" in result.output


def test_no_password_reaches_a_log_line(
    secured_env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(secured_env)
    password = secured_env["CXPULSE_KAFKA_SASL_PASSWORD"]
    wrong = _settings(secured_env, CXPULSE_KAFKA_SASL_PASSWORD="wrong-" + password[::-1])
    caplog.set_level(logging.DEBUG)  # root: every logger, kafka-python's included
    caplog.set_level(logging.DEBUG, logger="kafka")  # the CLI may have quietened it in this process
    # Real connections, each kind of client: admin (broker manager), producer, consumer, a refused login.
    assert broker_status(settings)["running"] is True
    assert produce_file(_jsonl(tmp_path / "one.jsonl", [json.dumps(contact(7))]), settings.topic_touchpoints, settings)
    consumer = kafka_client(KafkaConsumer, settings, "test-logs", group_id=None)
    consumer.partitions_for_topic(settings.topic_touchpoints)
    consumer.close()
    with pytest.raises(KafkaAccessError):
        kafka_client(KafkaAdminClient, wrong, "test-logs", bootstrap_timeout_ms=2_000)

    # The capture saw kafka-python's DEBUG lines, the configuration dump among them...
    assert any(r.name.startswith("kafka") and r.levelno == logging.DEBUG for r in caplog.records)
    assert "Starting KafkaAdminClient with configuration" in caplog.text
    assert "'sasl_plain_password': '***'" in caplog.text
    # ... and no password in any shape, formatted or in a record's raw arguments.
    for secret in (password, wrong.kafka_sasl_password):
        assert secret not in caplog.text
        assert not any(secret in r.getMessage() for r in caplog.records)
    # Nor in the broker's own logs (it only ever sees the salted SCRAM credential).
    broker_logs = "".join(p.read_text(errors="replace") for p in (settings.kafka_dir / "logs").glob("*"))
    assert "Failed authentication" in broker_logs and password not in broker_logs


def test_a_java_client_from_the_kafka_jars_produces_through_sasl_ssl(secured_env: dict[str, str]) -> None:
    """Apache Kafka's own Java producer (host name verification on) logs in and writes; cxpulse reads it back."""
    settings = dataclasses.replace(_settings(secured_env), topic_touchpoints="cx.touchpoints.java")
    ensure_topics(settings.kafka_bootstrap, settings)
    source = Path(__file__).parent / "java" / "SecuredProduce.java"
    java_env = {**os.environ, **{k: v for k, v in secured_env.items() if "SASL" in k}}
    args = [settings.kafka_bootstrap, settings.topic_touchpoints, str(settings.kafka_ssl_cafile), "5"]
    done = subprocess.run(
        [_java_executable(), "-cp", kafka_classpath(), str(source), *args],
        capture_output=True,
        text=True,
        env=java_env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("sent 5")
    reader = kafka_client(KafkaConsumer, settings, "test-java", group_id=None, auto_offset_reset="earliest")
    try:
        partitions = sorted(reader.partitions_for_topic(settings.topic_touchpoints) or ())
        reader.assign([TopicPartition(settings.topic_touchpoints, p) for p in partitions])
        values: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(values) < 5 and time.monotonic() < deadline:
            for batch in reader.poll(timeout_ms=500).values():
                values.extend(m.value for m in batch)
    finally:
        reader.close()
    assert sorted(values) == [f"java-{i}".encode() for i in range(5)]


def test_restarting_with_a_new_password_replaces_the_credential(secured_env: dict[str, str]) -> None:
    """Last in this module: it restarts the module's broker (the existing store) with another password."""
    again = runner.invoke(app, ["broker", "start"], env=secured_env)  # running: found, checked over SASL_SSL
    assert again.exit_code == 0, again.output
    plaintext = {**secured_env, "CXPULSE_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
    mismatch = runner.invoke(app, ["broker", "start"], env=plaintext)
    assert mismatch.exit_code == 3 and "listens with SASL_SSL" in mismatch.output

    renewed = {**secured_env, "CXPULSE_KAFKA_SASL_PASSWORD": "pw2-" + secrets.token_urlsafe(18)}
    assert runner.invoke(app, ["broker", "stop"], env=secured_env).exit_code == 0
    restarted = runner.invoke(app, ["broker", "start"], env=renewed)
    assert restarted.exit_code == 0, restarted.output
    assert runner.invoke(app, ["broker", "status"], env=renewed).exit_code == 0
    old = runner.invoke(app, ["broker", "status"], env=secured_env)
    assert old.exit_code == EXIT_CONFIG and "invalid credentials" in old.output
