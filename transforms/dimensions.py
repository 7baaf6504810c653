"""The four dimensions of an experience (relational, service, experiential, emotional), from the
`dimensions:` block of transforms/kpis.yaml: their components and the scale each is normalised on.

`register` exposes them to SQL as the temp table `dimension_components` (one row per component, with
its dimension), which marts.experience_dimensions joins to the component values it measures. A
component that names a catalogue KPI takes that KPI's labels, unit, target and min_n (one definition).
Errors name the dimension, the component and the key at fault.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from functools import cache
from importlib import resources
from typing import Any

import duckdb
import yaml

from transforms.catalogue import CatalogueError, load_catalogue

DIMENSIONS = ("relational", "service", "experiential", "emotional")
_OWN_KEYS = ("label_en", "label_fr", "unit", "worst", "best", "target", "min_n", "grain", "source")


@dataclass(frozen=True)
class Component:
    dimension: str
    dimension_label_en: str
    dimension_label_fr: str
    tolerance: float
    component: str
    label_en: str
    label_fr: str
    unit: str
    worst: float
    best: float
    target: float
    min_n: int
    grain: str
    source: str

    def normalise(self, value: float) -> float:
        """The 0-100 score of a value of this component (linear on [worst, best], clamped)."""
        return 100 * min(1.0, max(0.0, (value - self.worst) / (self.best - self.worst)))


def _number(where: str, key: str, value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise CatalogueError(f"{where}, key '{key}': {key} must be a number, got {value!r}")
    return float(value)


def _component(dimension: str, head: dict, name: str, entry: Any) -> Component:
    where = f"dimension '{dimension}', component '{name}'"
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: expected a mapping of keys, got {entry!r}")
    if "kpi" in entry:
        unknown = sorted(set(entry) - {"kpi", "worst", "best"})
        kpis = load_catalogue()
        if entry["kpi"] not in kpis:
            raise CatalogueError(f"{where}, key 'kpi': unknown KPI {entry['kpi']!r}")
        kpi = kpis[entry["kpi"]]
        own = {
            "label_en": kpi.label_en,
            "label_fr": kpi.label_fr,
            "unit": kpi.unit,
            "target": kpi.target,
            "min_n": kpi.min_n,
            "grain": kpi.grain,
            "source": f"marts.{kpi.source} (KPI {kpi.id})",
        }
    else:
        unknown = sorted(set(entry) - set(_OWN_KEYS))
        own = {k: entry.get(k) for k in _OWN_KEYS if k not in ("worst", "best")}
    missing = [k for k in ("worst", "best") if k not in entry] + [k for k, v in own.items() if v is None]
    if missing or unknown:
        raise CatalogueError(f"{where}: missing keys {missing}, unknown keys {unknown}")
    worst, best = _number(where, "worst", entry["worst"]), _number(where, "best", entry["best"])
    if worst == best:
        raise CatalogueError(f"{where}, key 'best': best must differ from worst ({worst})")
    min_n = own["min_n"]
    if not isinstance(min_n, int) or isinstance(min_n, bool) or min_n < 0:
        raise CatalogueError(f"{where}, key 'min_n': min_n must be an integer >= 0, got {min_n!r}")
    return Component(
        dimension=dimension,
        dimension_label_en=head["label_en"],
        dimension_label_fr=head["label_fr"],
        tolerance=head["tolerance"],
        component=name,
        label_en=str(own["label_en"]),
        label_fr=str(own["label_fr"]),
        unit=str(own["unit"]),
        worst=worst,
        best=best,
        target=_number(where, "target", own["target"]),
        min_n=min_n,
        grain=str(own["grain"]),
        source=str(own["source"]),
    )


def parse(data: Any) -> list[Component]:
    """Validate the `dimensions:` block of a loaded kpis.yaml: the four dimensions, in DIMENSIONS order."""
    block = data.get("dimensions") if isinstance(data, dict) else None
    if not isinstance(block, dict) or sorted(block) != sorted(DIMENSIONS):
        found = sorted(block) if isinstance(block, dict) else block
        raise CatalogueError(f"kpis.yaml 'dimensions:' must define exactly {', '.join(DIMENSIONS)}; got {found}")
    components: list[Component] = []
    for dimension in DIMENSIONS:
        entry = block[dimension]
        where = f"dimension '{dimension}'"
        if not isinstance(entry, dict) or not isinstance(entry.get("components"), dict) or not entry["components"]:
            raise CatalogueError(f"{where}: expected label_en, label_fr, tolerance and a mapping of components")
        missing = [k for k in ("label_en", "label_fr", "tolerance") if k not in entry]
        if missing:
            raise CatalogueError(f"{where}: missing keys {missing}")
        head = {**entry, "tolerance": _number(where, "tolerance", entry["tolerance"])}
        components += [_component(dimension, head, name, e) for name, e in entry["components"].items()]
    names = [c.component for c in components]
    if len(set(names)) != len(names):
        raise CatalogueError(f"kpis.yaml 'dimensions:': a component belongs to one dimension only: {names}")
    return components


@cache
def load_components() -> tuple[Component, ...]:
    """The components of the four dimensions from transforms/kpis.yaml (validated; cached)."""
    text = resources.files("transforms").joinpath("kpis.yaml").read_text()
    return tuple(parse(yaml.safe_load(text)))


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Expose the components to SQL as the temp table dimension_components (one row per component)."""
    con.execute("""
        create or replace temp table dimension_components (
            dimension varchar, dimension_label_en varchar, dimension_label_fr varchar, tolerance double,
            component varchar, label_en varchar, label_fr varchar, unit varchar, worst double, best double,
            target double, min_n integer, grain varchar, source varchar)
    """)
    con.executemany(
        "insert into dimension_components values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [astuple(c) for c in load_components()],
    )
