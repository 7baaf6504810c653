"""The decompression ceiling of streams.codecs, on batches compressed by kafka-python's own encoders."""

from __future__ import annotations

import os

import lz4.frame
import pytest
from kafka import codec

from streams.codecs import BatchTooLarge, gzip_decode, lz4_decode, zstd_decode

DATA = os.urandom(1_000) + b"a" * 2_000_000  # ratio of a few hundred to one
ENCODERS = {
    "gzip": (codec.gzip_encode, gzip_decode),
    "lz4": (lambda data: lz4.frame.compress(data, block_linked=False), lz4_decode),
    "zstd": (codec.zstd_encode, zstd_decode),
}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_a_batch_decodes_up_to_the_limit_and_not_one_byte_more(name: str) -> None:
    encode, decode = ENCODERS[name]
    compressed = encode(DATA)
    assert len(compressed) < len(DATA) / 50
    assert decode(compressed, len(DATA)) == DATA
    with pytest.raises(BatchTooLarge, match="decompresses to more than 2,000,999 bytes"):
        decode(compressed, len(DATA) - 1)


def test_gzip_with_several_members_and_a_truncated_one() -> None:
    two = codec.gzip_encode(b"x" * 10) + codec.gzip_encode(b"y" * 10)
    assert gzip_decode(two, 20) == b"x" * 10 + b"y" * 10
    with pytest.raises(BatchTooLarge):
        gzip_decode(two, 19)
    with pytest.raises(Exception, match="truncated"):
        gzip_decode(codec.gzip_encode(b"z" * 1000)[:-12], 10_000)
