"""The long-running consumer: Kafka -> validated, durable Parquet batches, then offset commits.

Error policy (explicit, as in sql-flow): a message that breaks the contract never stops the
consumer; it goes to `cx.deadletter` (headers say why and where from) and to the quarantine files.
Order per batch: dead letters produced and flushed -> quarantine file durable -> landing file durable
-> offsets committed. The landing file is the batch's commit record (see streams.landing), so a
crash between any two steps is repaired on restart by seeking past the landed files.

A full landing disk (ENOSPC/EDQUOT) stalls the consumer instead of stopping it: the partial file is
removed, the batches stay in memory (bounded: fetching is paused), nothing is committed past the last
landed batch, the group membership is kept by polling the paused partitions, and the write is
retried with backoff until space returns. SIGTERM/SIGINT only set a flag; every wait checks it.

Transactions: the consumer reads with isolation_level=read_committed, so records of aborted
transactions are never delivered (never landed, counted or alerted on) and records of an open
transaction wait until it commits. Transaction markers and aborted records still occupy offsets: each
batch covers the offsets up to the consumer's position, and its landing file records how many of them
held no message (streams.landing), which the reconciliation counts as such.

The package, one concern per module: `loop` (LandingConsumer: connect, poll, stop, --until-idle, lag, hot
alerts), `batches` (partition buffers, flush to landing files, the ownership fence, a full disk),
`rebalance` (the listener, resuming after the landing files), `dead_letters` (sending to cx.deadletter).
"""

from streams.consumer.loop import ConsumeStats, LandingConsumer

__all__ = ["ConsumeStats", "LandingConsumer"]
