"""Runs the benchmarks and writes bench/results/latest.json and BENCHMARKS.md.

Usage: python -m bench.run [--quick]   (make bench, make bench QUICK=1)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
REPORT = ROOT / "BENCHMARKS.md"


def _run(module: str, *args: str, reuse: bool = False) -> dict:
    """Run one benchmark module; its figures are kept in bench/results/<name>.json as soon as they exist,
    so that `--reuse` can rebuild the report without measuring again what already succeeded."""
    cache = RESULTS.parent / f"{module.rsplit('.', 1)[-1]}{''.join(args).replace('--', '-')}.json"
    if reuse and cache.exists():
        return json.loads(cache.read_text())
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{module} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout[done.stdout.index("{") :])
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _fmt(value: object) -> str:
    if isinstance(value, dict) and "median" in value:
        return f"{value['median']:,.2f} (min {value['min']:,.2f}, max {value['max']:,.2f})"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same keys (under 3 minutes)")
    parser.add_argument("--reuse", action="store_true", help="reuse the figures of benchmarks that already ran")
    args = parser.parse_args()
    events, touchpoints, small, repeats = (
        (200_000, 2_000_000, 1_000_000, 2) if args.quick else (1_000_000, 10_000_000, 1_000_000, 3)
    )
    ingest = _run("bench.ingest", "--events", str(events), "--repeats", str(repeats), reuse=args.reuse)
    marts = _run(
        "bench.marts",
        "--touchpoints",
        str(touchpoints),
        "--small",
        str(small),
        "--repeats",
        str(repeats),
        reuse=args.reuse,
    )
    hot = "50" if args.quick else "200"
    alerts = _run(
        "bench.alerts", "--touchpoints", str(events), "--hot", hot, "--repeats", str(repeats), reuse=args.reuse
    )
    codec_events, large = (100_000, 100) if args.quick else (500_000, 300)
    codecs = _run("bench.codecs", "--events", str(codec_events), "--large", str(large), reuse=args.reuse)
    freshness = _run("bench.freshness", "--samples", "5" if args.quick else "20", reuse=args.reuse)
    # what a CX lead is told (the demo's scenario; the others in the full run) and the detector's power
    told = _run("bench.incidents", *(("--days", "36") if args.quick else ("--scenarios",)), reuse=args.reuse)
    power = _run("bench.power", *(("--quick",) if args.quick else ()), reuse=args.reuse)
    verbatims = _run("bench.verbatims", "--answers", "20000" if args.quick else "100000", reuse=args.reuse)
    big = touchpoints // 1_000_000
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "command": "make bench" + (" QUICK=1" if args.quick else ""),
        "ingest_events": events,
        "ingest_events_per_s": ingest["ingest_events_per_s"],
        "kcat_events_per_s": ingest["kcat_events_per_s"],
        "ingest_vs_kcat": ingest["ingest_vs_kcat"],
        "mean_message_bytes": ingest["mean_message_bytes"],
        "naive_events_per_s": ingest["naive_events_per_s"],
        "scaleout_events_per_s": ingest["scaleout_events_per_s"],
        "scaleout_2_vs_1": ingest["scaleout_2_vs_1"],
        "marts_touchpoints": touchpoints,
        "full_build_10m_s": marts[f"full_build_{big}m_s"],
        "full_build_10m_cpu_s": marts[f"full_build_{big}m_cpu_s"],
        "full_build_10m_steps": marts[f"full_build_{big}m_steps"],
        "incremental_day_10m_s": marts[f"incremental_day_{big}m_s"],
        "incremental_day_1m_s": marts[f"incremental_day_{small // 1_000_000}m_s"],
        "incremental_10m_vs_1m": marts["incremental_large_vs_small"],
        "drift_check_s": alerts["drift_check_s"],
        "drift_statistics_s": alerts["drift_statistics_s"],
        "check_imports_s": alerts["check_imports_s"],
        "drift_touchpoints": alerts["drift_touchpoints"],
        "hot_alert_p50_s": alerts["hot_alert_p50_s"],
        "hot_alert_p95_s": alerts["hot_alert_p95_s"],
        **{k: v for k, v in freshness.items() if k.startswith("freshness_")},
        "verbatim_answers": verbatims["verbatim_answers"],
        "verbatim_analyser_answers_per_s": verbatims["analyser_answers_per_s"],
        "verbatim_step_answers_per_s": verbatims["analysis_step_answers_per_s"],
        "verbatim_step_answers_per_cpu_s": verbatims["analysis_step_answers_per_cpu_s"],
        "peak_rss_mb": {
            **ingest["peak_rss_mb"],
            **marts["peak_rss_mb"],
            **alerts.get("peak_rss_mb", {}),
            **verbatims["peak_rss_mb"],
        },
        "codec_events": codec_events,
        "codec_events_per_s": codecs["events_per_s"],
        "codec_vs_none": codecs["vs_none"],
        "codec_peak_rss_mb": codecs["codec_peak_rss_mb"],
        "large_1mb": codecs["large_1mb"],
        "gzip_ratio": codecs["gzip_ratio"],
        "demo_incidents": told["demo"],
        "scenario_incidents": told["scenarios"],
        "power": power,
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{result['command']}` on {result['date']} ({result['machine']['cores']} cores, "
        f"{result['machine']['memory_gib']} GiB). Figures are medians (min, max) over repeats in one run;",
        "raw numbers in `bench/results/latest.json`."
        + (" QUICK mode: smaller sizes, same keys." if args.quick else ""),
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| ingest, Kafka -> validated durable Parquet, 1 process ({events:,} events of "
        f"~{result['mean_message_bytes']} B), events/s | {_fmt(result['ingest_events_per_s'])} | >= 60k and "
        ">= 0.5 x kcat |",
        f"| kcat raw consume of the same topic, events/s | {_fmt(result['kcat_events_per_s'])} | ceiling |",
        f"| ingest / kcat | {_fmt(result['ingest_vs_kcat'])} | >= 0.5 |",
        f"| naive loop (kafka-python + json + one DuckDB INSERT per event, 20k sample), events/s | "
        f"{result['naive_events_per_s']:,.0f} | what we beat |",
        f"| `cxpulse consume` services in one group on 3 partitions, joined before the events are produced: "
        f"1 / 2, events/s (produce -> every partition landed) | "
        f"{result['scaleout_events_per_s']['1_process']:,.0f} / {result['scaleout_events_per_s']['2_process']:,.0f}"
        f" (x{result['scaleout_2_vs_1']:.2f}) | |",
        f"| full build of all marts, {touchpoints:,} touchpoints + {touchpoints // 10:,} surveys, s | "
        f"{_fmt(result['full_build_10m_s'])} | <= 20 s and <= 4 GiB |",
        "| the same per step, slowest first (each mart; `.python`: its Python step), wall s / CPU s | "
        + ", ".join(
            f"{name} {t['wall_s']:.1f} / {t['cpu_s']:.1f}"
            for name, t in result["full_build_10m_steps"].items()
            if t["wall_s"] >= 0.1
        )
        + f" (whole build CPU {_fmt(result['full_build_10m_cpu_s'])}) | |",
        f"| incremental build of one new day over {touchpoints:,} touchpoints, s | "
        f"{_fmt(result['incremental_day_10m_s'])} | <= 2 s |",
        f"| the same over {small:,} touchpoints, s | {_fmt(result['incremental_day_1m_s'])} | |",
        f"| incremental large / small history | {_fmt(result['incremental_10m_vs_1m'])} | <= 1.5 |",
        f"| drift check over 90 days x all scopes ({result['drift_touchpoints']:,} touchpoints, "
        f"{result['drift_touchpoints'] // 10:,} answers): gates, drift, Evidently, alerts, s | "
        f"{_fmt(result['drift_check_s'])} (+ {result['check_imports_s']:.1f} s of GX/Evidently imports once per "
        f"process; statistics alone {_fmt(result['drift_statistics_s'])}) | <= 30 s |",
        f"| hot alert latency produce -> cx.alerts, p50 / p95, s | {result['hot_alert_p50_s']:.3f} / "
        f"{result['hot_alert_p95_s']:.3f} | p95 <= 2 s |",
        f"| freshness under the real scheduler (`cxpulse airflow start`, landing watcher), produce -> published "
        f"snapshot p50 / p95, s ({result['freshness_samples']} samples) | {result['freshness_snapshot_p50_s']:.1f} / "
        f"{result['freshness_snapshot_p95_s']:.1f} | p95 <= 60 s |",
        f"| the same to the dashboard, p50 / p95, s | {result['freshness_dashboard_p50_s']:.1f} / "
        f"{result['freshness_dashboard_p95_s']:.1f} | p95 <= 60 s |",
        f"| the former 5-minute poll (model: next tick + the chain measured above), p50 / p95, s | "
        f"{result['freshness_poll_model_p50_s']:.0f} / {result['freshness_poll_model_p95_s']:.0f} | what we beat |",
        f"| verbatim analysis on 1 core ({result['verbatim_answers']:,} simulated answers), answers/s: the "
        f"analyser alone / the build's step (read raw.surveys, analyse, write staging) | "
        f"{_fmt(result['verbatim_analyser_answers_per_s'])} / {_fmt(result['verbatim_step_answers_per_s'])} "
        f"(step per CPU second: {result['verbatim_step_answers_per_cpu_s']['median']:,.0f}) | >= 500 |",
        f"| peak RSS per stage, MB (ingest: process RSS after consuming; others: process peak) | "
        f"{ {k: round(v) for k, v in result['peak_rss_mb'].items()} } | <= 4 GiB |",
        *codec_lines(result),
        *incident_lines(result),
        "",
        *power_lines(result),
        "",
    ]
    REPORT.write_text("\n".join(lines) + (REPORT_NOTES.read_text() if REPORT_NOTES.exists() else ""))
    print("\n".join(lines))


def codec_lines(result: dict) -> list[str]:
    """The rows of bench.codecs: ingest per codec (kcat-produced batches) and peak RSS with large records."""
    rates, ratio = result["codec_events_per_s"], result["codec_vs_none"]
    large, gzip = result["large_1mb"], result["gzip_ratio"]
    return [
        f"| ingest per codec, {result['codec_events']:,} events, 1 process, events/s (x uncompressed): "
        + ", ".join(f"{c} {rates[c]:,.0f} (x{ratio[c]:.2f})" for c in rates)
        + " | every codec >= 0.8 x none |",
        f"| peak RSS of one consumer process per codec, MB | "
        f"{ {c: round(v) for c, v in result['codec_peak_rss_mb'].items()} } | |",
        f"| {large['events']} records of ~1 MB: events/s, peak RSS MB | {large['events_per_s']:,.1f}, "
        f"{large['peak_rss_mb']:,.0f} | bounded by fetch + batch byte budgets |",
        f"| gzip batches of ratio {1 / gzip['compression_rate']:,.0f}:1 (Java producer, {gzip['events']} records of "
        f"{gzip['record_bytes'] // 1000} KB): events/s, peak RSS MB | {gzip['events_per_s']:,.1f}, "
        f"{gzip['peak_rss_mb']:,.0f} | bounded by one decompressed batch + poll byte budget |",
    ]


def incident_lines(result: dict) -> list[str]:
    """The rows of bench.incidents: what the demo's scenario notifies, and the scenarios beyond it."""
    demo = result["demo_incidents"]
    roots = ", ".join(
        f"`{i['root']}` (explained_share {i['explained_share']:.2f}, {i['findings']} findings)"
        for i in demo["incidents"]
    )
    lines = [
        f"| demo scenario (`{demo['scenario']}`, {demo['days']} days x {demo['customers']:,} customers, whole quality "
        f"check on a new warehouse): incidents notified; root; target digests notified | {demo['incidents_notified']}; "
        f"{roots or '-'}; {demo['target_digests_notified']} ({demo['open_drift_findings']} drift findings and "
        f"{demo['open_target_breaches']} target breaches open behind them) | 1; `channel:chat` or its touchpoints, "
        ">= 0.8; 0 |",
    ]
    for s in result["scenario_incidents"]:
        found = "; ".join(
            f"`{i['root']}` on {i['root_kpi']} (explained {i['explained_share']:.2f}, mix share "
            f"{i['mix_share']:.2f}, KPIs {', '.join(i['kpis'])})"
            for i in s["incidents"]
        )
        lines.append(
            f"| scenario `{s['scenario']}` ({s['days']} days): incidents notified; root | {s['incidents_notified']}; "
            f"{found or '-'} | one, right root: {'yes' if s['recognised'] else '**no**'} |"
        )
    return lines


def power_lines(result: dict) -> list[str]:
    """The power table of bench.power (docs/power.svg, docs/alerts.md)."""
    power, stable = result["power"], result["power"]["stable"]
    return [
        "## Power of the incident detector (`python -m bench.power`, part of `make bench`)",
        "",
        f"Detection rate (95 % Wilson interval) of an NPS drop on one channel at the first weekly run after its "
        f"onset, over {power['seeds_per_cell']} seeds per cell: an incident opened with the right root "
        "(`channel:chat` or a chat touchpoint). Real decision code on generated answers (bench/power.py, "
        'docs/alerts.md "What the detector can see"). Chart: docs/power.svg.',
        "",
        *power["power_table"],
        "",
        f"False incidents on stable data: {stable['false_incidents']} in {stable['weeks']} stable weeks = "
        f"{stable['scope_weeks']:,} scope-weeks, **{stable['per_100_scope_weeks']:.3f} per 100 scope-weeks** "
        f"(goal < 1). {power['runs']:,} runs of the detector in {power['power_s'] + power['stable_s']:,.0f} s "
        f"({power['cpu_s']:,.0f} s of CPU, one process).",
    ]


REPORT_NOTES = ROOT / "bench" / "NOTES.md"

if __name__ == "__main__":
    main()
