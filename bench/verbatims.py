"""Verbatim analysis benchmark: answers/s on one core and the peak RSS.

Usage: python -m bench.verbatims [--answers 50000] [--repeats 3]

The process is pinned to one CPU. Two figures: the build's analyser alone (`default_analyser()`: the
learned model of transforms/verbatims/learned.py, which runs the lexicon analyser too; one call per
answer; the lexicon analyser alone beside it), and the build's analysis step end to end
(transforms/verbatims/store.analyse_new: read the unanalysed answers of raw.surveys, analyse, write
staging.verbatim_analysis, mark the days dirty) on a fresh warehouse. The texts are the simulator's
(streams/simulator/verbatims.py: fragments with variants and typos), so the per-word memo of the
analyser sees a realistic vocabulary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from transforms.verbatims.analyse import analyser
from transforms.verbatims.learned import default_analyser, learned_analyser
from transforms.verbatims.store import analyse_new
from warehouse.db import connect, transaction


def texts(answers: int, seed: int = 1) -> list[tuple[str, str | None]]:
    """Simulated verbatims (text, language), a tenth without their language."""
    from streams.simulator.verbatims import compose

    rng = random.Random(seed)
    out = []
    for _ in range(answers):
        language = "fr" if rng.random() < 0.8 else "en"
        band = rng.choice(("pos", "mid", "neg"))
        topic = rng.choice(("wait", "billing", "delivery", "digital", "agent", "unresolved", "store", "any"))
        out.append((compose(rng, language, band, topic), None if rng.random() < 0.1 else language))
    return out


def analyser_rate(sample: list[tuple[str, str | None]], model: object) -> tuple[float, float]:
    """Answers per second of wall clock and per second of CPU (the latter does not depend on other processes
    sharing the core)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for text, language in sample:
        model.analyse(text, language)
    return len(sample) / (time.perf_counter() - wall), len(sample) / (time.process_time() - cpu)


def step_rate(sample: list[tuple[str, str | None]], home: Path) -> tuple[float, float]:
    con = connect(home / "cx.duckdb")
    con.execute("set threads = 1")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        (f"r{i}", start + timedelta(seconds=i * 60), f"c{i % 5000}", "phone", "q", "post_contact", 8, text, lang)
        for i, (text, lang) in enumerate(sample)
    ]
    con.executemany(
        "insert into raw.surveys (response_id, occurred_at, customer_id, channel, touchpoint, survey, nps, verbatim, "
        "language, payload, kafka_topic, kafka_partition, kafka_offset, loaded_at) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', 'bench', 0, 0, now())",
        rows,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    with transaction(con):
        analysed = analyse_new(con)
    rates = len(sample) / (time.perf_counter() - wall), len(sample) / (time.process_time() - cpu)
    assert analysed == len(sample)
    con.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    os.environ["OMP_NUM_THREADS"] = "1"
    sample = texts(args.answers)
    default_analyser()  # loading the model and the lexicon is not part of the rate
    alone = [analyser_rate(sample, default_analyser()) for _ in range(args.repeats)]
    lexicon = [analyser_rate(sample, analyser()) for _ in range(args.repeats)]
    steps = []
    for _ in range(args.repeats):
        # each run starts with an empty per-word memo, as a new build process does
        analyser.cache_clear()
        learned_analyser.cache_clear()
        with tempfile.TemporaryDirectory() as tmp:
            steps.append(step_rate(sample, Path(tmp)))

    def spread(values: list[float]) -> dict:
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    summary = {
        "verbatim_answers": args.answers,
        "model_version": default_analyser().version,
        "analyser_answers_per_s": spread([wall for wall, _ in alone]),
        "lexicon_analyser_answers_per_s": spread([wall for wall, _ in lexicon]),
        "analysis_step_answers_per_s": spread([wall for wall, _ in steps]),
        # per second of CPU time: what one core does when the machine is shared
        "analyser_answers_per_cpu_s": spread([cpu for _, cpu in alone]),
        "lexicon_analyser_answers_per_cpu_s": spread([cpu for _, cpu in lexicon]),
        "analysis_step_answers_per_cpu_s": spread([cpu for _, cpu in steps]),
        "cores_used": 1,
        "peak_rss_mb": {"verbatims": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
