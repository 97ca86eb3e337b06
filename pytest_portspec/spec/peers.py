"""Validation of who a row talks to: `destinations:` / `sources:` entries and `between:`."""

from __future__ import annotations

import yaml

from pytest_portspec import addresses
from pytest_portspec.spec import yamlsrc as y
from pytest_portspec.spec.model import Between, Destination
from pytest_portspec.spec.values import Context


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
        ctx.src.problem(
            fields["host"], y.join(path, "host"), f"invalid host name {y.quoted(name)} (RFC 1123)"
        )
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
