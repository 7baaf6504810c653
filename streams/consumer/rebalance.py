"""Partitions given and taken by the group: the rebalance listener, and where an assigned partition resumes
(after its last landing file, never Kafka's committed offset alone).
"""

from __future__ import annotations

import logging

from kafka import ConsumerRebalanceListener, TopicPartition

from streams.landing import landed_next_offset, partition_lock, remove_incomplete

# One logger for the whole consumer: operators and tests grep "streams.consumer: ..." lines.
log = logging.getLogger("streams.consumer")


class _Rebalance(ConsumerRebalanceListener):
    """Runs on kafka-python's IO thread, where no blocking consumer call is allowed: both hooks only
    touch local state (buffers, landing files, seek positions). The main thread is blocked in poll()
    meanwhile, so they never interleave with batching."""

    def __init__(self, owner: Restart) -> None:  # the LandingConsumer
        self.owner = owner

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Unwritten messages of lost partitions are dropped, never committed: their next owner
        # reads them again from the last landing file.
        self.owner.assigned = False
        # kafka-python keeps revoked partitions in assignment(), with their positions, until the
        # rejoin completes (often several polls later): only `_owned` says what is still ours.
        self.owner._owned = self.owner._owned - revoked
        open_batches = {tp: len(b) for tp, b in self.owner._buffers.items() if tp in revoked and len(b)}
        if open_batches:
            log.info(
                "revoked %d partitions with %d messages not landed (their next owner reads them again): %s",
                len(revoked),
                sum(open_batches.values()),
                _names(open_batches),
            )
        self.owner.discard(revoked)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.owner.resume_from_landing(assigned)
        self.owner._owned = self.owner._owned | assigned
        self.owner.metrics.assignment((tp.topic, tp.partition) for tp in assigned)
        self.owner.assigned = True
        log.info("assigned %d partitions: %s", len(assigned), _names(assigned) or "none")


def _names(partitions) -> str:
    """cx.surveys[0,2], cx.touchpoints[1] (log lines that tests and operators grep)."""
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return ", ".join(f"{t}[{','.join(map(str, sorted(p)))}]" for t, p in sorted(by_topic.items()))


class Restart:
    """What LandingConsumer does when partitions come and go (a mixin: it uses the consumer's state)."""

    def discard(self, partitions: set[TopicPartition]) -> None:
        """Drop the unlanded batches of `partitions`. Where each one's next batch starts (`_next`) is kept:
        kafka-python keeps a partition's position when a rebalance gives it back to the same member, past
        the dropped messages, and with no landing file nothing else says where they began."""
        for tp in partitions:
            self._buffers.pop(tp, None)
        if not self._buffers:
            self._oldest = None

    def resume_from_landing(self, assigned: set[TopicPartition]) -> None:
        """Seek each newly assigned partition past its last landed batch and clear crash leftovers.

        Landing files, not Kafka's committed offset, say where to resume: a crash between a file's
        rename and the commit must not land that batch twice. Retention keeps the newest landing
        file of every partition, so the files never lag behind the commit.
        """
        self.discard(assigned)
        for tp in assigned:
            # Under the partition's lock: a former owner still writing a batch finishes it first.
            with partition_lock(self.settings.landing_dir, tp.topic, tp.partition):
                landed = landed_next_offset(self.settings.landing_dir, tp.topic, tp.partition)
                # Nothing landed yet: every quarantine file of the partition is from a first batch that
                # never completed (it would otherwise be loaded beside its redo as duplicate dead letters).
                removed = remove_incomplete(
                    self.settings.quarantine_dir, self.settings.landing_dir, tp.topic, tp.partition, landed or 0
                )
            if removed:
                log.info("%s[%d]: removed %d leftovers of an interrupted batch", tp.topic, tp.partition, removed)
            # With no landing file, a partition this process held before resumes where its dropped
            # messages began (`_next`, kept by discard); any other, at Kafka's committed offset (or the earliest).
            resume = landed if landed is not None else self._next.get(tp)
            if resume is None:
                continue
            self._next[tp] = resume
            log.info(
                "%s[%d]: resuming %s, at offset %d",
                tp.topic,
                tp.partition,
                "after the last landed batch" if landed is not None else "where its dropped messages began",
                resume,
            )
            self._consumer.seek(tp, resume)
