"""Loads and validates the KPI catalogue (transforms/kpis.yaml), the one definition of each KPI."""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from functools import cache
from importlib import resources

import duckdb
import yaml

UNITS = ("ratio", "seconds", "hours", "points")


class CatalogueError(ValueError):
    pass


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


def parse(data: dict) -> dict[str, Kpi]:
    kpis = {}
    names = [f.name for f in fields(Kpi) if f.name != "id"]
    for kpi_id, entry in (data.get("kpis") or {}).items():
        missing = [n for n in names if n not in entry]
        unknown = sorted(set(entry) - set(names))
        if missing or unknown:
            raise CatalogueError(f"KPI '{kpi_id}': missing keys {missing}, unknown keys {unknown}")
        if entry["unit"] not in UNITS:
            raise CatalogueError(
                f"KPI '{kpi_id}': unit must be one of {', '.join(UNITS)}, got {entry['unit']!r}"
            )
        if not isinstance(entry["higher_is_better"], bool):
            raise CatalogueError(f"KPI '{kpi_id}': higher_is_better must be true or false")
        for key in ("target", "tolerance", "noise_band", "min_effect", "min_n"):
            if not isinstance(entry[key], int | float) or isinstance(entry[key], bool) or entry[key] < 0:
                raise CatalogueError(f"KPI '{kpi_id}': {key} must be a number >= 0, got {entry[key]!r}")
        kpis[kpi_id] = Kpi(id=kpi_id, **entry)
    if not kpis:
        raise CatalogueError("the KPI catalogue defines no KPI")
    return kpis


@cache
def load_catalogue() -> dict[str, Kpi]:
    return parse(yaml.safe_load(resources.files("transforms").joinpath("kpis.yaml").read_text()))


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Expose the catalogue to SQL as the temp table kpi_catalogue."""
    con.execute("""
        create or replace temp table kpi_catalogue (
            kpi varchar, label_en varchar, label_fr varchar, unit varchar, higher_is_better boolean,
            target double, tolerance double, min_n integer, noise_band double, min_effect double,
            grain varchar)
    """)
    con.executemany(
        "insert into kpi_catalogue values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [astuple(k) for k in load_catalogue().values()],
    )
