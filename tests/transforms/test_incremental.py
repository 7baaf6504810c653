"""An incremental build after every load equals a full rebuild, value for value."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime
from pathlib import Path

from cxpulse.config import Settings
from streams.contracts import decode_survey, decode_touchpoint
from streams.landing import batch_path, events_table, write_durably
from streams.sample import generate
from transforms.runner import MARTS, build
from warehouse.db import connect
from warehouse.loader import load

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def land_chunk(settings: Settings, chunk_no: int, touchpoints: list[bytes], surveys: list[bytes]) -> None:
    for kind, topic, messages, decode in (
        ("touchpoints", "cx.touchpoints", touchpoints, decode_touchpoint),
        ("surveys", "cx.surveys", surveys, decode_survey),
    ):
        first = chunk_no * 100_000
        offsets = list(range(first, first + len(messages)))
        table = events_table(kind, [decode(m, NOW) for m in messages], messages, offsets, topic, 0)
        write_durably(
            table, batch_path(settings.landing_dir, topic, 0, first, first + max(len(messages), 1) - 1)
        )


def snapshot(con, model: str) -> set[tuple]:
    """Rows with doubles rounded: sums in another order may differ in the 15th digit."""
    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' and table_name = ? order by ordinal_position",
        [model],
    ).fetchall()
    select = ", ".join(f"round({c}, 9)" if t == "DOUBLE" else c for c, t in columns)
    return set(con.execute(f"select {select} from marts.{model}").fetchall())


def test_incremental_equals_full(tmp_path: Path) -> None:
    sample = generate(customers=1500, seed=21, with_malformed=False, days=35)
    rng = random.Random(5)
    touchpoints = [m for m in sample.touchpoints]
    surveys = list(sample.surveys)
    rng.shuffle(touchpoints)  # chunks mix old and new days: late events must land in their day
    rng.shuffle(surveys)
    chunks = 4
    incremental = dataclasses.replace(Settings(), home=tmp_path / "incremental")
    con = connect(incremental.warehouse_path)
    rebuilt_days = []
    for i in range(chunks):
        land_chunk(incremental, i, touchpoints[i::chunks], surveys[i::chunks])
        load(con, incremental)
        result = build(con, incremental)
        rebuilt_days.append(len(result.days))
    assert rebuilt_days[0] > 0 and all(n > 0 for n in rebuilt_days)

    full = dataclasses.replace(Settings(), home=tmp_path / "full")
    full_con = connect(full.warehouse_path)
    land_chunk(full, 0, touchpoints, surveys)
    load(full_con, full)
    build(full_con, full, full=True)
    for model, _ in MARTS:
        expected = snapshot(full_con, model)
        assert expected, f"{model} is empty"
        assert snapshot(con, model) == expected, model


def test_incremental_rebuilds_only_touched_days_and_the_fcr_window(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path)
    sample = generate(customers=300, seed=2, with_malformed=False, days=60)
    land_chunk(settings, 0, sample.touchpoints, sample.surveys)
    con = connect(settings.warehouse_path)
    load(con, settings)
    build(con, settings)
    late = (
        b'{"event_type":"contact","event_id":"late-1","occurred_at":"2026-03-20T10:00:00+01:00",'
        b'"customer_id":"z","channel":"phone","touchpoint":"q","contact_id":"k","outcome":"abandoned",'
        b'"wait_s":3,"reason":"r"}'
    )
    land_chunk(settings, 1, [late], [])
    load(con, settings)
    result = build(con, settings)
    # the late event's day (UTC 2026-03-20) and the 7 days before it
    assert [d.isoformat() for d in result.days] == [f"2026-03-{d:02d}" for d in range(13, 21)]
    assert not result.full
