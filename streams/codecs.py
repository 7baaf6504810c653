"""Decompression of Kafka record batches with a ceiling on the decompressed size.

kafka-python decompresses a whole record batch into memory before reading its first record, however
large it turns out: a 1 MB gzip batch can hold ~1 GB, a zstd one far more. `bound_decompression`
replaces the four decoders kafka-python's v2 record batches call (kafka.record.default_records of the
pinned kafka-python) with ones that stop at `limit` bytes and raise BatchTooLarge. The consumer then
treats that batch like any undecodable one: each of its offsets is dead-lettered with the reason and
consumption goes on (streams.consumer). Snappy needs no ceiling of its own: its format cannot expand
more than ~21 times, so a batch the broker accepts (1 MiB by default) stays far below the limit.
"""

from __future__ import annotations

import io
import zlib

import kafka.record.default_records as default_records
import lz4.frame
import zstandard


class BatchTooLarge(ValueError):
    """A compressed record batch decompresses to more than the consumer's ceiling."""


def _too_large(limit: int) -> BatchTooLarge:
    return BatchTooLarge(f"decompresses to more than {limit:,} bytes (the consumer's batch_max_bytes)")


def gzip_decode(payload: bytes | memoryview, limit: int) -> bytes:
    out = bytearray()
    data = bytes(payload)
    while data:  # a gzip stream may hold several members
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += member.decompress(data, limit + 1 - len(out))
        if len(out) > limit or member.unconsumed_tail:
            raise _too_large(limit)
        if not member.eof:
            raise zlib.error("truncated gzip stream")
        data = member.unused_data
    return bytes(out)


def lz4_decode(payload: bytes, limit: int) -> bytes:
    out = bytearray()
    data = payload
    while data:  # one frame after another
        frame = lz4.frame.LZ4FrameDecompressor()
        out += frame.decompress(data, max_length=limit + 1 - len(out))
        if len(out) > limit or not frame.needs_input:
            raise _too_large(limit)
        if not frame.eof:
            raise RuntimeError("truncated lz4 frame")
        data = frame.unused_data
    return bytes(out)


def zstd_decode(payload: bytes, limit: int) -> bytes:
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(payload), read_across_frames=True) as reader:
        out = reader.read(limit + 1)
        if len(out) > limit or reader.read(1):
            raise _too_large(limit)
    return out


def bound_decompression(limit: int) -> None:
    """Make every record batch this process decodes stop at `limit` decompressed bytes."""
    default_records.gzip_decode = lambda payload: gzip_decode(payload, limit)
    default_records.lz4_decode = lambda payload: lz4_decode(payload, limit)
    default_records.zstd_decode = lambda payload: zstd_decode(payload, limit)
