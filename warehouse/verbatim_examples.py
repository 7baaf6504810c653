"""Example verbatims quoted in the dashboard and in alert texts (config `verbatim_examples`): the one
definition of how an example is cut and quoted, which `cxpulse forget` relies on to find every copy of
a customer's verbatim (warehouse/erasure.py)."""

from __future__ import annotations

EXAMPLE_CHARS = 160
ERASED = "« [erased] »"


def cut(verbatim: str) -> str:
    """The example as shown: at most EXAMPLE_CHARS characters, an ellipsis where it was cut."""
    return verbatim if len(verbatim) <= EXAMPLE_CHARS else verbatim[: EXAMPLE_CHARS - 1] + "…"


def quote(verbatim: str) -> str:
    """The example as alert texts and the dashboard print it: « cut text »."""
    return f"« {cut(verbatim)} »"
