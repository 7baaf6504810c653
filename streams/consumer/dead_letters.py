"""Dead letters: a message that breaks the contract goes to `cx.deadletter` with headers saying why and
where from; a message too large for the topic goes as a reference record (the original stays whole in the
quarantine file).
"""

from __future__ import annotations

import hashlib
import json
import logging

from kafka import TopicPartition
from kafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError

from streams.landing import Rejected

# One logger for the whole consumer: operators and tests grep "streams.consumer: ..." lines.
log = logging.getLogger("streams.consumer")

# A dead letter (value + key + headers) above this is sent as a reference record instead: Kafka's
# default limits are 1 MiB per request (producer) and per batch (broker), headers included.
DEAD_LETTER_MAX_BYTES = 1_000_000
_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)


class DeadLetters:
    """The dead-letter sending of LandingConsumer (a mixin: it uses the consumer's producer and settings)."""

    def _publish_dead_letters(self, dead: list[tuple[TopicPartition, Rejected]]) -> None:
        futures = [(tp, rejected, self._send_dead_letter(tp, rejected)) for tp, rejected in dead]
        self._producer.flush()
        # The broker may allow less than we do (the topic's max.message.bytes): send a reference instead.
        retried = [
            (tp, rejected, self._send_dead_letter(tp, rejected, refused=f.exception))
            for tp, rejected, f in futures
            if f.failed() and isinstance(f.exception, _TOO_LARGE)
        ]
        if retried:
            self._producer.flush()
        failed = [f.exception for _, _, f in futures if f.failed() and not isinstance(f.exception, _TOO_LARGE)]
        failed += [f.exception for _, _, f in retried if f.failed()]
        if failed:
            # Nothing of this batch is written or committed: a restart reads it again from Kafka and
            # sends the dead letters again (at least once), rather than losing them.
            raise KafkaError(
                f"{len(failed)} dead letters not delivered to {self.settings.topic_deadletter}: {failed[0]!r}"
            )

    def _send_dead_letter(self, tp: TopicPartition, rejected: Rejected, refused: BaseException | None = None):
        """Send one dead letter: the original bytes, or a reference record when they cannot fit.

        The quarantine file (and ops.deadletters) always keeps the original bytes whole; the topic gets
        {"cx_reference": ..., source topic/partition/offset, reason, size, sha256} when the message would
        exceed DEAD_LETTER_MAX_BYTES or the broker refused it as too large."""
        original = rejected.original or b""
        headers = [
            ("cx.error", rejected.error.encode()),
            ("cx.source.topic", tp.topic.encode()),
            ("cx.source.partition", str(tp.partition).encode()),
            ("cx.source.offset", str(rejected.offset).encode()),
        ]
        size = len(original) + len(rejected.key or b"") + sum(len(k) + len(v) for k, v in headers)
        value, key = original, rejected.key
        if refused is not None or size > DEAD_LETTER_MAX_BYTES:
            why = f"refused by the broker: {refused}" if refused is not None else f"over {DEAD_LETTER_MAX_BYTES} bytes"
            log.warning(
                "%s[%d] offset %d: dead letter of %d bytes %s; sent as a reference record (the original is in "
                "the quarantine file and ops.deadletters)",
                tp.topic,
                tp.partition,
                rejected.offset,
                len(original),
                why,
            )
            value = json.dumps(
                {
                    "cx_reference": "the original message is too large for the dead-letter topic",
                    "source": {"topic": tp.topic, "partition": tp.partition, "offset": rejected.offset},
                    "reason": rejected.error[:1000],
                    "size": len(original),
                    "sha256": hashlib.sha256(original).hexdigest(),
                }
            ).encode()
            key = None  # a key can be up to the message size too
            headers[0] = ("cx.error", rejected.error[:1000].encode())
            headers.append(("cx.replaced", why[:1000].encode()))
        try:
            return self._producer.send(self.settings.topic_deadletter, value=value, key=key, headers=headers)
        except MessageSizeTooLargeError as exc:  # kafka-python checks max_request_size at send()
            if refused is not None:
                raise
            return self._send_dead_letter(tp, rejected, refused=exc)
