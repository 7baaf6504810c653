"""The house rules of issue 18 that a test can hold (the import contracts are `make lint`'s): no module over
~600 lines, every third-party import of the product declared in pyproject.toml, every alert rule the code
names listed in the one place rules are listed (streams.alert_contract.Rule)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path
from typing import get_args

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("cxpulse", "dags", "quality", "streams", "transforms", "warehouse")
MAX_LINES = 650  # "no module over ~600 lines"


def _product_modules() -> list[Path]:
    return sorted(p for package in PRODUCT for p in (ROOT / package).rglob("*.py"))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_no_module_over_about_600_lines() -> None:
    # the product and its tests (bench/verbatims_candidates.py, a one-off comparison of models, has 927)
    files = _product_modules() + sorted((ROOT / "tests").rglob("*.py"))
    long = {str(p.relative_to(ROOT)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_every_third_party_import_of_the_product_is_declared() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {_normalise(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in pyproject["project"]["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for path in _product_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in PRODUCT or top == "__future__":
                    continue
                if not {_normalise(d) for d in distributions.get(top, [top])} & declared:
                    undeclared.setdefault(top, str(path.relative_to(ROOT)))
    assert undeclared == {}, "declare them in pyproject.toml dependencies (then make lock)"


def test_every_rule_the_code_names_is_a_rule_of_the_alert_contract() -> None:
    from quality import check, emerging, hot_alerts, incidents, journeys
    from quality.drift import RULES
    from streams.alert_contract import Rule

    rules = set(get_args(Rule))
    named = {emerging.RULE, hot_alerts.RULE, journeys.RULE, *RULES.values()}
    named |= check.MANAGED_RULES | incidents.GROUPED_RULES | incidents.DRIFT_RULES
    assert named - rules == set()
    # and every rule of the contract is written by some code of ours
    assert rules - named == set()
