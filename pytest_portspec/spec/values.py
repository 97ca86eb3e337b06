"""Validation of a row's values: the validation context, citation, protocols, ports, actions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import yaml

from pytest_portspec.spec import yamlsrc as y
from pytest_portspec.spec.model import (
    ACTIONS,
    PROTOS,
    Action,
    Citation,
    PortRange,
    Proto,
    RowAction,
)

CITATION_KEYS = ("quote",), ("doc", "reading")
DRAFT_KEY = "observed"  # what `portspec draft` saw on a device (draft/): never the vendor's words


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
                node, path, f"unknown {kind} {y.quoted(name)}{y.suggest(name, known)}; {kind}s: {listed}"
            )
            return None
        return name


def citation(ctx: Context, node: yaml.Node, path: str) -> Citation | None:
    if _draft_observation(ctx, node, path):
        return None
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


def _draft_observation(ctx: Context, node: yaml.Node, path: str) -> bool:
    """A draft's citation (`{observed: ...}`): read as such, and refused wherever a citation is
    read, so neither lint nor a run can take what a device showed for what its vendor requires."""
    if not isinstance(node, yaml.MappingNode):
        return False
    observed = [v for k, v in node.value if y.scalar_value(k) == DRAFT_KEY]
    if not observed:
        return False
    shown = y.scalar_value(observed[0]) if isinstance(observed[0], yaml.ScalarNode) else "..."
    ctx.src.problem(
        node,
        path,
        f"a draft observation ({DRAFT_KEY}: {y.quoted(str(shown))}) made by portspec draft: it must be "
        "replaced by the vendor's words (doc + quote) before this spec can be used",
    )
    return True


def port_number(ctx: Context, node: yaml.Node, path: str, text: str) -> int | None:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        ctx.src.problem(node, path, f"expected a port number 1-65535, found {y.quoted(text)}")
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
        ctx.src.problem(node, path, f"port range {y.quoted(value)} has lo > hi")
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
