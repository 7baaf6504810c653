"""The consumer's life: connect (with backoff), the poll loop, hot alerts, --until-idle and the lag gauges,
stop on SIGTERM/SIGINT. The batching, the restart after a rebalance and the dead letters are mixed in from
their own modules (streams.consumer.batches, .rebalance, .dead_letters).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from cxpulse.config import Settings
from streams.codecs import bound_decompression
from streams.consumer.batches import BACKOFF_MAX_S, MAX_POLL_RECORDS, Batching, _PartitionBuffer, _Stall
from streams.consumer.dead_letters import DeadLetters
from streams.consumer.rebalance import Restart, _Rebalance
from streams.contracts import decode_survey, decode_touchpoint
from streams.hot_rules import HotRules
from streams.kafka_clients import KafkaAccessError, kafka_client
from streams.landing import landed_next_offset, warm_up_arrow
from streams.metrics import ConsumerMetrics

# One logger for the whole consumer: operators and tests grep "streams.consumer: ..." lines.
log = logging.getLogger("streams.consumer")

STOP_CHECK_S = 0.2  # the longest a wait goes without looking at the stop flag
CLOSE_TIMEOUT_S = 5.0
IDLE_POLL_MIN_S = 0.05  # an empty poll that returned faster than this is followed by a pause
CAUGHT_UP_CHECK_S = 0.5  # --until-idle asks the broker for end offsets at most this often
LAG_REFRESH_S = 5.0  # the lag gauges are refreshed this often
OFFSETS_TIMEOUT_MS = 5_000


class _Interrupted(BaseException):
    """Raised by the signal handler to abandon a Kafka client that is still bootstrapping."""


@dataclass
class ConsumeStats:
    consumed: int = 0
    valid: int = 0
    rejected: int = 0
    batches: int = 0
    undecodable_batches: int = 0  # record batches the client could not decode: each offset dead-lettered
    alerts_failed: int = 0  # hot alerts the broker refused (the events themselves are landed)
    first_message_at: float | None = None  # monotonic clock; busy time excludes the idle wait
    last_flush_at: float | None = None

    @property
    def busy_seconds(self) -> float:
        if self.first_message_at is None or self.last_flush_at is None:
            return 0.0
        return self.last_flush_at - self.first_message_at


class LandingConsumer(Batching, Restart, DeadLetters):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._hot: HotRules | None = None
        self.stats = ConsumeStats()
        self._buffers: dict[TopicPartition, _PartitionBuffer] = {}
        # Per partition, the first offset no landed batch covers yet (the start of the next batch); kept
        # when the partition is revoked (Restart.discard).
        self._next: dict[TopicPartition, int] = {}
        self._oldest: float | None = None
        self._stop = False
        self._wake = threading.Event()  # set by request_stop: ends a wait at once (other threads)
        self._in_connect = False  # a signal may abandon the client being constructed
        self._stall: _Stall | None = None
        self.metrics = ConsumerMetrics()
        # True between an assignment and the next revocation: the group gave this process its share.
        self.assigned = False
        self._owned: frozenset[TopicPartition] = frozenset()  # the partitions the group gave this process
        self._caught_up_since: float | None = None  # --until-idle: the group has nothing left to land
        self._next_offsets_check = 0.0
        self._next_lag_refresh = 0.0
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._record_bytes = 1024.0  # mean message size seen lately: sizes each poll in bytes, not records
        self._observing: tuple[str, int, int] | None = None  # topic, partition, offset of the event at hand
        self._decoders = {
            settings.topic_touchpoints: ("touchpoints", decode_touchpoint),
            settings.topic_surveys: ("surveys", decode_survey),
        }

    # -- lifecycle --------------------------------------------------------------------------------
    def request_stop(self, *_: object) -> None:
        """Stop from any thread: the current wait ends at once, the loop flushes, commits and returns."""
        self._stop = True
        self._wake.set()

    def _on_signal(self, signum: int, _frame: object) -> None:
        # Only a flag: Event.set() from a handler can deadlock with an Event.wait() that this same
        # (main) thread is inside; _sleep looks at the flag every STOP_CHECK_S instead.
        self._stop = True
        if self._in_connect:  # blocked in a client's bootstrap (up to its timeout): give it up now
            self._in_connect = False
            raise _Interrupted

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wake.wait(min(remaining, STOP_CHECK_S))

    def _connect(self) -> None:
        delay = 1.0
        while not self._stop:
            consumer = producer = None
            try:
                self._in_connect = True
                try:
                    common = {"bootstrap_timeout_ms": 5_000}
                    consumer = kafka_client(
                        KafkaConsumer,
                        self.settings,
                        "cxpulse-consumer",
                        group_id=self.settings.consumer_group,
                        enable_auto_commit=False,
                        auto_offset_reset="earliest",
                        max_poll_records=MAX_POLL_RECORDS,
                        # Aborted transactions are never delivered; open ones wait for their commit.
                        isolation_level="read_committed",
                        fetch_max_bytes=self.settings.fetch_max_bytes,
                        max_partition_fetch_bytes=max(self.settings.fetch_max_bytes // 4, 1024 * 1024),
                        # A killed consumer's partitions are handed over after this long, not the default 45 s.
                        session_timeout_ms=10_000,
                        heartbeat_interval_ms=3_000,
                        **common,
                    )
                    # Not idempotent (kafka-python 3's default): for an idempotent producer a message the
                    # broker refuses as too large is a fatal error that fails every later send, so one
                    # oversized dead letter or alert would stop the consumer. Both topics are at-least-once
                    # anyway (duplicates carry the same source headers / dedupe_key).
                    producer = kafka_client(
                        KafkaProducer,
                        self.settings,
                        "cxpulse-consumer",
                        acks="all",
                        linger_ms=5,
                        enable_idempotence=False,
                        **common,
                    )
                    consumer.subscribe(list(self.settings.source_topics), listener=_Rebalance(self))
                    if not self._await_source_topics(consumer):
                        raise _Interrupted
                finally:
                    self._in_connect = False
            except _Interrupted:
                self._close_clients(consumer, producer)
                return
            except KafkaAccessError:  # refused (credentials, certificate): retrying cannot help
                self._close_clients(consumer, producer)
                raise
            except (KafkaTimeoutError, KafkaConnectionError):
                self._close_clients(consumer, producer)
                log.warning(
                    "Kafka broker at %s is not reachable; retrying in %.0f s "
                    "(start a local one with `cxpulse broker start`)",
                    self.settings.kafka_bootstrap,
                    delay,
                )
                self._sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            self._consumer, self._producer = consumer, producer
            self._hot = HotRules(self.settings, self._send_alert)
            return

    def _await_source_topics(self, consumer: KafkaConsumer) -> bool:
        """Subscribed, wait until the client's metadata holds every source topic (False when stopped first).

        kafka-python's group leader assigns partitions from its own metadata cache, and rejoins when that
        cache changes after the assignment. Joining before the subscribed topics are in it, it may hand
        the group 0 partitions and, when their metadata lands during the join, never rebalance
        (dpkp/kafka-python#1237; seen here: a service assigned nothing for 5 minutes); or it rebalances
        once more right after the start, and the first batch is read twice. Fetched before the first
        poll (`topics()` always asks the broker and updates that cache), the first assignment is whole
        and final. A topic that does not exist yet (created later by its producers or by
        `cxpulse broker start`) is waited for here, not left to the next periodic refresh (5 minutes).
        """
        delay = 1.0
        while not self._stop:
            known = consumer.topics()
            missing = [t for t in self.settings.source_topics if t not in known]
            if not missing:
                return True
            log.warning(
                "topics %s do not exist on %s yet; looking again in %.0f s (create them with "
                "`cxpulse broker start` or your platform's tooling)",
                ", ".join(missing),
                self.settings.kafka_bootstrap,
                delay,
            )
            self._sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
        return False

    @staticmethod
    def _close_clients(consumer: KafkaConsumer | None, producer: KafkaProducer | None) -> None:
        """Close with bounded waits: a broker that is down must not hold up a stop."""
        if consumer is not None:
            with contextlib.suppress(Exception):
                consumer.close(autocommit=False, timeout_ms=int(CLOSE_TIMEOUT_S * 1000))
        if producer is not None:
            with contextlib.suppress(Exception):
                producer.close(timeout=CLOSE_TIMEOUT_S)

    def run(self, *, until_idle: bool = False) -> ConsumeStats:
        """Consume until SIGTERM/SIGINT, or with until_idle until the group is caught up (see _caught_up)."""
        # Signal handlers can only be set from the main thread (tests and embedders run us elsewhere).
        in_main = threading.current_thread() is threading.main_thread()
        previous = (
            {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)} if in_main else {}
        )
        try:
            log.info(
                "consuming %s from %s as group %s into %s",
                ", ".join(self.settings.source_topics),
                self.settings.kafka_bootstrap,
                self.settings.consumer_group,
                self.settings.landing_dir,
            )
            warm_up_arrow()
            if self.settings.metrics_port:
                self.metrics.serve(self.settings.metrics_port)
            # No record batch may decompress to more than the batch byte budget (streams.codecs).
            bound_decompression(self.settings.batch_max_bytes)
            self._connect()
            if self._consumer is None:
                return self.stats
            while not self._stop:
                if self._stall is not None:
                    self._pause_fetching()  # again: a rebalance may have assigned new partitions
                polled_at = time.monotonic()
                try:
                    records = self._consumer.poll(timeout_ms=200, max_records=self._poll_records())
                except Exception as exc:
                    if not self._isolate_undecodable(exc):
                        raise
                    continue
                if not records and time.monotonic() - polled_at < IDLE_POLL_MIN_S:
                    # kafka-python returns at once, without waiting, when its coordinator wants the next
                    # poll now (seen with nothing assigned and the group or broker unreachable): without
                    # this pause the loop spins a core for as long as that lasts.
                    self._sleep(IDLE_POLL_MIN_S)
                if records:
                    self._caught_up_since = None
                    if self.stats.first_message_at is None:
                        self.stats.first_message_at = time.monotonic()
                    self._accept(records)
                self._cover_skipped()
                if self._due():
                    self.flush()
                now = time.monotonic()
                if self.settings.metrics_port and now >= self._next_lag_refresh:
                    self._next_lag_refresh = now + LAG_REFRESH_S
                    self._refresh_lag()
                if until_idle and not records and now >= self._next_offsets_check:
                    self._next_offsets_check = now + CAUGHT_UP_CHECK_S
                    if not self._caught_up():
                        self._caught_up_since = None
                    elif self._caught_up_since is None:
                        self._caught_up_since = now
                    elif now - self._caught_up_since >= self.settings.idle_exit_seconds:
                        log.info(
                            "caught up: every partition of %s is landed to its end offset, stopping (--until-idle)",
                            ", ".join(self.settings.source_topics),
                        )
                        break
            self.flush()
            if self._stall is not None:
                log.warning(
                    "stopping with %d messages not landed (the landing disk is full, cannot write in %s): none "
                    "of them was committed, the next start reads them again from Kafka",
                    sum(len(b) for b in self._buffers.values()),
                    self._stall.path,
                )
            return self.stats
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._close_clients(self._consumer, self._producer)
            self.metrics.close()

    # -- batching ---------------------------------------------------------------------------------
    # -- hot alerts ---------------------------------------------------------------------------------
    def _send_alert(self, topic: str, value: bytes, key: bytes) -> None:
        """Send one hot alert; a refusal is reported with the event's coordinates, never raised later."""
        source = self._observing
        future = self._producer.send(topic, value=value, key=key)
        future.add_errback(lambda exc: self._alert_failed(source, exc))

    def _alert_failed(self, source: tuple[str, int, int] | None, exc: BaseException) -> None:
        self.stats.alerts_failed += 1
        topic, partition, offset = source or ("?", -1, -1)
        log.error(
            "hot alert for %s[%d] offset %d not delivered to %s (%s: %s); the event is landed, the alert is "
            "not retried (at-most-once for refused alerts)",
            topic,
            partition,
            offset,
            self.settings.topic_alerts,
            type(exc).__name__,
            exc,
        )

    # -- caught up, lag ----------------------------------------------------------------------------
    def _group_stable(self) -> bool:
        """This process holds its assignment in a stable group, with no rebalance pending."""
        # kafka-python has no public call for "rebalance in progress": its coordinator knows.
        coordinator = self._consumer._coordinator
        return self.assigned and coordinator.stable() and not coordinator.need_rejoin()

    def _end_offsets(self, partitions: list[TopicPartition] | None = None) -> dict[TopicPartition, int] | None:
        if partitions is None:
            partitions = [
                TopicPartition(t, p)
                for t in self.settings.source_topics
                for p in sorted(self._consumer.partitions_for_topic(t) or ())
            ]
        try:
            return self._consumer.end_offsets(partitions, timeout_ms=OFFSETS_TIMEOUT_MS)
        except KafkaError as exc:
            log.debug("end offsets unavailable (%s)", exc)
            return None

    def _caught_up(self) -> bool:
        """--until-idle: the whole group has nothing left to land, as far as this process can see.

        Nothing buffered or stalled here; the group stable with this process's assignment done (a
        consumer still joining is never caught up, however long it waits); every partition of the
        source topics consumed to its end offset: the partitions this process owns by their position,
        the others by their landing files (the group's commit record, shared by its processes). So a
        process whose partitions are done keeps waiting while a SIGKILLed member still holds
        partitions with messages: it gets them when the group expires that member.
        """
        if self._stall is not None or any(b.first_offset is not None for b in self._buffers.values()):
            return False
        if not self._group_stable():
            return False
        ends = self._end_offsets()
        if not ends:
            return False
        mine = self._consumer.assignment()
        for tp, end in ends.items():
            if tp in mine:
                try:
                    position = self._consumer.position(tp, timeout_ms=OFFSETS_TIMEOUT_MS)
                except KafkaError:  # not known yet: ask again at the next check
                    return False
                if position is None or position < end:
                    return False
            elif (landed_next_offset(self.settings.landing_dir, tp.topic, tp.partition) or 0) < end:
                return False
        return True

    def _refresh_lag(self) -> None:
        """The lag gauges: per assigned partition, end offset - next offset to land."""
        mine = sorted(self._consumer.assignment())
        ends = self._end_offsets(mine) if mine else None
        for tp, end in (ends or {}).items():
            buffer = self._buffers.get(tp)
            if buffer is not None and buffer.first_offset is not None:
                next_to_land = buffer.first_offset
            else:
                try:
                    next_to_land = self._consumer.position(tp, timeout_ms=OFFSETS_TIMEOUT_MS)
                except KafkaError:
                    continue
            if next_to_land is not None:
                self.metrics.set_lag(tp.topic, tp.partition, max(0, end - next_to_land))
