"""The per-answer analysis of verbatims, kept in `staging.verbatim_analysis`, run by the transforms build.

One row per survey answer with a verbatim: language (as sent, or detected), sentiment score in [-1, 1]
and class, topics, and the analyser version (`model_version`: the code version and a hash of the
model and lexicon files). The analyser is `learned.default_analyser()` (the learned model, which reads
the lexicon analyser's findings too; chosen on accuracy and speed, BENCHMARKS.md "Verbatims").
It is personal data derived from the answer: it stays in `staging` (never published),
and `cxpulse forget` deletes it with the answer (warehouse/erasure.py); a build also drops the rows
whose answer is gone.

Incremental: a build analyses the answers that have no row of the current version (looked for on the
days the loader marked dirty), in the same transaction as the marts. Answers analysed by another version
are analysed again; the UTC days of every answer analysed go into ops.dirty_days so the marts of those
days are rebuilt with the new rows. An analysis depends on the text only, so a full build gives the
very same rows.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from transforms.verbatims.analyse import analyser
from transforms.verbatims.learned import default_analyser

DDL = """
create table if not exists staging.verbatim_analysis (
    response_id        varchar primary key,
    language           varchar not null,
    language_detected  boolean not null,
    sentiment_score    double not null,
    sentiment          varchar not null,
    topics             varchar[] not null,
    model_version      varchar not null
)
"""
BATCH = 10_000


def create_table(con: duckdb.DuckDBPyConnection) -> None:
    """The table, and the temp table `verbatim_taxonomy` (topic, labels, definition) the SQL models read."""
    con.execute(DDL)
    con.execute(
        "create or replace temp table verbatim_taxonomy "
        "(topic varchar, label_en varchar, label_fr varchar, definition varchar)"
    )
    con.executemany(
        "insert into verbatim_taxonomy values (?, ?, ?, ?)",
        [(t.key, t.label_en, t.label_fr, t.definition) for t in analyser().topics.values()],
    )


def analyse_new(con: duckdb.DuckDBPyConnection, *, full: bool = False) -> int:
    """Analyse the answers with a verbatim not analysed by the current version; returns how many.

    Runs inside the caller's transaction (the build's), before ops.dirty_days is read. New answers are
    looked for on the UTC days of ops.dirty_days only (the loader marks the days of every row it adds),
    so an incremental build does not read every stored verbatim; all answers are looked at when `full`,
    when the table is empty, or when rows of another analyser version were dropped."""
    create_table(con)
    model = default_analyser()
    version = {"version": model.version}
    # rows of answers erased or reloaded since, and rows of an older analyser
    con.execute(
        "delete from staging.verbatim_analysis as a where not exists "
        "(select 1 from raw.surveys as s where s.response_id = a.response_id and s.verbatim is not null)"
    )
    outdated = con.execute(
        "select count(*) from staging.verbatim_analysis where model_version <> $version", version
    ).fetchall()[0][0]
    con.execute("delete from staging.verbatim_analysis where model_version <> $version", version)
    empty = con.execute("select count(*) = 0 from staging.verbatim_analysis").fetchall()[0][0]
    everything = full or empty or outdated > 0
    pending = """
        select s.response_id, s.verbatim, s.language, cast(s.occurred_at as date) as utc_day
        from raw.surveys as s
        where s.verbatim is not null and trim(s.verbatim) <> ''
            and not exists (select 1 from staging.verbatim_analysis as a where a.response_id = s.response_id)
    """
    if not everything:
        # a sargable range first (row-group filter), then the exact days
        pending += """
            and s.occurred_at >= cast((select min(day) from ops.dirty_days) as timestamptz) - interval 1 day
            and s.occurred_at < cast((select max(day) from ops.dirty_days) as timestamptz) + interval 2 day
            and cast(s.occurred_at as date) in (select day from ops.dirty_days)
        """
    cursor = con.execute(pending)
    batches, days = [], set()
    while rows := cursor.fetchmany(BATCH):
        ids, texts, languages, utc_days = (list(column) for column in zip(*rows, strict=True))
        days.update(utc_days)
        results = [model.analyse(text, lang) for text, lang in zip(texts, languages, strict=True)]
        batches.append(
            pa.table(
                {
                    "response_id": ids,
                    "language": [r.language for r in results],
                    "language_detected": [r.language_detected for r in results],
                    "sentiment_score": pa.array([r.sentiment_score for r in results], pa.float64()),
                    "sentiment": [r.sentiment for r in results],
                    "topics": pa.array([list(r.topics) for r in results], pa.list_(pa.string())),
                    "model_version": [model.version] * len(results),
                }
            )
        )
    analysed = sum(b.num_rows for b in batches)
    for table in batches:
        con.register("verbatim_batch", table)
        try:
            con.execute("insert into staging.verbatim_analysis by name select * from verbatim_batch")
        finally:
            con.unregister("verbatim_batch")
    if days:
        con.executemany("insert or ignore into ops.dirty_days values (?)", [[d] for d in sorted(days)])
    return analysed
