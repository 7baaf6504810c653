"""JSON Schema files of the event contracts, generated from streams.contracts (never edited by hand).

Regenerate with `python -m streams.jsonschema`; a test fails when docs/contracts/ is stale.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from streams.alert_contract import AlertsMessage
from streams.contracts import SurveyResponse, TouchpointEvent

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "docs" / "contracts"
_NOTES = {
    "cx.touchpoints": "Also: talk_s, hold_s, acw_s required when outcome is answered; category required when "
    "is_complaint is true; occurred_at not more than 1 day in the future. Unknown fields are kept.",
    "cx.surveys": "Also: at least one of nps, csat, ces is present; occurred_at not more than 1 day in the "
    "future. Unknown fields are kept.",
    "cx.alerts": "What people are told, one JSON message each; `kind` says which: `incident` (an incident "
    "opened, changed severity or resolved, with its member findings), `digest` (the KPIs red against their "
    "target in one period, once per period), `hot` (one answer that needs a call back). Generated from "
    "streams/alert_contract.py.",
}


def render() -> dict[str, str]:
    """File name -> JSON text for each topic's contract."""
    files = {}
    for topic, annotation in (
        ("cx.touchpoints", TouchpointEvent),
        ("cx.surveys", SurveyResponse),
        ("cx.alerts", AlertsMessage),
    ):
        schema = msgspec.json.schema(annotation)
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": topic,
            "description": _NOTES[topic],
            **schema,
        }
        files[f"{topic}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def write(folder: Path = CONTRACTS_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        (folder / name).write_text(text)
        written.append(folder / name)
    return written


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path}")
