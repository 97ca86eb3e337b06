"""The `decisions:` of a spec, and the other readings of a document that contradicts itself.

A decision records how the spec read a place where the vendor document is ambiguous. Where the
document gives two readings a device may follow (its table says TCP, its own example listing
UDP), the decision names the rows' reading (`reading:`) and lists the others (`alternatives:`),
each a quote and the row fields it changes. `apply` gives the spec as such a reading has it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import cast

import yaml

from pytest_portspec.spec import yamlsrc as y
from pytest_portspec.spec.model import (
    DIRECTIONS,
    LISTENERS,
    Decision,
    Listener,
    Reading,
    Row,
    RowDirection,
    RowOverride,
    Spec,
    ports_label,
)
from pytest_portspec.spec.values import Context, actions, citation, ports, protos

DECISION_REQUIRED = ("id", "rows", "issue", "decision")
DECISION_OPTIONAL = ("citation", "reading", "alternatives")
READING_KEYS = ("id", "title", "citation", "rows")
# the fields a reading may give differently; the rest of a row (service, destinations...) is one thing
OVERRIDE_KEYS = ("proto", "ports", "direction", "action", "listener")


def decisions(ctx: Context, node: yaml.Node, spec_rows: tuple[Row, ...]) -> tuple[Decision, ...]:
    rows = {row.id: row for row in spec_rows}
    found: list[Decision] = []
    for index, item in enumerate(y.sequence(ctx.src, node, "decisions") or []):
        decision = _decision(ctx, item, f"decisions[{index}]", rows)
        if decision is not None:
            found.append(decision)
    _one_reading_per_row(ctx, node, found)
    return tuple(found)


def _decision(ctx: Context, item: yaml.Node, path: str, rows: Mapping[str, Row]) -> Decision | None:
    fields = y.mapping(ctx.src, item, path, DECISION_REQUIRED, DECISION_OPTIONAL)
    if fields is None or any(k not in fields for k in DECISION_REQUIRED):
        return None
    ids = tuple(
        y.one_or_many(
            ctx.src, fields["rows"], f"{path}.rows", lambda _s, n, p: ctx.reference(n, p, "row", tuple(rows))
        )
    )
    values = [y.text(ctx.src, fields[k], f"{path}.{k}") for k in ("id", "issue", "decision")]
    cite = citation(ctx, fields["citation"], f"{path}.citation") if "citation" in fields else None
    reading = y.text(ctx.src, fields["reading"], f"{path}.reading") if "reading" in fields else None
    others: tuple[Reading, ...] = ()
    if "alternatives" in fields:
        others = _alternatives(ctx, fields["alternatives"], f"{path}.alternatives", ids, rows)
        if "reading" not in fields:
            ctx.src.problem(
                fields["alternatives"],
                f"{path}.reading",
                "a decision with alternatives names the reading its rows follow (reading: the table)",
            )
    if None in values:
        return None
    return Decision(
        str(values[0]), ids, str(values[1]), str(values[2]), cite, y.line_of(item), reading, others
    )


def _one_reading_per_row(ctx: Context, node: yaml.Node, found: list[Decision]) -> None:
    """A row follows one reading of the document: two decisions with alternatives cannot share it."""
    owner: dict[str, str] = {}
    for d in (d for d in found if d.alternatives):
        for row_id in d.rows:
            if row_id in owner:
                ctx.src.problem(
                    node,
                    f"decisions[{d.id}].rows",
                    f"row {row_id} is also in decision {owner[row_id]}, which has alternatives too: "
                    f"a row can follow the readings of one decision only",
                )
            owner[row_id] = d.id


def _alternatives(
    ctx: Context, node: yaml.Node, path: str, decision_rows: tuple[str, ...], rows: Mapping[str, Row]
) -> tuple[Reading, ...]:
    items = y.sequence(ctx.src, node, path)
    if items is None:
        return ()
    if not items:
        ctx.src.problem(node, path, "expected at least one reading")
    found: list[Reading] = []
    for index, item in enumerate(items):
        reading = _reading(ctx, item, y.join(path, index), decision_rows, rows)
        if reading is not None and reading.id in {r.id for r in found}:
            ctx.src.problem(item, y.join(path, index), f"duplicate reading id {y.quoted(reading.id)}")
        elif reading is not None:
            found.append(reading)
    return tuple(found)


def _reading(
    ctx: Context, node: yaml.Node, path: str, decision_rows: tuple[str, ...], rows: Mapping[str, Row]
) -> Reading | None:
    fields = y.mapping(ctx.src, node, path, READING_KEYS)
    if fields is None or any(k not in fields for k in READING_KEYS):
        return None
    before = len(ctx.src.problems)
    reading_id = y.text(ctx.src, fields["id"], y.join(path, "id"))
    if reading_id is not None:
        y.identifier(ctx.src, fields["id"], y.join(path, "id"), reading_id)
    title = y.text(ctx.src, fields["title"], y.join(path, "title"))
    cite = citation(ctx, fields["citation"], y.join(path, "citation"))
    overrides = _overrides(ctx, fields["rows"], y.join(path, "rows"), decision_rows, rows)
    if len(ctx.src.problems) > before or reading_id is None or title is None or cite is None:
        return None
    return Reading(reading_id, title, cite, overrides, y.line_of(node))


def _overrides(
    ctx: Context, node: yaml.Node, path: str, decision_rows: tuple[str, ...], rows: Mapping[str, Row]
) -> dict[str, RowOverride]:
    if not isinstance(node, yaml.MappingNode) or not node.value:
        ctx.src.problem(
            node, path, f"expected row id -> the fields this reading changes, found {y.kind_of(node)}"
        )
        return {}
    found: dict[str, RowOverride] = {}
    for key_node, value_node in node.value:
        row_id = ctx.reference(key_node, path, "row", decision_rows)
        if row_id is None or row_id not in rows:
            continue
        where = y.join(path, row_id)
        fields = y.mapping(ctx.src, value_node, where, (), OVERRIDE_KEYS)
        if fields is not None and not fields:
            ctx.src.problem(value_node, where, f"expected one or more of {', '.join(OVERRIDE_KEYS)}")
        elif fields is not None:
            found[row_id] = _override(ctx, fields, where, rows[row_id])
    return found


def _override(ctx: Context, fields: dict[str, yaml.Node], path: str, row: Row) -> RowOverride:
    def at(key: str) -> str:
        return y.join(path, key)

    direction = None
    if "direction" in fields:
        if row.between is not None:
            ctx.src.problem(
                fields["direction"], at("direction"), "a between row takes its direction from between"
            )
        direction = cast(
            RowDirection | None, y.choice(ctx.src, fields["direction"], at("direction"), DIRECTIONS)
        )
        if "action" not in fields:
            ctx.src.problem(
                fields["direction"], at("action"), "a reading that changes the direction gives the action too"
            )
    side = direction or row.direction or "between"
    listener = None
    if "listener" in fields:
        listener = cast(Listener | None, y.choice(ctx.src, fields["listener"], at("listener"), LISTENERS))
        if side == "out":
            ctx.src.problem(fields["listener"], at("listener"), "outbound rows have no listener")
    return RowOverride(
        protos=protos(ctx, fields["proto"], at("proto")) if "proto" in fields else None,
        ports=ports(ctx, fields["ports"], at("ports")) if "ports" in fields else None,
        direction=direction,
        actions=actions(ctx, fields["action"], at("action"), side) if "action" in fields else None,
        listener=listener,
    )


def apply(spec: Spec, overrides: Mapping[str, RowOverride]) -> Spec:
    """The spec as a reading gives it: the overridden rows' fields replaced, every other row as is."""
    if not overrides:
        return spec
    return replace(
        spec, rows=tuple(_applied(r, overrides[r.id]) if r.id in overrides else r for r in spec.rows)
    )


def _applied(row: Row, o: RowOverride) -> Row:
    return replace(
        row,
        protos=o.protos or row.protos,
        ports=row.ports if o.ports is None else o.ports,
        direction=o.direction or row.direction,
        actions=o.actions or row.actions,
        listener=o.listener or row.listener,
    )


def describe(o: RowOverride) -> str:
    """What a reading changes in one row, in words: "proto udp, ports 2541"."""
    parts = [f"proto {'/'.join(o.protos)}"] if o.protos else []
    parts += [f"ports {ports_label(o.ports)}"] if o.ports is not None else []
    parts += [f"direction {o.direction}"] * bool(o.direction)
    parts += [f"listener {o.listener}"] * bool(o.listener)
    parts += ["actions as the reading gives them"] * bool(o.actions)
    return ", ".join(parts)
