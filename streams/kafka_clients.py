"""Kafka clients that clean up after themselves when they cannot connect."""

from __future__ import annotations

import contextlib
from typing import Any


def open_client(cls: type, **config: Any) -> Any:
    """Construct a kafka-python client; when construction fails (or is interrupted), stop what it started.

    kafka-python 3.0's KafkaConsumer starts its IO thread before it bootstraps and leaves it running
    when bootstrapping fails: without this, every retry against a dead broker leaked a thread.
    """
    client = cls.__new__(cls)
    try:
        client.__init__(**config)
    except BaseException:
        net, inner = getattr(client, "_net", None), getattr(client, "_client", None)
        with contextlib.suppress(Exception):
            if net is not None:
                net.stop(1_000)
        with contextlib.suppress(Exception):
            if inner is not None:
                inner.close()
        raise
    return client
