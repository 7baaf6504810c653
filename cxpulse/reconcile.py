"""Reconciliation: every message produced is loaded, dropped as a duplicate, dead-lettered, waiting
in a landing file, or not consumed yet. `balance` is what none of these explains and must be 0.

Per partition, with `produced` = the end offset (every offset ever written):

    produced = loaded + duplicates + dead_letters + not_loaded + erased + txn_skipped + lag

`txn_skipped` counts offsets that hold no message for a read_committed consumer: the control record
(commit or abort marker) each transaction writes in each of its partitions, and the records of aborted
transactions. The consumer counts them as it moves past them (its position minus the messages it got
between two batches) and records the number in each landing file; the loader keeps it in
`ops.loaded_files.skipped_offsets`. They are counted, never inferred from the other terms, so a lost
message still shows as an unbalanced partition.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow.parquet as pq
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from cxpulse.config import Settings
from streams.kafka_clients import KafkaAccessError, kafka_client
from streams.landing import batch_files, landed_next_offset, skipped_offsets
from warehouse.erasure import erased_counts


@dataclass
class PartitionCounts:
    topic: str
    partition: int
    produced: int | None  # end offset: messages ever written (None when the broker is unreachable)
    committed: int | None
    consumed: int  # offset after the last durable batch (>= committed after a crash before commit)
    loaded: int
    duplicates: int
    dead_letters: int
    not_loaded: int  # messages in landing/quarantine files the loader has not taken yet
    erased: int = 0  # rows removed by `cxpulse forget` (GDPR)
    txn_skipped: int = 0  # offsets without a message: transaction markers and aborted records

    @property
    def lag(self) -> int | None:
        return None if self.produced is None else self.produced - self.consumed

    @property
    def balance(self) -> int | None:
        """Messages produced that no count explains; 0 when the books balance."""
        if self.produced is None:
            return None
        return self.produced - (
            self.loaded
            + self.duplicates
            + self.dead_letters
            + self.not_loaded
            + self.erased
            + self.txn_skipped
            + self.lag
        )

    @property
    def consumed_balance(self) -> int:
        """Consumed messages not explained by the warehouse and pending files (works without a broker)."""
        return self.consumed - (
            self.loaded + self.duplicates + self.dead_letters + self.not_loaded + self.erased + self.txn_skipped
        )


class ReconciliationError(RuntimeError):
    pass


def _kafka_offsets(settings: Settings) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]] | None:
    try:
        consumer = kafka_client(
            KafkaConsumer,
            settings,
            "cxpulse-status",
            group_id=None,
            request_timeout_ms=10_000,
            bootstrap_timeout_ms=5_000,
        )
    except KafkaAccessError:  # the broker answers and refuses us: a configuration error, say so
        raise
    except KafkaError:  # the broker is down: report what the warehouse and files say
        return None
    try:
        tps = [
            TopicPartition(t, p) for t in settings.source_topics for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        ends = consumer.end_offsets(tps)
    finally:
        consumer.close()
    admin = kafka_client(KafkaAdminClient, settings, "cxpulse-status")
    try:
        by_group = admin.list_group_offsets({settings.consumer_group: None})
        committed = {tp: meta.offset for tp, meta in by_group.get(settings.consumer_group, {}).items()}
    finally:
        admin.close()
    return ends, committed


def _pending_rows(
    settings: Settings, loaded_paths: set[str]
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    """Rows and skipped offsets of the landing and quarantine files the loader has not taken yet."""
    pending: dict[tuple[str, int], int] = {}
    skipped: dict[tuple[str, int], int] = {}
    for root in (settings.landing_dir, settings.quarantine_dir):
        for f in batch_files(root):
            if str(f.path.relative_to(settings.home)) not in loaded_paths:
                key = (f.topic, f.partition)
                pending[key] = pending.get(key, 0) + pq.ParquetFile(f.path).metadata.num_rows
                if root == settings.landing_dir:
                    skipped[key] = skipped.get(key, 0) + skipped_offsets(f.path)
    return pending, skipped


def reconcile(con: duckdb.DuckDBPyConnection, settings: Settings, *, with_kafka: bool = True) -> list[PartitionCounts]:
    offsets = _kafka_offsets(settings) if with_kafka else None
    loaded: dict[tuple[str, int], int] = {}
    for table in ("raw.touchpoints", "raw.surveys"):
        for topic, partition, n in con.execute(
            f"select kafka_topic, kafka_partition, count(*) from {table} group by all"  # noqa: S608 - fixed names
        ).fetchall():
            loaded[(topic, partition)] = n
    duplicates = {
        (t, p): n
        for t, p, n in con.execute(
            'select topic, "partition", sum(duplicates_dropped)::bigint from ops.loaded_files group by all'
        ).fetchall()
    }
    dead = {
        (t, p): n
        for t, p, n in con.execute('select topic, "partition", count(*) from ops.deadletters group by all').fetchall()
    }
    loaded_paths = {row[0] for row in con.execute("select path from ops.loaded_files").fetchall()}
    pending, pending_skipped = _pending_rows(settings, loaded_paths)
    skipped = {
        (t, p): n
        for t, p, n in con.execute(
            'select topic, "partition", sum(skipped_offsets)::bigint from ops.loaded_files group by all'
        ).fetchall()
    }
    for key, n in pending_skipped.items():
        skipped[key] = skipped.get(key, 0) + n
    erased = erased_counts(con)

    keys = set(loaded) | set(duplicates) | set(dead) | set(pending)
    if offsets:
        keys |= {(tp.topic, tp.partition) for tp in offsets[0]}
    keys = {k for k in keys if k[0] in settings.source_topics}
    rows = []
    for topic, partition in sorted(keys):
        tp = TopicPartition(topic, partition)
        committed = offsets[1].get(tp) if offsets else None
        landed = landed_next_offset(settings.landing_dir, topic, partition) or 0
        rows.append(
            PartitionCounts(
                topic=topic,
                partition=partition,
                produced=offsets[0].get(tp, 0) if offsets else None,
                committed=committed,
                consumed=max(landed, committed or 0),
                loaded=loaded.get((topic, partition), 0),
                duplicates=duplicates.get((topic, partition), 0),
                dead_letters=dead.get((topic, partition), 0),
                not_loaded=pending.get((topic, partition), 0),
                erased=erased.get((topic, partition), 0),
                txn_skipped=skipped.get((topic, partition), 0) or 0,
            )
        )
    return rows


def check_balanced(rows: list[PartitionCounts]) -> None:
    """Fail when any partition's counts do not add up (the run must not publish wrong numbers)."""
    broken = [r for r in rows if (r.balance if r.balance is not None else r.consumed_balance) != 0]
    if broken:
        detail = "; ".join(
            f"{r.topic}[{r.partition}] off by {r.balance if r.balance is not None else r.consumed_balance}"
            for r in broken
        )
        raise ReconciliationError(f"counts do not reconcile: {detail}")
