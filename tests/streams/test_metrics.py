"""The consumer's metrics object and its configuration (the endpoint itself: tests/integration)."""

from __future__ import annotations

import pytest

from cxpulse.config import ConfigError, load_settings
from streams.metrics import ConsumerMetrics


def _lag_series(metrics: ConsumerMetrics) -> dict[tuple[str, str], float]:
    return {
        (s.labels["topic"], s.labels["partition"]): s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == "cxpulse_consumer_lag"
    }


def test_a_new_assignment_drops_the_lag_of_partitions_this_process_lost() -> None:
    metrics = ConsumerMetrics()
    metrics.assignment([("t", 0), ("t", 1)])
    metrics.set_lag("t", 0, 5)
    metrics.set_lag("t", 1, 7)
    metrics.assignment([("t", 1), ("t", 2)])  # partition 0 moved to another process
    assert _lag_series(metrics) == {("t", "1"): 7}
    assert metrics.assigned._value.get() == 2
    assert metrics.rebalances._value.get() == 2


def test_each_consumer_has_its_own_registry() -> None:
    first, second = ConsumerMetrics(), ConsumerMetrics()  # would raise "Duplicated timeseries" on one registry
    first.consumed.labels("t").inc(3)
    assert second.consumed.labels("t")._value.get() == 0


@pytest.mark.parametrize("value", ["-1", "70000", "http"])
def test_a_bad_metrics_port_names_the_key(value: str) -> None:
    with pytest.raises(ConfigError, match="metrics_port"):
        load_settings({"CXPULSE_METRICS_PORT": value})
