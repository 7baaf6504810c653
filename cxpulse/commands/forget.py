"""`cxpulse forget`: erase one customer everywhere (GDPR) and republish."""

from __future__ import annotations

import shlex

import typer
from rich.markup import escape

from cxpulse.commands.common import EXIT_CHECK, EXIT_CONFIG, cli_settings, console, err
from cxpulse.config import ConfigError, require_erasure_salt


def forget(customer_id: str = typer.Argument(..., help="the (pseudonymous) customer id to erase, exactly")) -> None:
    """Erase one customer (GDPR): raw tables, landing and quarantine files, dead letters (matched on the exact
    customer_id and Kafka key), then rebuild the marts of the days they touched and republish every published
    surface (snapshot, exports, dashboard), even when a quality gate fails (its result is printed).

    Quotes of the customer's verbatims in alert texts (config verbatim_examples) are replaced by « [erased] »;
    notifications and hot alerts already delivered with one (cx.alerts, webhook) cannot be recalled: listed.

    Needs CXPULSE_ERASURE_SALT (a secret): the erasure ledger keeps counts under a salted hash, not the id.
    Exit code 4 with "erasure incomplete: ..." when something still holds the customer; rerun to finish.

    Example: `cxpulse forget cust-7-00042`
    """
    from cxpulse.pipeline import forget_step

    settings = cli_settings()
    try:
        require_erasure_salt(settings)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    result = forget_step(settings, customer_id)
    console.print(
        f"erased {result.raw_rows} events and {result.dead_letters} dead letters, rewrote "
        f"{len(result.files_rewritten)} files, rebuilt {result.days} days"
    )
    colour = "green" if result.gates == "passed" else "yellow"
    gates = escape(result.gates)
    console.print(f"quality gates: [{colour}]{gates}[/{colour}] (an erasure republishes whatever they say)")
    if result.published:
        console.print(f"republished {len(result.published)} files: snapshot, exports, dashboard")
    if result.copies_redacted:
        console.print(
            f"erased {result.copies_redacted} quotes of the customer's verbatims (alerts, incidents, notifications)"
        )
    for sent in result.unreachable:  # delivered before the erasure: said, never hidden
        err.print(f"[yellow]cannot be recalled:[/yellow] {escape(sent)}")
    console.print(
        "not reached: the live warehouse file keeps erased bytes in free blocks until DuckDB reuses them "
        "(owner-only, never published: the snapshot is rebuilt, not copied)"
    )
    if result.reports_redacted:
        console.print(f"redacted the id in {len(result.reports_redacted)} earlier reports")
    if result.left:
        again = escape(f"cxpulse forget {shlex.quote(customer_id)}")
        err.print(
            f"[red]erasure incomplete:[/red] {escape('; '.join(result.left))}\n"
            f"to finish: fix the cause above, then run `{again}` again (safe to rerun)"
        )
        raise typer.Exit(EXIT_CHECK)
    console.print(f"erasure complete: no published surface holds {escape(repr(customer_id))}")
