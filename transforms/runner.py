"""The transforms' entry points, for the CLI, the DAGs and the tests: build the models, run their tests.

The work lives in modules that each do one thing: `transforms.sql` (reading and running the SQL
files), `transforms.dag` (the build order, from what each model reads), `transforms.calendar` (the
reporting time zone), `transforms.build` (the incremental build) and `transforms.schema`
(schema.yaml and its model tests).
"""

from __future__ import annotations

from transforms.build import MART_SPECS, MARTS, STAGING_TABLES, BuildResult, MartSpec, build, create_views
from transforms.schema import SchemaTestError, TestFailure, load_schema, run_schema_tests
from transforms.sql import model_sql

__all__ = [
    "MARTS",
    "MART_SPECS",
    "STAGING_TABLES",
    "BuildResult",
    "MartSpec",
    "SchemaTestError",
    "TestFailure",
    "build",
    "create_views",
    "load_schema",
    "model_sql",
    "run_schema_tests",
]
