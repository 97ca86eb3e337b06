"""Validation of the `rows:` of a spec: ports, actions, destinations, roles."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import yaml

from pytest_portspec import addresses
from pytest_portspec.spec import yamlsrc as y
from pytest_portspec.spec.model import (
    ACTIONS,
    DIRECTIONS,
    LISTENERS,
    PROTOS,
    REACH,
    SCOPES,
    Action,
    Between,
    Citation,
    Destination,
    Listener,
    PortRange,
    Proto,
    Reach,
    Row,
    RowAction,
    RowDirection,
    Scope,
)

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
)
CITATION_KEYS = ("quote",), ("doc", "reading")


@dataclass
class Context:
    """What row validation needs to know about the rest of the spec."""

    src: y.Source
    doc: str
    profiles: tuple[str, ...]
    conditions: tuple[str, ...]
    roles: tuple[str, ...]

    def reference(self, node: yaml.Node, path: str, kind: str, known: tuple[str, ...]) -> str | None:
        name = y.scalar_value(node)
        if not isinstance(name, str):
            self.src.problem(node, path, f"expected a {kind} name, found {y.kind_of(node)}")
            return None
        if name not in known:
            listed = ", ".join(known) if known else "none are defined"
            self.src.problem(
                node, path, f"unknown {kind} {name!r}{y.suggest(name, known)}; {kind}s: {listed}"
            )
            return None
        return name


def citation(ctx: Context, node: yaml.Node, path: str) -> Citation | None:
    fields = y.mapping(ctx.src, node, path, *CITATION_KEYS)
    if fields is None:
        return None
    quote = y.text(ctx.src, fields["quote"], y.join(path, "quote")) if "quote" in fields else None
    doc = y.text(ctx.src, fields["doc"], y.join(path, "doc")) if "doc" in fields else ctx.doc
    reading = None
    if "reading" in fields:
        reading = y.text(ctx.src, fields["reading"], y.join(path, "reading"))
    if quote is None or doc is None:
        return None
    return Citation(doc=doc, quote=quote, reading=reading, line=y.line_of(node))


def port_number(ctx: Context, node: yaml.Node, path: str, text: str) -> int | None:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        ctx.src.problem(node, path, f"expected a port number 1-65535, found {text!r}")
        return None
    return int(text)


def port_range(ctx: Context, node: yaml.Node, path: str) -> PortRange | None:
    value = y.scalar_value(node)
    if isinstance(value, bool) or not isinstance(value, int | str):
        ctx.src.problem(node, path, f"expected a port or a range lo-hi, found {y.kind_of(node)}")
        return None
    lo_text, sep, hi_text = str(value).strip().partition("-")
    lo = port_number(ctx, node, path, lo_text.strip())
    hi = port_number(ctx, node, path, hi_text.strip()) if sep else lo
    if lo is None or hi is None:
        return None
    if lo > hi:
        ctx.src.problem(node, path, f"port range {value!r} has lo > hi")
        return None
    return PortRange(lo, hi)


def ports(ctx: Context, node: yaml.Node, path: str) -> tuple[PortRange, ...] | None:
    if y.scalar_value(node) == "dynamic":
        return ()
    found = y.one_or_many(ctx.src, node, path, lambda _s, n, p: port_range(ctx, n, p))
    return tuple(sorted(set(found), key=lambda r: (r.lo, r.hi))) or None


def protos(ctx: Context, node: yaml.Node, path: str) -> tuple[Proto, ...] | None:
    proto = y.choice(ctx.src, node, path, PROTOS)
    if proto is None:
        return None
    return ("tcp", "udp") if proto == "both" else (cast(Proto, proto),)


def one_action(ctx: Context, node: yaml.Node, path: str, direction: str) -> RowAction | None:
    value = y.scalar_value(node)
    text = value if isinstance(value, str) else ""
    if direction == "both":
        inbound, sep, outbound = text.partition("/")
        if sep and inbound in ACTIONS and outbound in ACTIONS:
            return RowAction(_as_action(inbound), _as_action(outbound))
        ctx.src.problem(
            node,
            path,
            f"expected IN/OUT such as allow/block (direction both), found {y.kind_of(node)}",
        )
        return None
    if text in ACTIONS:
        action = _as_action(text)
        # A between row has one action for both of its sides.
        return RowAction(action if direction != "out" else None, action if direction != "in" else None)
    hint = " (IN/OUT pairs are for direction both)" if "/" in text else ""
    ctx.src.problem(node, path, f"expected allow or block, found {y.kind_of(node)}{hint}")
    return None


def _as_action(text: str) -> Action:
    return "allow" if text == "allow" else "block"


def actions(ctx: Context, node: yaml.Node, path: str, direction: str) -> Mapping[str, RowAction] | None:
    if not isinstance(node, yaml.MappingNode):
        action = one_action(ctx, node, path, direction)
        return None if action is None else {p: action for p in ctx.profiles}
    result: dict[str, RowAction] = {}
    for key_node, value_node in node.value:
        profile = ctx.reference(key_node, path, "profile", ctx.profiles)
        action = one_action(ctx, value_node, y.join(path, str(y.scalar_value(key_node))), direction)
        if profile is not None and action is not None:
            result[profile] = action
    if not node.value:
        ctx.src.problem(node, path, "expected an action or a profile -> action mapping, found {}")
    return result if len(result) == len(node.value) else None


def destination(ctx: Context, node: yaml.Node, path: str) -> Destination | None:
    if isinstance(node, yaml.MappingNode):
        return _destination_mapping(ctx, node, path)
    value = y.text(ctx.src, node, path)
    if value is None:
        return None
    try:
        kind, canonical = addresses.classify(value)
    except ValueError as exc:
        ctx.src.problem(node, path, str(exc))
        return None
    return Destination(kind, canonical)


def _destination_mapping(ctx: Context, node: yaml.Node, path: str) -> Destination | None:
    keys = ("host", "ip", "configured", "role", "description", "note")
    fields = y.mapping(ctx.src, node, path, optional=keys)
    if fields is None:
        return None
    forms = [k for k in ("host", "configured", "role") if k in fields]
    if len(forms) != 1:
        ctx.src.problem(node, path, "expected exactly one of host, configured, role")
        return None
    note = y.text(ctx.src, fields["note"], y.join(path, "note")) if "note" in fields else None
    description = None
    if "description" in fields:
        description = y.text(ctx.src, fields["description"], y.join(path, "description"))
    form = forms[0]
    value_node = fields[form]
    if form == "host":
        return _host(ctx, fields, path, note, description)
    if form == "role":
        role = ctx.reference(value_node, y.join(path, "role"), "role", ctx.roles)
        return None if role is None else Destination("role", role, note=note)
    key = y.text(ctx.src, value_node, y.join(path, "configured"))
    if key is None or not y.identifier(ctx.src, value_node, y.join(path, "configured"), key):
        return None
    return Destination("configured", key, description=description, note=note)


def _host(
    ctx: Context, fields: dict[str, yaml.Node], path: str, note: str | None, description: str | None
) -> Destination | None:
    name = y.text(ctx.src, fields["host"], y.join(path, "host"))
    if name is not None and not addresses.is_hostname(name):
        ctx.src.problem(fields["host"], y.join(path, "host"), f"invalid host name {name!r} (RFC 1123)")
        name = None
    ips: list[str] = []
    if "ip" in fields:
        for text in y.one_or_many(ctx.src, fields["ip"], y.join(path, "ip"), y.text):
            try:
                ips.append(addresses.check_ip(text))
            except ValueError as exc:
                ctx.src.problem(fields["ip"], y.join(path, "ip"), str(exc))
                return None
    if name is None:
        return None
    return Destination("host", name.lower(), tuple(ips), description, note)


def between(ctx: Context, node: yaml.Node, path: str) -> Between | None:
    fields = y.mapping(ctx.src, node, path, ("from", "to"), ("bidirectional",))
    if fields is None or "from" not in fields or "to" not in fields:
        return None

    def roles_of(key: str) -> tuple[str, ...]:
        return tuple(
            y.one_or_many(
                ctx.src,
                fields[key],
                y.join(path, key),
                lambda _s, n, p: ctx.reference(n, p, "role", ctx.roles),
            )
        )

    sources, targets = roles_of("from"), roles_of("to")
    bidirectional = False
    if "bidirectional" in fields:
        bidirectional = bool(y.boolean(ctx.src, fields["bidirectional"], y.join(path, "bidirectional")))
    return Between(sources, targets, bidirectional) if sources and targets else None


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
            f"expected a lower-case id (letters, digits, '-', '.'), found {value!r}",
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
