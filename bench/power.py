"""Power of the incident detector: how often a real NPS drop becomes an incident at the first run after it
starts, and how often stable data raises one, with the real decision code.

Every run is the quality check's drift path on its own warehouse (an in-memory DuckDB with the
warehouse DDL and the staging views): survey answers in `raw.surveys`, then `quality.drift.detect`
(customer-clustered tests, Benjamini-Hochberg across the scopes of each KPI, min_n, min_effect),
`quality.alerts.apply` and `quality.incidents.update` (root localisation, residual tests, grouping).

The answers are drawn with numpy, vectorised, from the simulator's answer model
(`streams/simulator/answers.py`, `stories.py`): a latent satisfaction per answer = the segment's bias
+ the customer's loyalty + noise, rounded to NPS 0-10 (an angry customer at the bottom of the scale),
CSAT and CES from the same latent score; customers answer several times (their loyalty is shared,
so answers cluster by customer); an NPS drop of P points replaces a share P / (NPS before + 1) of the
scope's answers by bad experiences, exactly as the simulator's `nps-drop` does. Generating answers
with the simulator itself would cost ~2 s of its 125,000-customer world per run; this costs
milliseconds, so the run time is the detector's.

The world: 5 channels x 2 touchpoints, 3 segments (72 / 18 / 10 %), every channel with the same weekly
answers W, 5 weeks (the 28-day baseline, the 7-day current window). A drop hits channel `chat` for the
whole current window: the first weekly run after the onset (a daily run would see it growing day by
day). Detected = that run opens an incident whose root is `channel:chat` or one of its touchpoints.
False incidents: incidents opened on stable data, per 100 scope-weeks (19 scopes tested per week).

Usage: python -m bench.power [--seeds 50] [--stable-weeks 500] [--quick]   (writes docs/power.svg unless --quick)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from statsmodels.stats.proportion import proportion_confint

from cxpulse.config import Settings
from quality import alerts, incidents
from quality.drift import RULES, Windows, detect
from streams.simulator.world import SEGMENTS
from transforms.runner import create_views

CHART = Path(__file__).resolve().parent.parent / "docs" / "power.svg"
EFFECTS = (5, 10, 15, 20)  # NPS points
SIZES = (100, 300, 1_000, 5_000)  # answers a week in the scope that drops
CHANNELS = {
    "phone": ("billing_hotline", "tech_support"),
    "chat": ("web_chat", "app_chat"),
    "email": ("customer_mailbox", "complaints_mailbox"),
    "web": ("web_form", "payment"),
    "app": ("bill_view", "plan_change"),
}
DROPPED = "chat"
RIGHT_ROOTS = frozenset({f"channel:{DROPPED}", *(f"touchpoint:{t}" for t in CHANNELS[DROPPED])})
SCOPES_TESTED = 1 + len(CHANNELS) + sum(map(len, CHANNELS.values())) + len(SEGMENTS)  # all, channels, ...
WEEKS = 5  # 4 baseline weeks + the current week
END = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday: the run of the first week after the onset
ANSWERS_PER_CUSTOMER = 2.0  # over the 5 weeks: repeat answers of one customer share their loyalty
# the simulator's answer model (stories._contact_survey, answers._answer): the latent score of a resolved
# contact answered without waiting (8.8) less the mean of its penalties (waits, unresolved and repeat
# contacts), which gives an NPS of ~33 as the simulator's; noise of one answer; spread of customers' loyalty
LATENT_MEAN, LATENT_SD, LOYALTY_SD = 8.8 - 0.55, 1.25, 0.8


# -- answers ---------------------------------------------------------------------------------------------
def answers(rng: np.random.Generator, weekly: int, points: float) -> pa.Table:
    """Five weeks of survey answers, every channel `weekly` answers a week; `points` NPS points lower on
    the dropped channel in the last week (0: stable)."""
    per_channel = rng.poisson(weekly * WEEKS, len(CHANNELS))
    n = int(per_channel.sum())
    channel_idx = np.repeat(np.arange(len(CHANNELS)), per_channel)
    channel = np.array(list(CHANNELS), dtype=object)[channel_idx]
    touchpoint = np.array(list(CHANNELS.values()), dtype=object)[channel_idx, rng.integers(0, 2, n)]
    seconds = rng.uniform(0, WEEKS * 7 * 86_400, n)  # from the start of the baseline
    current = seconds >= (WEEKS - 1) * 7 * 86_400
    # customers: a segment and a loyalty each, several answers each
    customers = max(1, round(n / ANSWERS_PER_CUSTOMER))
    shares = np.array([s.share for s in SEGMENTS])
    segment_of = rng.choice(len(SEGMENTS), customers, p=shares / shares.sum())
    loyalty = rng.normal(0, LOYALTY_SD, customers)
    who = rng.integers(0, customers, n)
    bias = np.array([s.bias for s in SEGMENTS])[segment_of[who]]
    s = LATENT_MEAN + bias + loyalty[who] + rng.normal(0, LATENT_SD, n)
    effort = 6.1 + rng.normal(0, 0.5, n)
    if points:
        # answers.py: a bad experience replaces a share p of the scope's answers; p from its NPS before
        scope = channel == DROPPED
        before = np.clip(np.rint(s[scope & ~current]), 0, 10)
        base = (np.mean(before >= 9) - np.mean(before <= 6)) if before.size >= 30 else 0.25
        hit = scope & current & (rng.random(n) < min(1.0, points / 100 / (base + 1)))
        s[hit] = 6.4 - np.abs(rng.normal(0, 2.2, int(hit.sum())))
        effort[hit] -= 2.0
    nps = np.clip(np.rint(s), 0, 10)
    angry = (s < 5.5) & (rng.random(n) < 0.3)
    nps[angry] = rng.choice([0, 0, 1, 2], int(angry.sum()))
    csat = np.clip(np.rint((s + rng.normal(0, 1.0, n) + 0.4) / 2), 1, 5)
    ces = np.clip(np.rint(effort + 0.2 * (s - 8) + rng.normal(0, 1.0, n)), 1, 7)
    start = END - timedelta(days=7 * WEEKS)
    occurred = np.datetime64(start.replace(tzinfo=None), "us") + (seconds * 1e6).astype("timedelta64[us]")
    return pa.table(
        {
            "answer": pa.array(np.arange(n)),
            "occurred_at": pa.array(occurred, pa.timestamp("us", tz="UTC")),
            "customer": pa.array(who),
            "channel": pa.array(channel),
            "touchpoint": pa.array(touchpoint),
            "segment": pa.array(np.array([sg.name for sg in SEGMENTS], dtype=object)[segment_of[who]]),
            "survey": pa.array(np.full(n, "post_contact", dtype=object)),
            "nps": pa.array(nps.astype(np.int16)),
            "csat": pa.array(csat.astype(np.int16)),
            "ces": pa.array(ces.astype(np.int16)),
        }
    )


# -- one run of the real decision code ---------------------------------------------------------------------
def warehouse() -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse as `warehouse.db.connect` makes one: UTC session, the DDL, the staging views."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(resources.files("warehouse").joinpath("ddl.sql").read_text())
    create_views(con)
    return con


def first_run(con: duckdb.DuckDBPyConnection, table: pa.Table, settings: Settings) -> list[str]:
    """Load the answers, run drift -> alerts -> incidents as of END; the root scopes of the incidents opened."""
    con.execute("delete from raw.surveys")
    for name in ("alerts", "incidents"):
        con.execute(f"drop table if exists marts.{name}")
    con.register("answers", table)
    con.execute(
        "insert into raw.surveys by name select * exclude (answer, customer), 'r' || answer as response_id, "
        "'c' || customer as customer_id, '{}' as payload, 't' as kafka_topic, 0 as kafka_partition, "
        "answer as kafka_offset, now() as loaded_at from answers"
    )
    con.unregister("answers")
    windows = Windows.ending(END, settings.alert_current_days, settings.alert_baseline_days)
    findings = detect(con, settings, windows)
    if not any(f.fires for f in findings):
        return []  # nothing to group (a fresh warehouse per run): the same answer, without the writes
    alerts.apply(con, alerts.shift_candidates(findings, None), END, set(RULES.values()))
    transitions = incidents.update(con, settings, windows, findings, END)
    return [t.incident.root_scope for t in transitions if t.event == "opened"]


@dataclasses.dataclass
class Cell:
    points: float
    weekly: int
    seeds: int
    detected: int = 0  # an incident rooted in the chat (or its touchpoints)
    any_incident: int = 0
    incidents: int = 0

    @property
    def rate(self) -> float:
        return self.detected / self.seeds


def power_cell(con: duckdb.DuckDBPyConnection, points: float, weekly: int, seeds: int, settings: Settings) -> Cell:
    cell = Cell(points, weekly, seeds)
    for seed in range(seeds):
        rng = np.random.default_rng([int(points * 10), weekly, seed])
        roots = first_run(con, answers(rng, weekly, points), settings)
        cell.detected += any(r in RIGHT_ROOTS for r in roots)
        cell.any_incident += bool(roots)
        cell.incidents += len(roots)
    return cell


def stable_weeks(
    con: duckdb.DuckDBPyConnection, weeks: int, settings: Settings, sizes: tuple[int, ...] = SIZES
) -> dict:
    """False incidents over `weeks` stable weeks, spread evenly over the sizes."""
    false = 0
    per_size = {}
    for i, weekly in enumerate(sizes):
        count = weeks // len(sizes) + (i < weeks % len(sizes))
        found = sum(
            len(first_run(con, answers(np.random.default_rng([0, weekly, seed, 1]), weekly, 0), settings))
            for seed in range(count)
        )
        per_size[weekly] = {"weeks": count, "false_incidents": found}
        false += found
    scope_weeks = weeks * SCOPES_TESTED
    return {
        "weeks": weeks,
        "scope_weeks": scope_weeks,
        "false_incidents": false,
        "per_100_scope_weeks": 100 * false / scope_weeks,
        "per_size": per_size,
    }


# -- report ------------------------------------------------------------------------------------------------
def wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson interval of a rate k / n (statsmodels)."""
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return float(lo), float(hi)


def svg(cells: list[Cell]) -> str:
    """Detection rate vs weekly answers (log scale), one line per effect size; axes, units, legend."""
    width, height, left, right, top, bottom = 640, 400, 70, 150, 40, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = math.log10(SIZES[0] / 1.5), math.log10(SIZES[-1] * 1.5)

    def x(weekly: float) -> float:
        return left + (math.log10(weekly) - lo) / (hi - lo) * plot_w

    def y(rate: float) -> float:
        return top + (1 - rate) * plot_h

    colours = {5: "#9ecae1", 10: "#4292c6", 15: "#08519c", 20: "#08306b"}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14" font-weight="bold">Detection of an NPS drop at the first weekly '
        "run after its onset</text>",
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.0%}</text>')
    for weekly in SIZES:
        out.append(f'<line x1="{x(weekly):.1f}" x2="{x(weekly):.1f}" y1="{top}" y2="{top + plot_h}" stroke="#eee"/>')
        out.append(f'<text x="{x(weekly):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{weekly:,}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>')
    out.append(
        f'<text x="{left + plot_w / 2}" y="{height - 15}" text-anchor="middle">survey answers per week in the '
        "scope that dropped (log scale)</text>"
    )
    out.append(
        f'<text transform="translate(18 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        "detection rate (incident with the right root), %</text>"
    )
    for row, points in enumerate(EFFECTS):
        line = sorted((c.weekly, c.rate) for c in cells if c.points == points)
        if not line:
            continue
        colour = colours.get(points, "#333")
        path = " ".join(f"{x(w):.1f},{y(r):.1f}" for w, r in line)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        out += [f'<circle cx="{x(w):.1f}" cy="{y(r):.1f}" r="3.5" fill="{colour}"/>' for w, r in line]
        ly = top + 32 + row * 20
        out.append(
            f'<line x1="{width - right + 14}" x2="{width - right + 38}" y1="{ly}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2.5"/>'
        )
        out.append(f'<text x="{width - right + 44}" y="{ly + 4}">−{points} NPS points</text>')
    out.append(f'<text x="{width - right + 14}" y="{top + 14}" fill="#555">size of the drop</text>')
    out.append(
        f'<text x="{width - right + 14}" y="{top + 32 + len(EFFECTS) * 20 + 10}" fill="#555">'
        f"{cells[0].seeds} seeds per point</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def table(cells: list[Cell]) -> list[str]:
    """Markdown table: effect sizes in rows, weekly answers in columns, detection rate (95 % interval)."""
    head = "| NPS drop \\ answers a week | " + " | ".join(f"{w:,}" for w in SIZES) + " |"
    lines = [head, "|---" * (len(SIZES) + 1) + "|"]
    for points in EFFECTS:
        row = []
        for weekly in SIZES:
            cell = next(c for c in cells if c.points == points and c.weekly == weekly)
            lo, hi = wilson(cell.detected, cell.seeds)
            row.append(f"{cell.rate:.0%} ({lo:.0%}–{hi:.0%})")
        lines.append(f"| −{points} points | " + " | ".join(row) + " |")
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=50, help="seeds per cell (effect x weekly answers)")
    parser.add_argument("--stable-weeks", type=int, default=500, help="stable simulated weeks")
    parser.add_argument("--quick", action="store_true", help="10 seeds per cell and 100 stable weeks")
    parser.add_argument("--chart", type=Path, default=CHART, help=f"where the chart goes (default {CHART})")
    args = parser.parse_args(argv)
    seeds, weeks = (10, 100) if args.quick else (args.seeds, args.stable_weeks)
    settings = Settings()
    con = warehouse()
    cpu = time.process_time()  # on a shared machine the CPU time says what the grid costs; wall time what it took
    started = time.perf_counter()
    cells = []
    for points in EFFECTS:
        for weekly in SIZES:
            cells.append(power_cell(con, points, weekly, seeds, settings))
            print(f"-{points} points, {weekly} a week: {cells[-1].rate:.0%}", file=sys.stderr, flush=True)
    power_s = time.perf_counter() - started
    started = time.perf_counter()
    stable = stable_weeks(con, weeks, settings)
    stable_s = time.perf_counter() - started
    con.close()
    if not args.quick:  # the chart shows the full grid only
        args.chart.write_text(svg(cells))
    result = {
        "seeds_per_cell": seeds,
        "power": [dataclasses.asdict(c) | {"rate": c.rate} for c in cells],
        "power_table": table(cells),
        "stable": stable,
        "runs": len(cells) * seeds + weeks,
        "power_s": power_s,
        "stable_s": stable_s,
        "cpu_s": time.process_time() - cpu,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
