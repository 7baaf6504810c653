"""The alert rule example of docs/operations.md is valid YAML and names only metrics cxpulse exports."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from streams.metrics import ConsumerMetrics
from warehouse.db import connect
from warehouse.runs import TEXTFILE, recorded_run

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _exported_names(tmp_path: Path) -> set[str]:
    metrics = ConsumerMetrics()
    metrics.consumed.labels("t").inc()
    metrics.landed.labels("t").inc()
    metrics.dead_letters.labels("t").inc()
    metrics.set_lag("t", 0, 1)
    names = {s.name for family in metrics.registry.collect() for s in family.samples}
    con = connect(tmp_path / "cx.duckdb")
    with recorded_run(con, tmp_path, "publish"):
        pass
    con.close()
    text = (tmp_path / TEXTFILE).read_text()
    return names | {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_alert_rules_parse_and_name_exported_metrics(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(groups:.*?)```", DOC.read_text(), re.S)
    assert block, "no alert rule block in docs/operations.md"
    rules = yaml.safe_load(block.group(1))["groups"][0]["rules"]
    assert {r["alert"] for r in rules} >= {"CxpulseConsumerLagGrowing", "CxpulseNoPublish"}
    exported = _exported_names(tmp_path)
    for rule in rules:
        assert rule["expr"] and rule["annotations"]["summary"]
        for name in re.findall(r"cxpulse_[a-z_]+", rule["expr"]):
            assert name in exported, f"{rule['alert']}: {name} is not exported"
