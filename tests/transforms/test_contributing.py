"""CONTRIBUTING.md works: its worked example (a throwaway mart and KPI) applied to a copy of transforms/
is built, rebuilt incrementally, tested by schema.yaml, checked by the quality gates' bounds and shown
on the progress dashboard.

The test takes the example blocks out of CONTRIBUTING.md itself (each follows a marker comment naming
where it goes), so the recipe and the test cannot drift apart. The copy is imported as the package
`transforms` in a child process; the repository's own files are not touched.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
MARKER = "-- new KPIs: one union all branch each, above this line"


def examples() -> dict[str, str]:
    """The fenced blocks of CONTRIBUTING.md, by the text of the `<!-- example: ... -->` marker before them."""
    text = (REPO / "CONTRIBUTING.md").read_text()
    found = re.findall(r"<!-- example: (.+?) -->\n```[a-z]*\n(.*?)```", text, flags=re.S)
    return dict(found)


def apply_recipe(root: Path) -> None:
    """Do what CONTRIBUTING.md says, in the copy of transforms/ under root."""
    blocks = examples()
    assert set(blocks) == {
        "new file transforms/marts/survey_mix_daily.sql",
        "schema.yaml models",
        "kpis.yaml kpis",
        "progress_dashboard.sql values_long",
    }, blocks.keys()
    (root / "transforms" / "marts" / "survey_mix_daily.sql").write_text(
        blocks["new file transforms/marts/survey_mix_daily.sql"]
    )
    for file, key, block in (("schema.yaml", "models", "schema.yaml models"), ("kpis.yaml", "kpis", "kpis.yaml kpis")):
        path = root / "transforms" / file
        data = yaml.safe_load(path.read_text())
        data[key].update(yaml.safe_load(blocks[block]))
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    dashboard = root / "transforms" / "marts" / "progress_dashboard.sql"
    sql = dashboard.read_text()
    assert sql.count(MARKER) == 1
    dashboard.write_text(sql.replace(f"    {MARKER}", blocks["progress_dashboard.sql values_long"] + f"    {MARKER}"))


# Runs in a child process with the copy imported as `transforms` (the editable install maps the name
# to the repository; loading the copy's __init__ by path makes its folder the package's).
CHILD = r"""
import dataclasses, importlib.util, json, sys
from datetime import date
from pathlib import Path

root, home = Path(sys.argv[1]), Path(sys.argv[2])
spec = importlib.util.spec_from_file_location(
    "transforms", root / "transforms" / "__init__.py", submodule_search_locations=[str(root / "transforms")]
)
package = importlib.util.module_from_spec(spec)
sys.modules["transforms"] = package
spec.loader.exec_module(package)

from cxpulse.config import Settings
from transforms.runner import MARTS, build, load_schema, run_schema_tests
from transforms.schema import gate_bounds
from warehouse.db import connect

assert package.__file__.startswith(str(root)), package.__file__
settings = dataclasses.replace(Settings(), home=home)
con = connect(settings.warehouse_path)
ids = iter(range(10**6))

def survey(at, channel, nps, csat=None):
    n = next(ids)
    con.execute(
        "insert into raw.surveys (response_id, occurred_at, customer_id, channel, touchpoint, survey, nps, csat, "
        "payload, kafka_topic, kafka_partition, kafka_offset, loaded_at) "
        "values (?, ?, 'c', ?, 'tp', 'post_contact', ?, ?, '{}', 's', 0, ?, now())",
        [f"r{n}", at, channel, nps, csat, n],
    )
    con.execute("insert or ignore into ops.dirty_days select cast(cast(? as timestamptz) as date)", [at])

def mix(day):
    rows = con.execute(
        "select channel, responses, nps_n, promoters, promoter_share from marts.survey_mix_daily "
        "where day = ? order by channel", [day]).fetchall()
    return [list(r) for r in rows]

def dashboard():
    rows = con.execute(
        "select scope, value, n, status, previous_value from marts.progress_dashboard "
        "where kpi = 'promoter_share' and period_type = 'week' and period_start = '2026-03-09' order by scope"
    ).fetchall()
    return [list(r) for r in rows]

out = {"marts": list(MARTS)}
survey("2026-03-10T09:00:00Z", "chat", 10)
survey("2026-03-10T10:00:00Z", "chat", 9)
survey("2026-03-10T11:00:00Z", "chat", 3)
survey("2026-03-10T12:00:00Z", "web", None, csat=4)
out["first_full"] = build(con, settings).full
out["mix_10"] = mix(date(2026, 3, 10))
out["dashboard_1"] = dashboard()

survey("2026-03-11T09:00:00Z", "chat", 10)
result = build(con, settings)
out["second_full"] = result.full
out["second_scope"] = [str(d) for d in result.scope["survey_mix_daily"]]
out["mix_11"] = mix(date(2026, 3, 11))
out["dashboard_2"] = dashboard()
out["bounds"] = {k: list(v) for k, v in gate_bounds(load_schema()["models"]["survey_mix_daily"]).items()}

con.execute("update marts.survey_mix_daily set promoter_share = 2 where channel = 'all'")
out["failures"] = [[f.model, f.test, f.failing_rows] for f in run_schema_tests(con)]
print(json.dumps(out))
"""


def test_a_throwaway_mart_and_kpi_added_by_following_contributing(tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(REPO / "transforms", root / "transforms", ignore=shutil.ignore_patterns("__pycache__"))
    apply_recipe(root)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(tmp_path / "home")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])

    # the new mart is built, after nothing it needs, and before the dashboard that reads it
    assert out["marts"].index("survey_mix_daily") < out["marts"].index("progress_dashboard")
    assert out["first_full"] is True  # first build: the marts are created
    # 10 March: chat 10, 9, 3 -> 3 NPS answers, 2 promoters; web: one answer without NPS
    assert out["mix_10"] == [["all", 4, 3, 2, 2 / 3], ["chat", 3, 3, 2, 2 / 3], ["web", 1, 0, 0, None]]
    # the week of Monday 9 March: 2 / 3, on 3 answers, below min_n 30 -> no_data; no previous week
    assert out["dashboard_1"] == [
        ["all", 2 / 3, 3, "no_data", None],
        ["channel:chat", 2 / 3, 3, "no_data", None],
        ["channel:web", None, 0, "no_data", None],
    ]
    # an answer on 11 March: an incremental build rebuilds that day only, and the week's value moves
    assert out["second_full"] is False
    assert out["second_scope"] == ["2026-03-11"]
    assert out["mix_11"] == [["all", 1, 1, 1, 1.0], ["chat", 1, 1, 1, 1.0]]
    assert out["dashboard_2"] == [
        ["all", 3 / 4, 4, "no_data", None],
        ["channel:chat", 3 / 4, 4, "no_data", None],
        ["channel:web", None, 0, "no_data", None],
    ]
    # the quality gates check the column marked gate: true, within its range
    assert out["bounds"] == {"promoter_share": [0, 1]}
    # and the model tests of its schema entry catch a broken value (2 days of 'all' rows)
    assert out["failures"] == [["survey_mix_daily", "promoter_share range", 2]]


def test_the_recipe_markers_exist_in_the_repository() -> None:
    sql = (REPO / "transforms" / "marts" / "progress_dashboard.sql").read_text()
    assert sql.count(MARKER) == 1
