"""Prometheus metrics of the consumer (`cxpulse consume --metrics-port P` serves them on /metrics).

Each consumer gets its own registry, so that several consumers in one process (tests, embedders)
never collide; the HTTP server serves only that registry. Counting rules, so that the totals add up
across the processes of a group:

- `cxpulse_consumer_messages_consumed_total` counts messages read from Kafka. A message buffered when
  its partition is revoked is read again by the next owner and counted by both processes.
- `cxpulse_consumer_events_landed_total` and `cxpulse_consumer_dead_letters_total` count messages once
  their landing / quarantine file is durable: summed over the processes of a group they count every
  offset exactly once, and they equal what `cxpulse load` will load.
- `cxpulse_consumer_lag` is, per assigned partition, the end offset minus the next offset to land:
  messages not durable yet (buffered ones included), the `lag` of `cxpulse status`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

# Batch latency: from the first message of a batch read to its files durable and offsets committed.
# batch_max_seconds (2 s by default) dominates; a slow disk or a stall shows in the upper buckets.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ConsumerMetrics:
    """The metrics of one LandingConsumer."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.consumed = Counter("cxpulse_consumer_messages_consumed", "Messages read from Kafka", ["topic"], registry=r)
        self.landed = Counter(
            "cxpulse_consumer_events_landed", "Valid events made durable in landing files", ["topic"], registry=r
        )
        self.dead_letters = Counter(
            "cxpulse_consumer_dead_letters",
            "Rejected messages made durable in quarantine files (and sent to the dead-letter topic)",
            ["topic"],
            registry=r,
        )
        self.batch_latency = Histogram(
            "cxpulse_consumer_batch_latency_seconds",
            "From the first message of a batch read to its landing file durable and its offset committed",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_write = Histogram(
            "cxpulse_consumer_batch_write_seconds",
            "Writing one batch's quarantine and landing files durably (fsync included)",
            buckets=WRITE_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "cxpulse_consumer_lag",
            "Messages of an assigned partition not durable yet: end offset - next offset to land",
            ["topic", "partition"],
            registry=r,
        )
        self.stalled = Gauge(
            "cxpulse_consumer_landing_stalled",
            "1 while the landing disk is full and consumption is paused, else 0",
            registry=r,
        )
        self.assigned = Gauge(
            "cxpulse_consumer_assigned_partitions", "Partitions this process owns in its group", registry=r
        )
        self.rebalances = Counter(
            "cxpulse_consumer_rebalances", "Assignments received from the group coordinator", registry=r
        )
        self.last_landed = Gauge(
            "cxpulse_consumer_last_landed_timestamp_seconds",
            "Unix time of the last batch made durable (0 before the first)",
            registry=r,
        )
        self._lag_series: set[tuple[str, str]] = set()
        self._server = None

    # -- updates ----------------------------------------------------------------------------------
    def batch_landed(self, topic: str, events: int, rejected: int, opened_at: float, write_seconds: float) -> None:
        """One partition's batch is durable and committed (opened_at, monotonic clock: its first read)."""
        self.landed.labels(topic).inc(events)
        self.dead_letters.labels(topic).inc(rejected)
        self.batch_write.observe(write_seconds)
        self.batch_latency.observe(time.monotonic() - opened_at)
        self.last_landed.set(time.time())

    def assignment(self, partitions: Iterable[tuple[str, int]]) -> None:
        """A new assignment: count it, and drop the lag series of partitions this process lost."""
        owned = {(topic, str(partition)) for topic, partition in partitions}
        for labels in self._lag_series - owned:
            self.lag.remove(*labels)
        self._lag_series &= owned
        self.assigned.set(len(owned))
        self.rebalances.inc()

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        labels = (topic, str(partition))
        self._lag_series.add(labels)
        self.lag.labels(*labels).set(lag)

    # -- the endpoint -----------------------------------------------------------------------------
    def serve(self, port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 - scraped from other hosts
        """Serve /metrics on address:port (OSError when the port is taken)."""
        self._server, _ = start_http_server(port, addr=address, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics", address, port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
