"""GDPR erasure: `cxpulse forget CUSTOMER_ID` removes one customer from the raw tables, its key
(ops.customers), the landing and quarantine files and the dead letters; the caller rebuilds the marts of
the days they touched, republishes every published surface and checks that none still holds the id.

Matching is exact everywhere: `customer_id` of the raw tables and landing files; for a dead letter,
the `customer_id` of its original bytes parsed as JSON (or, when they do not parse, of the
`"customer_id": "..."` string literals found in them) and its Kafka key (quarantine `key` column). An id
that is a prefix of other ids erases nothing of theirs.

The erasure ledger (ops.erasures) keeps counts per topic and partition under an HMAC of the id keyed by
the secret CXPULSE_ERASURE_SALT, never the id itself, so that the reconciliation still adds up:
produced = loaded + duplicates + dead letters + erased. Messages still on Kafka expire with the topic
retention (7 days on the local broker).

Copies of the customer's verbatims: with config `verbatim_examples`, example verbatims are quoted
(warehouse.verbatim_examples.quote) in alert texts, which incidents and notifications copy again
(marts.alerts, marts.incidents, marts.notifications and its JSON payload), and in the dashboard. `forget`
replaces each quote of the customer's verbatims by "« [erased] »" in every text column of the warehouse
outside `raw` (the rebuild, check and republication then rewrite the snapshot, the exports and the
dashboard from them), and in the text reports of earlier runs. What was already delivered cannot be
recalled: `unreachable` says which notifications and hot alerts carried such a verbatim to cx.alerts or
the webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import markupsafe
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cxpulse.config import Settings, require_erasure_salt
from streams.landing import batch_files, write_atomically, write_durably
from warehouse import customer_keys
from warehouse.db import table_exists, transaction
from warehouse.loader import load
from warehouse.verbatim_examples import ERASED, quote

# A JSON string literal after a "customer_id" key, for dead letters that are not valid JSON (truncated,
# nested too deeply): the literal is decoded and compared exactly, never searched as a substring.
_CUSTOMER_ID_LITERAL = re.compile(rb'"customer_id"\s*:\s*("(?:[^"\\]|\\.)*")')
# Bytes that may continue an id: an occurrence next to one of them is another id, not this one.
_ID_BYTE = re.compile(rb"[A-Za-z0-9_\-]")
_TEXT_SUFFIXES = (".html", ".htm", ".json", ".txt", ".csv", ".md", ".svg", ".xml")
REDACTED = "[erased]"


@dataclass
class ErasureResult:
    raw_rows: int = 0
    dead_letters: int = 0
    files_rewritten: list[Path] = field(default_factory=list)
    days: int = 0
    # Filled by the pipeline's forget_step after the rebuild and republication:
    gates: str = "not run"
    published: list[Path] = field(default_factory=list)
    reports_redacted: list[Path] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # what still holds the customer; empty = complete
    # The customer's verbatims (in memory only, never printed): to find and check their copies.
    verbatims: list[str] = field(default_factory=list, repr=False)
    copies_redacted: int = 0  # text values of the warehouse where a quote of them was replaced
    unreachable: list[str] = field(default_factory=list)  # copies already delivered: cannot be recalled


def subject_hash(customer_id: str, salt: str) -> str:
    """HMAC-SHA256 of the id keyed by the secret salt: the same id always gives the same subject, and
    nobody without the salt can test guesses against the ledger."""
    return hmac.new(salt.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


def _json_customer_ids(original: bytes) -> list[object]:
    """customer_id values of a dead letter's bytes: the parsed object's field, else its string literals."""
    try:
        document = json.loads(original)
    except (ValueError, RecursionError):
        found = []
        for literal in _CUSTOMER_ID_LITERAL.findall(original):
            try:
                found.append(json.loads(literal))
            except ValueError:
                continue
        return found
    return [document.get("customer_id")] if isinstance(document, dict) else []


def mentions_customer(original: bytes | None, key: bytes | None, customer_id: str) -> bool:
    """True when a rejected message belongs to the customer: its Kafka key is the id, or its JSON says so."""
    if key is not None and key == customer_id.encode():
        return True
    return bool(original) and customer_id in _json_customer_ids(original)


def _rewrite_landing(settings: Settings, customer_id: str) -> dict[Path, pa.Table]:
    """Drop the customer's rows from every landing file; returns the removed rows per file."""
    removed = {}
    for batch in batch_files(settings.landing_dir):
        path = batch.path
        table = pq.read_table(path)
        keep = pc.not_equal(table["customer_id"], customer_id)
        if pc.all(keep).as_py() in (True, None):
            continue
        write_durably(table.filter(keep), path)
        removed[path] = table.filter(pc.invert(keep))
    return removed


def _quarantine_matches(settings: Settings, customer_id: str) -> tuple[dict[Path, list[bool]], set[tuple]]:
    """Per quarantine file holding the customer, one flag per row (True = the customer's), and the
    (topic, partition, offset) of those rows: ops.deadletters has no key column, the files do."""
    matches, coordinates = {}, set()
    for batch in batch_files(settings.quarantine_dir):
        path = batch.path
        rows = pq.read_table(path, columns=["topic", "partition", "offset", "key", "original"]).to_pylist()
        flags = [mentions_customer(row["original"], row["key"], customer_id) for row in rows]
        if any(flags):
            matches[path] = flags
            coordinates |= {
                (r["topic"], r["partition"], r["offset"]) for r, flag in zip(rows, flags, strict=True) if flag
            }
    return matches, coordinates


def _rewrite_quarantine(matches: dict[Path, list[bool]]) -> dict[Path, pa.Table]:
    removed = {}
    for path, flags in matches.items():
        table = pq.read_table(path)
        write_durably(table.filter(pa.array([not f for f in flags])), path)
        removed[path] = table.filter(pa.array(flags))
    return removed


def forget(con: duckdb.DuckDBPyConnection, settings: Settings, customer_id: str) -> ErasureResult:
    """Erase one customer everywhere cxpulse stored them; the caller rebuilds and republishes.

    New landing files are loaded first, so the erasure covers every event that reached cxpulse. Safe to
    rerun: a rerun after a crash finishes what the first run left (files, dead letters)."""
    if not customer_id:
        raise ValueError("customer_id must not be empty")
    subject = subject_hash(customer_id, require_erasure_salt(settings))
    load(con, settings)
    result = ErasureResult()
    quarantine, flagged = _quarantine_matches(settings, customer_id)
    with transaction(con):
        con.execute(
            """
            insert or ignore into ops.dirty_days
            select distinct cast(occurred_at as date) from raw.touchpoints where customer_id = $c
            union select distinct cast(occurred_at as date) from raw.surveys where customer_id = $c
        """,
            {"c": customer_id},
        )
        # copies of the customer's verbatims quoted in alert texts, and what was delivered already
        result.verbatims = [
            v
            for (v,) in con.execute(
                "select distinct verbatim from raw.surveys where customer_id = ? and trim(verbatim) <> '' order by 1",
                [customer_id],
            ).fetchall()
        ]
        result.unreachable = _delivered_copies(con, settings, customer_id, result.verbatims)
        result.copies_redacted = redact_verbatim_copies(con, result.verbatims)
        # the analysis of the customer's verbatims (transforms/verbatims/store.py), before their answers go
        if table_exists(con, "staging", "verbatim_analysis"):
            con.execute(
                "delete from staging.verbatim_analysis where response_id in "
                "(select response_id from raw.surveys where customer_id = ?)",
                [customer_id],
            )
        for table in ("raw.touchpoints", "raw.surveys"):
            counts = con.execute(
                f"select kafka_topic, kafka_partition, count(*) from {table} where customer_id = ? group by all",  # noqa: S608
                [customer_id],
            ).fetchall()
            for topic, partition, rows in counts:
                con.execute(
                    "insert into ops.erasures values (?, ?, ?, 'raw', ?, now())", [subject, topic, partition, rows]
                )
                result.raw_rows += rows
            con.execute(f"delete from {table} where customer_id = ?", [customer_id])  # noqa: S608
        customer_keys.forget_customer(con, customer_id)
        # Dead letters: exact customer_id of the original JSON, or a Kafka key seen in the quarantine files.
        dead = [
            (t, p, o)
            for t, p, o, original in con.execute(
                'select topic, "partition", "offset", original from ops.deadletters'
            ).fetchall()
            if (t, p, o) in flagged or mentions_customer(original, None, customer_id)
        ]
        for topic, partition, offset in dead:
            con.execute(
                'delete from ops.deadletters where topic = ? and "partition" = ? and "offset" = ?',
                [topic, partition, offset],
            )
            con.execute(
                "insert into ops.erasures values (?, ?, ?, 'deadletter', 1, now())", [subject, topic, partition]
            )
        result.dead_letters = len(dead)
        result.days = con.execute("select count(*) from ops.dirty_days").fetchall()[0][0]
    # Files after the tables: a crash in between leaves files that a rerun of `forget` cleans.
    landing = _rewrite_landing(settings, customer_id)
    rejected = _rewrite_quarantine(quarantine)
    _count_unloaded(con, settings, subject, landing, rejected)
    result.files_rewritten = sorted([*landing, *rejected])
    return result


def _text_forms(text: str) -> list[str]:
    """A text as the warehouse may hold it: as is, and inside JSON (non-ASCII raw or \\u-escaped)."""
    return sorted({text, json.dumps(text, ensure_ascii=False)[1:-1], json.dumps(text)[1:-1]})


def _text_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(schema, table, column) of every VARCHAR column of the warehouse's base tables outside `raw` (which
    holds the answers themselves: the customer's are deleted, another customer's identical text is theirs)."""
    return con.execute(
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns as c "
        "inner join information_schema.tables as t using (table_catalog, table_schema, table_name) "
        "where c.table_catalog = current_database() and t.table_type = 'BASE TABLE' "
        "and c.table_schema not in ('raw', 'information_schema', 'pg_catalog') and c.data_type = 'VARCHAR' "
        "order by all"
    ).fetchall()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def redact_verbatim_copies(con: duckdb.DuckDBPyConnection, verbatims: list[str]) -> int:
    """Replace every quote of `verbatims` (as the examples print them) by « [erased] » in the text columns
    of the warehouse; returns how many values changed. Identifiers come from information_schema."""
    pairs = [(form, _erased_like(form)) for verbatim in verbatims for form in _text_forms(quote(verbatim))]
    changed = 0
    for schema, table, column in _text_columns(con) if pairs else []:
        target, col = f"{_quoted(schema)}.{_quoted(table)}", _quoted(column)
        for form, erased in pairs:
            changed += con.execute(
                f"update {target} set {col} = replace({col}, $form, $erased) where contains({col}, $form)",  # noqa: S608
                {"form": form, "erased": erased},
            ).fetchall()[0][0]
    return changed


def _erased_like(form: str) -> str:
    """« [erased] » spelled as `form` spells its guillemets (as is, or \\u-escaped in JSON)."""
    return json.dumps(ERASED)[1:-1] if form.startswith("\\u00ab") else ERASED


def _count_quoting(con: duckdb.DuckDBPyConnection, table: str, text: str, forms: list[str], rows: str = "true") -> int:
    """How many `rows` of `table` have a `text` that contains one of `forms` (table, text and rows are
    quoted names or literals of this module; the forms are bound)."""
    where = " or ".join(f"contains({text}, $f{i})" for i in range(len(forms)))
    return con.execute(
        f"select count(*) from {table} where {rows} and ({where})",  # noqa: S608
        {f"f{i}": form for i, form in enumerate(forms)},
    ).fetchall()[0][0]


def verbatim_copies_left(con: duckdb.DuckDBPyConnection, verbatims: list[str]) -> list[str]:
    """schema.table.column of the warehouse text columns that still quote one of `verbatims`."""
    forms = [form for verbatim in verbatims for form in _text_forms(quote(verbatim))]
    left = []
    for schema, table, column in _text_columns(con) if forms else []:
        if _count_quoting(con, f"{_quoted(schema)}.{_quoted(table)}", _quoted(column), forms):
            left.append(f"{schema}.{table}.{column}")
    return left


def _delivered_copies(
    con: duckdb.DuckDBPyConnection, settings: Settings, customer_id: str, verbatims: list[str]
) -> list[str]:
    """What carried the customer's verbatims out of cxpulse already (it cannot be recalled): notifications
    delivered to cx.alerts / the webhook that quote one, and, with config alert_include_verbatim, the hot
    alerts the consumer sent on cx.alerts for the customer's answers."""
    out = []
    if verbatims and table_exists(con, "marts", "notifications"):
        forms = [form for verbatim in verbatims for form in _text_forms(quote(verbatim))]
        text, sent = "message || message_fr || payload", "delivery_status = 'delivered'"
        delivered = _count_quoting(con, "marts.notifications", text, forms, sent)
        if delivered:
            out.append(
                f"{delivered} notification(s) quoting the customer's verbatim were delivered to cx.alerts "
                "and/or the webhook before the erasure: they cannot be recalled (cx.alerts keeps them until "
                "its retention ends; the webhook's channel is outside cxpulse)"
            )
    if verbatims and settings.alert_include_verbatim and table_exists(con, "marts", "alerts"):
        hot = con.execute(
            "select count(*) from marts.alerts where rule = 'detractor_complaint' and response_id in "
            "(select response_id from raw.surveys where customer_id = ? and trim(verbatim) <> '')",
            [customer_id],
        ).fetchall()[0][0]
        if hot:
            out.append(
                f"up to {hot} hot alert(s) the consumer sent on cx.alerts carried the customer's verbatim (config "
                "alert_include_verbatim): they cannot be recalled (cx.alerts keeps them until its retention ends)"
            )
    return out


def _count_unloaded(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    subject: str,
    landing: dict[Path, pa.Table],
    rejected: dict[Path, pa.Table],
) -> None:
    """Rows removed from files the loader has not read yet (landed while `forget` ran) never reach the
    tables: the ledger counts them, or the reconciliation would miss them."""
    known = {row[0] for row in con.execute("select path from ops.loaded_files").fetchall()}
    for kind, removed in (("raw", landing), ("deadletter", rejected)):
        for path, table in removed.items():
            if str(path.relative_to(settings.home)) in known or not table.num_rows:
                continue
            topic, partition = path.parent.parent.name, int(path.parent.name)
            con.execute(
                "insert into ops.erasures values (?, ?, ?, ?, ?, now())",
                [subject, topic, partition, kind, table.num_rows],
            )


def _quote_spellings(verbatim: str) -> list[tuple[bytes, bytes]]:
    """(quote, replacement) of a verbatim as text files may spell it: as is, in JSON, HTML-escaped (as
    html.escape and as Jinja's markupsafe do)."""
    quoted = quote(verbatim)
    pairs = {(form.encode(), _erased_like(form).encode()) for form in _text_forms(quoted)}
    for escaped in (str(markupsafe.escape(quoted)), html.escape(quoted)):
        pairs.add((escaped.encode(), ERASED.encode()))
    return sorted(pairs)


def _spellings(customer_id: str) -> list[bytes]:
    """The id as files may spell it: raw UTF-8, JSON-escaped, HTML-escaped."""
    forms = {customer_id, json.dumps(customer_id)[1:-1], html.escape(customer_id)}
    return sorted(form.encode() for form in forms)


def _occurrences(data: bytes, needle: bytes) -> list[int]:
    """Start positions of `needle` standing alone (not inside a longer id such as needle + '0')."""
    found = []
    start = data.find(needle)
    while start != -1:
        end = start + len(needle)
        before = data[start - 1 : start] if start else b""
        after = data[end : end + 1]
        if not (before and _ID_BYTE.fullmatch(before)) and not (after and _ID_BYTE.fullmatch(after)):
            found.append(start)
        start = data.find(needle, start + 1)
    return found


def holds_id(path: Path, customer_id: str) -> bool:
    data = path.read_bytes()
    return any(_occurrences(data, needle) for needle in _spellings(customer_id))


def published_files(settings: Settings) -> list[Path]:
    """Every file of the published surfaces: published/, exports/, reports/."""
    files = []
    for root in (settings.published_path.parent, settings.exports_dir, settings.reports_dir):
        if root.is_dir():
            files += [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return sorted(files)


def redact_reports(settings: Settings, customer_id: str, verbatims: list[str] = ()) -> list[Path]:
    """Replace the id by [erased], and quotes of the customer's `verbatims` by « [erased] », in text
    reports written by earlier runs (quality results, drift evidence, a dashboard not rewritten): they are
    records of those runs, not rebuilt from the marts, so they are edited in place."""
    redacted = []
    if not settings.reports_dir.is_dir():
        return redacted
    for path in sorted(settings.reports_dir.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.suffix.lower() not in _TEXT_SUFFIXES:
            continue
        data = path.read_bytes()
        changed = data
        for needle in _spellings(customer_id):
            for start in reversed(_occurrences(changed, needle)):
                changed = changed[:start] + REDACTED.encode() + changed[start + len(needle) :]
        for verbatim in verbatims:
            for needle, erased in _quote_spellings(verbatim):
                changed = changed.replace(needle, erased)
        if changed != data:
            write_atomically(path, _bytes_with_mode(changed, path.stat().st_mode & 0o777))
            redacted.append(path)
    return redacted


def _bytes_with_mode(data: bytes, mode: int) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        tmp.write_bytes(data)
        os.chmod(tmp, mode)  # the report keeps its permissions

    return write


def leftovers(settings: Settings, customer_id: str, verbatims: list[str] = ()) -> list[Path]:
    """Files of the published surfaces whose bytes still hold the id or quote one of the customer's
    `verbatims` (should be none after an erasure). The snapshot and the Parquet exports are compressed:
    their text columns are checked by `verbatim_copies_left` on the snapshot, which the exports copy."""
    needles = [needle for verbatim in verbatims for needle, _ in _quote_spellings(verbatim)]
    return [
        path
        for path in published_files(settings)
        if holds_id(path, customer_id) or (needles and any(n in path.read_bytes() for n in needles))
    ]


def erased_counts(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, int], int]:
    if not table_exists(con, "ops", "erasures"):  # a read-only warehouse written before erasures existed
        return {}
    return {
        (t, p): n
        for t, p, n in con.execute(
            'select topic, "partition", sum(rows_erased)::bigint from ops.erasures group by all'
        ).fetchall()
    }
