"""The build order of the models, derived from what their SQL reads.

A model depends on every `staging.<name>` / `marts.<name>` its SQL references (comments aside) and on
the models listed under `depends_on` in its schema.yaml entry. Models are built in an order where
each comes after its dependencies; among models free to go, the listed order (file or schema order)
is kept, so the order is stable from one run to the next.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from transforms.sql import strip_comments


class CycleError(ValueError):
    """Models depend on each other in a circle; the message names them."""


def references(sql: str, schema: str) -> set[str]:
    """The `<schema>.<name>` tables and views a SQL text reads."""
    return set(re.findall(rf"\b{re.escape(schema)}\.([a-z_][a-z0-9_]*)\b", strip_comments(sql)))


def build_order(names: Iterable[str], depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """`names` ordered so that each comes after those of its `depends_on` that are in `names`."""
    pending = list(dict.fromkeys(names))
    wanted = set(pending)
    needs = {name: {d for d in depends_on.get(name, ()) if d in wanted and d != name} for name in pending}
    order: list[str] = []
    while pending:
        ready = next((name for name in pending if needs[name] <= set(order)), None)
        if ready is None:
            raise CycleError("models depend on each other in a cycle: " + ", ".join(pending))
        order.append(ready)
        pending.remove(ready)
    return order
