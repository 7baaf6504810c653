"""Where the messages go (`Sink`, `JsonlSink`) and the malformed copies the noise stream sends."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import IO

import msgspec

from streams.simulator.world import MALFORMED_CLASSES

Sink = Callable[[str, bytes, bytes | None], None]


class JsonlSink:
    """Writes `touchpoints.jsonl` and `surveys.jsonl` into `folder`, one message a line, bytes untouched.

    An empty message cannot be a line (and `cxpulse produce` skips blank lines): it is counted in
    `skipped` instead of written, so `written + skipped` equals what the simulator sent.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.paths = {"touchpoints": self.folder / "touchpoints.jsonl", "surveys": self.folder / "surveys.jsonl"}
        self.written = {"touchpoints": 0, "surveys": 0}
        self.skipped = {"touchpoints": 0, "surveys": 0}
        self._files: dict[str, IO[bytes]] = {}

    def __enter__(self) -> JsonlSink:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._files = {kind: path.open("wb", buffering=1 << 20) for kind, path in self.paths.items()}
        return self

    def __call__(self, kind: str, value: bytes, key: bytes | None) -> None:
        if not value or b"\n" in value:
            self.skipped[kind] += 1
            return
        self._files[kind].write(value + b"\n")
        self.written[kind] += 1

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files = {}

    def __exit__(self, *exc: object) -> None:
        self.close()


_json_decode = msgspec.json.decode


def _malformed(noise: random.Random, kind: str, value: bytes, key: bytes | None) -> tuple[bytes, bytes | None]:
    """A broken copy of a valid message, of one of the classes the consumer must dead-letter."""
    what = noise.choice(MALFORMED_CLASSES)
    if what == "empty":
        return b"", None
    if what == "not_utf8":
        # a producer writing Latin-1: 'é' as one byte
        return b'{"note":"r' + "é".encode("latin-1") + b'clamation",' + value[1:], key
    if what == "truncated_json":
        return value[: noise.randrange(1, len(value) - 1)], key
    if what == "not_object":
        return b"[" + value + b"]", key
    doc = _json_decode(value)
    if what == "unknown_enum":
        doc["channel"] = noise.choice(("fax", "carrier_pigeon", "telex"))
    elif what == "missing_field":
        gone = noise.choice(("customer_id", "occurred_at"))
        del doc[gone]
        if gone == "customer_id":
            key = None
    elif kind == "surveys":
        field_name, bad = noise.choice((("nps", 11), ("csat", 0), ("ces", 8), ("nps", -1)))
        doc[field_name] = bad
    elif doc["event_type"] == "contact":
        doc["wait_s"] = -round(noise.uniform(1, 60), 1)
    elif doc["event_type"] == "journey_step":
        doc["duration_s"] = -round(noise.uniform(1, 60))
    else:
        doc["event_id"] = doc["event_id"] * 20  # longer than the 128 characters allowed
    return msgspec.json.encode(doc), key
