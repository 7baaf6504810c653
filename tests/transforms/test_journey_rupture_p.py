"""journey_rupture_p(), the p-value the rupture SQL of marts.journey_steps calls, against statsmodels'
proportions_ztest called row by row (an independent computation: the function itself is the closed form
erfc(|z| / sqrt 2), without statsmodels)."""

from __future__ import annotations

import random
import subprocess
import sys

import duckdb
import pytest
from statsmodels.stats.proportion import proportions_ztest

from transforms import journeys


def _p_values(rows: list[tuple[int, int, int, int]]) -> list[float | None]:
    """journey_rupture_p over rows (a1, n1, a2, n2) in one DuckDB query, in their order."""
    con = duckdb.connect()
    journeys.register(con)
    con.execute("create table t (i integer, a1 bigint, n1 bigint, a2 bigint, n2 bigint)")
    con.executemany("insert into t values (?, ?, ?, ?, ?)", [(i, *r) for i, r in enumerate(rows)])
    return [p for (p,) in con.execute("select journey_rupture_p(a1, n1, a2, n2) from t order by i").fetchall()]


def test_rupture_p_matches_proportions_ztest_row_by_row() -> None:
    rng = random.Random(18)
    rows = []
    for _ in range(3000):  # more than one DuckDB chunk (2048 rows)
        n1, n2 = rng.randint(1, 400), rng.randint(1, 2000)
        rows.append((rng.randint(0, n1), n1, rng.randint(0, n2), n2))
    got = _p_values(rows)
    for (a1, n1, a2, n2), p in zip(rows, got, strict=True):
        if a1 + a2 in (0, n1 + n2):
            assert p == 1.0  # both shares 0 or both 1: no evidence of a change
        else:
            assert p == pytest.approx(float(proportions_ztest([a1, a2], [n1, n2])[1]), rel=1e-9, abs=1e-300)


def test_rupture_p_without_observations_is_null() -> None:
    con = duckdb.connect()
    journeys.register(con)
    got = con.execute(
        "select journey_rupture_p(a1, n1, a2, n2) from (values (1, 10, 2, 20), (null, 10, 2, 20), (0, 0, 2, 20),"
        " (1, 10, 2, 0), (0, 10, 0, 20), (10, 10, 20, 20)) as v(a1, n1, a2, n2)"
    ).fetchall()
    assert got[1:] == [(None,), (None,), (None,), (1.0,), (1.0,)]
    assert got[0][0] == pytest.approx(float(proportions_ztest([1, 2], [10, 20])[1]))


def test_rupture_p_matches_proportions_ztest_at_the_edges() -> None:
    rows = [
        (1, 1, 0, 1),  # the smallest samples
        (0, 1, 1, 1),
        (5, 10, 50, 100),  # equal shares: z = 0, p = 1
        (0, 100, 100, 100),  # opposite extremes
        (1, 1_000_000, 0, 1_000_000),  # a rare event
        (400_000, 1_000_000, 500_000, 1_000_000),  # far tail: p ~ 1e-300 and below
        (49_000, 100_000, 50_000, 100_000),
        (3, 7, 5_000_000, 9_000_000),  # very unequal sizes
        (12, 100, 3, 400),  # a rupture-sized difference
        (999, 1000, 1, 1000),
    ]
    got = _p_values(rows)
    for (a1, n1, a2, n2), p in zip(rows, got, strict=True):
        expected = float(proportions_ztest([a1, a2], [n1, n2])[1])
        assert p == pytest.approx(expected, rel=1e-9, abs=1e-300), (a1, n1, a2, n2)
    assert got[2] == 1.0


def test_rupture_p_needs_no_statistics_library() -> None:
    """A scheduled build is a fresh process: the p-value must not import statsmodels or scipy (~1 CPU s)."""
    code = (
        "import sys, duckdb\n"
        "from transforms import journeys\n"
        "con = duckdb.connect()\n"
        "journeys.register(con)\n"
        "print(con.execute('select journey_rupture_p(12, 100, 3, 400)').fetchall()[0][0])\n"
        "print(sorted(m for m in ('statsmodels', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert float(out[0]) == pytest.approx(float(proportions_ztest([12, 3], [100, 400])[1]), rel=1e-9)
    assert out[1] == "[]"
