"""Validation of the `rows:` of a spec: ports, actions, destinations, roles.

The row as a whole is checked here; its values in `spec/values.py` (with the validation
`Context`) and its peers (destinations, sources, between) in `spec/peers.py`, re-exported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

import yaml

from pytest_portspec.spec import yamlsrc as y
from pytest_portspec.spec.model import (
    DIRECTIONS,
    LISTENERS,
    REACH,
    SCOPES,
    Between,
    Citation,
    Destination,
    Listener,
    Reach,
    Row,
    RowDirection,
    Scope,
)
from pytest_portspec.spec.peers import between, destination
from pytest_portspec.spec.values import (
    CITATION_KEYS,
    Context,
    actions,
    citation,
    one_action,
    port_number,
    port_range,
    ports,
    protos,
)

__all__ = [
    "CITATION_KEYS",
    "ROW_OPTIONAL",
    "ROW_REQUIRED",
    "Context",
    "Fields",
    "actions",
    "between",
    "citation",
    "destination",
    "one_action",
    "port_number",
    "port_range",
    "ports",
    "protos",
    "row",
]

ROW_REQUIRED = ("id", "service", "proto", "ports", "action", "citation")
ROW_OPTIONAL = (
    "process",
    "direction",
    "between",
    "configurable",
    "scope",
    "listener",
    "condition",
    "roles",
    "destinations",
    "reach",
    "sources",
    "manual",
    "note",
    "cluster_only",
)


@dataclass
class Fields:
    """The checked keys of one mapping, with typed readers that record problems."""

    ctx: Context
    nodes: dict[str, yaml.Node]
    path: str

    def at(self, key: str) -> str:
        return y.join(self.path, key)

    def text(self, key: str) -> str | None:
        return y.text(self.ctx.src, self.nodes[key], self.at(key)) if key in self.nodes else None

    def flag(self, key: str) -> bool:
        return key in self.nodes and bool(y.boolean(self.ctx.src, self.nodes[key], self.at(key)))

    def pick(self, key: str, choices: tuple[str, ...], default: str) -> str:
        if key not in self.nodes:
            return default
        return y.choice(self.ctx.src, self.nodes[key], self.at(key), choices) or default

    def texts(self, key: str) -> tuple[str, ...]:
        if key not in self.nodes:
            return ()
        return tuple(y.one_or_many(self.ctx.src, self.nodes[key], self.at(key), y.text))

    def peers(self, key: str) -> tuple[Destination, ...]:
        if key not in self.nodes:
            return ()
        items = y.sequence(self.ctx.src, self.nodes[key], self.at(key)) or []
        found = [destination(self.ctx, item, y.join(self.at(key), i)) for i, item in enumerate(items)]
        return tuple(f for f in found if f is not None)


def row(ctx: Context, node: yaml.Node, path: str) -> Row | None:
    nodes = y.mapping(ctx.src, node, path, ROW_REQUIRED, ROW_OPTIONAL)
    if nodes is None:
        return None
    before = len(ctx.src.problems)
    f = Fields(ctx, nodes, path)
    row_id = _row_id(f)
    shape = _direction_or_between(f, node)
    direction = "between" if isinstance(shape, Between) else (shape or "both")
    scope = cast(Scope, f.pick("scope", SCOPES, "external"))
    listener = cast(
        Listener, f.pick("listener", LISTENERS, "loopback-only" if scope == "loopback" else "permitted")
    )
    _check_sides(f, direction)
    condition = None
    if "condition" in nodes:
        condition = ctx.reference(nodes["condition"], f.at("condition"), "condition", ctx.conditions)
    row_protos = protos(ctx, nodes["proto"], f.at("proto")) if "proto" in nodes else None
    row_ports = ports(ctx, nodes["ports"], f.at("ports")) if "ports" in nodes else None
    row_actions = actions(ctx, nodes["action"], f.at("action"), direction) if "action" in nodes else None
    cite = citation(ctx, nodes["citation"], f.at("citation")) if "citation" in nodes else None
    service = f.text("service")
    found = Row(
        id=row_id or "",
        service=service or "",
        process=f.texts("process"),
        direction=None if isinstance(shape, Between) else shape,
        between=shape if isinstance(shape, Between) else None,
        protos=row_protos or (),
        ports=row_ports or (),
        configurable=f.flag("configurable"),
        actions=row_actions or {},
        scope=scope,
        listener=listener,
        condition=condition,
        roles=_roles(f, shape),
        destinations=f.peers("destinations"),
        reach=cast(Reach, f.pick("reach", REACH, "all")),
        sources=f.peers("sources"),
        manual=f.text("manual"),
        note=f.text("note"),
        citation=cite or Citation("", "", None, 0),
        line=y.line_of(node),
        # the cluster tables' rows are the cluster's own; a direction row says so itself
        cluster_only=f.flag("cluster_only") if "cluster_only" in nodes else isinstance(shape, Between),
    )
    return None if len(ctx.src.problems) > before else found


def _check_sides(f: Fields, direction: str) -> None:
    """Keys that only make sense for one side of the traffic."""
    if "listener" in f.nodes and direction == "out":
        f.ctx.src.problem(f.nodes["listener"], f.at("listener"), "outbound rows have no listener")
    if "destinations" in f.nodes and direction in ("in", "between"):
        f.ctx.src.problem(
            f.nodes["destinations"],
            f.at("destinations"),
            f"destinations are for outbound rows, not {direction} rows",
        )
    if "reach" in f.nodes and len(_items(f.nodes.get("destinations"))) < 2:
        f.ctx.src.problem(f.nodes["reach"], f.at("reach"), "reach needs two or more destinations")
    if "cluster_only" in f.nodes and direction == "out":
        f.ctx.src.problem(f.nodes["cluster_only"], f.at("cluster_only"), "outbound rows have no sources")
    if "sources" in f.nodes and direction in ("out", "between"):
        f.ctx.src.problem(
            f.nodes["sources"], f.at("sources"), f"sources are for inbound rows, not {direction} rows"
        )


def _items(node: yaml.Node | None) -> list[yaml.Node]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _row_id(f: Fields) -> str | None:
    if "id" not in f.nodes:
        return None
    value = f.text("id")
    if value is None or not re.fullmatch(r"[a-z0-9]+(?:[-.][a-z0-9]+)*", value):
        f.ctx.src.problem(
            f.nodes["id"],
            f.at("id"),
            f"expected a lower-case id (letters, digits, '-', '.'), found {y.quoted(value)}",
        )
        return None
    return value


def _direction_or_between(f: Fields, node: yaml.Node) -> RowDirection | Between | None:
    if ("direction" in f.nodes) == ("between" in f.nodes):
        f.ctx.src.problem(node, f.path, "a row needs exactly one of direction or between")
        return None
    if "between" in f.nodes:
        if not f.ctx.roles:
            f.ctx.src.problem(
                f.nodes["between"], f.at("between"), "between needs roles, and this spec defines none"
            )
            return None
        return between(f.ctx, f.nodes["between"], f.at("between"))
    return cast(RowDirection | None, y.choice(f.ctx.src, f.nodes["direction"], f.at("direction"), DIRECTIONS))


def _roles(f: Fields, shape: RowDirection | Between | None) -> tuple[str, ...]:
    ctx = f.ctx
    if "roles" not in f.nodes:
        return ctx.roles
    node = f.nodes["roles"]
    if isinstance(shape, Between):
        ctx.src.problem(node, f.at("roles"), "a between row takes its roles from between")
        return ()
    if y.scalar_value(node) == "all":
        return ctx.roles
    return tuple(
        y.one_or_many(
            ctx.src,
            node,
            f.at("roles"),
            lambda _s, n, p: ctx.reference(n, p, "role", ctx.roles),
        )
    )
