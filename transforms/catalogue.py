"""Loads and validates the KPI catalogue (transforms/kpis.yaml), the one definition of each KPI.

The progress dashboard (through the temp table `kpi_catalogue`), the drift alerts and
docs/warehouse.md all read it from here. Errors name the KPI and the key at fault.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass, fields
from functools import cache
from importlib import resources
from typing import Any

import duckdb
import yaml

from transforms.schema import load_schema

UNITS = ("ratio", "seconds", "hours", "points")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_NUMBERS = ("target", "tolerance", "noise_band", "min_effect")
_OPTIONAL = ("service_lever",)
_SCOPE_KINDS = ("touchpoint", "segment")  # channels: the event contract's, named in streams.formatting


class CatalogueError(ValueError):
    """kpis.yaml is invalid; the message names the KPI and the key."""


@dataclass(frozen=True)
class Kpi:
    id: str
    label_en: str
    label_fr: str
    unit: str
    higher_is_better: bool
    target: float
    tolerance: float
    min_n: int
    noise_band: float
    min_effect: float
    grain: str
    source: str
    # a service lever (wait, abandonment, FCR, handling time): named in the incident it moved with
    service_lever: bool = False

    @property
    def source_mart(self) -> str:
        return self.source.partition(".")[0]

    @property
    def source_column(self) -> str:
        return self.source.partition(".")[2]


def _check_entry(kpi_id: str, entry: Any, columns: dict[str, list[str]] | None) -> None:
    def fail(key: str, message: str) -> CatalogueError:
        return CatalogueError(f"KPI '{kpi_id}', key '{key}': {message}")

    if not _ID.match(str(kpi_id)):
        raise fail("id", "must be a lower-case identifier (letters, digits, _)")
    if not isinstance(entry, dict):
        raise CatalogueError(f"KPI '{kpi_id}': expected a mapping of keys, got {entry!r}")
    names = [f.name for f in fields(Kpi) if f.name != "id"]
    missing = [n for n in names if n not in entry and n not in _OPTIONAL]
    unknown = sorted(set(entry) - set(names))
    if missing or unknown:
        raise CatalogueError(f"KPI '{kpi_id}': missing keys {missing}, unknown keys {unknown}")
    for key in ("label_en", "label_fr", "grain"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise fail(key, f"must be a non-empty string, got {entry[key]!r}")
    if not isinstance(entry.get("service_lever", False), bool):
        raise fail("service_lever", f"service_lever must be true or false, got {entry['service_lever']!r}")
    if entry["unit"] not in UNITS:
        raise fail("unit", f"unit must be one of {', '.join(UNITS)}, got {entry['unit']!r}")
    if not isinstance(entry["higher_is_better"], bool):
        raise fail("higher_is_better", f"higher_is_better must be true or false, got {entry['higher_is_better']!r}")
    for key in _NUMBERS:
        value = entry[key]
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise fail(key, f"{key} must be a number, got {value!r}")
        if key != "target" and value < 0:
            raise fail(key, f"{key} must be a number >= 0, got {value!r}")
    if not isinstance(entry["min_n"], int) or isinstance(entry["min_n"], bool) or entry["min_n"] < 0:
        raise fail("min_n", f"min_n must be a number >= 0 (an integer), got {entry['min_n']!r}")
    if entry["unit"] == "ratio" and not 0 <= entry["target"] <= 1:
        raise fail("target", f"a ratio target must be in [0, 1], got {entry['target']!r}")
    mart, _, column = str(entry["source"]).partition(".")
    if not mart or not column:
        raise fail("source", f"source must be <mart>.<column>, got {entry['source']!r}")
    if columns is not None:
        if mart not in columns:
            raise fail("source", f"unknown mart {mart!r} (marts of schema.yaml: {', '.join(columns)})")
        if column not in columns[mart]:
            raise fail("source", f"marts.{mart} has no column {column!r} in schema.yaml")


def parse(data: Any, columns: dict[str, list[str]] | None = None) -> dict[str, Kpi]:
    """Validate a loaded kpis.yaml; `columns` (mart -> columns of schema.yaml) checks each `source`."""
    if not isinstance(data, dict) or not isinstance(data.get("kpis"), dict) or not data["kpis"]:
        raise CatalogueError("the KPI catalogue defines no KPI: expected a mapping under 'kpis:'")
    kpis = {}
    for kpi_id, entry in data["kpis"].items():
        _check_entry(kpi_id, entry, columns)
        kpis[kpi_id] = Kpi(id=kpi_id, **entry)
    return kpis


def _schema_columns() -> dict[str, list[str]]:
    return {model: list(spec["columns"]) for model, spec in load_schema()["models"].items()}


@cache
def load_catalogue() -> dict[str, Kpi]:
    """The KPIs of transforms/kpis.yaml by id, in file order (validated; cached)."""
    text = resources.files("transforms").joinpath("kpis.yaml").read_text()
    return parse(yaml.safe_load(text), _schema_columns())


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Expose the catalogue to SQL as the temp table kpi_catalogue (one row per KPI, column `kpi` = id)."""
    con.execute("""
        create or replace temp table kpi_catalogue (
            kpi varchar, label_en varchar, label_fr varchar, unit varchar, higher_is_better boolean,
            target double, tolerance double, min_n integer, noise_band double, min_effect double,
            grain varchar, source varchar)
    """)
    con.executemany(
        "insert into kpi_catalogue values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [astuple(k)[:12] for k in load_catalogue().values()],  # the columns above; service_lever stays in Python
    )


def service_levers() -> frozenset[str]:
    """The KPIs marked `service_lever: true`: the levers an incident names when they moved with it."""
    return frozenset(k.id for k in load_catalogue().values() if k.service_lever)


def parse_scope_names(data: Any) -> dict[str, dict[str, str]]:
    """Validate the `scope_names` block: kind (touchpoint, segment) -> value -> French name."""
    block = data.get("scope_names", {}) if isinstance(data, dict) else {}
    if not isinstance(block, dict):
        raise CatalogueError(f"scope_names: expected a mapping of scope kinds, got {block!r}")
    out: dict[str, dict[str, str]] = {}
    for kind, values in block.items():
        if kind not in _SCOPE_KINDS or not isinstance(values, dict):
            raise CatalogueError(f"scope_names, key '{kind}': expected one of {', '.join(_SCOPE_KINDS)} with a mapping")
        for raw, name in values.items():
            if not isinstance(name, str) or not name.strip():
                raise CatalogueError(f"scope_names, {kind} '{raw}': expected a non-empty French name, got {name!r}")
            out.setdefault(kind, {})[str(raw)] = name
    return out


@cache
def scope_names() -> dict[str, dict[str, str]]:
    """French names of touchpoints and segments (kpis.yaml `scope_names`); English texts use the
    values as they arrive in events, and a value not listed keeps its raw name in French too."""
    text = resources.files("transforms").joinpath("kpis.yaml").read_text()
    return parse_scope_names(yaml.safe_load(text))
