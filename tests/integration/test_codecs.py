"""Every compression codec real producers use, written by the Java producer of the Kafka jars: the consumer
decodes each one, the raw tables hold exactly what was sent, and the books balance."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxpulse.config import Settings
from cxpulse.reconcile import check_balanced, reconcile
from tests.integration import java_producer
from tests.integration.until_landed import consume_until_landed
from tests.reliability.support import malformed, survey, touchpoint
from warehouse.db import connect
from warehouse.loader import load

pytestmark = pytest.mark.integration

TOUCHPOINTS, SURVEYS, MALFORMED = 3_000, 1_000, 40


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_java_producer_batches_of_every_codec_land_exactly(codec: str, kafka_settings: Settings, tmp_path: Path):
    settings = kafka_settings
    touchpoints = [(f"c{i % 101}", touchpoint(i, codec)) for i in range(TOUCHPOINTS)]
    touchpoints += [(f"c{i % 101}", malformed(i, codec)) for i in range(MALFORMED)]
    surveys = [(f"c{i % 101}", survey(i, codec)) for i in range(SURVEYS)]
    for topic, messages in ((settings.topic_touchpoints, touchpoints), (settings.topic_surveys, surveys)):
        printed = java_producer.run(
            settings.kafka_bootstrap,
            topic,
            [f"send:{java_producer.write_lines(tmp_path / f'{topic}.txt', messages)}"],
            compression=codec,
        )
        assert printed["send"] == len(messages)
        # The producer really compressed its batches with this codec (similar JSON compresses well).
        assert printed["compression-rate-avg"] < 0.5, printed

    stats = consume_until_landed(settings)
    assert stats.consumed == TOUCHPOINTS + MALFORMED + SURVEYS

    con = connect(settings.warehouse_path)
    try:
        load(con, settings)
        assert con.execute("select count(distinct event_id), count(*) from raw.touchpoints").fetchone() == (
            TOUCHPOINTS,
            TOUCHPOINTS,
        )
        assert con.execute("select count(*) from raw.surveys").fetchone()[0] == SURVEYS
        assert con.execute("select count(*) from ops.deadletters").fetchone()[0] == MALFORMED
        rows = reconcile(con, settings)
        check_balanced(rows)
        assert sum(r.produced for r in rows) == TOUCHPOINTS + MALFORMED + SURVEYS
        assert sum(r.lag for r in rows) == 0
    finally:
        con.close()
