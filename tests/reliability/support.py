"""Helpers of the fault tests: messages with known identities, consumer processes, and an exact audit
of the landing and quarantine files against what was produced (offset by offset, message by message)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from cxpulse.config import Settings, to_env
from cxpulse.reconcile import check_balanced, reconcile
from streams.landing import landed_next_offset, parse_batch_name
from warehouse.db import connect
from warehouse.loader import load

RECENT = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")


@dataclass
class Produced:
    """What a test sent, per topic: valid messages (each unique) and malformed ones."""

    valid: dict[str, Counter[bytes]] = field(default_factory=dict)
    malformed: dict[str, Counter[bytes]] = field(default_factory=dict)
    ids: dict[str, set[str]] = field(default_factory=dict)

    def add(self, topic: str, value: bytes, *, good: bool, event_id: str | None = None) -> None:
        bucket = self.valid if good else self.malformed
        bucket.setdefault(topic, Counter())[value] += 1
        if event_id is not None:
            self.ids.setdefault(topic, set()).add(event_id)

    def total(self) -> int:
        return sum(c.total() for c in self.valid.values()) + sum(c.total() for c in self.malformed.values())


def touchpoint(i: int, tag: str) -> bytes:
    return (
        f'{{"event_id":"{tag}-t{i}","event_type":"contact","occurred_at":"{RECENT}","customer_id":"c{i % 3001}",'
        f'"channel":"phone","touchpoint":"billing_hotline","contact_id":"k{i}","outcome":"abandoned",'
        f'"wait_s":{i % 97},"reason":"billing"}}'
    ).encode()


def survey(i: int, tag: str) -> bytes:
    return (
        f'{{"response_id":"{tag}-s{i}","occurred_at":"{RECENT}","customer_id":"c{i % 3001}","channel":"chat",'
        f'"touchpoint":"web_chat","survey":"post_contact","nps":{i % 11},"verbatim":"merci {i}"}}'
    ).encode()


def malformed(i: int, tag: str) -> bytes:
    """Unique rejected messages of several classes (truncated, not UTF-8, wrong type, out of range)."""
    variants = (
        f'{{"event_id":"{tag}-bad{i}","event_type":"contact",'.encode(),
        f'{{"event_id":"{tag}-bad{i}"}}'.encode().replace(b"bad", b"b\xffd"),
        f'{{"event_id":"{tag}-bad{i}","event_type":"contact","wait_s":"slow"}}'.encode(),
        f'{{"response_id":"{tag}-bad{i}","nps":11}}'.encode(),
    )
    return variants[i % len(variants)]


def make_stream(settings: Settings, count: int, tag: str, *, malformed_every: int = 250, surveys_every: int = 8):
    """`count` messages in production order as (topic, key, value), and their bookkeeping."""
    produced = Produced()
    messages: list[tuple[str, bytes | None, bytes]] = []
    for i in range(count):
        if i % malformed_every == malformed_every - 1:
            topic = settings.topic_surveys if i % 2 else settings.topic_touchpoints
            value = malformed(i, tag)
            produced.add(topic, value, good=False)
            messages.append((topic, None, value))
        elif i % surveys_every == 0:
            value = survey(i, tag)
            produced.add(settings.topic_surveys, value, good=True, event_id=f"{tag}-s{i}")
            messages.append((settings.topic_surveys, f"c{i % 3001}".encode(), value))
        else:
            value = touchpoint(i, tag)
            produced.add(settings.topic_touchpoints, value, good=True, event_id=f"{tag}-t{i}")
            messages.append((settings.topic_touchpoints, f"c{i % 3001}".encode(), value))
    return messages, produced


def produce(settings: Settings, messages: Iterable[tuple[str, bytes | None, bytes]]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024
    )
    try:
        futures = [producer.send(topic, value=value, key=key) for topic, key, value in messages]
        producer.flush()
        for future in futures:
            future.get(timeout=60)  # every message is on the broker before the test relies on it
    finally:
        producer.close()


class SteadyProducer(threading.Thread):
    """Produces `messages` in slices at about `per_second` from a background thread (one producer).
    `stop()` ends it early: then exactly the first `sent` messages are on the broker."""

    def __init__(self, settings: Settings, messages: list[tuple[str, bytes | None, bytes]], per_second: float):
        super().__init__(daemon=True)
        self.settings, self.messages, self.per_second = settings, messages, per_second
        self.error: BaseException | None = None
        self.sent = 0
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all", linger_ms=20)
            futures = []
            step = max(1, int(self.per_second / 10))
            start = time.monotonic()
            for i in range(0, len(self.messages), step):
                if self._halt.is_set():
                    break
                futures += [producer.send(t, value=v, key=k) for t, k, v in self.messages[i : i + step]]
                self.sent = min(i + step, len(self.messages))
                time.sleep(max(0.0, start + (i + step) / self.per_second - time.monotonic()))
            producer.flush()
            for future in futures:
                future.get(timeout=60)
            producer.close()
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self, timeout: float) -> None:
        self.join(timeout)
        assert not self.is_alive(), "the producer did not finish in time"
        if self.error is not None:
            raise self.error


# -- processes ------------------------------------------------------------------------------------------
def start_consumer(settings: Settings, log_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, **to_env(settings)}
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cxpulse.cli", "consume", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def stop_consumer(proc: subprocess.Popen, timeout: float = 60) -> int:
    """SIGTERM and wait; the exit code (the process is killed when it does not stop in time)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def log_count(path: Path, needle: str) -> int:
    """How many lines of a consumer's log contain `needle` (0 before the log exists)."""
    return path.read_text(errors="replace").count(needle) if path.exists() else 0


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")
        time.sleep(interval)


# -- metrics -----------------------------------------------------------------------------------------------
def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of one scrape; {} while the endpoint is not up."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


# -- broker state ---------------------------------------------------------------------------------------
def end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    try:
        tps = [TopicPartition(t, p) for t in settings.source_topics for p in sorted(consumer.partitions_for_topic(t))]
        return consumer.end_offsets(tps)
    finally:
        consumer.close()


def committed_offsets(settings: Settings) -> dict[TopicPartition, int]:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        by_group = admin.list_group_offsets({settings.consumer_group: None})
        return {tp: meta.offset for tp, meta in by_group.get(settings.consumer_group, {}).items()}
    finally:
        admin.close()


def dead_letters(settings: Settings, done: Callable[[list], bool]) -> list:
    """The messages of the dead-letter topic from its start, until done(messages) or 5 s without one."""
    consumer = KafkaConsumer(
        settings.topic_deadletter,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        consumer_timeout_ms=5_000,
    )
    messages: list = []
    try:
        for message in consumer:
            messages.append(message)
            if done(messages):
                break
    finally:
        consumer.close()
    return messages


def read_topic(settings: Settings, topic: str) -> list:
    """Every message of a one-partition topic, from the beginning to the current end."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        messages = []
        while consumer.position(tp) < end:
            for batch in consumer.poll(timeout_ms=1000).values():
                messages.extend(batch)
        return messages
    finally:
        consumer.close()


def landed(settings: Settings, tp: TopicPartition) -> int:
    return landed_next_offset(settings.landing_dir, tp.topic, tp.partition) or 0


def all_landed(settings: Settings, ends: dict[TopicPartition, int]) -> bool:
    return all(landed(settings, tp) >= end for tp, end in ends.items())


def landing_file_count(settings: Settings) -> int:
    root = settings.landing_dir
    if not root.is_dir():
        return 0
    return sum(1 for folder in root.glob("*/*") for entry in os.scandir(folder) if entry.name.endswith(".parquet"))


# -- the audit ------------------------------------------------------------------------------------------
def audit(settings: Settings, produced: Produced) -> dict[str, int]:
    """Every offset of every partition is in exactly one landing row or one quarantine row; the landing
    files of a partition tile its offsets from 0 without gap or overlap; every valid message is landed
    exactly once (same bytes, same id) and every malformed one quarantined exactly once."""
    ends = end_offsets(settings)
    totals = {"landed": 0, "quarantined": 0, "files": 0}
    for topic in settings.source_topics:
        landed_payloads: Counter[bytes] = Counter()
        quarantined: Counter[bytes] = Counter()
        ids: Counter[str] = Counter()
        id_column = "event_id" if topic == settings.topic_touchpoints else "response_id"
        for tp in (tp for tp in ends if tp.topic == topic):
            end = ends[tp]
            folder = settings.landing_dir / topic / str(tp.partition)
            qfolder = settings.quarantine_dir / topic / str(tp.partition)
            for root in (folder, qfolder):
                leftovers = [p.name for p in root.glob(".*")] if root.is_dir() else []
                assert not leftovers, f"temporary files left in {root}: {leftovers}"
            files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
            ranges = [parse_batch_name(p) for p in files]
            expected_first = 0
            for path, (first, last) in zip(files, ranges, strict=True):
                assert first == expected_first, f"{path.name}: gap or overlap, expected first offset {expected_first}"
                assert last >= first, path.name
                expected_first = last + 1
            assert expected_first == end, f"{topic}[{tp.partition}]: files end at {expected_first}, log at {end}"
            offsets: list[int] = []
            for path, (first, last) in zip(files, ranges, strict=True):
                table = pq.read_table(path, columns=[id_column, "payload", "kafka_offset"]).to_pydict()
                assert all(first <= o <= last for o in table["kafka_offset"]), path.name
                offsets += table["kafka_offset"]
                landed_payloads.update(table["payload"])
                ids.update(table[id_column])
            qfiles = sorted(qfolder.glob("*.parquet")) if qfolder.is_dir() else []
            names = {p.name for p in files}
            orphans = [p.name for p in qfiles if p.name not in names]
            assert not orphans, f"quarantine files without their landing file: {orphans}"
            for path in qfiles:
                first, last = parse_batch_name(path)
                table = pq.read_table(path, columns=["offset", "original", "error"]).to_pydict()
                assert all(first <= o <= last for o in table["offset"]), path.name
                assert all(table["error"]), path.name
                offsets += table["offset"]
                quarantined.update(table["original"])
            assert sorted(offsets) == list(range(end)), f"{topic}[{tp.partition}]: offsets not each exactly once"
            totals["files"] += len(files)
        assert landed_payloads == produced.valid.get(topic, Counter()), f"{topic}: landed messages differ"
        assert quarantined == produced.malformed.get(topic, Counter()), f"{topic}: quarantined messages differ"
        assert set(ids) == produced.ids.get(topic, set()) and max(ids.values(), default=1) == 1, f"{topic}: ids"
        totals["landed"] += landed_payloads.total()
        totals["quarantined"] += quarantined.total()
    return totals


def warehouse_counts(settings: Settings) -> dict[str, int]:
    """Load everything, check the reconciliation balances, and count what the warehouse holds."""
    con = connect(settings.warehouse_path)
    try:
        load(con, settings)
        rows = reconcile(con, settings)
        check_balanced(rows)
        q = con.execute
        return {
            "touchpoints": q("select count(distinct event_id) from raw.touchpoints").fetchone()[0],
            "touchpoint_rows": q("select count(*) from raw.touchpoints").fetchone()[0],
            "surveys": q("select count(distinct response_id) from raw.surveys").fetchone()[0],
            "survey_rows": q("select count(*) from raw.surveys").fetchone()[0],
            "dead_letters": q('select count(distinct (topic, "partition", "offset")) from ops.deadletters').fetchone()[
                0
            ],
            "dead_letter_rows": q("select count(*) from ops.deadletters").fetchone()[0],
            "duplicates": q("select coalesce(sum(duplicates_dropped), 0)::bigint from ops.loaded_files").fetchone()[0],
            "produced": sum(r.produced or 0 for r in rows),
            "lag": sum(r.lag or 0 for r in rows),
        }
    finally:
        con.close()


def assert_warehouse_exact(settings: Settings, produced: Produced) -> None:
    counts = warehouse_counts(settings)
    touchpoints = produced.valid.get(settings.topic_touchpoints, Counter()).total()
    surveys = produced.valid.get(settings.topic_surveys, Counter()).total()
    malformed_count = sum(c.total() for c in produced.malformed.values())
    assert counts["lag"] == 0
    assert counts["touchpoints"] == counts["touchpoint_rows"] == touchpoints
    assert counts["surveys"] == counts["survey_rows"] == surveys
    assert counts["dead_letters"] == counts["dead_letter_rows"] == malformed_count
    assert counts["duplicates"] == 0
